#!/usr/bin/env bash
# Regenerates docs/results.md and docs/results.png: Fashion-MNIST, resnet20 with a 1-channel stem,
# one recipe for every row (SGD 0.1 / 0.9 / 1e-4 on all parameters, cosine per epoch, batch 128,
# pad-crop + flip), each row trained with every seed; the table gives mean and spread over seeds.
#
# usage: scripts/results_fmnist.sh [-d DEVICE] [-e EPOCHS] [-p PARALLEL] [-l LIMIT] [-E EVAL_LIMIT]
#                                  [-s SEEDS] [-R ROWS] [-D DATA] [-b BIN] [-o DOC] [-r]
#   DEVICE      cpu (default) or cuda        EPOCHS    default 30
#   PARALLEL    runs trained at once (default 1; on a GPU several small runs share it well)
#   LIMIT       train on this many of the 60,000 training images, spread over the set (default: all;
#               for CPU-only machines where the full table does not fit in a session)
#   EVAL_LIMIT  test images evaluated after each epoch (default: all 10,000); the final top-1 is
#               always measured on all 10,000 (denseshift train --resume RUN --evaluate)
#   SEEDS       default "1 2"
#   ROWS        METHOD:BITS[:LATENT_STD] words, default the eleven rows below; LATENT_STD is
#               --latent-std, a departure from the paper's init (issue 16), shown as its own row
#   DATA        Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist)
#   -r          only rewrite the doc from the runs already in runs/results-fmnist (same settings)
# The section "What the investigation found" is scripts/investigate_bits.sh -r's report of its
# runs (runs/bits-inv), when they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu epochs=30 parallel=1 limit=0 eval_limit=0 report_only=0 seeds="1 2"
rows_arg="fp32:3 denseshift:2 denseshift:3 denseshift:4 denseshift:5 shift-with-zero:3 shift-with-zero:4 deepshift-q:3 deepshift-q:4 denseshift:4:2.5e-4 denseshift:5:1.5e-5"
data=/usr/share/datasets/fashion-mnist bin=build/src/cli/denseshift doc=docs/results.md
default_rows=$rows_arg default_data=$data
while getopts "d:e:p:l:E:s:R:D:b:o:r" opt; do
  case $opt in
    d) device=$OPTARG ;; e) epochs=$OPTARG ;; p) parallel=$OPTARG ;; l) limit=$OPTARG ;; E) eval_limit=$OPTARG ;;
    s) seeds=$OPTARG ;; R) rows_arg=$OPTARG ;; r) report_only=1 ;; D) data=$OPTARG ;; b) bin=$OPTARG ;; o) doc=$OPTARG ;;
    *) sed -n '2,21p' "$0"; exit 2 ;;
  esac
done
# The command as the doc shows it: the settings that decide the numbers (not -r, -b or -o).
shown="-d $device -e $epochs -p $parallel -l $limit -E $eval_limit -s \"$seeds\""
[ "$rows_arg" != "$default_rows" ] && shown+=" -R \"$rows_arg\""
[ "$data" != "$default_data" ] && shown+=" -D $data"
read -r -a rows <<< "$rows_arg"
read -r -a seed_list <<< "$seeds"
png="${doc%.md}.png"
cores=$(nproc)
threads=$(( cores / parallel > 0 ? cores / parallel : 1 ))
outdir=runs/results-fmnist
mkdir -p "$outdir"

