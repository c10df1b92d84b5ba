#!/usr/bin/env python3
"""Trained vs untrained: compare the attention spectra of demo models with the project's CLI.

For every model directory it runs
    tensorllm decompose DIR --tol 0.3 --method sthosvd --out WORK/NAME-tol0.3
    tensorllm decompose DIR --ranks 32,16,4 --out WORK/NAME-r32-16-4      (HOOI, default)
and prints Markdown tables (per layer) of
    - the ST-HOSVD ranks (R1,R2,R3) needed for relative error <= 0.3 and their compression ratio,
    - the energy captured by the leading 16 / 32 of the 128 mode-1 (d) singular vectors and by
      the leading 8 of the 32 mode-2 (head_dim) singular vectors,
    - the effective rank of mode 1, (sum s^2)^2 / sum s^4,
    - the relative error of a HOOI decomposition at ranks (32,16,4).

Standard library only. Usage (from the repository root):
    python3 resources/demo/compare_spectra.py --cli build/app/tensorllm --work /tmp/demo/cmp \\
        trained=resources/models/demo-gpt2 gpt2-init=/tmp/demo-gpt2-random plain=/tmp/demo-gpt2-plain
"""

import argparse
import csv
import os
import subprocess
import sys
from collections import defaultdict


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}")


def read_layers(path):
    with open(os.path.join(path, "layers.csv")) as f:
        return {int(r["layer"]): r for r in csv.DictReader(f)}


def read_spectra(path):
    sv = defaultdict(list)  # (layer, mode) -> singular values in order
    with open(os.path.join(path, "spectra.csv")) as f:
        for r in csv.DictReader(f):
            sv[(int(r["layer"]), int(r["mode"]))].append((int(r["index"]), float(r["singular_value"])))
    return {k: [s for _, s in sorted(v)] for k, v in sv.items()}


def energy(s, r):
    e = [x * x for x in s]
    return sum(e[:r]) / sum(e)


def eff_rank(s):
    e = [x * x for x in s]
    return sum(e) ** 2 / sum(x * x for x in e)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default="build/app/tensorllm")
    ap.add_argument("--work", required=True, help="directory for the CLI outputs")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--tol", default="0.3")
    ap.add_argument("--ranks", default="32,16,4")
    ap.add_argument("models", nargs="+", help="NAME=DIR")
    args = ap.parse_args()

    stats = {}
    for spec in args.models:
        name, d = spec.split("=", 1)
        tol_dir = os.path.join(args.work, f"{name}-tol{args.tol}")
        rk_dir = os.path.join(args.work, f"{name}-r{args.ranks.replace(',', '-')}")
        run([args.cli, "decompose", d, "--tol", args.tol, "--method", "sthosvd",
             "--threads", args.threads, "--quiet", "--out", tol_dir])
        run([args.cli, "decompose", d, "--ranks", args.ranks, "--threads", args.threads,
             "--quiet", "--out", rk_dir])
        stats[name] = (read_layers(tol_dir), read_layers(rk_dir), read_spectra(rk_dir))

    names = list(stats)
    layers = sorted(stats[names[0]][0])
    print(f"### ST-HOSVD ranks for relative error <= {args.tol} (compression ratio)\n")
    print("| layer | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for l in layers:
        cells = []
        for n in names:
            r = stats[n][0][l]
            cells.append(f"({r['R1']},{r['R2']},{r['R3']}) {float(r['compression_ratio']):.2f}x")
        print(f"| {l} | " + " | ".join(cells) + " |")

    print(f"\n### Relative error at ranks ({args.ranks}), HOOI\n")
    print("| layer | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for l in layers:
        print(f"| {l} | " + " | ".join(f"{float(stats[n][1][l]['rel_error']):.3f}" for n in names) + " |")

    print("\n### Mode spectra: captured energy and effective rank\n")
    cols = [("mode-1 energy @16", lambda sp, l: energy(sp[(l, 1)], 16)),
            ("mode-1 energy @32", lambda sp, l: energy(sp[(l, 1)], 32)),
            ("mode-2 energy @8", lambda sp, l: energy(sp[(l, 2)], 8)),
            ("mode-1 eff. rank (of 128)", lambda sp, l: eff_rank(sp[(l, 1)])),
            ("mode-2 eff. rank (of 32)", lambda sp, l: eff_rank(sp[(l, 2)]))]
    print("| layer | model | " + " | ".join(c for c, _ in cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for l in layers:
        for n in names:
            sp = stats[n][2]
            print(f"| {l} | {n} | " + " | ".join(
                (f"{f(sp, l):.1f}" if "rank" in c else f"{f(sp, l):.3f}") for c, f in cols) + " |")


if __name__ == "__main__":
    main()
