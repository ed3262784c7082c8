#!/usr/bin/python3
"""Summarizes runs written with `denseshift train --diagnostics` (issue 16's evidence).

usage: scripts/diagnostics_summary.py RUN_DIR...
Per run: top-1 after the last epoch (metrics.jsonl), then from diagnostics.jsonl (all quantized
layers together) the code histogram at the start, after epoch 1 and at the end (percent of weights
per exponent P = 0..K; shift-with-zero's first column is the zero weight), and per latent row
(u, v1..vK) in epoch 1 and the last epoch: sign flips (% of latents), mean |gradient| and the
percent of latents that received gradient.
"""
import json
import os
import sys


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def pct(v, digits=1):
    return " ".join(f"{100 * x:.{digits}f}" for x in v)


def main():
    for run in sys.argv[1:]:
        m = lines(os.path.join(run, "metrics.jsonl"))
        d = {l["epoch"]: l for l in lines(os.path.join(run, "diagnostics.jsonl"))}
        last = max(d)
        print(f"== {os.path.basename(run.rstrip('/'))}: top-1 {m[-1]['top1']:.2f} after {m[-1]['epoch']} epochs "
              f"(best {max(x['top1'] for x in m):.2f})")
        for e in (0, 1, last):
            h = d[e]["overall"]["hist"]
            zero = h[0] > 0
            print(f"  hist epoch {e:>2} (% per P{'; zero first' if zero else ''}): {pct(h if zero else h[1:])}")
        for e in (1, last):
            o = d[e]["overall"]
            if "flip" not in o:
                continue
            print(f"  epoch {e:>2} flips % (u v1..vK): {pct(o['flip'], 2)}")
            print(f"  epoch {e:>2} |grad| x1e3        : {' '.join(f'{1e3 * g:.3f}' for g in o['grad_abs'])}")
            print(f"  epoch {e:>2} with gradient %    : {pct(o['grad_live'], 0)}")
            print(f"  epoch {e:>2} mean |latent| x1e3 : {' '.join(f'{1e3 * g:.2f}' for g in o['latent_abs'])}")


if __name__ == "__main__":
    main()