method_of() { echo "${1%%:*}"; }
bits_of() { local r=${1#*:}; echo "${r%%:*}"; }
std_of() { local r=${1#*:}; [[ $r == *:* ]] && echo "${r#*:}" || true; }
# --diagnostics for the quantized rows (the trainer refuses it where every layer is FP32).
diag_of() { [ "$(method_of "$1")" = fp32 ] || echo --diagnostics; }
row_dir() { local s; s=$(std_of "$1"); echo "$outdir/$(method_of "$1")-$(bits_of "$1")${s:+-std$s}"; }

train_run() {  # ROW SEED
  local row=$1 seed=$2 dir std
  dir="$(row_dir "$row")/seed$seed" std=$(std_of "$row")
  mkdir -p "$(dirname "$dir")"
  if [ -f "$dir/final_eval.txt" ]; then echo "have: $row seed $seed"; return; fi
  if [ -f "$dir/last.pt" ] && [ ! -f "$dir/result.json" ]; then
    # An interrupted run (this script stopped or killed): continue it exactly where it ended.
    "$bin" train --resume "$dir" --threads "$threads" --workers 1 --device "$device" $(diag_of "$row") --quiet \
      >> "$dir.log" 2>&1 || { echo "FAILED: $row seed $seed (see $dir.log)"; return; }
  elif [ ! -f "$dir/result.json" ]; then
    "$bin" train "$data" --arch resnet20 --method "$(method_of "$row")" --bits "$(bits_of "$row")" --epochs "$epochs" \
      --batch-size 128 --lr 0.1 --momentum 0.9 --wd 1e-4 --seed "$seed" --device "$device" \
      --threads "$threads" --workers 1 $( ((limit > 0)) && echo --train-limit "$limit" ) \
      $( ((eval_limit > 0)) && echo --eval-limit "$eval_limit" ) ${std:+--latent-std "$std"} \
      --augment crop-flip $(diag_of "$row") --out "$dir" --fresh --quiet > "$dir.log" 2>&1 || { echo "FAILED: $row seed $seed (see $dir.log)"; return; }
  fi
  # The final number on the whole test split, whatever the per-epoch evaluation used.
  "$bin" train --resume "$dir" --evaluate --eval-limit 10000 --device "$device" --threads "$threads" --quiet \
    > "$dir/final_eval.tmp" 2>> "$dir.log" && mv "$dir/final_eval.tmp" "$dir/final_eval.txt"
  echo "done: $row seed $seed: $(cat "$dir/final_eval.txt")"
}

if ((!report_only)); then
  running=0
  for seed in "${seed_list[@]}"; do
    for r in "${rows[@]}"; do
      train_run "$r" "$seed" &
      running=$((running + 1))
      if ((running >= parallel)); then wait -n; running=$((running - 1)); fi
    done
  done
  wait
fi

label() {
  local s; s=$(std_of "$1")
  case $1 in
    fp32:*) echo "FP32" ;; denseshift:*) echo "DenseShift $(bits_of "$1")-bit${s:+, --latent-std $s}" ;;
    shift-with-zero:*) echo "Shift with zero $(bits_of "$1")-bit" ;; deepshift-q:*) echo "DeepShift-Q $(bits_of "$1")-bit" ;;
  esac
}
final_top() { sed -n "s/^top-$2 \([0-9.]*\)%.*/\1/p; s/.*top-$2 \([0-9.]*\)%.*/\1/p" "$1/final_eval.txt" | head -n1; }
json_value() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$1" | head -n1; }
# mean and half-range of the numbers on stdin ("-" when there are none)
stats() { awk '{ s += $1; n++; if (n == 1 || $1 < lo) lo = $1; if (n == 1 || $1 > hi) hi = $1 }
  END { if (n) printf "%.2f %.2f %d\n", s / n, (hi - lo) / 2, n; else print "- - 0" }'; }

# Per row: label, bits, mean top-1, half-range, seeds done, per-seed top-1, mean top-5, changed, time.
declare -A mean spread
table=""
for r in "${rows[@]}"; do
  d=$(row_dir "$r") per="" tops="" top5s="" changed="" times=""
  for seed in "${seed_list[@]}"; do
    if [ ! -f "$d/seed$seed/final_eval.txt" ]; then per+="${per:+, }s$seed: missing"; continue; fi
    t1=$(final_top "$d/seed$seed" 1)
    per+="${per:+, }$t1" tops+="$t1"$'\n' top5s+="$(final_top "$d/seed$seed" 5)"$'\n'
    [[ $r != fp32:* ]] && changed+="$(tail -n1 "$d/seed$seed/metrics.jsonl" | sed -n 's/.*"overall":{"changed":\([0-9.eE+-]*\).*/\1/p')"$'\n'
    times+="$(json_value "$d/seed$seed/result.json" seconds)"$'\n'
  done
  read -r m h n <<< "$(printf '%s' "$tops" | sed '/^$/d' | stats)"
  mean[$r]=$m spread[$r]=$h
  read -r m5 _ _ <<< "$(printf '%s' "$top5s" | sed '/^$/d' | stats)"
  ch=$( [ -n "$changed" ] && printf '%s' "$changed" | sed '/^$/d' | awk '{s+=$1;n++} END {printf "%.4f", s/n}' || echo "-")
  tm=$( [ -n "$times" ] && printf '%s' "$times" | sed '/^$/d' | awk '{s+=$1;n++} END {printf "%.0f s", s/n}' || echo "-")
  table+="| $(label "$r") | $m ± $h | $per | $m5 | $ch | $tm |"$'\n'
done

# The plot: top-1 against bits per weight, one line per quantized method, FP32 as a line.
if command -v gnuplot > /dev/null; then
  series() {  # METHOD [STD]: "bits mean half-range" lines
    for r in "${rows[@]}"; do
      [[ $(method_of "$r") == "$1" && "$(std_of "$r")" == "${2:-}" && ${mean[$r]} != - ]] && echo "$(bits_of "$r") ${mean[$r]} ${spread[$r]}"
    done
    return 0
  }
  fp32=${mean["fp32:3"]:-}
  std_rows=$(for r in "${rows[@]}"; do std_of "$r"; done | sort -u | head -n1)
  {
    echo "set terminal pngcairo size 800,520 noenhanced font ',11'"
    echo "set output '$png'"
    echo "set title 'Fashion-MNIST, ResNet-20, $epochs epochs$( ((limit > 0)) && echo ", $limit training images"), mean of seeds $seeds (bars: half-range)'"
    echo "set xlabel 'bits per weight'; set ylabel 'test top-1 %'; set xtics 1; set xrange [1.7:5.3]; set key bottom left; set grid"
    for m in denseshift shift-with-zero deepshift-q; do echo "\$$(echo "$m" | tr -d -)<<EOD"; series "$m"; echo "EOD"; done
    plot="plot \$denseshift using 1:2:3 with yerrorlines lw 2 title 'DenseShift', \$shiftwithzero using 1:2:3 with yerrorlines lw 2 title 'shift with zero', \$deepshiftq using 1:2:3 with yerrorlines lw 2 title 'DeepShift-Q'"
    if [ -n "$std_rows" ]; then
      echo "\$dsstd<<EOD"; for r in "${rows[@]}"; do [[ $(method_of "$r") == denseshift && -n "$(std_of "$r")" && ${mean[$r]} != - ]] && echo "$(bits_of "$r") ${mean[$r]} ${spread[$r]}"; done; echo "EOD"
      plot+=", \$dsstd using 1:2:3 with yerrorbars pt 6 ps 1.5 title 'DenseShift, --latent-std (not the paper)'"
    fi
    [[ -n "$fp32" && "$fp32" != - ]] && plot+=", $fp32 with lines dt 2 lw 2 lc rgb 'black' title 'FP32 $fp32'"
    echo "$plot"
  } | gnuplot || echo "gnuplot failed: no plot" >&2
fi

machine=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)
if [ "$device" != cpu ] && command -v nvidia-smi > /dev/null; then
  machine="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1) (host: $machine, $cores cores)"
