#!/usr/bin/env bash
# End-to-end tests of the TFLite commands: `taxon predict` on .tflite files reproduces every
# row of ../shared/reference/tflite_top5.csv (class index and score = q/256, both resize
# recipes), `taxon convert` -> predict on the .safetensors gives the same top-5, the float
# graph agrees on top-1, `taxon info` / `taxon embed` on .tflite and converted models, and
# errors that say what to do. SKIPs without ../shared.
set -u
BUILD=${BUILD:-build}
T="$PWD/$BUILD/taxon"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
SH=${TAXON_SHARED:-../shared}
M=$SH/models
CSV=$SH/reference/tflite_top5.csv

expect_error() { # NAME PATTERN CMD...: non-zero exit (not a signal), message contains PATTERN
  local name=$1 pat=$2; shift 2
  "$@" >"$W/out" 2>"$W/err"; local rc=$?
  if [ $rc -eq 0 ]; then fail "$name" "exit 0"; return; fi
  if [ $rc -ge 128 ]; then fail "$name" "crashed (status $rc): $(head -c 300 "$W/err")"; return; fi
  if grep -q "AddressSanitizer\|runtime error" "$W/err"; then fail "$name" "sanitizer: $(head -c 300 "$W/err")"; return; fi
  if ! grep -qi -- "$pat" "$W/err" "$W/out"; then fail "$name" "message lacks '$pat': $(head -c 300 "$W/err")"; return; fi
  pass "$name"
}

# help texts
for c in convert embed; do
  if $T $c --help >"$W/h" 2>&1 && grep -q "usage: taxon $c" "$W/h"; then pass "tflite_cli_help_$c"
  else fail "tflite_cli_help_$c" "$(head -3 "$W/h")"; fi
done
if $T --help | grep -q "convert" && $T --help | grep -q "embed"; then pass tflite_cli_commands_listed
else fail tflite_cli_commands_listed "convert/embed missing from taxon --help"; fi

if [ ! -f "$CSV" ] || [ ! -d "$M" ]; then
  echo "SKIP tflite_cli: ../shared (models, reference) not found (set TAXON_SHARED)"
  exit 0
fi

