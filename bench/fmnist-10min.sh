#!/usr/bin/env bash
# The Fashion-MNIST accuracy recipe: one training run of at most 10 minutes wall clock on
# this 2-core machine, then top-1 on the 10,000 test images.
#   bench/fmnist-10min.sh OUT.safetensors [extra taxon train options]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/fmnist-10min.sh OUT.safetensors [taxon train options]}
shift
tools/install-deps.sh build >/dev/null
make -s all >/dev/null
RECIPE=(--arch fmnist_net --epochs 10 --batch-size 256 --optimizer sgd --lr 0.2 --momentum 0.9
        --weight-decay 5e-4 --schedule onecycle --label-smoothing 0.1 --crop-pad 2 --erase 0
        --seed 1 --threads 2)
echo "recipe: ${RECIPE[*]} $*"
t0=$(date +%s.%N)
build/taxon train --data fashion-mnist:train "${RECIPE[@]}" "$@" --out "$OUT"
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
res=$(build/taxon eval --model "$OUT" --data fashion-mnist:test --json)
top1=$(sed 's/.*"top1": \([0-9.]*\).*/\1/' <<<"$res")
echo "training wall clock: ${secs} s (budget 600 s)"
awk -v t="$top1" 'BEGIN{printf "Fashion-MNIST test top-1: %.2f%%\n", 100*t}'
