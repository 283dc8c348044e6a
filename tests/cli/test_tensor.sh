#!/usr/bin/env bash
# What a user does to check parity with PyTorch, end to end through the CLI: a torchvision
# or timm state dict (.safetensors) -> taxon convert --from -> taxon predict --tensor
# x.npy --logits --json, compared with PyTorch's logits. The state dicts are rebuilt from
# the committed architecture goldens (synthetic weights: tools/golden_synth.py; the
# golden holds the input and PyTorch's float64 logits).
set -u
BUILD=${BUILD:-build}
T="$PWD/$BUILD/taxon"
PY=${TAXON_PYTHON:-$PWD/.venv/bin/python}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! "$PY" -c 'import numpy, safetensors' 2>/dev/null; then
  echo "SKIP cli_tensor: $PY lacks numpy/safetensors (make test creates .venv via tools/venv.sh)"
  exit 0
fi

for case in timm:resnet18 torchvision:mobilenet_v2 timm:vit_tiny_patch16_224; do
  src=${case%%:*} arch=${case#*:}
  g=tests/golden/arch_${src}_${arch}.safetensors
  [ -f "$g" ] || { echo "SKIP cli_tensor_$arch: $g missing"; continue; }
  # the state dict and the input, as a PyTorch user would save them
  if ! "$PY" - "$g" "$W/sd.safetensors" "$W/x.npy" "$W/ref.txt" > "$W/meta" 2>"$W/py.err" <<'PYEOF'
import json, sys
sys.path.insert(0, "tools")
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from golden_synth import synth
g = safe_open(sys.argv[1], "np")
meta = g.metadata()
sd = {name: synth(name, shape) for name, shape in json.loads(meta["params"])}
save_file(sd, sys.argv[2])
np.save(sys.argv[3], g.get_tensor("input").astype(np.float32))
np.savetxt(sys.argv[4], g.get_tensor("logits").astype(np.float64).reshape(-1))
print(meta["classes"], meta["image_size"])
PYEOF
  then fail "cli_tensor_$arch" "python: $(tail -2 "$W/py.err")"; continue; fi
  read -r classes size < "$W/meta"
  if ! $T convert --from "$src" --arch "$arch" --classes "$classes" --image-size "$size" \
        "$W/sd.safetensors" "$W/m.safetensors" > "$W/conv.out" 2>&1; then
    fail "cli_tensor_$arch" "convert: $(tail -2 "$W/conv.out")"; continue; fi
  if ! $T predict --model "$W/m.safetensors" --tensor "$W/x.npy" --logits --json --top-k 1 > "$W/pred.json" 2>"$W/pred.err"; then
    fail "cli_tensor_$arch" "predict: $(tail -2 "$W/pred.err")"; continue; fi
  # largest difference relative to the largest |logit|, over every sample
  if "$PY" - "$W/pred.json" "$W/ref.txt" "$arch" <<'PYEOF'
import json, sys
import numpy as np
got = np.array([json.loads(l)["logits"] for l in open(sys.argv[1])], np.float64).reshape(-1)
ref = np.loadtxt(sys.argv[2]).reshape(-1)
d = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)
print(f"  {sys.argv[3]}: {got.size} logits, largest difference {d:.3g} of the largest |logit|")
sys.exit(0 if got.size == ref.size and d < 1e-4 else 1)
PYEOF
  then pass "cli_tensor_$arch"; else fail "cli_tensor_$arch" "logits differ from PyTorch"; fi
done

# errors: wrong shape, wrong dtype, --logits without --tensor
if [ -f "$W/m.safetensors" ]; then
  "$PY" -c "import numpy as np; np.save('$W/bad.npy', np.zeros((1, 3, 5, 5), np.float32)); np.save('$W/int.npy', np.zeros((1, 3), np.int32))"
  $T predict --model "$W/m.safetensors" --tensor "$W/bad.npy" > /dev/null 2> "$W/e1"; rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "N x C x H x W" "$W/e1"; then pass cli_tensor_bad_shape
  else fail cli_tensor_bad_shape "rc $rc: $(head -c 200 "$W/e1")"; fi
  $T predict --model "$W/m.safetensors" --tensor "$W/int.npy" > /dev/null 2> "$W/e2"; rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "astype" "$W/e2"; then pass cli_tensor_bad_dtype
  else fail cli_tensor_bad_dtype "rc $rc: $(head -c 200 "$W/e2")"; fi
  $T predict --model "$W/m.safetensors" --logits x.png > /dev/null 2> "$W/e3"; rc=$?
  if [ $rc -eq 2 ] && grep -q "tensor" "$W/e3"; then pass cli_tensor_logits_alone
  else fail cli_tensor_logits_alone "rc $rc: $(head -c 200 "$W/e3")"; fi
fi
