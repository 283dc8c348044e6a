#!/usr/bin/env python3
"""Per-node times of ONNX Runtime on an exported architecture, in execution order, to set
beside `taxon bench --arch NAME --profile` layer by layer.

    .venv/bin/python bench/peers/ort_profile.py NAME [--batch B] [--threads T] [--repeats R]

NAME is a cached export (bench/peers/cache/NAME.onnx, written by export_onnx.py). Prints
the wall time per batch, then per node: op, median kernel ms over the repeats, running
total, node name; and the totals per op type. Same session settings as run_peer.py
(all graph optimizations, intra-op threads T, sequential)."""
import argparse
import collections
import json
import os
import statistics
import time

import numpy as np
import onnxruntime as ort

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("name")
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeats", type=int, default=10)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
so = ort.SessionOptions()
so.intra_op_num_threads = a.threads
so.inter_op_num_threads = 1
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.enable_profiling = True
so.profile_file_prefix = f"/tmp/ort_profile_{a.name}"
s = ort.InferenceSession(os.path.join(here, "cache", a.name + ".onnx"), so,
                         providers=["CPUExecutionProvider"])
inp = s.get_inputs()[0]
x = np.random.default_rng(0).standard_normal((a.batch, 3, 224, 224), dtype=np.float32)
for _ in range(2):
    s.run(None, {inp.name: x})
t0 = time.perf_counter()
for _ in range(a.repeats):
    s.run(None, {inp.name: x})
print(f"{a.name} batch {a.batch}, {a.threads} threads: "
      f"{(time.perf_counter() - t0) / a.repeats * 1e3:.3f} ms per batch (mean, profiling on)")
path = s.end_profiling()
events = json.load(open(path))
os.remove(path)
order, runs, op = [], collections.defaultdict(list), {}
for e in events:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        k = e["name"][: -len("_kernel_time")]
        if k not in runs:
            order.append(k)
        runs[k].append(e["dur"] / 1e3)
        op[k] = e["args"]["op_name"]
total, byop = 0.0, collections.defaultdict(float)
for k in order:
    v = statistics.median(runs[k])
    total += v
    byop[op[k]] += v
    print(f"{op[k]:20} {v:8.3f} {total:9.3f}  {k}")
print("per op type:")
for k, v in sorted(byop.items(), key=lambda kv: -kv[1]):
    print(f"  {k:20} {v:8.3f} ms {100 * v / total:5.1f}%")
