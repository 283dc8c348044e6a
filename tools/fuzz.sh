#!/usr/bin/env bash
# tools/fuzz.sh - builds every libFuzzer target tests/fuzz/fuzz_*.c with clang and runs
# each one for a bounded time on a copy of its seed corpus.
#
#   tools/fuzz.sh               all targets, FUZZ_SECONDS (default 20) seconds each
#   tools/fuzz.sh image idx     only fuzz_image and fuzz_idx
#   FUZZ_SECONDS=0 tools/fuzz.sh   build, then run each target once over its corpus
#
# A target named tests/fuzz/fuzz_NAME.c uses the seeds in tests/fuzz/corpus/NAME/ (an
# empty corpus is fine); new targets are picked up without changing this script.
# The library is compiled from every src/*/*.c with the Makefile's -I/-D flags and
# pkg-config libraries, by clang with -fsanitize=fuzzer-no-link,address,undefined
# (OpenMP through clang's libomp), into $FUZZ_BUILD (default build-fuzz/). Findings go
# to build-fuzz/artifacts/NAME/, logs to build-fuzz/logs/NAME.log.
# Prints "PASS fuzz_NAME" or "FAIL fuzz_NAME: why" per target; exits non-zero when any
# target fails to build or finds a crash, leak, sanitizer report or timeout.
#
# Other knobs: CLANG (compiler), FUZZ_TIMEOUT (seconds per input, default 10),
# FUZZ_RSS_MB (memory limit, default 2048), FUZZ_JOBS (parallel compiles).
set -u
cd "$(dirname "$0")/.." || exit 2

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
OUT=${FUZZ_BUILD:-build-fuzz}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

# ---- compiler -------------------------------------------------------------------
if [ -z "${CLANG:-}" ]; then
  for c in clang-14 clang; do
    if command -v "$c" >/dev/null 2>&1; then CLANG=$c; break; fi
  done
fi
if [ -z "${CLANG:-}" ]; then
  echo "FAIL fuzz: clang not found (tools/install-deps.sh test installs clang, libclang-rt-14-dev, libomp-14-dev)"
  exit 1
fi

# ---- flags: the Makefile's -I/-D flags and libraries ------------------------------
# Ask make for the values it computed, so that what the Makefile finds (BLAS, PNG,
# TurboJPEG, ...) is what the fuzz build uses. Only -I/-D/-U/-isystem are taken from its
# compiler flags: the rest (-march, -Werror, gcc-only warnings) is the gcc build's business.
mkvars=$(make -s --no-print-directory \
  --eval='txfuzz-print-vars: ; @printf "%s\n" "CF=$(CFLAGS_BASE) $(FEAT)" "LIBS=$(LIBS)"' \
  txfuzz-print-vars 2>/dev/null)
if [ $? -ne 0 ] || [ -z "$mkvars" ]; then
  echo "note: could not read flags from the Makefile; probing pkg-config directly"
  cf="-Iinclude -Isrc -D_GNU_SOURCE"; libs=""
  probe() { pkg-config --exists "$1" 2>/dev/null; }
  probe openblas && { cf+=" -DTX_HAVE_BLAS $(pkg-config --cflags openblas)"; libs+=" $(pkg-config --libs openblas)"; }
  probe libturbojpeg && { cf+=" -DTX_HAVE_TURBOJPEG $(pkg-config --cflags libturbojpeg)"; libs+=" $(pkg-config --libs libturbojpeg)"; }
  probe libpng && { cf+=" -DTX_HAVE_PNG $(pkg-config --cflags libpng)"; libs+=" $(pkg-config --libs libpng)"; }
  probe libcjson && { cf+=" $(pkg-config --cflags libcjson)"; libs+=" $(pkg-config --libs libcjson)"; }
  probe zlib && libs+=" $(pkg-config --libs zlib)"
else
  cf=$(sed -n 's/^CF=//p' <<<"$mkvars")
  libs=$(sed -n 's/^LIBS=//p' <<<"$mkvars")
