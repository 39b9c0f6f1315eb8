#!/usr/bin/env bash
# Build Gantry and run every test: a normal build, an AddressSanitizer+UndefinedBehaviorSanitizer build,
# and libFuzzer runs of each fuzz target.  Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
(cd tests && npm ci --no-audit --no-fund --loglevel=error)

# Keep the code free of the string functions that invite overflows (STYLE.md §4).
if grep -rnE '\b(strcpy|sprintf|strtok|atoi|gets)\s*\(' --include='*.c' --include='*.h' \
        core plugins sdk tests fuzz bench; then
    echo "error: banned function used (see above)" >&2
    exit 1
fi

run_suite() { # build-dir, extra meson setup args...
    local dir=$1; shift
    [ -f "$dir/build.ninja" ] || meson setup "$dir" --werror "$@" >/dev/null
    ninja -C "$dir"
    meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier "${TIMEOUT_MULT:-1}"
}

echo "== normal build"
run_suite build

echo "== ASan + UBSan build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
TIMEOUT_MULT=3 run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

echo "== libFuzzer (clang)"
[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C build-fuzz
for f in build-fuzz/fuzz/fuzz_*; do
    case "$f" in *smoke*|*.p) continue ;; esac
    name=$(basename "$f"); corpus=fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d); cp -r "$corpus"/. "$work"/
    echo "-- $name"
    "$f" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=65536 -print_final_stats=0 "$work" 2>&1 | tail -2
    rm -rf "$work"
done
echo "all tests passed"
