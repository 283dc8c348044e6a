#!/usr/bin/env bash
# Runs every test binary of one build and adds up their cases.
set -u
BUILD=${BUILD:-build}
pass=0; fail=0; skip=0; failed_bins=()
export TAXON_BIN="$BUILD/taxon"
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  echo "== $t"
  out=$("$t" 2>&1); rc=$?
  echo "$out"
  p=$(grep -c '^PASS ' <<<"$out"); f=$(grep -c '^FAIL ' <<<"$out"); s=$(grep -c '^SKIP ' <<<"$out")
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $t exited with $rc"; fi
  [ "$f" -gt 0 ] && failed_bins+=("$t")
  pass=$((pass+p)); fail=$((fail+f)); skip=$((skip+s))
done
for t in tests/cli/test_*.sh; do
  [ -f "$t" ] || continue
  echo "== $t"
  out=$(BUILD=$BUILD bash "$t" 2>&1); rc=$?
  echo "$out"
  p=$(grep -c '^PASS ' <<<"$out"); f=$(grep -c '^FAIL ' <<<"$out"); s=$(grep -c '^SKIP ' <<<"$out")
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $t exited with $rc"; fi
  [ "$f" -gt 0 ] && failed_bins+=("$t")
  pass=$((pass+p)); fail=$((fail+f)); skip=$((skip+s))
done
echo
[ ${#failed_bins[@]} -gt 0 ] && echo "failing: ${failed_bins[*]}"
echo "$BUILD: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
