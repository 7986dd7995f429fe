#!/usr/bin/env python3
"""Summarise criterion results as per-element figures and ratios to the baselines.

Usage: python3 benches/summary.py [TARGET_DIR] [GROUP_PREFIX]
Reads TARGET_DIR/criterion/**/new/estimates.json (default target dir: ./target).
"""
import json, os, sys, collections

target = sys.argv[1] if len(sys.argv) > 1 else "target"
prefix = sys.argv[2] if len(sys.argv) > 2 else ""
root = os.path.join(target, "criterion")
rows = collections.defaultdict(dict)
for dirpath, _, files in os.walk(root):
    if "estimates.json" in files and dirpath.endswith(os.path.join("new")):
        bench = os.path.join(dirpath, "benchmark.json")
        if not os.path.exists(bench):
            continue
        meta = json.load(open(bench))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        group = meta["group_id"]
        if not group.startswith(prefix):
            continue
        func = meta.get("function_id") or ""
        param = meta.get("value_str") or ""
        thr = meta.get("throughput") or {}
        elems = thr.get("Elements") or thr.get("Bytes") or 1
        ns = est["mean"]["point_estimate"]
        rows[(group, param)][func] = ns / elems
for (group, param), funcs in sorted(rows.items(), key=lambda kv: (kv[0][0], int(kv[0][1]) if kv[0][1].isdigit() else 0)):
    lb = funcs.get("lower-bound")
    nv = funcs.get("naive")
    line = [f"{group} N={param}" if param else group]
    for f in ["lower-bound", "naive", "bare", "checked", "recorded"]:
        if f in funcs:
            v = funcs[f]
            extra = ""
            if lb and f not in ("lower-bound",):
                extra += f" ({v/lb:.1f}x lb"
                extra += f", naive/{f} {nv/v:.1f}x)" if nv and f != "naive" else ")"
            line.append(f"{f}={v:.1f}ns{extra}")
    for f, v in funcs.items():
        if f not in ["lower-bound", "naive", "bare", "checked", "recorded"]:
            line.append(f"{f}={v:.1f}ns")
    print(" | ".join(line))
