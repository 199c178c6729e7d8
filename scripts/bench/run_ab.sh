#!/usr/bin/env bash
# A/B of `shimkit run --rm` between two shimkit executables (as root): /bin/true in a read-only static
# busybox rootfs on the runc shim, with a private runc root and temp state/root dirs. Runs A and B
# alternately (ROUNDS times each, A first; pass them in the other order for a second opinion) after one
# warm-up run each, and prints each one's median and minimum wall time and their ratio. Removes its temp
# dirs and the empty cgroup parents runc leaves at the end.
#
# Usage: bash scripts/bench/run_ab.sh OLD_SHIMKIT NEW_SHIMKIT [ROUNDS=31]
# Build an old executable with e.g.: git worktree add /tmp/old REV && (cd /tmp/old && npm ci &&
#   node_modules/.bin/bun scripts/build.ts --outfile /tmp/old-shimkit)
set -euo pipefail
A=${1:?usage: run_ab.sh OLD_SHIMKIT NEW_SHIMKIT [ROUNDS]}
B=${2:?usage: run_ab.sh OLD_SHIMKIT NEW_SHIMKIT [ROUNDS]}
ROUNDS=${3:-31}
BUSYBOX=$(command -v busybox || echo /bin/busybox)
D=$(mktemp -d "${TMPDIR:-/tmp}/sk-rab-XXXXXX")
NS=runab
G=(--state "$D/st" --root "$D/rt" --namespace "$NS")
cleanup() {
  rm -rf "$D"
  for c in /sys/fs/cgroup/*/"$NS"; do rmdir "$c" 2>/dev/null || true; done
}
trap cleanup EXIT
mkdir -p "$D/rootfs/bin" "$D/rootfs/etc" "$D/rootfs/proc" "$D/rootfs/dev" "$D/rootfs/sys"
cp "$BUSYBOX" "$D/rootfs/bin/busybox"
ln -s busybox "$D/rootfs/bin/true"
echo 'root:x:0:0:root:/root:/bin/sh' >"$D/rootfs/etc/passwd"
run() { "$1" "${G[@]}" run --rm --readonly --rootfs "$D/rootfs" --runtime-option "Root=$D/runc" "$2" /bin/true; }
now() { date +%s%N; }
run "$A" warm-a >/dev/null
run "$B" warm-b >/dev/null
ta=() tb=()
for i in $(seq 1 "$ROUNDS"); do
  s=$(now); run "$A" "a$i" >/dev/null; e=$(now); ta+=($(( (e - s) / 1000 )))
  s=$(now); run "$B" "b$i" >/dev/null; e=$(now); tb+=($(( (e - s) / 1000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
minimum() { printf '%s\n' "$@" | sort -n | awk 'NR==1 {printf "%.1f", $1/1000}'; }
ma=$(median "${ta[@]}") mb=$(median "${tb[@]}")
echo "A $A: median ${ma} ms, min $(minimum "${ta[@]}") ms"
echo "B $B: median ${mb} ms, min $(minimum "${tb[@]}") ms"
awk -v a="$ma" -v b="$mb" 'BEGIN {printf "B / A: %.2fx\n", b / a}'
