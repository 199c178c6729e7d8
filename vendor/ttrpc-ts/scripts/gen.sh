#!/usr/bin/env bash
# Regenerates the protobuf-es code of ttrpc-ts: the envelope schema (src/gen)
# the test-only echo service and encoder test messages (tests/gen) and the benchmark's minimal task
# service (bench/gen). Runnable from any directory.
set -euo pipefail

pkg="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugin="${PROTOC_GEN_ES:-}"
if [[ -z "$plugin" ]]; then
  for candidate in "$pkg/node_modules/.bin/protoc-gen-es" "$pkg/../../node_modules/.bin/protoc-gen-es"; do
    if [[ -x "$candidate" ]]; then plugin="$candidate"; break; fi
  done
fi
if [[ -z "$plugin" ]]; then
  echo "gen.sh: protoc-gen-es not found; install @bufbuild/protoc-gen-es or set PROTOC_GEN_ES" >&2
  exit 1
fi

cd "$pkg"
rm -f src/gen/*_pb.ts tests/gen/*_pb.ts bench/gen/*_pb.ts
protoc --plugin=protoc-gen-es="$plugin" --es_out=src/gen \
  --es_opt=target=ts,import_extension=ts -I proto proto/ttrpc.proto
protoc --plugin=protoc-gen-es="$plugin" --es_out=tests/gen \
  --es_opt=target=ts,import_extension=ts -I tests/proto tests/proto/echo.proto tests/proto/kinds.proto tests/proto/kinds2.proto
protoc --plugin=protoc-gen-es="$plugin" --es_out=bench/gen \
  --es_opt=target=ts,import_extension=ts -I bench/proto bench/proto/task_min.proto
