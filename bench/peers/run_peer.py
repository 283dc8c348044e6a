#!/usr/bin/env python3
"""Time one inference peer on random input and print one JSON line.

    run_peer.py --peer ort|torch|tflite --model NAME|PATH [--batch B] [--threads T]
                [--repeats R] [--warmup W]

  ort    ONNX Runtime (PyPI, /work/main/.venv): all graph optimizations, intra_op_num_threads=T,
         inter_op 1, sequential. NAME is a torchvision architecture exported by export_onnx.py
         into bench/peers/cache/ (exported on first use), or PATH to an .onnx file (batch axis
         must be dynamic for B > 1). For cached exports the logits are checked once against
         PyTorch's ("check_max_abs_diff" in the JSON).
  torch  PyTorch (Debian python3-torch, /usr/bin/python3): torchvision NAME with the same random
         weights as the ONNX export (cache/NAME.pt), torch.set_num_threads(T), eval(), no_grad().
  tflite ai-edge-litert (PyPI, .venv): Interpreter(PATH, num_threads=T) with its default op
         resolver (XNNPACK delegate); random input of the model's input type.

The script re-executes itself under the interpreter that has the peer's package
(/usr/bin/python3 for torch, /work/main/.venv/bin/python for ort/tflite) when needed.
Output keys: peer, model, batch, threads, ms_per_batch (median), images_per_s, min_ms, max_ms.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SYS_PY = "/usr/bin/python3"
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")


def reexec_under(py, what):
    if os.environ.get("TAXON_PEER_REEXEC") or os.path.abspath(sys.executable) == os.path.abspath(py):
        raise SystemExit(f"run_peer: cannot import {what} under {sys.executable} "
                         f"(run bench/peers/setup.sh)")
    if not os.path.exists(py):
        raise SystemExit(f"run_peer: {py} missing (run bench/peers/setup.sh)")
    os.environ["TAXON_PEER_REEXEC"] = "1"
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


def timeit(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return ts


def setup_ort(a):
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        reexec_under(VENV_PY, "onnxruntime")
    extra = {}
    if a.model.endswith(".onnx"):
        path, ref, name = a.model, None, os.path.splitext(os.path.basename(a.model))[0]
    else:
        sys.path.insert(0, HERE)
        from export_onnx import VERSION, canonical, paths
        name = canonical(a.model)
        _, path, ref = paths(name)
        fresh = os.path.exists(path) and os.path.exists(ref)
        if fresh:
            try:
                fresh = int(np.load(ref)["version"]) == VERSION
            except (KeyError, ValueError, OSError):
                fresh = False
        if not fresh:
            subprocess.run([SYS_PY, os.path.join(HERE, "export_onnx.py"), name],
                           check=True, stdout=subprocess.DEVNULL)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    if ref:
        r = np.load(ref)
        y = sess.run(None, {inp.name: r["input"]})[0]
        extra["check_max_abs_diff"] = float(np.max(np.abs(y - r["logits"])))
    shape = [a.batch if not isinstance(d, int) else d for d in inp.shape]
    shape[0] = a.batch
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    feed = {inp.name: x}
    return name, (lambda: sess.run(None, feed)), extra


def setup_torch(a):
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError:
        reexec_under(SYS_PY, "torch/torchvision")
    sys.path.insert(0, HERE)
    from export_onnx import canonical, load
    torch.set_num_threads(a.threads)
    name = canonical(a.model)
    m = load(name)
    x = torch.randn(a.batch, 3, 224, 224)

    def run():
        with torch.no_grad():
            m(x)
    return name, run, {}


def setup_tflite(a):
    try:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        reexec_under(VENV_PY, "ai_edge_litert")
    it = Interpreter(model_path=a.model, num_threads=a.threads)
    d = it.get_input_details()[0]
    shape = list(d["shape"])
    if shape[0] != a.batch:
        shape[0] = a.batch
        it.resize_tensor_input(d["index"], shape)
    try:
        it.allocate_tensors()
    except RuntimeError as e:
        raise SystemExit(f"run_peer: {a.model} cannot run at batch {a.batch}: {e}")
    d = it.get_input_details()[0]
    rng = np.random.default_rng(0)
    dt = np.dtype(d["dtype"])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        x = rng.integers(info.min, info.max, size=d["shape"], endpoint=True, dtype=dt)
    else:
        x = rng.standard_normal(d["shape"]).astype(dt)
    idx = d["index"]

    def run():
        it.set_tensor(idx, x)
        it.invoke()
    return os.path.basename(a.model), run, {}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--peer", required=True, choices=["ort", "torch", "tflite"])
    ap.add_argument("--model", required=True, help="architecture NAME or model PATH")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    if a.batch < 1 or a.threads < 1 or a.repeats < 1 or a.warmup < 0:
        ap.error("batch, threads and repeats must be >= 1, warmup >= 0")
    name, run, extra = {"ort": setup_ort, "torch": setup_torch, "tflite": setup_tflite}[a.peer](a)
    ts = timeit(run, a.warmup, a.repeats)
    med = statistics.median(ts)
    out = {"peer": a.peer, "model": name, "batch": a.batch, "threads": a.threads,
           "ms_per_batch": round(med, 4), "images_per_s": round(a.batch * 1e3 / med, 2),
           "min_ms": round(min(ts), 4), "max_ms": round(max(ts), 4)}
    out.update(extra)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