# ---- every csv row through taxon predict --json ------------------------------------------
# csv: model,image,method,size,rank,index,q,score,label,input_sha256
rows=0; ok=0; worst=0
for model in $(tail -n +2 "$CSV" | cut -d, -f1 | sort -u); do
  for method in bilinear nearest; do
    imgs=$(tail -n +2 "$CSV" | awk -F, -v m="$model" -v r="$method" '$1 == m && $3 == r {print $2}' | sort -u)
    paths=(); for i in $imgs; do paths+=("$SH/images/$i"); done
    if ! $T predict --model "$M/$model" --resize "$method" --top-k 5 --json --threads 2 "${paths[@]}" \
        >"$W/p.jsonl" 2>"$W/p.err"; then
      fail "tflite_predict_$model_$method" "$(head -c 300 "$W/p.err")"; continue
    fi
    # the predictions as "image rank index q" lines
    jq -r '(.image | split("/") | last) as $i | .predictions | to_entries[] |
           "\($i) \(.key + 1) \(.value.index) \((.value.score * 256) | round)"' "$W/p.jsonl" > "$W/got"
    tail -n +2 "$CSV" | awk -F, -v m="$model" -v r="$method" '$1 == m && $3 == r {print $2, $5, $6, $7}' > "$W/want"
    while read -r img rank idx q; do
      rows=$((rows + 1))
      g=$(awk -v i="$img" -v r="$rank" '$1 == i && $2 == r {print $3, $4}' "$W/got")
      if [ "$g" = "$idx $q" ]; then ok=$((ok + 1))
      else
        echo "  $model $img $method rank $rank: got '$g', csv '$idx $q'"
        gq=${g#* }; d=$(( ${gq:-0} > q ? ${gq:-0} - q : q - ${gq:-0} )); [ "$d" -gt "$worst" ] && worst=$d
      fi
    done < "$W/want"
  done
done
echo "  taxon predict --json reproduces $ok/$rows csv rows (index and q = round(score*256))"
if [ "$rows" -ge 200 ] && [ "$ok" -eq "$rows" ]; then pass "tflite_predict_csv_rows ($ok/$rows)"
else fail tflite_predict_csv_rows "$ok/$rows rows exact, largest q difference $worst"; fi

# ---- convert -> predict on the .safetensors gives the same top-5 -------------------------
IM=("$SH/images/cat.bmp" "$SH/images/bird.bmp" "$SH/images/grace_hopper.bmp" "$SH/images/hot_dog.jpg" "$SH/images/parrot.jpg")
for model in mobilenet_v2_1.0_224_quant mobilenet_v1_0.25_128_quant mobilenet_v1_0.5_160_quant mobilenet_v2_1.0_224_inat_bird_quant; do
  if ! $T convert "$M/$model.tflite" "$W/$model.safetensors" >"$W/c.out" 2>"$W/c.err"; then
    fail "tflite_convert_$model" "$(head -c 300 "$W/c.err")"; continue
  fi
  $T predict --model "$M/$model.tflite" --top-k 5 --json --threads 2 "${IM[@]}" > "$W/a.jsonl" 2>&1
  $T predict --model "$W/$model.safetensors" --top-k 5 --json --threads 2 "${IM[@]}" > "$W/b.jsonl" 2>&1
  if [ -s "$W/a.jsonl" ] && cmp -s "$W/a.jsonl" "$W/b.jsonl"; then pass "tflite_convert_predict_same_$model"
  else fail "tflite_convert_predict_same_$model" "$(diff "$W/a.jsonl" "$W/b.jsonl" | head -c 300)"; fi
done

# the float graph: convert --float, top-1 agrees with the integer model on cat.bmp
if $T convert --float --json "$M/mobilenet_v2_1.0_224_quant.tflite" "$W/f.safetensors" >"$W/f.json" 2>"$W/f.err" \
   && [ "$(jq -r .graph "$W/f.json")" = float ] && [ "$(jq -r .quantized_nodes "$W/f.json")" = 0 ]; then
  a=$($T predict --model "$W/mobilenet_v2_1.0_224_quant.safetensors" --top-k 1 --json "$SH/images/cat.bmp" | jq '.predictions[0].index')
  b=$($T predict --model "$W/f.safetensors" --top-k 1 --json "$SH/images/cat.bmp" | jq '.predictions[0].index')
  if [ "$a" = 286 ] && [ "$b" = 286 ]; then pass tflite_convert_float_top1
  else fail tflite_convert_float_top1 "integer $a, float $b"; fi
else fail tflite_convert_float "$(head -c 300 "$W/f.err")"; fi

# --no-fake-quant: a plain float32 graph (no node rounds to an 8-bit grid); --qmode tflite_ref
if $T convert --float --no-fake-quant "$M/mobilenet_v1_0.25_128_quant.tflite" "$W/nf.safetensors" >/dev/null 2>"$W/nf.err" \
   && /usr/bin/python3 - "$W/nf.safetensors" "$W/f.safetensors" <<'PY'
import json, struct, sys
def graph(p):
    d = open(p, "rb").read(); n = struct.unpack("<Q", d[:8])[0]
    return json.loads(json.loads(d[8:8 + n])["__metadata__"]["taxon"])["graph"]
fq = lambda g: sum(1 for nd in (g["nodes"] if isinstance(g, dict) else g) if nd.get("fake_quant"))
sys.exit(0 if fq(graph(sys.argv[1])) == 0 and fq(graph(sys.argv[2])) > 0 else 1)
PY
then pass tflite_convert_no_fake_quant
else fail tflite_convert_no_fake_quant "$(head -c 300 "$W/nf.err")"; fi
if $T convert --qmode tflite_ref "$M/mobilenet_v1_0.25_128_quant.tflite" "$W/ref.safetensors" >/dev/null 2>"$W/r.err" \
   && [ "$($T predict --model "$W/ref.safetensors" --top-k 1 --json "$SH/images/cat.bmp" | jq '.predictions[0].index')" = 283 ]; then
  pass tflite_convert_qmode_ref
else fail tflite_convert_qmode_ref "$(head -c 300 "$W/r.err")"; fi
expect_error tflite_convert_no_fake_quant_alone "goes with --float" $T convert --no-fake-quant "$M/mobilenet_v1_0.25_128_quant.tflite" "$W/x.safetensors"

# --labels replaces the names; a wrong count is an error saying both counts
awk '{print "class_" NR - 1}' "$M/imagenet_labels.txt" > "$W/l.txt"
lab=$($T predict --model "$M/mobilenet_v2_1.0_224_quant.tflite" --labels "$W/l.txt" --top-k 1 --json "$SH/images/cat.bmp" | jq -r '.predictions[0].label')
if [ "$lab" = class_286 ]; then pass tflite_predict_labels_option; else fail tflite_predict_labels_option "label '$lab'"; fi
head -5 "$W/l.txt" > "$W/l5.txt"
expect_error tflite_predict_label_count "5 labels" $T predict --model "$M/mobilenet_v2_1.0_224_quant.tflite" --labels "$W/l5.txt" "$SH/images/cat.bmp"

# ---- info ---------------------------------------------------------------------------------
if $T info "$M/mobilenet_v2_1.0_224_quant.tflite" >"$W/i.txt" 2>&1 && grep -q "DEPTHWISE_CONV_2D x17" "$W/i.txt" \
   && grep -q "imagenet_labels.txt" "$W/i.txt" && grep -q "UINT8\[1,224,224,3\] s=0.0078125 z=128" "$W/i.txt" \
   && grep -q "integer graph" "$W/i.txt"; then pass tflite_info_text
else fail tflite_info_text "$(head -c 400 "$W/i.txt")"; fi
if $T info --json --layers "$M/mobilenet_v2_1.0_224_quant.tflite" >"$W/i.json" 2>&1 \
   && [ "$(jq '.operators | length' "$W/i.json")" = 66 ] && [ "$(jq .taxon.imports "$W/i.json")" = true ] \
   && [ "$(jq .taxon.classes "$W/i.json")" = 1001 ] && [ "$(jq -r .taxon.preprocess.resize "$W/i.json")" = bilinear ] \
   && [ "$(jq '.inputs[0].zero_point' "$W/i.json")" = 128 ]; then pass tflite_info_json
else fail tflite_info_json "$(head -c 400 "$W/i.json")"; fi
if $T info "$W/mobilenet_v2_1.0_224_quant.safetensors" >"$W/i2.txt" 2>&1 && grep -q "architecture  tflite" "$W/i2.txt"; then
  pass tflite_info_converted
else fail tflite_info_converted "$(head -c 300 "$W/i2.txt")"; fi

# ---- embed --------------------------------------------------------------------------------
E=$M/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite
if $T embed --model "$E" --json "$SH/images/cat.bmp" "$SH/images/bird.bmp" >"$W/e.jsonl" 2>"$W/e.err" \
   && [ "$(jq -s 'map(.dim) | join(",")' "$W/e.jsonl")" = '"1024,1024"' ] \
   && [ "$(jq -s 'map(.embedding | length) | join(",")' "$W/e.jsonl")" = '"1024,1024"' ]; then pass tflite_embed_extractor
else fail tflite_embed_extractor "$(head -c 300 "$W/e.err")"; fi
n=$($T embed --model "$W/mobilenet_v2_1.0_224_quant.safetensors" "$SH/images/cat.bmp" | wc -w)
if [ "$n" = 1281 ]; then pass tflite_embed_classifier_penultimate; else fail tflite_embed_classifier_penultimate "$n words (want 1 + 1280)"; fi
norm=$($T embed --model "$E" --json --normalize "$SH/images/cat.bmp" | jq '[.embedding[] | . * .] | add')
if awk -v s="$norm" 'BEGIN{exit !(s > 0.999 && s < 1.001)}'; then pass tflite_embed_normalize; else fail tflite_embed_normalize "sum of squares $norm"; fi

# ---- errors that say what to do -------------------------------------------------------------
head -c 100000 "$M/mobilenet_v1_0.25_128_quant.tflite" > "$W/cut.tflite"
expect_error tflite_truncated "cut.tflite" $T predict --model "$W/cut.tflite" "$SH/images/cat.bmp"
expect_error tflite_info_truncated "cut.tflite" $T info "$W/cut.tflite"
expect_error tflite_convert_args "give the input model and the output file" $T convert "$M/mobilenet_v1_0.25_128_quant.tflite"
expect_error tflite_convert_not_tflite "not a .tflite file" $T convert "$M/imagenet_labels.txt" "$W/x.safetensors"
expect_error tflite_convert_missing "no/such" $T convert no/such.tflite "$W/x.safetensors"
expect_error tflite_convert_qmode "xnnpack or tflite_ref" $T convert --qmode fast "$M/mobilenet_v1_0.25_128_quant.tflite" "$W/x.safetensors"
expect_error tflite_predict_resize "bilinear or nearest" $T predict --model "$M/mobilenet_v1_0.25_128_quant.tflite" --resize cubic "$SH/images/cat.bmp"
expect_error tflite_embed_no_model "model is required" $T embed "$SH/images/cat.bmp"
expect_error tflite_embed_bad_image "no/such.png" $T embed --model "$E" no/such.png
exit 0
