#!/usr/bin/env bash
# `make demo`: train a small CNN on Fashion-MNIST for a short run, evaluate it, classify
# a few test images, and say where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
mkdir -p "$out"
T=build/taxon
EPOCHS=${DEMO_EPOCHS:-2}
echo "== taxon demo: training fmnist_net on Fashion-MNIST for $EPOCHS epochs"
$T train --data fashion-mnist:train --val fashion-mnist:test --arch fmnist_net \
    --epochs "$EPOCHS" --batch-size 128 --lr 0.1 --out "$out/fmnist.safetensors"
echo
echo "== evaluating on the 10,000 test images"
$T eval --model "$out/fmnist.safetensors" --data fashion-mnist:test
echo
echo "== writing a few test images as PGM files and classifying them"
src=${TAXON_DATA:-/usr/share/datasets/fashion-mnist}/t10k-images-idx3-ubyte.gz
set +o pipefail  # head closes the pipe early on purpose
for i in 0 1 2 3; do
  { printf 'P5\n28 28\n255\n'; zcat "$src" | tail -c +$((17 + 784 * i)) | head -c 784; } > "$out/test$i.pgm"
done
set -o pipefail
$T predict --model "$out/fmnist.safetensors" --top-k 3 "$out"/test*.pgm
echo
$T info "$out/fmnist.safetensors"
echo
echo "== done. Model: $out/fmnist.safetensors  training log: $out/fmnist.safetensors.jsonl"
echo "   try: $T predict --model $out/fmnist.safetensors --json YOUR_IMAGE.png"
