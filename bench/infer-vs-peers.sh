#!/usr/bin/env bash
# Inference speed of taxon vs its peers, side by side in one run (the machine is shared and
# noisy: compare the ratios, not the absolute figures across runs).
#
#   bench/infer-vs-peers.sh [MODEL ...]
#
# MODEL is a torchvision architecture (resnet50 resnet18 mobilenet_v2 efficientnet_b0 vit_b_16,
# alias vit_base_patch16_224) or a .tflite file. Default: the five architectures,
# /work/shared/models/mobilenet_v2_1.0_224_quant.tflite (uint8, per-tensor) and
# bench/peers/cache/mobilenet_v2_1.0_224_int8.tflite (int8, per-channel; written by
# bench/peers/make_int8_mobilenet_v2.py when missing).
#  - architecture: fp32 224x224, batch 1 latency and batch 16 throughput, 2 threads, for
#      taxon     build/taxon bench --arch NAME --image-size 224 --channels 3 --classes 1000 ...
#      taxon-spin  the same with OMP_WAIT_POLICY=ACTIVE (always spinning between layers; the
#                CLI's default spins ~26 us, GOMP_SPINCOUNT=1000, see docs/benchmarks.md)
#      ort       ONNX Runtime (PyPI) on the architecture exported from PyTorch (bench/peers/cache)
#      torch     PyTorch 1.13 (Debian), set_num_threads(2), eval, no_grad
#  - .tflite: batch 1 latency of
#      taxon     build/taxon bench --model FILE.tflite ... (the CLI's OpenMP wait policy:
#                GOMP_SPINCOUNT=1000 unless OMP_WAIT_POLICY/GOMP_SPINCOUNT is set, see cli/taxon.c)
#      taxon-spin  the same with OMP_WAIT_POLICY=ACTIVE
#      tflite    ai-edge-litert (PyPI), default XNNPACK path
#      ort-fp32  ONNX Runtime on float32 $TFLITE_ORT_MODEL (default mobilenet_v2) for reference
# Each (model, batch) runs every peer once per round, the order of the peers rotating between
# rounds; the table gives the median over rounds of each run's median, in ms per image, and
# taxon/peer time ratios (< 1: taxon faster); a second table pairs each round's taxon run
# with the same round's ORT (or TFLite) run and gives the median of those ratios and the
# rounds taxon won, the figure least moved by load that comes and goes. A taxon side that fails (architecture or format
# not built in yet) is shown as "taxon: not available (its error)" and the rest carries on.
#
# Environment: ROUNDS (3), THREADS (2), BATCHES ("1 16"), NO_BUILD=1 (do not run make),
# NO_TORCH=1 (leave PyTorch out: more rounds in the same time),
# TORCH_OMP_WAIT_POLICY for the torch peer: "auto" (default) sets PASSIVE for ViT only, as in
# BASELINES.md (its BLAS pool and the spinning OpenMP pool fight, up to 3.5x); CNNs run with
# the default policy, which is faster on a quiet machine but can lose 2-10x while another
# process wants the cores; PASSIVE/ACTIVE force one for all; "" leaves it unset.
# TFLITE_ORT_MODEL (mobilenet_v2).
# Raw JSON lines go to bench/peers/cache/infer-vs-peers-TIME.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}; T=${THREADS:-2}; BATCHES=${BATCHES:-"1 16"}
TORCH_OMP=${TORCH_OMP_WAIT_POLICY-auto}
TFLITE_ORT_MODEL=${TFLITE_ORT_MODEL:-mobilenet_v2}
INT8_MNV2=bench/peers/cache/mobilenet_v2_1.0_224_int8.tflite
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(resnet50 resnet18 mobilenet_v2 efficientnet_b0 vit_b_16
                                   /work/shared/models/mobilenet_v2_1.0_224_quant.tflite "$INT8_MNV2")

bench/peers/setup.sh || { echo "infer-vs-peers: peer setup failed" >&2; exit 1; }
for m in "${models[@]}"; do
  if [ "$m" = "$INT8_MNV2" ] && [ ! -f "$m" ]; then
    .venv/bin/python bench/peers/make_int8_mobilenet_v2.py "$m" 2>/dev/null || { echo "infer-vs-peers: cannot write $m" >&2; exit 1; }
  fi
