#!/usr/bin/env bash
# Issue 16: why DenseShift 4-bit (and 5-bit) trained worse than 3-bit. Short diagnostic runs
# (resnet20, Fashion-MNIST, 3000 training images, 8 epochs, 2000 test images per epoch, seed 1,
# `denseshift train --diagnostics`), then a markdown report of what the latents did.
#
# usage: scripts/investigate_bits.sh [-b BIN] [-p PARALLEL] [-r]
#   -r  only print the report from the runs in runs/bits-inv
# Runs: DenseShift 3 and 4-bit as the paper has it, with a smaller latent init (--latent-std
# 2.5e-4), and 4-bit with lr 0.4. All four bit widths, and the longer schedule, are the 30-epoch
# runs of scripts/results_fmnist.sh (trained with --diagnostics), read from runs/results-fmnist.
# Cross-check: 3 and 4-bit for 4 epochs on 1500 images, once with this trainer and once with
# scripts/reference_pytorch.py (an independent implementation of DENSESHIFT.md in PyTorch).
# The longer schedule is the 30-epoch runs of scripts/results_fmnist.sh (with --diagnostics).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/src/cli/denseshift parallel=2 report_only=0
while getopts "b:p:r" opt; do
  case $opt in b) bin=$OPTARG ;; p) parallel=$OPTARG ;; r) report_only=1 ;; *) sed -n '2,9p' "$0"; exit 2 ;; esac
done
out=runs/bits-inv
runs=(
  "ds3|--bits 3" "ds4|--bits 4"
  "ds3-std2.5e-4|--bits 3 --latent-std 2.5e-4" "ds4-std2.5e-4|--bits 4 --latent-std 2.5e-4"
  "ds4-lr0.4|--bits 4 --lr 0.4"
)
ref="--epochs 4 --train-limit 1500 --eval-limit 1000 --seed 1"  # same schedule in both trainers

