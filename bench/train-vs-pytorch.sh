#!/usr/bin/env bash
# Training throughput (forward + loss + backward + SGD step, images/s) of the small CNN
# (conv32-conv64-maxpool-fc128-fc10, 1x28x28), taxon vs PyTorch (Debian python3-torch),
# same batch size and thread count, alternating rounds in one run. The last line is the ratio.
#   bench/train-vs-pytorch.sh [BATCH=64] [THREADS=2] [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-64}; T=${2:-2}; R=${3:-5}
tools/install-deps.sh bench >/dev/null
make -s all >/dev/null
tx=(); pt=()
for r in $(seq 1 "$R"); do
  a=$(build/taxon bench --arch small_cnn --train --batch-size "$B" --threads "$T" --repeats 30 --json)
  b=$(/usr/bin/python3 bench/train_pytorch.py --batch-size "$B" --threads "$T" --repeats 30)
  ai=$(sed 's/.*"images_per_s": \([0-9.]*\).*/\1/' <<<"$a"); bi=$(sed 's/.*"images_per_s": \([0-9.]*\).*/\1/' <<<"$b")
  echo "round $r: taxon $ai img/s, pytorch $bi img/s"
  tx+=("$ai"); pt+=("$bi")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mt=$(med "${tx[@]}"); mp=$(med "${pt[@]}")
echo "median: taxon $mt img/s, pytorch $mp img/s (batch $B, $T threads)"
awk -v a="$mt" -v b="$mp" 'BEGIN{printf "taxon/pytorch training throughput ratio: %.2fx\n", a/b}'
