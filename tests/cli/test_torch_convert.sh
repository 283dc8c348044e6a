#!/usr/bin/env bash
# taxon convert --from torchvision|timm: a PyTorch state dict (.safetensors) with the
# library's names -> a taxon model. The head follows the file or --classes (which says
# what it re-initialized), half-precision files convert, the preprocessing is the
# library's, and a file that does not fit the architecture is refused with everything that
# did not fit listed. (Logit parity through the CLI: tests/cli/test_tensor.sh.)
set -u
BUILD=${BUILD:-build}
T="$PWD/$BUILD/taxon"
PY=${TAXON_PYTHON:-$PWD/.venv/bin/python}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# expect_error NAME PATTERN CMD...: must exit non-zero (not by a signal) and say PATTERN
expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$W/out" 2>"$W/err"; local rc=$?
  if [ $rc -eq 0 ]; then fail "$name" "exit 0"; return; fi
  if [ $rc -ge 128 ]; then fail "$name" "crashed (status $rc): $(head -c 300 "$W/err")"; return; fi
  if grep -q "AddressSanitizer\|runtime error" "$W/err"; then fail "$name" "sanitizer: $(head -c 300 "$W/err")"; return; fi
  if ! grep -qi -- "$pat" "$W/err" "$W/out"; then fail "$name" "message lacks '$pat': $(head -c 300 "$W/err")"; return; fi
  pass "$name"
}

if ! "$PY" -c 'import numpy, safetensors' 2>/dev/null; then
  echo "SKIP torch_convert: $PY lacks numpy/safetensors (make test creates .venv via tools/venv.sh)"
  exit 0
fi

# resnet18 state dicts (names and shapes from the committed golden; 10 classes) in F32,
# F16 and BF16-free float16, and a copy that lacks one tensor and has a stray one
if ! "$PY" - tests/golden/arch_torchvision_resnet18.safetensors "$W" 2>"$W/py.err" <<'PYEOF'
import json, sys
sys.path.insert(0, "tools")
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from golden_synth import synth
meta = safe_open(sys.argv[1], "np").metadata()
sd = {}
for name, shape in json.loads(meta["params"]):
    if name.startswith("fc."):
        shape = [10] + shape[1:]
    sd[name] = synth(name, shape) if shape else np.zeros((), np.int64)
save_file(sd, sys.argv[2] + "/sd.safetensors")
save_file({k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in sd.items()},
          sys.argv[2] + "/sd16.safetensors")
bad = dict(sd)
del bad["layer2.1.bn1.running_mean"]
bad["layer9.0.conv1.weight"] = np.zeros((3, 4), np.float32)
save_file(bad, sys.argv[2] + "/bad.safetensors")
PYEOF
then
  fail torch_convert_setup "python: $(tail -2 "$W/py.err")"
  exit 0
fi

# the head from the file
if $T convert --from torchvision --arch resnet18 "$W/sd.safetensors" "$W/a.safetensors" >"$W/out" 2>"$W/err" \
   && grep -q "10 classes" "$W/out" && $T info --json "$W/a.safetensors" >"$W/info.json" 2>&1 \
   && "$PY" - "$W/info.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
s = json.dumps(j)
pp = j.get("preprocessing") or j.get("preprocess") or {}
ok = '"torchvision"' in s and abs(pp.get("crop_fraction", 0) - 0.875) < 1e-6 and pp.get("height") == 224
sys.exit(0 if ok else 1)
PYEOF
then pass torch_convert_torchvision
else fail torch_convert_torchvision "$(tail -c 400 "$W/err") $(head -c 400 "$W/info.json")"; fi

# timm names, a new head of 3 classes: says what it re-initialized
if $T convert --from timm --arch resnet18 --classes 3 --image-size 96 "$W/sd.safetensors" "$W/b.safetensors" \
     >"$W/out" 2>"$W/err" && grep -q "re-initialized" "$W/err" && grep -q "fc.weight \[3,512\]" "$W/err" \
   && grep -q "fc.bias \[3\]" "$W/err" && $T info "$W/b.safetensors" >"$W/info" 2>&1 && grep -q "timm" "$W/info"
