#!/usr/bin/env bash
# Install what Gantry needs to build, test and benchmark on Debian 12 (run as root). Idempotent:
# packages already present are not fetched again, and apt-get update runs only when something is missing.
set -euo pipefail

pkgs=(build-essential meson ninja-build pkg-config python3 curl ca-certificates openssl
      libh2o-dev libuv1-dev libcyaml-dev libyaml-dev libcjson-dev libcurl4-openssl-dev
      libsqlite3-dev libssl-dev libmimalloc-dev tzdata clang libclang-rt-14-dev wrk
      libhiredis-dev redis-server)
# Node.js runs the client-SDK tests; any distribution of node >= 18 with npm will do.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
