#!/usr/bin/env bash
# Sets up the peers for bench/infer-vs-peers.sh (idempotent, quiet when all is there):
#  - Debian: python3-torch + python3-torchvision (0.14, matches torch 1.13) + python3-onnx for
#    /usr/bin/python3. That interpreter is the PyTorch peer and exports the ONNX files
#    (Debian's torch is not visible from /work/main/.venv, which runs another Python build).
#  - PyPI: onnxruntime, ai-edge-litert, numpy, onnx (bench/peers/requirements.txt) into
#    /work/main/.venv. The venv is created only when missing (python3 -m venv
#    --system-site-packages); an existing one (the test suite uses it for safetensors) is
#    only added to, never pruned.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
pkgs=(python3-torch python3-torchvision python3-numpy python3-onnx)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "peers: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "peers: creating $root/.venv"
  python3 -m venv --system-site-packages "$root/.venv"
fi
if ! "$root/.venv/bin/python" -c 'import onnxruntime, ai_edge_litert, numpy, onnx' 2>/dev/null; then
  echo "peers: pip install -r bench/peers/requirements.txt into .venv"
  "$root/.venv/bin/pip" install -q -r bench/peers/requirements.txt
fi
/usr/bin/python3 -c 'import torch, torchvision, onnx' || { echo "peers: Debian torch/torchvision/onnx not importable by /usr/bin/python3" >&2; exit 1; }
