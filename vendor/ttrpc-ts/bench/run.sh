#!/usr/bin/env bash
# Local round-trip numbers for ttrpc-ts: our client against our own server and,
# when a shimbench-go binary is given, against Go's echo server, next to the
# Go client on the same Go server.
#
# Usage: bench/run.sh [bun|deno] [path/to/shimbench-go]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runtime="${1:-bun}"
go_bench="${2:-}"
bin_dir="$(cd "$here/../../../node_modules/.bin" 2>/dev/null && pwd || true)"
case "$runtime" in
  bun) run=("${bin_dir:+$bin_dir/}bun" run) ;;
  deno) run=("${bin_dir:+$bin_dir/}deno" run -A) ;;
  *) echo "usage: run.sh [bun|deno] [shimbench-go]" >&2; exit 2 ;;
esac

work="$(mktemp -d /tmp/ttrpc-bench-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# start_server <name> <cmd...>: runs a server that prints "ready" and records its pid.
start_server() {
  local name="$1"; shift
  mkfifo "$work/$name.ready"
  "$@" >"$work/$name.ready" &
  pids+=("$!")
  read -r line <"$work/$name.ready"
  [[ "$line" == ready ]] || { echo "$name did not start: $line" >&2; exit 1; }
  cat "$work/$name.ready" >/dev/null &
}

rtt() { "${run[@]}" "$here/rtt.ts" "$@" | grep rtt-summary; }

start_server ts "${run[@]}" "$here/echo_server.ts" "$work/ts.sock"
echo "# $runtime client -> $runtime server"
rtt --address "$work/ts.sock" -c 1 -n 20000
rtt --address "$work/ts.sock" -c 8 -n 40000

if [[ -n "$go_bench" ]]; then
  start_server go "$go_bench" echo-server -socket "$work/go.sock"
  echo "# $runtime client -> Go echo server"
  rtt --address "$work/go.sock" -c 1 -n 20000
  rtt --address "$work/go.sock" -c 8 -n 40000
  echo "# Go client -> Go echo server (shimbench-go rtt -target echo)"
  "$go_bench" rtt -target echo -work "$work" -c 1 -n 20000 -reps 7 | grep rtt-summary
  "$go_bench" rtt -target echo -work "$work" -c 8 -n 40000 -reps 7 | grep rtt-summary
fi
