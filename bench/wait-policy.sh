#!/usr/bin/env bash
# Batch-1 latency of taxon under OpenMP wait policies, alternating, on a quiet machine and
# with busy processes beside it (the measurements behind the CLI's GOMP_SPINCOUNT=1000,
# docs/benchmarks.md "OpenMP wait policy").
#
#   bench/wait-policy.sh
#
# Environment: ROUNDS (3), HOGS ("0 1": how many busy-loop processes run beside, one
# setting after the other), POLICIES ("PASSIVE 1000 4000 ACTIVE": OMP_WAIT_POLICY names or
# GOMP_SPINCOUNT values), MODELS ("efficientnet_b0 mobilenet_v2" architectures, or .tflite
# files), REPEATS (60), ORT=1 (also ONNX Runtime on the architectures, bench/peers).
# Prints one line per round: ms per batch (median of REPEATS) for each policy and model.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}; HOGS=${HOGS:-"0 1"}; POLICIES=${POLICIES:-"PASSIVE 1000 4000 ACTIVE"}
MODELS=${MODELS:-"efficientnet_b0 mobilenet_v2"}; REPEATS=${REPEATS:-60}; ORT=${ORT:-}
[ -x build/taxon ] || make -s build/taxon >/dev/null || exit 1
[ -n "$ORT" ] && { bench/peers/setup.sh >/dev/null || exit 1; }
hogs=()
stop_hogs() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; hogs=(); }
trap stop_hogs EXIT
one() {  # policy model -> ms per batch
  local pol=$1 m=$2 env=()
  case "$pol" in
    PASSIVE|ACTIVE) env=(OMP_WAIT_POLICY="$pol") ;;
    *) env=(GOMP_SPINCOUNT="$pol") ;;
  esac
  local what=(--arch "$m"); [[ $m == *.tflite ]] && what=(--model "$m")
  env "${env[@]}" build/taxon bench "${what[@]}" --batch-size 1 --threads 2 --repeats "$REPEATS" \
    --warmup 5 --json | jq -r .ms_per_batch
}
echo "wait-policy: $ROUNDS rounds, policies: $POLICIES, models: $MODELS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for h in $HOGS; do
  for _ in $(seq "$h"); do sh -c 'while :; do :; done' & hogs+=($!); done
  for r in $(seq "$ROUNDS"); do
    line="busy=$h round $r:"
    for p in $POLICIES; do
      for m in $MODELS; do line="$line $p/$(basename "$m" .tflite)=$(one "$p" "$m")"; done
    done
    if [ -n "$ORT" ]; then
      for m in $MODELS; do
        [[ $m == *.tflite ]] && continue
        t=$(.venv/bin/python bench/peers/run_peer.py --peer ort --model "$m" --batch 1 --threads 2 \
            --repeats "$REPEATS" --warmup 5 2>/dev/null | jq -r .ms_per_batch)
        line="$line ort/$m=$t"
      done
    fi
    echo "$line"
  done
  stop_hogs
done
