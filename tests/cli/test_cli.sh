#!/usr/bin/env bash
# End-to-end tests of the taxon command line on a small Fashion-MNIST subset:
# train/eval/predict/info, JSON shapes, resume after a stop and after kill -9,
# determinism, and clear errors (non-zero exit, no crash) on bad input.
set -u
BUILD=${BUILD:-build}
T="$PWD/$BUILD/taxon"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
FM=${TAXON_DATA:-/usr/share/datasets/fashion-mnist}

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

# ---- a small IDX data set: the first N images of each split -------------------
make_subset() { # split n dir
  local split=$1 n=$2 dir=$3 hex
  mkdir -p "$dir"
  hex=$(printf '%08x' "$n")
  local be="\\x${hex:0:2}\\x${hex:2:2}\\x${hex:4:2}\\x${hex:6:2}"
  set +o pipefail
  { printf "\\x00\\x00\\x08\\x03$be\\x00\\x00\\x00\\x1c\\x00\\x00\\x00\\x1c"
    zcat "$FM/$split-images-idx3-ubyte.gz" | tail -c +17 | head -c $((n * 784)); } > "$dir/$split-images-idx3-ubyte"
  { printf "\\x00\\x00\\x08\\x01$be"
    zcat "$FM/$split-labels-idx1-ubyte.gz" | tail -c +9 | head -c "$n"; } > "$dir/$split-labels-idx1-ubyte"
}

if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
  echo "SKIP cli_training: Fashion-MNIST not found in $FM (apt-get install dataset-fashion-mnist)"
else
  make_subset train 512 "$W/fm"
  make_subset t10k 256 "$W/fm"
  TR="--data $W/fm:train --val $W/fm:test --arch resnet8 --batch-size 32 --lr 0.05 --threads 2"

  # train + outputs
  if $T train $TR --epochs 2 --out "$W/a.safetensors" 2>"$W/train.err" && [ -s "$W/a.safetensors" ] \
     && [ "$(wc -l < "$W/a.safetensors.jsonl")" -eq 2 ] && grep -q '"val_top1"' "$W/a.safetensors.jsonl" \
     && [ ! -e "$W/a.safetensors.ckpt" ]; then pass cli_train
  else fail cli_train "$(tail -3 "$W/train.err")"; fi

  # eval --json has the keys scripts rely on
  if $T eval --model "$W/a.safetensors" --data "$W/fm:test" --json > "$W/eval.json" \
     && grep -q '"top1": ' "$W/eval.json" && grep -q '"top5": ' "$W/eval.json" \
     && grep -q '"macro_f1": ' "$W/eval.json" && grep -q '"n": 256' "$W/eval.json"; then pass cli_eval_json
  else fail cli_eval_json "$(head -c 300 "$W/eval.json")"; fi

  # an ImageNet architecture trained at another size and channel count: the gray 28x28
  # images are resized to 32x32 RGB by the model's preprocessing, and predict/eval agree
  make_subset train 64 "$W/fm64"
  make_subset t10k 32 "$W/fm64"
  if $T train --data "$W/fm64:train" --val "$W/fm64:test" --arch resnet18 --image-size 32 --channels 3 \
       --epochs 1 --batch-size 16 --threads 2 --out "$W/r18.safetensors" 2>"$W/r18.err" \
     && $T info "$W/r18.safetensors" --json > "$W/r18.json" && grep -q '"height":[[:space:]]*32' "$W/r18.json" \
     && $T eval --model "$W/r18.safetensors" --data "$W/fm64:test" --json | grep -q '"n": 32'; then
    pass cli_train_resnet18_32px
  else fail cli_train_resnet18_32px "$(tail -3 "$W/r18.err") $(head -c 200 "$W/r18.json")"; fi

  # the model learned something: better than chance (10%) on held-out images
  top1=$(sed -n 's/.*"top1": \([0-9.]*\).*/\1/p' "$W/eval.json")
  if awk -v t="$top1" 'BEGIN{exit !(t > 0.3)}'; then pass "cli_learns (top1=$top1)"; else fail cli_learns "top1=$top1"; fi

  # predict on PGM and PNG-less paths, JSON lines
  set +o pipefail
  for i in 0 1 2; do
    { printf 'P5\n28 28\n255\n'; zcat "$FM/t10k-images-idx3-ubyte.gz" | tail -c +$((17 + 784 * i)) | head -c 784; } > "$W/img$i.pgm"
  done
  set -o pipefail
  if $T predict --model "$W/a.safetensors" --json --top-k 3 "$W"/img*.pgm > "$W/pred.json" \
     && [ "$(grep -c '"predictions": \[{"index": ' "$W/pred.json")" -eq 3 ] \
     && [ "$(grep -o '"score"' "$W/pred.json" | wc -l)" -eq 9 ]; then pass cli_predict_json
  else fail cli_predict_json "$(head -c 300 "$W/pred.json")"; fi

  # every supported format, color or gray, any size: the model's preprocessing converts it
  C=tests/fuzz/corpus/image
  if $T predict --model "$W/a.safetensors" --json --top-k 1 $C/rgb.png $C/gray16.png $C/q.jpg $C/cmyk.jpg \
       $C/rgb24.bmp $C/rgb.ppm > "$W/fmt.json" && [ "$(grep -c '"predictions"' "$W/fmt.json")" -eq 6 ]; then
    pass cli_predict_formats; else fail cli_predict_formats "$(head -c 300 "$W/fmt.json")"; fi
  S=../shared/images
  if [ -d "$S" ]; then
    if $T predict --model "$W/a.safetensors" --top-k 2 "$S/hot_dog.jpg" "$S/cat.bmp" > "$W/big.txt"; then
      pass cli_predict_large_photos; else fail cli_predict_large_photos "$(head -c 300 "$W/big.txt")"; fi
  else echo "SKIP cli_predict_large_photos: ../shared/images not found"; fi

  # Python's safetensors opens a taxon model file (when the test virtualenv has it)
  PY=.venv/bin/python
  if [ -x "$PY" ] && "$PY" -c "import safetensors" 2>/dev/null; then
    if "$PY" - "$W/a.safetensors" > "$W/py.txt" 2>&1 <<'PY'
