#!/usr/bin/env python3
"""taxon against ONNX Runtime in alternating short bursts; prints one JSON line.

    interleave.py --pingpong BIN --model NAME [--tx-arch NAME] [--batch B] [--threads T]
                  [--pairs P] [--burst K] [--gap-ms G]

Both sides stay loaded and warm in their own processes: taxon in BIN (bench/pingpong.c,
driven over a pipe), ONNX Runtime here (run_peer.py's session: all graph optimizations,
T intra-op threads). Each pair runs K forwards of one side, then K of the other (the side
that goes first alternates), with G ms of idle time before every burst so that neither
side's spinning worker threads overlap the other's burst (with 20 ms, taxon's resnet50
times rose by a quarter; the default is 100). K defaults to about 0.3 s of forwards of
the slower side. Per burst the median time is kept; per pair the ratio taxon/ORT. Load
from other tenants comes and goes over seconds, so both bursts of a pair see about the
same: the median of the pair ratios is the least noisy comparison this shared machine
allows.

Output keys: model, batch, threads, pairs, burst, taxon_ms, ort_ms (per image, median of
burst medians), ratio (median of pair ratios, < 1: taxon faster), ratio_q1, ratio_q3,
won (pairs where taxon was faster), load (1-minute load average at the end).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_peer  # noqa: E402


def quartiles(v):
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return q[0], q[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pingpong", required=True, help="bench/pingpong binary")
    ap.add_argument("--model", required=True, help="torchvision architecture (ORT export)")
    ap.add_argument("--tx-arch", help="taxon's name for it (default: --model)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--burst", type=int, default=0, help="forwards per burst (0: ~0.3 s worth)")
    ap.add_argument("--gap-ms", type=float, default=100)
    a = ap.parse_args()
    if min(a.batch, a.threads, a.pairs) < 1 or a.burst < 0 or a.gap_ms < 0:
        ap.error("batch, threads and pairs must be >= 1, burst and gap-ms >= 0")
    name, ort_run, _ = run_peer.setup_ort(a)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:
        env["GOMP_SPINCOUNT"] = "1000"  # what the taxon CLI sets (cli/taxon.c)
    tx = subprocess.Popen([a.pingpong, a.tx_arch or a.model, str(a.batch)], env=env,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if tx.stdout.readline().strip() != "ready":
        raise SystemExit(f"interleave: {a.pingpong} did not start")

    def tx_burst(k):
        tx.stdin.write(f"{k}\n")
        tx.stdin.flush()
        return [float(t) for t in tx.stdout.readline().split()]

    def ort_burst(k):
        return run_peer.timeit(ort_run, 0, k)

    for _ in range(2):
        ort_run()
    if not a.burst:  # about 0.3 s of the slower side, at least 3 forwards
        slow = max(min(tx_burst(2)), min(ort_burst(2)))
        a.burst = max(3, round(300 / slow))
    tx_ms, ort_ms, ratios = [], [], []
    for i in range(a.pairs):
        res = {}
        for side in (("tx", "ort") if i % 2 == 0 else ("ort", "tx")):
            time.sleep(a.gap_ms / 1e3)
            res[side] = statistics.median(tx_burst(a.burst) if side == "tx" else ort_burst(a.burst))
        tx_ms.append(res["tx"])
        ort_ms.append(res["ort"])
        ratios.append(res["tx"] / res["ort"])
    tx.stdin.close()
    tx.wait()
    q1, q3 = quartiles(ratios)
    print(json.dumps({
        "model": name, "batch": a.batch, "threads": a.threads, "pairs": a.pairs, "burst": a.burst,
        "taxon_ms": round(statistics.median(tx_ms) / a.batch, 3),
        "ort_ms": round(statistics.median(ort_ms) / a.batch, 3),
        "ratio": round(statistics.median(ratios), 4), "ratio_q1": round(q1, 4),
        "ratio_q3": round(q3, 4), "won": sum(r < 1 for r in ratios),
        "load": float(open("/proc/loadavg").read().split()[0])}), flush=True)


if __name__ == "__main__":
    main()
