#!/usr/bin/env bash
# Build Gantry and run it on config/gantry.yaml (or the config given as $1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build
exec ./build/gantry --config "${1:-config/gantry.yaml}"
