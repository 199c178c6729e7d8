#!/usr/bin/env bash
# Prepares a fresh Debian machine (run as root, from a clone) to build, run and test shimkit:
#   1. Debian packages, installed only when one is missing: containerd (containerd-shim-runc-v2, -v1,
#      containerd-shim, ctr), runc, busybox-static (test rootfs), protobuf-compiler and libprotobuf-dev
#      (generated-code check; libprotobuf-dev holds google/protobuf/*.proto, which protoc only recommends);
#   2. npm dependencies from package-lock.json (`npm ci`, skipped when node_modules already matches it),
#      which include the deno and bun toolchains;
#   3. builds dist/shimkit and its containerd-shim-fake-v{1,2} links (unless --no-build).
# .ci/run calls it with --no-build.
#
# Usage: bash scripts/setup.sh [--no-build] [--no-apt]
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
apt=1
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    --no-apt) apt=0 ;;
    *) echo "setup.sh: unknown argument \"$arg\"" >&2; exit 2 ;;
  esac
done

DEBIAN_PACKAGES=(containerd runc busybox-static protobuf-compiler libprotobuf-dev)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if [ $apt -eq 1 ]; then
  missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "setup.sh: missing Debian packages ${missing[*]}; run as root or install them" >&2
      exit 1
    fi
    echo "== apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

stamp=node_modules/.shimkit-package-lock
if [ -x node_modules/.bin/deno ] && [ -x node_modules/.bin/bun ] && cmp -s package-lock.json "$stamp"; then
  echo "== npm dependencies up to date"
else
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

if [ $build -eq 1 ]; then
  echo "== build dist/shimkit"
  node_modules/.bin/bun scripts/build.ts
fi
