#!/usr/bin/env bash
# Training throughput (forward + loss + backward + SGD step, images/s), taxon vs PyTorch
# (Debian python3-torch / torchvision), same network, batch size and thread count,
# alternating rounds in one run. The last line is the ratio.
#   bench/train-vs-pytorch.sh [BATCH=64] [THREADS=2] [ROUNDS=5] [ARCH=small_cnn] [SIZE]
# ARCH small_cnn: conv32-conv64-maxpool-fc128-fc10 on 1x28x28; resnet18 / mobilenet_v2:
# the torchvision networks with 10 classes on 3 x SIZE x SIZE (issue 4: resnet18 at 32,
# mobilenet_v2 at 96).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-64}; T=${2:-2}; R=${3:-5}; A=${4:-small_cnn}; S=${5:-32}
if [ "$A" = small_cnn ]; then targs=(--arch small_cnn); pargs=(--arch small_cnn)
else targs=(--arch "$A" --image-size "$S" --channels 3 --classes 10); pargs=(--arch "$A" --image-size "$S"); fi
tools/install-deps.sh bench >/dev/null
make -s all >/dev/null
tx=(); pt=()
for r in $(seq 1 "$R"); do
  a=$(build/taxon bench "${targs[@]}" --train --batch-size "$B" --threads "$T" --repeats 30 --json)
  b=$(/usr/bin/python3 bench/train_pytorch.py "${pargs[@]}" --batch-size "$B" --threads "$T" --repeats 30)
  ai=$(sed 's/.*"images_per_s": \([0-9.]*\).*/\1/' <<<"$a"); bi=$(sed 's/.*"images_per_s": \([0-9.]*\).*/\1/' <<<"$b")
  echo "round $r: taxon $ai img/s, pytorch $bi img/s"
  tx+=("$ai"); pt+=("$bi")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mt=$(med "${tx[@]}"); mp=$(med "${pt[@]}")
echo "median: taxon $mt img/s, pytorch $mp img/s ($A, batch $B, $T threads)"
awk -v a="$mt" -v b="$mp" 'BEGIN{printf "taxon/pytorch training throughput ratio: %.2fx\n", a/b}'
