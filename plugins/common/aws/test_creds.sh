#!/bin/sh
# Runs test_creds against a fresh aws-cred-mock: test_creds.sh <test_creds binary> <mock script>.
# Exit 77 (skipped) when node is not installed.
set -u
bin=$1
mock=$2
command -v node >/dev/null 2>&1 || { echo "node not found: skipped"; exit 77; }
out=$(mktemp)
node "$mock" >"$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -f "$out"' EXIT INT TERM
port=
i=0
while [ $i -lt 100 ]; do
    port=$(sed -n 's/^LISTENING \([0-9]*\)$/\1/p' "$out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    echo "aws-cred-mock did not start" >&2
    exit 1
fi
AWS_MOCK_PORT=$port "$bin"