if ((!report_only)); then
  mkdir -p "$out"
  running=0
  for r in "${runs[@]}"; do
    name=${r%%|*} flags=${r#*|}
    [ -f "$out/$name/result.json" ] && continue
    # shellcheck disable=SC2086  # flags are words
    [[ $flags == *--epochs* ]] || flags+=" --epochs 8"
    "$bin" train /usr/share/datasets/fashion-mnist --arch resnet20 --train-limit 3000 --eval-limit 2000 \
      --augment crop-flip --batch-size 128 --seed 1 --threads 1 --workers 1 --quiet --diagnostics --fresh \
      --out "$out/$name" $flags > "$out/$name.log" 2>&1 &
    running=$((running + 1))
    if ((running >= parallel)); then wait -n; running=$((running - 1)); fi
  done
  for b in 3 4; do
    # shellcheck disable=SC2086  # $ref is words
    [ -f "$out/ref-cpp-ds$b/result.json" ] || "$bin" train /usr/share/datasets/fashion-mnist --arch resnet20 --bits $b \
      $ref --augment crop-flip --batch-size 128 --threads 1 --workers 1 --quiet --diagnostics --fresh \
      --out "$out/ref-cpp-ds$b" > "$out/ref-cpp-ds$b.log" 2>&1 &
    # shellcheck disable=SC2086
    [ -s "$out/ref-py-ds$b.jsonl" ] || /usr/bin/python3 scripts/reference_pytorch.py --bits $b $ref --threads 1 \
      > "$out/ref-py-ds$b.jsonl" 2> "$out/ref-py-ds$b.err" &
    wait
  done
fi

# The report: one row per run from metrics.jsonl and diagnostics.jsonl (all quantized layers).
/usr/bin/python3 - "$out" "${runs[@]}" <<'EOF'
import json, os, sys
out, runs = sys.argv[1], sys.argv[2:]
def lines(p):
    with open(p) as f:
        return [json.loads(l) for l in f if l.strip()]
print("## What the investigation found (issue 16)")
print()
print("Evidence: `scripts/investigate_bits.sh` (short runs: resnet20, 3,000 training images, 8 epochs unless")
print("named, seed 1, `--diagnostics`; top-1 on 2,000 test images). Columns, over all quantized layers:")
print("P = 0 and P >= 4: percent of weights at exponent 0 and at 4 or more (2^4 = 16 and up), at the end;")
print("hist moved: how far the code histogram moved from the initial one (total variation, percent of weights);")
print("|grad u|: mean |dL/du| in epoch 1; u flips: percent of sign latents that flipped in epoch 1;")
print("|latent| growth: mean |v_K| at the end over its initial value.")
print()
print("| run | flags | top-1 % | P = 0 | P >= 4 | hist moved % | mean \\|grad u\\| epoch 1 | u flips % epoch 1 | \\|v_K\\| end / start |")
print("|---|---|---|---|---|---|---|---|---|")
found = {}
for r in runs:
    name, flags = r.split("|", 1)
    d = os.path.join(out, name)
    if not os.path.exists(os.path.join(d, "result.json")):
        print(f"| {name} | `{flags}` | not run | | | | | | |")
        continue
    m = lines(os.path.join(d, "metrics.jsonl"))
    diag = {l["epoch"]: l for l in lines(os.path.join(d, "diagnostics.jsonl"))}
    first, last = diag[0]["overall"], diag[max(diag)]["overall"]
    h = last["hist"][1:]
    ch = sum(abs(a - b) for a, b in zip(first["hist"], last["hist"])) / 2  # lower bound from histograms
    e1 = diag[1]["overall"]
    found[name] = dict(top1=m[-1]["top1"], g=e1["grad_abs"][0], flip=e1["flip"][0], moved=100 * ch, tail=100 * sum(h[4:]))
    print(f"| {name} | `{flags}` | {m[-1]['top1']:.2f} | {100*h[0]:.1f} | {100*sum(h[4:]):.1f} | {100*ch:.1f} | "
          f"{e1['grad_abs'][0]:.2e} | {100*e1['flip'][0]:.2f} | {last['latent_abs'][-1]/first['latent_abs'][-1]:.2f} |")

def get(name, key):
    v = found.get(name, {}).get(key)
    return v
def t(name):
    v = get(name, "top1")
    return "not run" if v is None else "%.2f" % v
print()
print("Findings (the numbers are from the table above):")
print()
print("- **Exponents hardly move in a short schedule.** With the paper's init N(0, 1e-3) and lr 0.1 the")
print("  code histogram stays close to the initial one (P = k with probability 2^-(k+1), the last")
print("  exponent taking the rest): 'hist moved' is %s%% (3-bit) and %s%% (4-bit) after 8 epochs. Training" %
      (("%.1f" % get("ds3", "moved")) if get("ds3", "moved") is not None else "?",
       ("%.1f" % get("ds4", "moved")) if get("ds4", "moved") is not None else "?"))
print("  changes mostly the signs, BatchNorm and the FP32 stem and classifier. The 4-bit network therefore")
print("  keeps the initial long tail: %s%% of its weights at 2^4..2^7, where the largest few of a" %
      (("%.1f" % get("ds4", "tail")) if get("ds4", "tail") is not None else "?"))
print("  channel's inputs carry most of its output.")
longrun = {}
for b in (2, 3, 4, 5):
    dd = f"runs/results-fmnist/denseshift-{b}/seed1/diagnostics.jsonl"
    if os.path.exists(dd):
        dl = {l["epoch"]: l for l in lines(dd)}
        if 1 in dl:
            longrun[b] = dl[1]["overall"]
g3, g4 = get("ds3", "g"), get("ds4", "g")
if g3 and g4:
    print("- **More bits, smaller latent gradients: a lower effective learning rate.** Every DenseShift conv")
    print("  feeds a BatchNorm, so dL/dW scales as 1 / ||W|| of its output channel. Under the init, E[(2^P)^2]")
    print("  is 2.5, 11.5 and 191.5 at 2, 3 and 4 bits (at 5 bits the expectation, 49151.5, comes from exponents")
    print("  so rare that a layer holds few of them, so a typical channel's norm grows less), so a wider code's")
    print("  latents get smaller gradients while their threshold (0) and init scale (1e-3) stay the same.")
    print("  Measured mean |dL/du| in epoch 1: 3-bit / 4-bit")
    print("  = %.1f (predicted sqrt(191.5 / 11.5) = 4.1), and the 4-bit signs flip %.1fx less often (%.2f%% vs" %
          (g3 / g4, get("ds3", "flip") / get("ds4", "flip"), 100 * get("ds4", "flip")))
    extra = []
    if 3 in longrun and 5 in longrun:
        extra.append("3-bit / 4-bit = %.1f, 3-bit / 5-bit = %.1f" % (longrun[3]["grad_abs"][0] / longrun[4]["grad_abs"][0],
                                                              longrun[3]["grad_abs"][0] / longrun[5]["grad_abs"][0]))
    if 2 in longrun and 3 in longrun:
        extra.append("2-bit / 3-bit = %.1f (predicted 2.1)" % (longrun[2]["grad_abs"][0] / longrun[3]["grad_abs"][0]))
    print("  %.2f%%)." % (100 * get("ds3", "flip")) + (" In the 30-epoch runs, epoch 1: " + ", ".join(extra) + "." if extra else ""))
    print("  And v_k gets gradient only where every later v_j is positive (DENSESHIFT.md section 2): at 4 bits")
    print("  v1..v4 of most weights get none (per-latent table below) and almost never flip.")
print("- **Learning rate and init scale.** Top-1 after 8 epochs: 4-bit %s, with lr 0.4 %s, with" % (t("ds4"), t("ds4-lr0.4")))
print("  `--latent-std 2.5e-4` %s (1e-3 x sqrt(11.5 / 191.5): the 3-bit latents' mobility); 3-bit %s, with" % (t("ds4-std2.5e-4"), t("ds3")))
print("  `--latent-std 2.5e-4` %s. A larger lr moves the latents too (u flips in epoch 1: %s%%) but every" %
      (t("ds3-std2.5e-4"), ("%.2f" % (100 * get("ds4-lr0.4", "flip"))) if get("ds4-lr0.4", "flip") is not None else "?"))
print("  other parameter as well; a smaller init scale gives only the latents the mobility that 3-bit")
print("  latents have with the paper's init. The 30-epoch table above has 4 and 5-bit with and without it.")
print("- **What the smaller init does not fix.** The results table compares 4 and 5-bit with and without")
print("  `--latent-std` over 30 epochs and two seeds. Even with mobile latents the exponent histogram")
print("  moves little in runs this short, so a 5-bit network keeps the init's long tail (P >= 4 column")
print("  below: channels dominated by a few weights of 2^4..2^15) and stays well below 4-bit. Whether a")
print("  schedule of the paper's length closes that gap was not measured here.")
print("- **No bug found** in the quantizer: its gradient is the spec's closed form (test_quant checks the")
print("  fused op against it and against autograd through the straight-through chain), weight decay reaches")
print("  the latents as the recipe says; the independent PyTorch implementation below is the cross-check.")
print()
print("Per exponent latent of the 4-bit run (ds4), epoch 1: percent of v_k that received any gradient,")
print("mean |dL/dv_k|, percent that flipped sign:")
print()
d4 = os.path.join(out, "ds4", "diagnostics.jsonl")
if os.path.exists(d4):
    e1 = {l["epoch"]: l for l in lines(d4)}[1]["overall"]
    K = len(e1["flip"]) - 1
    print("| | " + " | ".join(f"v{k}" for k in range(1, K + 1)) + " |")
    print("|---|" + "---|" * K)
    print("| with gradient % | " + " | ".join(f"{100*x:.0f}" for x in e1["grad_live"][1:]) + " |")
    print("| mean \\|grad\\| | " + " | ".join(f"{x:.1e}" for x in e1["grad_abs"][1:]) + " |")
    print("| flipped % | " + " | ".join(f"{100*x:.2f}" for x in e1["flip"][1:]) + " |")
print()
print("Schedule length: the 30-epoch runs of the results table (seed 1), same columns. On their subset")
print("they take about as many SGD steps as the 8-epoch runs above (30 x ceil(images / 128) against")
print("8 x 24 = 192), so they show what 30 cosine epochs do, not what a schedule of the paper's length")
print("(200 ImageNet epochs, about a million steps) would; that was not run here.")
print()
print("| run | top-1 % (all 10,000 test images) | P = 0 | P >= 4 | hist moved % | mean \\|grad u\\| epoch 1 | u flips % epoch 1 | u flips % last epoch | \\|v_K\\| end / start |")
print("|---|---|---|---|---|---|---|---|---|")
for b in (2, 3, 4, 5):
    d = f"runs/results-fmnist/denseshift-{b}/seed1"
    if not os.path.exists(os.path.join(d, "final_eval.txt")):
        continue
    top = open(os.path.join(d, "final_eval.txt")).read().split()[1]
    diag = {l["epoch"]: l for l in lines(os.path.join(d, "diagnostics.jsonl"))}
    first, last = diag[0]["overall"], diag[max(diag)]["overall"]
    h = last["hist"][1:]
    ch = sum(abs(a - b) for a, b in zip(first["hist"], last["hist"])) / 2
    e1 = diag[1]["overall"]
    print(f"| DenseShift {b}-bit, 30 epochs | {top.rstrip('%')} | {100*h[0]:.1f} | {100*sum(h[4:]):.1f} | {100*ch:.1f} | "
          f"{e1['grad_abs'][0]:.2e} | {100*e1['flip'][0]:.2f} | {100*last['flip'][0]:.2f} | {last['latent_abs'][-1]/first['latent_abs'][-1]:.2f} |")
print()
print("Cross-check against an independent PyTorch implementation (`scripts/reference_pytorch.py`, written")
print("from DENSESHIFT.md, with its own data order and augmentation), same schedule: 4 epochs, 1,500")
print("training images; per epoch the training loss and the top-1 on 1,000 test images (in such a short")
print("run the BatchNorm running statistics lag, so the test top-1 of the first epochs is noisy in both),")
print("and the exponent histogram at the end (% per P):")
print()
print("| bits | trainer | train loss per epoch | top-1 % per epoch | final histogram % per P |")
print("|---|---|---|---|---|")
fmt = lambda v: " ".join("%.1f" % (100 * x) for x in v)
for b in (3, 4):
    cpp = os.path.join(out, f"ref-cpp-ds{b}")
    py = os.path.join(out, f"ref-py-ds{b}.jsonl")
    if os.path.exists(os.path.join(cpp, "result.json")):
        m = lines(os.path.join(cpp, "metrics.jsonl"))
        dg = lines(os.path.join(cpp, "diagnostics.jsonl"))
        tops = ", ".join("%.1f" % x["top1"] for x in m)
        loss = ", ".join("%.3f" % x["train_loss"] for x in m)
        print(f"| {b} | C++ (denseshift train) | {loss} | {tops} | {fmt(dg[-1]['overall']['hist'][1:])} |")
    if os.path.exists(py) and os.path.getsize(py) > 0:
        p = [l for l in lines(py) if l["epoch"] > 0]
        tops = ", ".join("%.1f" % x["top1"] for x in p)
        loss = ", ".join("%.3f" % x["train_loss"] for x in p)
        print(f"| {b} | PyTorch reference | {loss} | {tops} | {fmt(p[-1]['hist'])} |")
EOF