done
if [ -z "${NO_BUILD:-}" ]; then
  make -s build/taxon >/dev/null 2>&1 || echo "note: make build/taxon failed; using the existing build/taxon (if any)"
fi

archs=()
for m in "${models[@]}"; do [[ $m == *.tflite ]] || archs+=("$m"); done
for m in "${models[@]}"; do [[ $m == *.tflite ]] && archs+=("$TFLITE_ORT_MODEL") && break; done
if [ ${#archs[@]} -gt 0 ]; then   # export (cached) before timing anything
  /usr/bin/python3 bench/peers/export_onnx.py "${archs[@]}" >/dev/null || exit 1
fi

mkdir -p bench/peers/cache
log=bench/peers/cache/infer-vs-peers-$(date +%Y%m%d-%H%M%S).jsonl
errlog=${log%.jsonl}.err
: >"$log"; : >"$errlog"
declare -A TX_NA   # "model batch" -> why taxon cannot run it

# Repeats per run, by cost (~1-4 s of timed work per run on an idle machine).
reps() {  # model batch -> "repeats warmup"
  local m=$1 b=$2
  case "$m" in
    *.tflite) echo "100 5" ;;
    vit_b_16|vit_base_patch16_224) [ "$b" -eq 1 ] && echo "6 2" || echo "2 1" ;;
    resnet50) [ "$b" -eq 1 ] && echo "15 2" || echo "3 1" ;;
    resnet18) [ "$b" -eq 1 ] && echo "30 3" || echo "5 1" ;;
    mobilenet_v2|efficientnet_b0) [ "$b" -eq 1 ] && echo "60 5" || echo "10 2" ;;
    *) [ "$b" -eq 1 ] && echo "10 2" || echo "3 1" ;;
  esac
}

taxon_arch_names() {  # names to try for an architecture
  case "$1" in
    vit_b_16|vit_base_patch16_224) echo "vit_b_16 vit_base_patch16_224" ;;
    *) echo "$1" ;;
  esac
}

