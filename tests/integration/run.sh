#!/bin/sh
# Runs the integration suites: installs the pinned test dependencies when needed, then node --test.
# The gateway binary comes from $GANTRY_BIN (meson passes it); the default is <repo>/build/gantry.
set -eu

# A relative GANTRY_BIN means relative to the caller's directory, not to tests/.
if [ -n "${GANTRY_BIN:-}" ]; then
    case "$GANTRY_BIN" in
    /*) ;;
    *) GANTRY_BIN="$(pwd)/$GANTRY_BIN" ;;
    esac
    export GANTRY_BIN
fi

tests_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$tests_dir"

# npm ci is slow and wipes node_modules, so run it only when the tree is missing or older than the
# lockfile.  npm writes node_modules/.package-lock.json on every install; it is the better timestamp.
stamp=node_modules/.package-lock.json
[ -e "$stamp" ] || stamp=node_modules
if [ ! -d node_modules ] || [ package-lock.json -nt "$stamp" ]; then
    npm ci --no-audit --no-fund
    touch node_modules/.package-lock.json 2>/dev/null || touch node_modules
fi

status=0
node --test --test-concurrency=2 integration/ || status=$?
exit "$status"