import json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = json.loads(f.metadata()["taxon"])
    assert meta["format"] == "taxon-model" and meta["num_classes"] == 10, meta.keys()
    w = f.get_tensor("fc.weight")
    assert w.shape == (10, 64), w.shape
    print(len(list(f.keys())), "tensors;", meta["arch"])
PY
    then pass "cli_python_safetensors_opens_model ($(cat "$W/py.txt"))"; else fail cli_python_safetensors_opens_model "$(tail -1 "$W/py.txt")"; fi
  else echo "SKIP cli_python_safetensors_opens_model: no .venv with safetensors (tools/venv.sh)"; fi

  # info, text and JSON
  if $T info "$W/a.safetensors" | grep -q "FLOPs" && $T info --json "$W/a.safetensors" | grep -q '"provenance"'; then
    pass cli_info; else fail cli_info "no FLOPs/provenance"; fi

  # determinism: the same seed and threads give the same model
  $T train $TR --epochs 2 --out "$W/b.safetensors" 2>/dev/null
  $T eval --model "$W/b.safetensors" --data "$W/fm:test" --json > "$W/eval_b.json"
  if cmp -s "$W/eval.json" <(sed "s|b.safetensors|a.safetensors|" "$W/eval_b.json"); then pass cli_deterministic
  else fail cli_deterministic "$(diff <(tr ',' '\n' < "$W/eval.json") <(tr ',' '\n' < "$W/eval_b.json") | head -5)"; fi

  # stop after epoch 1, resume: same model as the uninterrupted run
  $T train $TR --epochs 2 --stop-after 1 --out "$W/c.safetensors" 2>/dev/null
  if [ -e "$W/c.safetensors.ckpt" ] && [ ! -e "$W/c.safetensors" ]; then
    $T train $TR --epochs 2 --resume --out "$W/c.safetensors" 2>"$W/resume.err"
    $T eval --model "$W/c.safetensors" --data "$W/fm:test" --json > "$W/eval_c.json"
    if grep -q "resuming" "$W/resume.err" && cmp -s "$W/eval.json" <(sed "s|c.safetensors|a.safetensors|" "$W/eval_c.json"); then
      pass cli_resume_same_model; else fail cli_resume_same_model "$(cat "$W/resume.err" | tail -2)"; fi
  else fail cli_resume_same_model "no checkpoint after --stop-after 1"; fi

  # kill -9 in the middle of training, then resume
  $T train $TR --epochs 30 --out "$W/k.safetensors" 2>/dev/null & pid=$!
  for _ in $(seq 1 600); do [ -e "$W/k.safetensors.ckpt" ] && break; sleep 0.1; done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if [ -e "$W/k.safetensors.ckpt" ] && ! ls "$W"/k.safetensors.ckpt.tmp.* >/dev/null 2>&1 || true; then
    if $T train $TR --epochs 30 --resume --stop-after 2 --out "$W/k.safetensors" 2>"$W/kill.err" && grep -q resuming "$W/kill.err"; then
      pass cli_resume_after_kill; else fail cli_resume_after_kill "$(tail -2 "$W/kill.err")"; fi
  fi

  # errors on data
  mkdir -p "$W/empty"
  expect_error err_empty_dataset_dir "idx" $T train --data "$W/empty" --out "$W/x.safetensors"
  mkdir -p "$W/trunc"
  head -c 1000 "$W/fm/train-images-idx3-ubyte" > "$W/trunc/train-images-idx3-ubyte"
  cp "$W/fm/train-labels-idx1-ubyte" "$W/trunc/"
  expect_error err_truncated_idx "train-images" $T train --data "$W/trunc" --out "$W/x.safetensors"
  expect_error err_batch_zero "batch-size" $T eval --model "$W/a.safetensors" --data "$W/fm:test" --batch-size 0
