#!/usr/bin/env bash
# The shimkit test command (README and CI call it): runs every *_test.ts under src/, vendor/ttrpc-ts/ and
# tests/ under Deno and then under Bun, counts leaf tests from JUnit output, prints per-runtime totals and
# finally one line: "tests: N passed, M failed[, K skipped]" summed over both runtimes.
# Exits non-zero when anything failed or when no test ran.
#
# Usage: bash scripts/test.sh [--deno-only|--bun-only] [FILE...]
# Env:   SHIMKIT_BIN=dist/shimkit  CLI tests spawn the compiled binary instead of `bun src/cli/main.ts`
#        TEST_TIMEOUT=600          seconds each runtime may take before it is killed
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DENO=${DENO:-$ROOT/node_modules/.bin/deno}
BUN=${BUN:-$ROOT/node_modules/.bin/bun}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}

run_deno=1
run_bun=1
files=()
for arg in "$@"; do
  case $arg in
    --deno-only) run_bun=0 ;;
    --bun-only) run_deno=0 ;;
    -h | --help)
      sed -n '2,9p' "$0"
      exit 0
      ;;
    *) files+=("$arg") ;;
  esac
done
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(find src vendor/ttrpc-ts tests -name '*_test.ts' -not -path '*/node_modules/*' 2>/dev/null | sort)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "test.sh: no *_test.ts files found" >&2
  echo "tests: 0 passed, 0 failed"
  exit 1
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/shimkit-test.XXXXXX")
# One fixture cache per run (busybox rootfs, ...), removed with the rest.
export SHIMKIT_TEST_CACHE=$out/cache
mkdir -p "$SHIMKIT_TEST_CACHE"
cleanup() {
  # The cache may hold a rootfs a failed test left mounted.
  local mp
  { grep -o " $out[^ ]*" /proc/self/mountinfo 2>/dev/null || true; } | sort -r | while read -r mp; do
    umount -l "$mp" 2>/dev/null || true
  done
  rm -rf "$out"
}
trap cleanup EXIT

total_passed=0
total_failed=0
total_skipped=0

# add_totals RUNTIME EXIT_CODE XML...: count, print the runtime's line, add to the totals.
add_totals() {
  local runtime=$1 rc=$2
  shift 2
  local line passed failed skipped
  line=$("$BUN" scripts/test_totals.ts "$runtime" "$@")
  passed=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")
  failed=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
  skipped=$(sed -E 's/.*skipped=([0-9]+).*/\1/' <<<"$line")
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # The runner failed outside any test (load error, unhandled error, timeout): count it once.
    echo "$runtime: runner exited $rc with no failing test recorded (load error, crash or timeout)" >&2
    failed=1
  fi
  echo "== $runtime: passed=$passed failed=$failed skipped=$skipped (runner exit $rc)"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
}

if [ $run_deno -eq 1 ]; then
  echo "== deno test (${#files[@]} files)"
  rc=0
  timeout --kill-after=10 "$TEST_TIMEOUT" "$DENO" test -A --no-check --reporter=dot \
    --junit-path="$out/deno.xml" "${files[@]}" || rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "deno: timed out after ${TEST_TIMEOUT}s" >&2
    add_totals deno "$rc" "$out/deno.xml"
  elif [ $rc -ne 0 ] && [ ! -s "$out/deno.xml" ]; then
    # Deno stops before running anything when one file fails to load; find it by running files one by one.
    echo "== deno run wrote no report (exit $rc); running files one at a time" >&2
    rc=0
    xmls=()
    i=0
    for f in "${files[@]}"; do
      i=$((i + 1))
      frc=0
      timeout --kill-after=10 "$TEST_TIMEOUT" "$DENO" test -A --no-check --reporter=dot \
        --junit-path="$out/deno-$i.xml" "$f" || frc=$?
      if [ $frc -ne 0 ]; then
        rc=$frc
        if [ ! -s "$out/deno-$i.xml" ]; then
          echo "deno: $f failed to load or crashed (exit $frc)" >&2
          printf '<testsuites errors="1"></testsuites>\n' >"$out/deno-$i.xml"
        fi
      fi
      xmls+=("$out/deno-$i.xml")
    done
    add_totals deno "$rc" "${xmls[@]}"
  else
    add_totals deno "$rc" "$out/deno.xml"
  fi
fi

if [ $run_bun -eq 1 ]; then
  echo "== bun test (${#files[@]} files)"
  bun_files=()
  for f in "${files[@]}"; do
    case $f in
      /* | ./*) bun_files+=("$f") ;;
      *) bun_files+=("./$f") ;; # bun treats arguments without ./ as name filters
    esac
  done
  rc=0
  timeout --kill-after=10 "$TEST_TIMEOUT" "$BUN" test --timeout 60000 --only-failures \
    --reporter=junit --reporter-outfile="$out/bun.xml" "${bun_files[@]}" || rc=$?
  add_totals bun "$rc" "$out/bun.xml"
fi

summary="tests: $total_passed passed, $total_failed failed"
if [ $total_skipped -gt 0 ]; then summary+=", $total_skipped skipped"; fi
echo "$summary"
if [ $total_failed -gt 0 ] || [ $((total_passed + total_failed)) -eq 0 ]; then
  exit 1
fi
