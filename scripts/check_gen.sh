#!/usr/bin/env bash
# Fails (exit 1) when the committed generated code is stale: regenerates src/gen (and the ttrpc-ts
# package's gen dirs when vendor/ttrpc-ts/scripts/gen.sh exists) into a temp dir and diffs.
# Runnable from any directory; never touches the working tree.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugin="${PROTOC_GEN_ES:-$root/node_modules/.bin/protoc-gen-es}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/shimkit-check-gen.XXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT

stale=()
# compare LABEL WANT_DIR HAVE_DIR: records every file that differs, is missing or is extra.
compare() {
  local label="$1" want="$2" have="$3" line
  if [[ ! -d "$have" ]]; then
    stale+=("$label/ (missing)")
    return
  fi
  while IFS= read -r line; do
    stale+=("$line")
  done < <(diff -rq "$want" "$have" 2>&1 | sed -E \
    -e "s#^Files $want/(.*) and $have/.* differ\$#$label/\\1 (differs)#" \
    -e "s#^Only in $want(/?)(.*): (.*)\$#$label/\\2\\1\\3 (missing)#" \
    -e "s#^Only in $have(/?)(.*): (.*)\$#$label/\\2\\1\\3 (extra, not generated)#")
}

PROTOC_GEN_ES="$plugin" bash "$root/scripts/gen_proto.sh" --out "$tmp/src/gen" --no-vendor
compare "src/gen" "$tmp/src/gen" "$root/src/gen"

vendor="$root/vendor/ttrpc-ts"
if [[ -f "$vendor/scripts/gen.sh" ]]; then
  # gen.sh writes relative to its own package dir, so run it on a copy of the package.
  mkdir -p "$tmp/ttrpc-ts"
  (cd "$vendor" && tar --exclude=./node_modules -cf - .) | (cd "$tmp/ttrpc-ts" && tar -xf -)
  PROTOC_GEN_ES="$plugin" bash "$tmp/ttrpc-ts/scripts/gen.sh"
  for dir in src/gen tests/gen; do
    if [[ -d "$tmp/ttrpc-ts/$dir" ]]; then
      compare "vendor/ttrpc-ts/$dir" "$tmp/ttrpc-ts/$dir" "$vendor/$dir"
    fi
  done
fi

if [[ ${#stale[@]} -gt 0 ]]; then
  echo "check_gen.sh: generated code is stale; run scripts/gen_proto.sh and commit the result:" >&2
  printf '  %s\n' "${stale[@]}" >&2
  exit 1
fi
echo "check_gen.sh: generated code is up to date"
