"""Joins the probe's temperature shards (and the unsharded run's samples) into one run directory.

A sample's seed depends only on (base seed, template, question id, temperature, sample index), so
shards draw exactly the samples of one unsharded run. Keeps the first K questions of the dataset
for which every temperature has all n samples, writes DIR/responses.jsonl and prints K; the full
`aha probe` command with `--limit K` then finds nothing to sample and only grades and analyses.

    python3 merge.py OUT_DIR DATA.jsonl N TEMPS SRC_DIR...
"""
import json
import os
import sys

out, data, n, temps, *srcs = sys.argv[1:]
n = int(n)
temps = [float(t) for t in temps.split(",")]
order = [json.loads(l)["unique_id"] for l in open(data) if l.strip()]
seen = {}
for src in srcs:
    path = os.path.join(src, "responses.jsonl")
    if not os.path.exists(path):
        continue
    for line in open(path):
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line of a killed run
        key = (r["template"], r["question_id"], r["temperature"], r["sample_index"])
        seen.setdefault(key, line if line.endswith("\n") else line + "\n")
templates = sorted({k[0] for k in seen})
k = 0
for qid in order:
    if all((t, qid, temp, i) in seen for t in templates for temp in temps for i in range(n)):
        k += 1
    else:
        break
keep = set(order[:k])
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "responses.jsonl"), "w") as f:
    for t in templates:
        for temp in temps:
            for qid in order[:k]:
                for i in range(n):
                    f.write(seen[(t, qid, temp, i)])
print(k)
print(f"{len(seen)} samples found, {k} complete questions kept", file=sys.stderr)
