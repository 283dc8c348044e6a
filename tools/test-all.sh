#!/usr/bin/env bash
# `make test`: the suite in the normal build, again under ASan+UBSan, then every fuzz
# target for a bounded time; ends with one summary line over all three.
set -u -o pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
make --no-print-directory -j2 test-fast 2>&1 | tee -a "$log" || status=1
make --no-print-directory -j2 test-san 2>&1 | tee -a "$log" || status=1
tools/fuzz.sh 2>&1 | tee -a "$log" || status=1
p=0; f=0; s=0
while read -r a b c; do p=$((p + a)); f=$((f + b)); s=$((s + c)); done < <(
  sed -n 's/^build[-a-z]*: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$log")
fp=$(grep -c '^PASS fuzz_' "$log"); ff=$(grep -c '^FAIL fuzz' "$log")
p=$((p + fp)); f=$((f + ff))
[ "$f" -gt 0 ] && status=1
echo
echo "all: $p passed, $f failed, $s skipped"
exit $status
