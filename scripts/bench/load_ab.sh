#!/usr/bin/env bash
# A/B of `shimkit load` between two shimkit executables on the same running shims (as root).
# Starts N busybox `sleep` containers with NEW's `run -d` (runc shim, private runc root, temp state/root),
# then runs `A load` and `B load` alternately (ROUNDS times, A first) and prints each one's median wall time
# and their ratio. Deletes every container and removes its temp dirs and cgroup parents at the end.
#
# Usage: bash scripts/bench/load_ab.sh OLD_SHIMKIT NEW_SHIMKIT [N=100] [ROUNDS=9]
# Build an old executable with e.g.: git worktree add /tmp/old REV && (cd /tmp/old && npm ci &&
#   node_modules/.bin/bun scripts/build.ts --outfile /tmp/old-shimkit)
set -euo pipefail
A=${1:?usage: load_ab.sh OLD_SHIMKIT NEW_SHIMKIT [N] [ROUNDS]}
B=${2:?usage: load_ab.sh OLD_SHIMKIT NEW_SHIMKIT [N] [ROUNDS]}
N=${3:-100}
ROUNDS=${4:-9}
D=$(mktemp -d "${TMPDIR:-/tmp}/sk-ab-XXXXXX")
NS=loadab
G=(--state "$D/st" --root "$D/rt" --namespace "$NS")
cleanup() {
  "$B" "${G[@]}" delete --force $(seq -f 'c%g' 1 "$N") >/dev/null 2>&1 || true
  rm -rf "$D"
  for c in /sys/fs/cgroup/*/"$NS"; do rmdir "$c" 2>/dev/null || true; done
}
trap cleanup EXIT
for i in $(seq 1 "$N"); do
  "$B" "${G[@]}" run -d --runtime-option "Root=$D/runc" "c$i" -- sleep 600 >/dev/null 2>&1 &
  if (( i % 10 == 0 )); then wait; fi
done
wait
echo "running: $("$B" "${G[@]}" ps -q 2>/dev/null | wc -l) of $N"
ta=() tb=()
now() { date +%s%N; }
for _ in $(seq 1 "$ROUNDS"); do
  s=$(now); "$A" "${G[@]}" load --json >/dev/null 2>&1; e=$(now); ta+=($(( (e - s) / 1000 )))
  s=$(now); "$B" "${G[@]}" load --json >/dev/null 2>&1; e=$(now); tb+=($(( (e - s) / 1000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
ma=$(median "${ta[@]}") mb=$(median "${tb[@]}")
echo "A $A: median ${ma} ms"
echo "B $B: median ${mb} ms"
awk -v a="$ma" -v b="$mb" 'BEGIN {printf "B / A: %.2fx\n", b / a}'