fi
defs=()
read -r -a toks <<<"$cf"
for ((i = 0; i < ${#toks[@]}; i++)); do
  t=${toks[$i]}
  case "$t" in
    -I?*|-D?*|-U?*) defs+=("$t") ;;
    -I|-D|-U|-isystem) defs+=("$t" "${toks[$((i + 1))]:-}"); i=$((i + 1)) ;;
  esac
done
read -r -a libarr <<<"$libs"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS=(-std=c17 -g -O1 -fopenmp "${defs[@]}" $SAN)
LDLIBS=("${libarr[@]}" -fopenmp -lm -lpthread)

mkdir -p "$OUT/obj" "$OUT/logs" "$OUT/artifacts" "$OUT/corpus"
failed=0

# ---- the library ------------------------------------------------------------------
# Rebuilt per file when the source or any header is newer than its object.
newest_hdr=$(ls -t include/*.h src/*/*.h 2>/dev/null | head -1)
objs=()
tobuild=()
for src in src/*/*.c; do
  [ -f "$src" ] || continue
  obj="$OUT/obj/${src%.c}.o"
  objs+=("$obj")
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || { [ -n "$newest_hdr" ] && [ "$newest_hdr" -nt "$obj" ]; }; then
    tobuild+=("$src")
  fi
done
# The float convolution kernels (thousands of lines of AVX-512 intrinsics) take clang-14
# over half an hour to instrument with ASan+UBSan; the fuzz targets exercise parsers, and
# these kernels run the whole test suite under GCC's ASan+UBSan (make test-san), so here
# they are compiled plainly.
PLAIN_SRCS=" src/ops/conv.c "
build_one() { # src -> obj; prints FAIL on error
  local src=$1 obj="$OUT/obj/${1%.c}.o" flags
  mkdir -p "$(dirname "$obj")"
  if [[ $PLAIN_SRCS == *" $src "* ]]; then flags=(-std=c17 -O1 -fopenmp "${defs[@]}")
  else flags=("${CFLAGS[@]}" -fsanitize=fuzzer-no-link); fi
  if ! "$CLANG" "${flags[@]}" -c "$src" -o "$obj" 2>"$obj.err"; then
    rm -f "$obj"
    echo "FAIL build $src (clang):"
    sed 's/^/    /' "$obj.err" | head -20
    return 1
  fi
  rm -f "$obj.err"
}
if [ ${#tobuild[@]} -gt 0 ]; then
  echo "fuzz: compiling ${#tobuild[@]} library sources with $CLANG"
  pids=()
  for src in "${tobuild[@]}"; do
    build_one "$src" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$JOBS" ]; then
      wait "${pids[0]}" || failed=1
      pids=("${pids[@]:1}")
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
fi
present=()
for o in "${objs[@]}"; do [ -f "$o" ] && present+=("$o"); done
lib="$OUT/libtaxon-fuzz.a"
rm -f "$lib"
if [ ${#present[@]} -gt 0 ]; then
  ar rcs "$lib" "${present[@]}"
else
  echo "FAIL fuzz: no library objects were built"
  exit 1
fi

# ---- targets ------------------------------------------------------------------------
targets=()
if [ $# -gt 0 ]; then
  for n in "$@"; do
    n=${n#fuzz_}; n=${n%.c}
    if [ -f "tests/fuzz/fuzz_$n.c" ]; then targets+=("tests/fuzz/fuzz_$n.c")
    else echo "FAIL fuzz_$n: tests/fuzz/fuzz_$n.c does not exist"; failed=1; fi
  done
else
  for f in tests/fuzz/fuzz_*.c; do [ -f "$f" ] && targets+=("$f"); done
fi
[ ${#targets[@]} -eq 0 ] && echo "fuzz: no targets in tests/fuzz/"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for src in "${targets[@]}"; do
  base=$(basename "$src" .c)   # fuzz_NAME
  name=${base#fuzz_}
  bin="$OUT/$base"
  log="$OUT/logs/$name.log"
  if ! "$CLANG" "${CFLAGS[@]}" -fsanitize=fuzzer "$src" "$lib" "${LDLIBS[@]}" -o "$bin" \
      >"$log" 2>&1; then
    echo "FAIL $base: does not build with $CLANG (see $log)"
    sed 's/^/    /' "$log" | head -20
    failed=1
    continue
  fi
  corpus="$OUT/corpus/$name"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$OUT/artifacts/$name"
  seeds=0
  if [ -d "tests/fuzz/corpus/$name" ]; then
    cp -R "tests/fuzz/corpus/$name/." "$corpus/"
    seeds=$(find "$corpus" -type f | wc -l)
  fi
  common=(-timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB"
          -artifact_prefix="$OUT/artifacts/$name/" -print_final_stats=1)
  if [ "$FUZZ_SECONDS" -gt 0 ] 2>/dev/null; then
    "$bin" "${common[@]}" -max_total_time="$FUZZ_SECONDS" "$corpus" >>"$log" 2>&1
    rc=$?
  else
    files=()
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$corpus" -type f -print0)
    if [ ${#files[@]} -gt 0 ]; then "$bin" "${common[@]}" "${files[@]}" >>"$log" 2>&1; rc=$?
    else rc=0; fi
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "PASS $base (${execs:-?} runs in ${FUZZ_SECONDS}s, $seeds seeds)"
  else
    failed=1
    art=$(ls -t "$OUT/artifacts/$name/" 2>/dev/null | head -1)
    echo "FAIL $base: exit $rc${art:+, input saved as $OUT/artifacts/$name/$art} (log: $log)"
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -15 | sed 's/^/    /'
  fi
done
exit $failed