then pass torch_convert_new_head
else fail torch_convert_new_head "$(tail -c 400 "$W/err")"; fi

# float16 weights convert
if $T convert --from torchvision --arch resnet18 --json "$W/sd16.safetensors" "$W/c.safetensors" >"$W/out" 2>"$W/err" \
   && grep -q '"source":"torchvision"' "$W/out" && grep -q '"classes":10' "$W/out"
then pass torch_convert_float16
else fail torch_convert_float16 "$(tail -c 400 "$W/err") $(head -c 300 "$W/out")"; fi

# misfits: all of them listed
expect_error torch_convert_missing "missing 'layer2.1.bn1.running_mean'" \
  $T convert --from torchvision --arch resnet18 "$W/bad.safetensors" "$W/d.safetensors"
expect_error torch_convert_unexpected "unexpected 'layer9.0.conv1.weight'" \
  $T convert --from torchvision --arch resnet18 "$W/bad.safetensors" "$W/d.safetensors"
expect_error torch_convert_wrong_arch "missing 'layer1.2.conv1.weight'" \
  $T convert --from timm --arch resnet34 "$W/sd.safetensors" "$W/d.safetensors"
expect_error torch_convert_wrong_family "do not fit" \
  $T convert --from timm --arch mobilenet_v2 "$W/sd.safetensors" "$W/d.safetensors"
[ -e "$W/d.safetensors" ] && fail torch_convert_no_output "a refused conversion wrote its output" \
  || pass torch_convert_no_output
# a taxon model is not a PyTorch state dict (OHWI conv weights)
expect_error torch_convert_taxon_file "wrong shape 'conv1.weight'" \
  $T convert --from timm --arch resnet18 "$W/a.safetensors" "$W/d.safetensors"

# usage errors
expect_error torch_convert_no_arch "needs --arch" $T convert --from timm "$W/sd.safetensors" "$W/d.safetensors"
expect_error torch_convert_bad_from "keras" $T convert --from keras --arch resnet18 "$W/sd.safetensors" "$W/d.safetensors"
expect_error torch_convert_bad_arch "resnet19" $T convert --from timm --arch resnet19 "$W/sd.safetensors" "$W/d.safetensors"
expect_error torch_convert_no_file "nonexistent" $T convert --from timm --arch resnet18 "$W/nonexistent.safetensors" "$W/d.safetensors"
expect_error torch_convert_float_flag "tflite" $T convert --from timm --arch resnet18 --float "$W/sd.safetensors" "$W/d.safetensors"

# a ViT checkpoint trained at another image size: the position embedding is resampled to
# the model's grid (timm's bicubic resampling) and the report says so
if "$PY" - tests/golden/arch_timm_vit_tiny_patch16_224.safetensors "$W/vit.safetensors" 2>"$W/py2.err" <<'PYEOF'
import json, sys
sys.path.insert(0, "tools")
from safetensors import safe_open
from safetensors.numpy import save_file
from golden_synth import synth
meta = safe_open(sys.argv[1], "np").metadata()
save_file({n: synth(n, s) for n, s in json.loads(meta["params"])}, sys.argv[2])
PYEOF
then
  if $T convert --from timm --arch vit_tiny_patch16_224 --image-size 64 "$W/vit.safetensors" "$W/vit64.safetensors" \
       > "$W/vit.out" 2>&1 && grep -q "resampled from 2x2 to 4x4" "$W/vit.out" \
     && "$PY" -c "import numpy as np; np.save('$W/x64.npy', np.random.RandomState(0).randn(1, 3, 64, 64).astype(np.float32))" \
     && $T predict --model "$W/vit64.safetensors" --tensor "$W/x64.npy" --json > /dev/null 2>"$W/vit.err"; then
    pass torch_convert_vit_resample_pos_embed
  else fail torch_convert_vit_resample_pos_embed "$(tail -c 300 "$W/vit.out") $(tail -c 200 "$W/vit.err" 2>/dev/null)"; fi
else
  fail torch_convert_vit_resample_pos_embed "python: $(tail -2 "$W/py2.err")"
fi
