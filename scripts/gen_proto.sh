#!/usr/bin/env bash
# Regenerates src/gen/ (protoc-gen-es output) from proto/**/*.proto, then the ttrpc-ts
# package's own generated code when vendor/ttrpc-ts/scripts/gen.sh exists.
# Runnable from any directory.
#
# Usage: scripts/gen_proto.sh [--out DIR] [--no-vendor]
#   --out DIR    write shimkit's generated files into DIR instead of src/gen (used by check_gen.sh)
#   --no-vendor  do not run vendor/ttrpc-ts/scripts/gen.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/src/gen"
vendor=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --no-vendor) vendor=0; shift ;;
    *) echo "gen_proto.sh: unknown argument \"$1\"" >&2; exit 2 ;;
  esac
done

plugin="${PROTOC_GEN_ES:-$root/node_modules/.bin/protoc-gen-es}"
if [[ ! -x "$plugin" ]]; then
  echo "gen_proto.sh: protoc-gen-es not found at \"$plugin\"; run npm install or set PROTOC_GEN_ES" >&2
  exit 1
fi
if ! command -v protoc >/dev/null; then
  echo "gen_proto.sh: protoc not found in PATH (apt-get install protobuf-compiler)" >&2
  exit 1
fi
# The well-known types (google/protobuf/*.proto) ship with Debian's libprotobuf-dev in /usr/include.
wkt_include="${PROTOC_INCLUDE:-/usr/include}"

mapfile -t protos < <(cd "$root/proto" && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
if [[ ${#protos[@]} -eq 0 ]]; then
  echo "gen_proto.sh: no .proto files under \"$root/proto\"" >&2
  exit 1
fi

# Generate into a scratch dir first and swap it in, so a failed run leaves the old output intact.
mkdir -p "$(dirname "$out")"
tmp="$(mktemp -d "$(dirname "$out")/.gen.XXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT
# Our own copies of the well-known types our protos import: the @bufbuild/protobuf/wkt ones decode a
# base64 descriptor at import time, which gen_embed.ts exists to avoid.
wkt_protos=(google/protobuf/any.proto google/protobuf/empty.proto google/protobuf/timestamp.proto)
(cd "$root/proto" && protoc --plugin=protoc-gen-es="$plugin" \
  --es_out="$tmp" --es_opt=target=ts,import_extension=ts \
  -I . -I "$wkt_include" "${protos[@]}" "${wkt_protos[@]}")
# Descriptors as object literals instead of base64 (see the script's header).
bun="${BUN:-$root/node_modules/.bin/bun}"
command -v "$bun" >/dev/null || bun=bun
"$bun" "$root/scripts/gen_embed.ts" "$tmp"
rm -rf -- "$out"
mv -- "$tmp" "$out"
trap - EXIT

if [[ $vendor -eq 1 && -f "$root/vendor/ttrpc-ts/scripts/gen.sh" ]]; then
  PROTOC_GEN_ES="$plugin" bash "$root/vendor/ttrpc-ts/scripts/gen.sh"
fi