# run_one SECTION GROUP PEER MODEL BATCH REPEATS WARMUP: appends {section, key: GROUP, peer JSON}
# to $log (GROUP is the table row: the architecture, or the .tflite file for its section)
run_one() {
  local sec=$1 grp=$2 peer=$3 m=$4 b=$5 r=$6 w=$7 out="" err
  err=$(mktemp)
  case "$peer" in
    taxon|taxon-spin)
      local pol=""; [ "$peer" = taxon-spin ] && pol=ACTIVE
      [ -n "${TX_NA[$sec $m $b]:-}" ] && { rm -f "$err"; return; }
      if [ ! -x build/taxon ]; then TX_NA[$sec $m $b]="build/taxon missing"; rm -f "$err"; return; fi
      if [[ $m == *.tflite ]]; then
        out=$(env ${pol:+OMP_WAIT_POLICY=$pol} build/taxon bench --model "$m" --batch-size "$b" --threads "$T" \
              --repeats "$r" --warmup "$w" --json 2>"$err")
      else
        for name in $(taxon_arch_names "$m"); do
          out=$(env ${pol:+OMP_WAIT_POLICY=$pol} build/taxon bench --arch "$name" --image-size 224 --channels 3 --classes 1000 \
                --batch-size "$b" --threads "$T" --repeats "$r" --warmup "$w" --json 2>"$err") && break
          out=""
        done
      fi
      if [ -z "$out" ] || ! jq -e .ms_per_batch >/dev/null 2>&1 <<<"$out"; then
        TX_NA[$sec $m $b]=$(grep -v '^\s*$' "$err" | tail -1 | cut -c1-150)
        [ -n "${TX_NA[$sec $m $b]}" ] || TX_NA[$sec $m $b]="no JSON from taxon bench"
        echo "taxon: not available ($m batch $b: ${TX_NA[$sec $m $b]})"
        rm -f "$err"; return
      fi
      out=$(jq -c --arg m "$m" --arg p "$peer" '. + {peer: $p, model: $m}' <<<"$out") ;;
    torch)
      local pol=$TORCH_OMP
      if [ "$pol" = auto ]; then case "$m" in vit*) pol=PASSIVE ;; *) pol="" ;; esac; fi
      out=$(env ${pol:+OMP_WAIT_POLICY=$pol} /usr/bin/python3 bench/peers/run_peer.py \
            --peer torch --model "$m" --batch "$b" --threads "$T" --repeats "$r" --warmup "$w" 2>"$err") ;;
    ort|ort-fp32)
      out=$(.venv/bin/python bench/peers/run_peer.py --peer ort --model "$m" --batch "$b" \
            --threads "$T" --repeats "$r" --warmup "$w" 2>"$err")
      [ "$peer" = ort-fp32 ] && out=$(jq -c '. + {peer: "ort-fp32"}' <<<"$out") ;;
    tflite)
      out=$(.venv/bin/python bench/peers/run_peer.py --peer tflite --model "$m" --batch "$b" \
            --threads "$T" --repeats "$r" --warmup "$w" 2>"$err") ;;
  esac
  if [ -z "$out" ]; then
    echo "$peer $m batch $b: FAILED: $(grep -v '^\s*$' "$err" | tail -1)"
  else
    jq -c --arg s "$sec" --arg g "$grp" --argjson rd "${round:-0}" '{section: $s, key: $g, round: $rd} + .' <<<"$out" >>"$log"
    jq -r '"  \(.peer) \(.model) b\(.batch): \(.ms_per_batch / .batch * 1000 | round / 1000) ms/img" +
           (if .check_max_abs_diff then " (max |ort-torch| logit diff \(.check_max_abs_diff * 1e9 | round / 1e9))" else "" end)' <<<"$out"
  fi
  grep -v -e 'XNNPACK delegate' -e '^\s*$' "$err" >>"$errlog" || true
  rm -f "$err"
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "infer-vs-peers: $ROUNDS rounds, $T threads; load average at start: $(load)"
echo "  ort $(.venv/bin/python -c 'import onnxruntime as o; print(o.__version__)'), torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (OMP_WAIT_POLICY: $([ "$TORCH_OMP" = auto ] && echo "PASSIVE for ViT, default for the rest" || echo "${TORCH_OMP:-unset}")), ai-edge-litert $(.venv/bin/pip show ai-edge-litert 2>/dev/null | sed -n 's/^Version: //p')"
start=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round (load $(load))"
  for m in "${models[@]}"; do
    if [[ $m == *.tflite ]]; then
      sec=tflite; peers=(taxon taxon-spin tflite ort-fp32); bs="1"
    else
      sec=fp32; peers=(taxon taxon-spin ort torch); bs=$BATCHES
      [ -n "${NO_TORCH:-}" ] && peers=(taxon taxon-spin ort)
    fi
    k=$(( (round - 1) % ${#peers[@]} ))
    order=("${peers[@]:k}" "${peers[@]:0:k}")
    for b in $bs; do
      read -r r w < <(reps "$m" "$b")
      for p in "${order[@]}"; do
        mm=$m; [ "$p" = ort-fp32 ] && mm=$TFLITE_ORT_MODEL
        run_one "$sec" "$m" "$p" "$mm" "$b" "$r" "$w"
      done
    done
  done
done
echo "load average at end: $(load); $((SECONDS - start)) s; raw results: $log"
awk -v n="$(nproc)" '$1 > 0.5 {printf "note: load average %s on %d cores while measuring: other processes shared the cores; trust the ratios more than the absolute figures\n", $1, n}' /proc/loadavg
[ -s "$errlog" ] && echo "peer stderr: $errlog" || rm -f "$errlog"

# Table: median over rounds, ms per image; ratios taxon/peer (time, < 1 = taxon faster)
/usr/bin/python3 - "$log" "$(for k in "${!TX_NA[@]}"; do printf '%s\t%s\n' "$k" "${TX_NA[$k]}"; done)" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
na = dict(l.split("\t", 1) for l in sys.argv[2].splitlines() if "\t" in l)
res = {}
for r in rows:
    res.setdefault((r["section"], r["key"], r["batch"]), {}).setdefault(r["peer"], []).append(
        r["ms_per_batch"] / r["batch"])
def fmt(v):
    return "-" if v is None else (f"{v:.3g}" if v < 10 else f"{v:.1f}")
nrounds = max((len(v) for d in res.values() for v in d.values()), default=0)
stats = [("median", statistics.median)] + ([("best", min)] if nrounds > 1 else [])
for sec, peers, title in (("fp32", ["taxon", "taxon-spin", "ort", "torch"], "fp32 224x224 inference; taxon-spin: OMP_WAIT_POLICY=ACTIVE (threads always spin; the CLI's default spins ~26 us)"),
                          ("tflite", ["taxon", "taxon-spin", "tflite", "ort-fp32"], "TFLite model vs ai-edge-litert; taxon-spin: OMP_WAIT_POLICY=ACTIVE; ort-fp32: ONNX Runtime on the float32 architecture")):
    keys = sorted((k for k in res if k[0] == sec), key=lambda k: (k[1], k[2]))
    if not keys:
        continue
    for sname, sfn in stats:
        what = ("median over rounds" if sname == "median" else
                "best round (least disturbed by other load)")
        print(f"\n{title}: ms per image, {what}; tx/peer = taxon time / peer time (< 1: taxon faster)")
        others = [p for p in peers[1:] if p != "taxon-spin"]
        spin = "taxon-spin" in peers and sec == "fp32"
        hdr = f"{'model':34} {'batch':>5} " + " ".join(f"{p:>10}" for p in peers) + " " + " ".join(f"{'tx/' + p:>11}" for p in others) + (f" {'spin/ort':>11}" if spin else "")
        print(hdr); print("-" * len(hdr))
        for k in keys:
            med = {p: sfn(v) for p, v in res[k].items()}
            name = k[1].rsplit("/", 1)[-1]
            cells = " ".join(f"{fmt(med.get(p)):>10}" for p in peers)
            ratio = lambda p, t="taxon": "%.2fx" % (med[t] / med[p]) if t in med and p in med else "-"
            ratios = " ".join(f"{ratio(p):>11}" for p in others)
            if spin:
                ratios += f" {ratio('ort', 'taxon-spin'):>11}"
            print(f"{name:34} {k[2]:>5} {cells} {ratios}")
    # paired: each round's taxon run against the same round's peer run (they ran
    # back to back, so they saw about the same load); the median of those ratios and how
    # many rounds taxon won are the statistic least moved by load that comes and goes
    byround = {}
    for r in rows:
        if r["section"] == sec and "round" in r:
            byround.setdefault((r["key"], r["batch"], r["round"]), {})[r["peer"]] = r["ms_per_batch"]
    pk = [p for p in ("ort", "tflite") if p in peers]
    if pk and byround and nrounds > 1:
        p = pk[0]
        print(f"\n{title}: paired by round, taxon/{p} and taxon-spin/{p} time ratios (< 1: taxon faster)")
        hdr = f"{'model':34} {'batch':>5} {'median':>8} {'wins':>7} {'spin med':>9} {'wins':>7}   per round (taxon/{p})"
        print(hdr); print("-" * len(hdr))
        for k in keys:
            rs = sorted(rd for (kk, b, rd) in byround if kk == k[1] and b == k[2])
            cols = []
            for t in ("taxon", "taxon-spin"):
                q = [byround[(k[1], k[2], rd)][t] / byround[(k[1], k[2], rd)][p] for rd in rs
                     if t in byround[(k[1], k[2], rd)] and p in byround[(k[1], k[2], rd)]]
                cols.append(q)
            name = k[1].rsplit("/", 1)[-1]
            cell = lambda q: (f"{statistics.median(q):>7.2f}x {sum(v < 1 for v in q):>3}/{len(q):<3}" if q else f"{'-':>8} {'-':>7}")
            print(f"{name:34} {k[2]:>5} {cell(cols[0])} {cell(cols[1]):>17}   " + " ".join(f"{v:.2f}" for v in cols[0]))
    for k in keys:
        why = na.get(f"{sec} {k[1]} {k[2]}")
        if why:
            print(f"  taxon: not available ({k[1].rsplit('/', 1)[-1]} batch {k[2]}: {why})")
EOF
