#!/usr/bin/env bash
# taxon vs ONNX Runtime, fp32 224x224, in alternating short bursts within one run: the
# companion of bench/infer-vs-peers.sh for the issue-4 targets. That script runs each peer
# as its own process for 1-4 s per round, and on this shared machine the load other
# tenants add changes between those runs (paired per-round ratios spread 0.6-1.4). Here
# both sides stay loaded in their own processes and alternate bursts of ~0.3 s
# (bench/peers/interleave.py, bench/pingpong.c), so each pair of bursts sees about the
# same load.
#
#   bench/interleave-vs-ort.sh [MODEL ...]     default: resnet50 mobilenet_v2 efficientnet_b0 vit_b_16
#
# Environment: BATCHES ("1 16"), THREADS (2), PAIRS (40 at batch 1; 16 at larger batches),
# NO_BUILD=1 (use the existing build/libtaxon.a). Raw JSON lines go to
# bench/peers/cache/interleave-TIME.jsonl. Prints, per model and batch: taxon and ORT ms
# per image (median of burst medians), the median taxon/ORT ratio of the pairs with its
# quartiles, and how many pairs taxon won.
set -uo pipefail
cd "$(dirname "$0")/.."
T=${THREADS:-2}; BATCHES=${BATCHES:-"1 16"}
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(resnet50 mobilenet_v2 efficientnet_b0 vit_b_16)

bench/peers/setup.sh || { echo "interleave-vs-ort: peer setup failed" >&2; exit 1; }
if [ -z "${NO_BUILD:-}" ]; then
  make -s build/libtaxon.a >/dev/null || { echo "interleave-vs-ort: make failed" >&2; exit 1; }
fi
mkdir -p build/bench bench/peers/cache
# shellcheck disable=SC2046
cc -std=c17 -O2 -march=native -fopenmp -D_GNU_SOURCE -Iinclude -Isrc bench/pingpong.c \
   build/libtaxon.a $(make -s --no-print-directory --eval='txpp-libs: ; @echo $(LIBS)' txpp-libs) \
   -lm -o build/bench/pingpong || { echo "interleave-vs-ort: cannot build bench/pingpong.c" >&2; exit 1; }
/usr/bin/python3 bench/peers/export_onnx.py "${models[@]}" >/dev/null || exit 1

log=bench/peers/cache/interleave-$(date +%Y%m%d-%H%M%S).jsonl
: >"$log"
echo "interleave-vs-ort: $T threads; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %5s %6s %10s %10s %8s %15s %7s %6s\n' model batch burst "taxon ms" "ort ms" "tx/ort" "quartiles" won load
for m in "${models[@]}"; do
  txa=$m; case "$m" in vit_b_16|vit_base_patch16_224) txa=vit_base_patch16_224 ;; esac
  for b in $BATCHES; do
    p=${PAIRS:-}; [ -z "$p" ] && { [ "$b" -eq 1 ] && p=40 || p=16; }
    out=$(.venv/bin/python bench/peers/interleave.py --pingpong build/bench/pingpong --model "$m" \
          --tx-arch "$txa" --batch "$b" --threads "$T" --pairs "$p") || { echo "$m batch $b: FAILED"; continue; }
    echo "$out" >>"$log"
    jq -r '[.model, .batch, .burst, .taxon_ms, .ort_ms, .ratio, "\(.ratio_q1)-\(.ratio_q3)", "\(.won)/\(.pairs)", .load] |
           @tsv' <<<"$out" | awk -F'\t' '{printf "%-22s %5s %6s %10s %10s %7.3fx %15s %7s %6s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); raw results: $log"
