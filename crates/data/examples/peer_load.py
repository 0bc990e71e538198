"""Peer for `load_times`: the same files (the repository's `data/`, or `AHA_DATA_DIR`) read into Python dicts the way the upstream study
code does (stdlib json for JSON/JSONL, pyarrow for Parquet and Arrow IPC streams). No field
mapping is done here, so the comparison favours the peer.

    python crates/data/examples/peer_load.py   # needs pyarrow
"""

import glob
import json
import os
import sys
import time

import pyarrow.ipc as ipc
import pyarrow.parquet as pq

ROOT = os.environ.get("AHA_DATA_DIR") or os.path.join(os.path.dirname(__file__), "../../../data")


def load(path):
    if path.endswith(".jsonl"):
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    if path.endswith(".json"):
        with open(path) as f:
            return json.load(f)
    if path.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    shard = os.path.join(path, "data-00000-of-00001.arrow")
    with open(shard, "rb") as f:
        return ipc.open_stream(f).read_all().to_pylist()


paths = sys.argv[1:]
if not paths:
    for sub in ["benchmarks", "math", "countdown", "oat-zero"]:
        paths += sorted(glob.glob(os.path.join(ROOT, sub, "*")))
    suite = os.path.join(ROOT, "arrow-evaluation-suite")
    if os.path.isdir(suite):
        paths += [os.path.join(suite, s) for s in ["aime", "amc", "math", "minerva", "olympiad_bench"]]
total = 0.0
for p in paths:
    t = time.perf_counter()
    rows = load(p)
    dt = time.perf_counter() - t
    total += dt
    print(f"{dt * 1e3:8.1f} ms  {len(rows):6d} rows  {p}")
print(f"{total * 1e3:8.1f} ms  total")
