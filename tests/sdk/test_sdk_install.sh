#!/bin/bash
# SDK install test (suite "plugin"): what a plugin author outside the Gantry tree gets.
#
#   1. `meson install --destdir` the build into a scratch directory (a staged install).
#   2. Build sdk/examples/hello-guardrail from a copy, with meson and with make, where pkg-config
#      sees only the staged install: no Gantry sources, no other SDK on the system.
#   3. Run the *staged* gantry (so it finds its plugins relative to the installed executable, not
#      in the build tree) with the example loaded, and check its answers with curl.
#
# Needs GANTRY_BUILD_DIR and GANTRY_SOURCE_DIR (set by tests/meson.build), meson, ninja, make, cc,
# pkg-config, curl and python3 (to pick a free port).
set -u
: "${GANTRY_BUILD_DIR:?}" "${GANTRY_SOURCE_DIR:?}"

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok - $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL - $*" >&2
}
# Stop here when a step fails that every later step depends on.
fatal() {
    fail "$*"
    echo "$passed passed, $failed failed"
    exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gantry-sdk.XXXXXX") || exit 1
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- 1. staged install ------------------------------------------------------------------------
stage=$tmp/stage
if ! meson install -C "$GANTRY_BUILD_DIR" --destdir "$stage" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fatal "meson install --destdir"
fi
ok "meson install --destdir"

pc=$(find "$stage" -name gantry-sdk.pc -print -quit)
gantry=$(find "$stage" -type f -path '*/bin/gantry' -print -quit)
[ -n "$pc" ] || fatal "gantry-sdk.pc is not installed"
[ -x "$gantry" ] || fatal "the gantry executable is not installed"
# ${includedir} holds gantry/, so that `#include <gantry/gantry.h>` works.  (The pattern is a
# literal pkg-config line, hence single quotes.)
# shellcheck disable=SC2016
if grep -qx 'Cflags: -I${includedir}' "$pc"; then
    ok "gantry-sdk.pc: Cflags: -I\${includedir}"
else
    fail "gantry-sdk.pc has no 'Cflags: -I\${includedir}':"
    cat "$pc" >&2
fi

# Only the staged install: PKG_CONFIG_LIBDIR replaces the default search path, and the sysroot
# maps the .pc file's /usr/local/... paths into the stage.
unset PKG_CONFIG_PATH
export PKG_CONFIG_LIBDIR=${pc%/*}
export PKG_CONFIG_SYSROOT_DIR=$stage
cflags=$(pkg-config --cflags gantry-sdk) || fatal "pkg-config --cflags gantry-sdk"
inc=${cflags#-I}
inc=${inc%% *}
if [ -f "$inc/gantry/gantry.h" ] && [ "${inc#"$stage"/}" != "$inc" ]; then
    ok "pkg-config --cflags points into the stage ($cflags)"
else
    fail "pkg-config --cflags gives '$cflags', which does not hold the staged gantry/gantry.h"
fi

# ---- 2. build the example out of tree ---------------------------------------------------------
# A copy, so no relative path can reach the core sources.
src=$tmp/hello-guardrail
cp -R "$GANTRY_SOURCE_DIR/sdk/examples/hello-guardrail" "$src" || fatal "copy the example"
rm -rf "$src/build" "$src/hello-guardrail.so"

exports_only_describe() {
    [ "$(nm -D --defined-only "$1" | awk '{print $3}')" = gantry_plugin_describe ]
}

if meson setup "$tmp/ex-build" "$src" >"$tmp/ex-setup.log" 2>&1 &&
    ninja -C "$tmp/ex-build" >"$tmp/ex-build.log" 2>&1; then
    ok "example builds with meson"
    if grep -q 'warning:' "$tmp/ex-build.log"; then
        fail "meson build of the example has warnings"
        cat "$tmp/ex-build.log" >&2
    else
        ok "meson build of the example is warning-free"
    fi
else
    cat "$tmp/ex-setup.log" "$tmp/ex-build.log" >&2 2>/dev/null
    fatal "example builds with meson"
fi
plugin=$tmp/ex-build/hello-guardrail.so
[ -f "$plugin" ] || fatal "meson built no hello-guardrail.so"
if exports_only_describe "$plugin"; then
    ok "meson-built plugin exports only gantry_plugin_describe"
else
    fail "meson-built plugin exports: $(nm -D --defined-only "$plugin" | awk '{print $3}' | tr '\n' ' ')"
fi

if make -C "$src" >"$tmp/make.log" 2>&1 && [ -f "$src/hello-guardrail.so" ]; then
    ok "example builds with make"
    if grep -q 'warning:' "$tmp/make.log"; then
        fail "make build of the example has warnings"
        cat "$tmp/make.log" >&2
    fi
    if exports_only_describe "$src/hello-guardrail.so"; then
        ok "make-built plugin exports only gantry_plugin_describe"
    else
        fail "make-built plugin exports more than gantry_plugin_describe"
    fi
else
    cat "$tmp/make.log" >&2
    fail "example builds with make"
fi

# ---- 3. run the staged gantry with the example ------------------------------------------------
# Sanitizer builds: scripts/test.sh suppresses h2o's known per-thread pool leak (tests/lsan.supp);
# do the same when the test is run directly, so the exit status checked below means a real leak.
if [ -z "${LSAN_OPTIONS:-}" ] && [ -f "$GANTRY_SOURCE_DIR/tests/lsan.supp" ]; then
    export LSAN_OPTIONS=suppressions=$GANTRY_SOURCE_DIR/tests/lsan.supp:print_suppressions=0
fi
# The server must find its own plugins (fake) where they were installed, never in the build tree.
unset GANTRY_PLUGIN_PATH

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
    fatal "pick a free port"

write_config() { # $1 = the example's config block
    cat >"$tmp/gantry.yaml" <<EOF
model_list:
  - model_name: hello
    litellm_params: {model: fake/x, response: "hi"}
server: {host: 127.0.0.1, port: $port, workers: 2}
plugins:
  load:
    # Named explicitly: loaded by path, the instance would otherwise be named after the path.
    - plugin: "$plugin"
      name: hello-guardrail
$1
EOF
}

# A config without the required key is refused before the plugin's create() runs.
write_config ""
out=$("$gantry" --check --config "$tmp/gantry.yaml" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "needs a config block with 'word'" <<<"$out"; then
    ok "a missing 'word' is refused by --check"
else
    fail "a missing 'word': --check exited $rc: $out"
fi

write_config "      config: {word: banana}"
out=$("$gantry" --check --config "$tmp/gantry.yaml" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
    ok "--check accepts the example's config"
else
    fail "--check exited $rc: $out"
fi

"$gantry" --config "$tmp/gantry.yaml" >"$tmp/server.log" 2>&1 &
server_pid=$!
base=http://127.0.0.1:$port
# Sanitizer builds start slowly; give the server up to 30 s.
for _ in $(seq 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$tmp/server.log" >&2
        server_pid=
        fatal "the staged gantry exited at start"
    fi
    curl -fsS -o /dev/null "$base/health/liveliness" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "$base/health/liveliness" || fatal "the staged gantry does not answer on $base"
ok "the staged gantry serves (fake provider found in the installed plugin directory)"

# chat BODY -> sets $code, $body, $headers
chat() {
    code=$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' \
        -H 'Content-Type: application/json' -d "$1" "$base/v1/chat/completions")
    body=$(cat "$tmp/body")
    headers=$(tr -d '\r' <"$tmp/headers")
}
guardrail_header() {
    grep -i '^x-gantry-applied-guardrails:' <<<"$headers" | sed 's/^[^:]*: *//'
}

chat '{"model":"hello","messages":[{"role":"user","content":"I would like a banana, please"}]}'
if [ "$code" = 400 ]; then ok "a prompt with the word: 400"; else fail "a prompt with the word: $code $body"; fi
if grep -q '"code": *"blocked_word"' <<<"$body" &&
    grep -q '"type": *"guardrail_violation"' <<<"$body"; then
    ok "the 400 says guardrail_violation / blocked_word"
else
    fail "the 400 body: $body"
fi
if [ "$(guardrail_header)" = hello-guardrail ]; then
    ok "x-gantry-applied-guardrails: hello-guardrail"
else
    fail "x-gantry-applied-guardrails is '$(guardrail_header)'; headers: $headers"
fi
if grep -q banana <<<"$body"; then fail "the error echoes the blocked word: $body"; else ok "the error does not echo the word"; fi

# The word inside a multimodal text part, in a system message, is blocked as well.
chat '{"model":"hello","messages":[{"role":"system","content":[{"type":"text","text":"say banana"}]},{"role":"user","content":"hello"}]}'
if [ "$code" = 400 ] && grep -q guardrail_violation <<<"$body"; then
    ok "the word in a text part: 400"
else
    fail "the word in a text part: $code $body"
fi

chat '{"model":"hello","messages":[{"role":"user","content":"I would like an apple, please"}]}'
if [ "$code" = 200 ]; then ok "another prompt: 200"; else fail "another prompt: $code $body"; fi
if grep -q '"content": *"hi"' <<<"$body"; then ok "the fake provider answered \"hi\""; else fail "the 200 body: $body"; fi
if [ -z "$(guardrail_header)" ]; then
    ok "no x-gantry-applied-guardrails when nothing was blocked"
else
    fail "x-gantry-applied-guardrails on a passed request: $(guardrail_header)"
fi

# A clean stop on SIGTERM (the sanitizer builds also report leaks here, as a non-zero exit).
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=
if [ $rc -eq 0 ]; then
    ok "the staged gantry exits 0 on SIGTERM"
else
    fail "the staged gantry exited $rc on SIGTERM"
    tail -n 40 "$tmp/server.log" >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
