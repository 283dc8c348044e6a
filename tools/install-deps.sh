#!/usr/bin/env bash
# Installs the Debian packages taxon needs, only those that are missing.
#   tools/install-deps.sh build   - libraries to build taxon and its data set
#   tools/install-deps.sh test    - plus what the test suite needs (clang for fuzzing)
#   tools/install-deps.sh golden  - plus PyTorch, to regenerate golden tensors
set -euo pipefail
what=${1:-build}
pkgs=(build-essential pkg-config libopenblas-openmp-dev libturbojpeg0-dev libpng-dev
      libcjson-dev zlib1g-dev dataset-fashion-mnist)
case "$what" in
  build) ;;
  test) pkgs+=(clang libclang-rt-14-dev libomp-14-dev) ;;
  golden) pkgs+=(python3-torch python3-numpy) ;;
  bench) pkgs+=(python3-torch python3-numpy) ;;
  *) echo "usage: $0 build|test|golden|bench" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "taxon: installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
