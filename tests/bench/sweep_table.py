#!/usr/bin/python3
"""Markdown tables from `tensorllm sweep --out DIR` sets (their results.json), for
docs/evaluation-in-the-loop.md.

usage: sweep_table.py LABEL=DIR [LABEL=DIR ...]

One table: a row per (layer, edit), a column group per set (delta NLL with its standard
error, weight error, worst slice, top-1 agreement), the sets' common edits in grid order.
Then, per set, the Spearman rank correlation between weight error and delta NLL over all
points, and the points that lowered the loss by more than two standard errors.
"""
import json
import sys


def load(path):
    with open(path + "/results.json") as f:
        return json.load(f)


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb)


def main():
    sets = []
    for arg in sys.argv[1:]:
        label, path = arg.split("=", 1)
        sets.append((label, load(path)))
    base = sets[0][1]["baseline"]
    print(f"Unedited: mean NLL {base['mean_nll']:.4f} ± {base['mean_nll_stderr']:.4f} nats/token "
          f"over {base['scored_tokens']} tokens ({base['windows']} windows).\n")
    header = "| layer | edit | ratio |"
    rule = "|---|---|---|"
    for label, _ in sets:
        header += f" {label}: Δ NLL ± s.e. | w. error (worst slice) | top-1 |"
        rule += "---|---|---|"
    print(header)
    print(rule)
    keyed = [{(p["layer"], p["label"].replace(" bal", "")): p for p in s["points"]} for _, s in sets]
    for p0 in sets[0][1]["points"]:
        key = (p0["layer"], p0["label"].replace(" bal", ""))
        row = f"| {key[0]} | {key[1]} | {p0['layer_ratio']:.2f} |"
        for k in keyed:
            p = k.get(key)
            if p is None or p["status"] not in ("ok", "not_converged"):
                row += " – | – | – |"
                continue
            te = p["type_error"]
            w = max(range(4), key=lambda t: te[t])
            row += (f" {p['delta_nll']:+.4f} ± {p['delta_nll_stderr']:.4f} | {p['weight_error']:.3f}"
                    f" ({'QKVO'[w]} {te[w]:.2f}) | {p['top1_agreement']:.3f} |")
        print(row)
    print()
    for label, s in sets:
        pts = [p for p in s["points"] if p["status"] in ("ok", "not_converged")]
        rho = spearman([p["weight_error"] for p in pts], [p["delta_nll"] for p in pts])
        better = [f"layer {p['layer']} {p['label']} ({p['delta_nll']:+.4f} ± {p['delta_nll_stderr']:.4f})"
                  for p in pts if p["delta_nll"] < -2 * p["delta_nll_stderr"]]
        print(f"- {label}: Spearman correlation of weight error and delta NLL over {len(pts)} points: {rho:.2f}; "
              f"edits that lowered the loss by more than two standard errors: {', '.join(better) or 'none'}.")


if __name__ == "__main__":
    main()