else
  machine="$machine, $cores cores"
fi

{
  echo "# Results: Fashion-MNIST, ResNet-20"
  echo
  echo "Generated by \`scripts/results_fmnist.sh $shown\` on $(date -u +%Y-%m-%d)."
  echo "Machine: $machine, device \`$device\`."
  echo
  echo "One recipe for every row: resnet20 (CIFAR-style, 1-channel 3x3 stem, option-A shortcuts),"
  echo "$epochs epochs, SGD lr 0.1, momentum 0.9, weight decay 1e-4 on all parameters (latents included),"
  echo "cosine schedule stepped per epoch, batch 128, pad 4 + random crop 28 + horizontal flip."
  echo "First conv and last fc stay FP32 in every row (DENSESHIFT.md section 4)."
  echo "Every row is trained once per seed ($seeds); the table gives the mean over seeds ± half the"
  echo "range (with two seeds: half their difference) and each seed's value."
  if [ "$limit" -gt 0 ]; then
    echo
    echo "**This is a subset run, not the full benchmark: each run trains on $limit of the 60,000 training"
    echo "images** (every $((60000 / limit))th, so all classes are there), to fit a 2-core CPU shared with other"
    echo "work. Accuracies are therefore well below full-data numbers; compare rows with each other."
  fi
  if [ "$eval_limit" -gt 0 ]; then
    echo "After each epoch only $eval_limit test images are evaluated (progress only); the top-1 and top-5"
    echo "in the table are measured after the last epoch on all 10,000 test images."
  else
    echo "Top-1 and top-5 are on the 10,000 test images after the last epoch."
  fi
  if printf '%s\n' "${rows[@]}" | grep -q ':.*:'; then
    echo "Rows with \`--latent-std\` depart from the paper: their latents start as N(0, std) instead of"
    echo "N(0, 1e-3) (DENSESHIFT.md section 3), with std chosen so that their latent gradients relative to"
    echo "the init scale match 3-bit's (see the investigation below); every other row is the paper's method."
  fi
  echo "'changed' is the fraction of quantized weights whose code changed during the last epoch (weight"
  echo "freezing), averaged over seeds."
  echo
  echo "| weights | top-1 % (mean ± half-range) | top-1 % per seed | top-5 % | changed in last epoch | train time per run |"
  echo "|---|---|---|---|---|---|"
  printf '%s' "$table"
  echo
  echo "![top-1 against bits per weight]($(basename "$png"))"
  echo
  echo "Per-epoch metrics of each run: \`$outdir/<method>-<bits>/seed<S>/metrics.jsonl\`."
  echo
  echo "## Against the expected shape"
  echo
  echo "Expected: DenseShift at least as good as shift-with-zero and DeepShift-Q at the same bits, and not"
  echo "worse with more bits. A difference is called within noise when it is smaller than the two rows'"
  echo "half-ranges added."
  echo
  cmp_rows() {  # A B: one sentence comparing two rows
    local a=$1 b=$2
    if [[ ${mean[$a]:--} == - || ${mean[$b]:--} == - ]]; then echo "- $(label "$a") vs $(label "$b"): not both measured."; return; fi
    awk -v la="$(label "$a")" -v lb="$(label "$b")" -v ma="${mean[$a]}" -v mb="${mean[$b]}" -v sa="${spread[$a]}" -v sb="${spread[$b]}" 'BEGIN {
      d = ma - mb; n = sa + sb; w = (d > n) ? "better" : (d < -n) ? "worse" : "within noise"
      printf "- %s %.2f vs %s %.2f: %+.2f points, %s.\n", la, ma, lb, mb, d, w }'
  }
  for b in 3 4; do
    cmp_rows "denseshift:$b" "shift-with-zero:$b"
    cmp_rows "denseshift:$b" "deepshift-q:$b"
  done
  for b in 3 4 5; do cmp_rows "denseshift:$b" "denseshift:$((b - 1))"; done
  for r in "${rows[@]}"; do
    [[ -n "$(std_of "$r")" ]] && cmp_rows "$r" "$(method_of "$r"):$(bits_of "$r")"
  done
  echo
  echo "Where a line says worse, the data contradict the expected shape for this schedule and subset;"
  echo "two seeds make the noise estimate rough. The investigation below measures why the paper's"
  echo "DenseShift loses accuracy with more bits here. No row was trained for the paper's schedule length."
  true
  if [ -x scripts/investigate_bits.sh ] && [ -d runs/bits-inv ]; then
    echo
    bash scripts/investigate_bits.sh -r
  fi
} > "$doc"
cat "$doc"