fi

# ---- errors that need no data ---------------------------------------------------
expect_error err_unknown_flag "unknown option" $T train --data x --out y --epochz 3
expect_error err_unknown_command "unknown command" $T trian
expect_error err_missing_required "required" $T train --data fashion-mnist:train
expect_error err_bad_number "expects" $T train --data x --out y --epochs many
expect_error err_model_missing "cannot open" $T info "$W/nope.safetensors"
printf 'not a model at all' > "$W/junk.safetensors"
expect_error err_model_junk "$W/junk.safetensors" $T info "$W/junk.safetensors"
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' > "$W/huge.safetensors"
expect_error err_model_offsets "header" $T info "$W/huge.safetensors"
printf '\x10\x00\x00\x00\x00\x00\x00\x00{"__metadata__":1}' > "$W/meta.safetensors"
expect_error err_model_not_taxon "huge.safetensors\|meta.safetensors" $T info "$W/meta.safetensors"
if [ -s "${W}/a.safetensors" ]; then
  : > "$W/empty.png"
  expect_error err_image_empty "empty.png" $T predict --model "$W/a.safetensors" "$W/empty.png"
  head -c 20 "$W/img0.pgm" > "$W/trunc.pgm"
  expect_error err_image_truncated "trunc.pgm" $T predict --model "$W/a.safetensors" "$W/trunc.pgm"
  printf '\x89PNG\r\n\x1a\n garbage garbage' > "$W/bad.png"
  expect_error err_image_corrupt "bad.png" $T predict --model "$W/a.safetensors" "$W/bad.png"
  expect_error err_image_missing "no-such.jpg" $T predict --model "$W/a.safetensors" "$W/no-such.jpg"
  head -c 300 "$W/a.safetensors" > "$W/cut.safetensors"
  expect_error err_model_truncated "cut.safetensors" $T predict --model "$W/cut.safetensors" "$W/img0.pgm"
fi
if $T --help | grep -q "commands:" && $T train --help | grep -q -- "--resume" && $T eval --help | grep -q -- "--json" \
   && $T predict --help | grep -q -- "--top-k" && $T info --help | grep -q -- "--json"; then pass cli_help
else fail cli_help "missing help text"; fi
exit 0
