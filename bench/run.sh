#!/usr/bin/env bash
# Gantry's benchmark: wrk → (gantry →) fastmock on loopback.  It prints figures; it is not a test.
#
#   bench/run.sh                     # 10 s per run
#   BENCH_SECONDS=3 bench/run.sh     # shorter runs
#
# Scenarios (each gantry instance gets its own config in a temp dir, workers: 1 unless BENCH_WORKERS):
#   direct          wrk → fastmock (the baseline)
#   direct-stream   wrk → fastmock with "stream": true (the baseline for gw-stream)
#   gw-minimal      wrk → gantry (openai provider, no auth, no plugins) → fastmock
#   gw-full         wrk → gantry (master key + jsonl to a file + one regex guardrail) → fastmock
#   gw-stream       gw-full config, request with "stream": true, at 16 connections only
#   gw-route10      gw-minimal with 10 deployments in the group (routing cost)
#   gw-regex        gw-minimal + one regex guardrail (guardrails: section, pre and post call), c=16
#   gw-pii          gw-minimal + the pii guardrail (every detector, pre and post call), c=16
#   gw-cache-hit    gw-minimal + the memory cache, the same request every time (all hits), c=16
#   gw-cache-miss   gw-minimal + the memory cache, a different request every time (lookup + store), c=16
#                   Compare their CPU per request with gw-minimal's for what each feature costs.
#
# Environment:
#   BENCH_SECONDS      seconds per measured run (default 10)
#   BENCH_WARMUP       seconds of warm-up per scenario, not measured (default 2)
#   BENCH_RUNS         measured runs per row; the table shows the median of each column (default 1)
#   BENCH_CONNECTIONS  connection counts (default "1 16 64")
#   BENCH_WRK_THREADS  wrk threads (default 1; never more than the connections)
#   BENCH_WORKERS      gantry worker threads (default 1)
#   BENCH_SCENARIOS    which scenarios to run (default: all five, in the order above)
#   BENCH_PERF=1       after gw-full, profile one extra 16-connection run with `perf record -g`
#                      (not part of the table; the report goes to the output directory)
#   BENCH_OUT=DIR      keep the table, the raw wrk outputs, configs and logs in DIR
#   BUILD_DIR          meson build directory (default: <repo>/build)
#
# Columns: see bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
GANTRY=$BUILD/gantry
FASTMOCK=$BUILD/bench/fastmock
DURATION=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
RUNS=${BENCH_RUNS:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-"1 16 64"}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
WORKERS=${BENCH_WORKERS:-1}
SCENARIOS=${BENCH_SCENARIOS:-"direct direct-stream gw-minimal gw-full gw-stream gw-route10 gw-regex gw-pii gw-cache-hit gw-cache-miss"}
STREAM_CONNECTIONS=16
MASTER_KEY=sk-bench-master
UPSTREAM_KEY=sk-bench-upstream
CLK_TCK=$(getconf CLK_TCK)

die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

is_uint() {
    [[ $1 =~ ^[0-9]+$ ]]
}

is_positive() {
    [[ $1 =~ ^[1-9][0-9]*$ ]]
}

is_positive "$DURATION" || die "BENCH_SECONDS must be a positive integer"
is_uint "$WARMUP" || die "BENCH_WARMUP must be an integer"
is_positive "$RUNS" || die "BENCH_RUNS must be a positive integer"
is_positive "$WRK_THREADS" || die "BENCH_WRK_THREADS must be a positive integer"
is_positive "$WORKERS" || die "BENCH_WORKERS must be a positive integer"
for c in $CONNECTIONS; do
    is_positive "$c" || die "BENCH_CONNECTIONS must be positive integers"
done

if ! command -v wrk >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        printf 'bench: installing wrk (apt-get install -y wrk)\n' >&2
        timeout 600 apt-get install -y wrk >/dev/null || die "could not install wrk"
    else
        die "wrk is missing (apt-get install -y wrk, or scripts/deps.sh)"
    fi
fi
for tool in wrk curl ss getconf awk timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-bench.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # A server that ignores SIGTERM for 5 s is killed.
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${BENCH_OUT:-} && -d $WORK ]]; then
        mkdir -p "$BENCH_OUT"
        cp -r "$WORK"/. "$BENCH_OUT"/ || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Drop a pid from the list the exit trap kills.
forget_pid() {
    local pid=$1 keep=() p
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# Stop one server started by this script (by pid) and forget it.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

# run_waited OUT CMD...: CMD with its output in OUT, run in the background and waited for, so that
# SIGTERM reaches the script at once (bash defers traps while a foreground child runs) and the exit
# trap stops CMD too.  Returns CMD's status.
run_waited() {
    local out=$1 pid rc=0
    shift
    "$@" >"$out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}

# A TCP port nobody listens on now (the gateway cannot report the port it picked for port 0).
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if [[ -z $(ss -Htln "sport = :$p") ]]; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "no free port found"
}

# utime + stime of a process, in clock ticks (all threads).
cpu_ticks() {
    local stat rest
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) }           # fields from 3 (state) on; comm may contain spaces
    local -a f
    read -r -a f <<<"$rest"
    printf '%s\n' $((f[11] + f[12]))
}

# Peak resident set size (VmHWM), in kB.
peak_rss_kb() {
    awk '/^VmHWM:/ {print $2}' "/proc/$1/status"
}

# ---- build ----

printf 'bench: building (ninja -C %s)\n' "$BUILD" >&2
[[ -f $BUILD/build.ninja ]] || die "no meson build in $BUILD (meson setup $BUILD)"
timeout 1800 ninja -C "$BUILD" >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    die "build failed"
}
[[ -x $GANTRY && -x $FASTMOCK ]] || die "missing $GANTRY or $FASTMOCK after the build"

# ---- wrk script ----

# write_lua FILE AUTH(0/1) STREAM(0/1) [UNIQUE(0/1)]: the ~100-byte chat request (UNIQUE: a
# different prompt each time, so no two requests share a cache key) and a machine-readable summary.
write_lua() {
    local file=$1 auth=$2 stream=$3 unique=${4:-0} body
    if ((stream)); then
        body='{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
    else
        body='{"model":"gpt-mock","messages":[{"role":"user","content":"Say hello to the benchmark, please."}],"max_tokens":16}'
    fi
    {
        printf 'wrk.method = "POST"\n'
        printf 'wrk.path = "/v1/chat/completions"\n'
        printf "wrk.body = '%s'\n" "$body"
        printf 'wrk.headers["Content-Type"] = "application/json"\n'
        if ((auth)); then
            printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$MASTER_KEY"
        fi
        if ((unique)); then
            cat <<'LUA'
local n = 0
function request()
    n = n + 1
    return wrk.format(nil, nil, nil, string.format(
        '{"model":"gpt-mock","messages":[{"role":"user","content":"Say hello to benchmark %d, %d."}],"max_tokens":16}',
        n, math.random(1, 1000000000)))
end
LUA
        fi
        cat <<'LUA'
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f sock_errors=%d status_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
    } >"$file"
}

# ---- servers ----

# start_mock: sets MOCK_PID and MOCK_PORT.
start_mock() {
    local out=$WORK/fastmock.out
    "$FASTMOCK" --port 0 >"$out" 2>"$WORK/fastmock.err" &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    MOCK_PORT=
    for _ in $(seq 1 100); do
        if read -r word port <"$out" 2>/dev/null && [[ $word == LISTENING ]]; then
            MOCK_PORT=$port
            break
        fi
        kill -0 "$MOCK_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $MOCK_PORT ]] || {
        cat "$WORK/fastmock.err" >&2
        die "fastmock did not start"
    }
}

# write_config FILE PORT FULL(0/1) [NDEPS] [EXTRA]: EXTRA is YAML appended as it is (a feature's
# section: guardrails:, plugins:).
write_config() {
    local file=$1 port=$2 full=$3 ndeps=${4:-1} extra=${5:-} dir i
    dir=$(dirname "$file")
    {
        echo "model_list:"
        # NDEPS deployments of one group, all on the mock: routing cost without upstream differences.
        for i in $(seq 1 "$ndeps"); do
            cat <<EOF
  - model_name: gpt-mock
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: $UPSTREAM_KEY
    model_info: {id: bench-mock-$i}
EOF
        done
        if ((ndeps > 1)); then
            printf 'router_settings: {routing_strategy: %s}\n' "${BENCH_STRATEGY:-simple-shuffle}"
        fi
        cat <<EOF
server:
  host: 127.0.0.1
  port: $port
  workers: $WORKERS
EOF
        if ((full)); then
            cat <<EOF
general_settings:
  master_key: $MASTER_KEY
plugins:
  load:
    - plugin: jsonl
      name: access-log
      config: {path: $dir/requests.jsonl}
    - plugin: regex
      config:
        patterns:
          - {name: ssn, pattern: "[0-9]{3}-[0-9]{2}-[0-9]{4}", action: mask}
EOF
        fi
        [[ -z $extra ]] || printf '%s\n' "$extra"
    } >"$file"
}

EXTRA_REGEX='guardrails:
  - guardrail_name: ssn
    litellm_params:
      guardrail: regex
      mode: [pre_call, post_call]
      default_on: true
      patterns:
        - {name: ssn, pattern: "[0-9]{3}-[0-9]{2}-[0-9]{4}", action: mask}'
EXTRA_PII='guardrails:
  - guardrail_name: pii
    litellm_params: {guardrail: pii, mode: [pre_call, post_call], default_on: true}'
EXTRA_CACHE='plugins:
  load:
    - plugin: memory
      config: {ttl: 600, max_bytes: 67108864}'


# start_gantry DIR FULL(0/1) [NDEPS] [EXTRA]: sets GW_PID and GW_PORT.  Retries if the picked port
# was taken meanwhile.
start_gantry() {
    local dir=$1 full=$2 ndeps=${3:-1} extra=${4:-}
    mkdir -p "$dir"
    for _ in 1 2 3; do
        GW_PORT=$(free_port)
        write_config "$dir/gantry.yaml" "$GW_PORT" "$full" "$ndeps" "$extra"
        "$GANTRY" --config "$dir/gantry.yaml" >"$dir/gantry.log" 2>&1 &
        GW_PID=$!
        PIDS+=("$GW_PID")
        for _ in $(seq 1 100); do
            if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$GW_PORT/health/readiness"; then
                return 0
            fi
            kill -0 "$GW_PID" 2>/dev/null || break
            sleep 0.1
        done
        stop_pid "$GW_PID"
        grep -q 'cannot listen' "$dir/gantry.log" || break
    done
    cat "$dir/gantry.log" >&2
    die "gantry did not start (config: $dir/gantry.yaml)"
}

# trim_log DIR: the jsonl access log grows ~0.5 KB per request (hundreds of MB per run); keep its
# line count and the last 100 lines.
trim_log() {
    local log=$1/requests.jsonl n
    [[ -f $log ]] || return 0
    n=$(wc -l <"$log")
    tail -n 100 "$log" >"$log.tail" && mv "$log.tail" "$log"
    printf 'bench: %s: %s jsonl lines written (last 100 kept)\n' "${1##*/}" "$n" >&2
}

# check_answer PORT AUTH STREAM: one request by curl must succeed before anything is measured.
check_answer() {
    local port=$1 auth=$2 stream=$3 body out
    local -a hdr=(-H 'Content-Type: application/json')
    ((auth)) && hdr+=(-H "Authorization: Bearer $MASTER_KEY")
    if ((stream)); then
        body='{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"check"}]}'
    else
        body='{"model":"gpt-mock","messages":[{"role":"user","content":"check"}]}'
    fi
    out=$(curl -sS --max-time 5 -w '\nHTTP %{http_code}' "${hdr[@]}" -d "$body" \
        "http://127.0.0.1:$port/v1/chat/completions") || die "check request to port $port failed"
    [[ $out == *"HTTP 200" ]] || die "check request to port $port: $out"
    if ((stream)); then
        [[ $out == *"data: [DONE]"* ]] || die "check stream from port $port has no [DONE]: $out"
    else
        [[ $out == *'"Hello from the fast mock."'* ]] || die "check answer from port $port: $out"
    fi
}

# ---- measuring ----

RESULTS=$WORK/results.tsv
printf 'scenario\tconns\treq_s\tp50_us\tp99_us\tcpu_us_req\trss_kb\terrors\n' >"$RESULTS"

# measure NAME PID PORT LUA CONNS: BENCH_RUNS wrk runs; appends a row per run to RESULTS.
measure() {
    local run
    for run in $(seq 1 "$RUNS"); do
        measure_once "$@" "$run"
    done
}

measure_once() {
    local name=$1 pid=$2 port=$3 lua=$4 conns=$5 run=$6
    local threads=$WRK_THREADS out t0 t1 line
    ((threads > conns)) && threads=$conns
    out=$WORK/wrk-$name-c$conns-run$run.txt
    t0=$(cpu_ticks "$pid")
    run_waited "$out" timeout $((DURATION + 60)) wrk -t"$threads" -c"$conns" -d"${DURATION}s" \
        --timeout 5s --latency -s "$lua" "http://127.0.0.1:$port" || {
        cat "$out" >&2
        die "wrk failed ($name, c=$conns)"
    }
    t1=$(cpu_ticks "$pid")
    line=$(grep '^BENCH_RESULT ' "$out") || die "no result from wrk ($name, c=$conns): $(cat "$out")"
    local requests duration_us p50 p99 sock status
    requests=$(sed -E 's/.* requests=([0-9]+).*/\1/' <<<"$line")
    duration_us=$(sed -E 's/.* duration_us=([0-9]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$line")
    sock=$(sed -E 's/.* sock_errors=([0-9]+).*/\1/' <<<"$line")
    status=$(sed -E 's/.* status_errors=([0-9]+).*/\1/' <<<"$line")
    ((requests > 0)) || die "wrk completed no requests ($name, c=$conns): $(cat "$out")"
    awk -v n="$name" -v c="$conns" -v r="$requests" -v d="$duration_us" -v p50="$p50" -v p99="$p99" \
        -v dt=$((t1 - t0)) -v hz="$CLK_TCK" -v rss="$(peak_rss_kb "$pid")" -v err=$((sock + status)) \
        'BEGIN { printf "%s\t%d\t%.0f\t%d\t%d\t%.1f\t%d\t%d\n", n, c, r * 1e6 / d, p50, p99,
                 dt * 1e6 / hz / r, rss, err }' >>"$RESULTS"
    printf 'bench: %-13s c=%-3s run %s: %s\n' "$name" "$conns" "$run" "$(tail -n 1 "$RESULTS" | cut -f3-)" >&2
}

warm_up() {
    local port=$1 lua=$2
    ((WARMUP > 0)) || return 0
    run_waited "$WORK/warm-up.txt" timeout $((WARMUP + 30)) wrk -t1 -c16 -d"${WARMUP}s" --timeout 5s \
        -s "$lua" "http://127.0.0.1:$port" || die "warm-up against port $port failed: $(cat "$WORK/warm-up.txt")"
}

# profile PID PORT LUA: one extra 16-connection run under perf record (not in the table).
profile() {
    local pid=$1 port=$2 lua=$3 pdir=$WORK/perf
    command -v perf >/dev/null || die "BENCH_PERF=1 needs perf"
    mkdir -p "$pdir"
    perf record -F 499 -g -p "$pid" -o "$pdir/perf.data" -- sleep "$DURATION" >"$pdir/record.log" 2>&1 &
    local perf_pid=$!
    PIDS+=("$perf_pid")
    sleep 0.5
    run_waited "$pdir/wrk.txt" timeout $((DURATION + 60)) wrk -t1 -c16 -d"${DURATION}s" --timeout 5s \
        -s "$lua" "http://127.0.0.1:$port" || true
    wait "$perf_pid" || true
    forget_pid "$perf_pid"
    # Flat profiles (self time): by library, and by library + function.
    perf report -i "$pdir/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null |
        grep -v -e '^#' -e '^$' >"$pdir/report-dso.txt" || true
    perf report -i "$pdir/perf.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
        grep -v -e '^#' -e '^$' | head -n 200 >"$pdir/report-symbols.txt" || true
    local where="$pdir (set BENCH_OUT to keep it)"
    [[ -n ${BENCH_OUT:-} ]] && where="$BENCH_OUT/perf"
    printf 'bench: perf profile of gw-full at c=16 (not in the table): %s\n' "$where" >&2
    head -n 12 "$pdir/report-dso.txt" >&2 || true
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
start_mock
LUA_PLAIN=$WORK/plain.lua
LUA_AUTH=$WORK/auth.lua
LUA_STREAM=$WORK/stream.lua
LUA_DIRECT_STREAM=$WORK/direct-stream.lua
LUA_UNIQUE=$WORK/unique.lua
write_lua "$LUA_UNIQUE" 0 0 1
write_lua "$LUA_PLAIN" 0 0
write_lua "$LUA_AUTH" 1 0
write_lua "$LUA_STREAM" 1 1
write_lua "$LUA_DIRECT_STREAM" 0 1

printf 'bench: fastmock on port %s; %s s per run, %s s warm-up, gantry workers: %s, wrk threads: %s\n' \
    "$MOCK_PORT" "$DURATION" "$WARMUP" "$WORKERS" "$WRK_THREADS" >&2

for scenario in $SCENARIOS; do
    case $scenario in
    direct)
        check_answer "$MOCK_PORT" 0 0
        warm_up "$MOCK_PORT" "$LUA_PLAIN"
        for c in $CONNECTIONS; do
            measure direct "$MOCK_PID" "$MOCK_PORT" "$LUA_PLAIN" "$c"
        done
        ;;
    direct-stream)
        check_answer "$MOCK_PORT" 0 1
        warm_up "$MOCK_PORT" "$LUA_DIRECT_STREAM"
        measure direct-stream "$MOCK_PID" "$MOCK_PORT" "$LUA_DIRECT_STREAM" "$STREAM_CONNECTIONS"
        ;;
    gw-minimal)
        start_gantry "$WORK/gw-minimal" 0
        check_answer "$GW_PORT" 0 0
        warm_up "$GW_PORT" "$LUA_PLAIN"
        for c in $CONNECTIONS; do
            measure gw-minimal "$GW_PID" "$GW_PORT" "$LUA_PLAIN" "$c"
        done
        stop_pid "$GW_PID"
        ;;
    gw-full)
        start_gantry "$WORK/gw-full" 1
        check_answer "$GW_PORT" 1 0
        warm_up "$GW_PORT" "$LUA_AUTH"
        for c in $CONNECTIONS; do
            measure gw-full "$GW_PID" "$GW_PORT" "$LUA_AUTH" "$c"
        done
        if [[ ${BENCH_PERF:-0} == 1 ]]; then
            profile "$GW_PID" "$GW_PORT" "$LUA_AUTH"
        fi
        stop_pid "$GW_PID"
        trim_log "$WORK/gw-full"
        ;;
    gw-stream)
        start_gantry "$WORK/gw-stream" 1
        check_answer "$GW_PORT" 1 1
        warm_up "$GW_PORT" "$LUA_STREAM"
        measure gw-stream "$GW_PID" "$GW_PORT" "$LUA_STREAM" "$STREAM_CONNECTIONS"
        stop_pid "$GW_PID"
        trim_log "$WORK/gw-stream"
        ;;
    gw-route10)
        # Same as gw-minimal but the group has 10 deployments (BENCH_STRATEGY picks the strategy):
        # compare its CPU per request with gw-minimal's to see what routing costs.
        start_gantry "$WORK/gw-route10" 0 10
        check_answer "$GW_PORT" 0 0
        warm_up "$GW_PORT" "$LUA_PLAIN"
        for c in $CONNECTIONS; do
            measure gw-route10 "$GW_PID" "$GW_PORT" "$LUA_PLAIN" "$c"
        done
        stop_pid "$GW_PID"
        ;;
    gw-regex | gw-pii | gw-cache-hit | gw-cache-miss)
        case $scenario in
        gw-regex) extra=$EXTRA_REGEX lua=$LUA_PLAIN ;;
        gw-pii) extra=$EXTRA_PII lua=$LUA_PLAIN ;;
        gw-cache-hit) extra=$EXTRA_CACHE lua=$LUA_PLAIN ;;
        gw-cache-miss) extra=$EXTRA_CACHE lua=$LUA_UNIQUE ;;
        esac
        start_gantry "$WORK/$scenario" 0 1 "$extra"
        check_answer "$GW_PORT" 0 0
        warm_up "$GW_PORT" "$lua"
        measure "$scenario" "$GW_PID" "$GW_PORT" "$lua" "$STREAM_CONNECTIONS"
        stop_pid "$GW_PID"
        ;;
    *)
        die "unknown scenario '$scenario'"
        ;;
    esac
done

# ---- table ----

# One row per (scenario, connections): the median of each column over the runs.  Added latency compares
# a gateway row with the direct row of the same kind and connection count.
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
awk -F'\t' -v secs="$DURATION" -v runs="$RUNS" -v hz="$CLK_TCK" -v load0="$LOAD_START" -v load1="$LOAD_END" '
function median(key, col,    n, i, j, t, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = val[key, i, col]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function ms(us) { return sprintf("%.3f", us / 1000) }
function added(base, v) { return base == "" ? "-" : sprintf("%+.3f", (v - base) / 1000) }
NR == 1 { next }
{
    key = $1 "/" $2
    if (!(key in cnt)) { order[++nkeys] = key; name[key] = $1; conns[key] = $2 }
    k = ++cnt[key]
    for (c = 3; c <= 8; c++) val[key, k, c] = $c
}
END {
    for (i = 1; i <= nkeys; i++) {
        key = order[i]
        for (c = 3; c <= 8; c++) med[key, c] = median(key, c)
    }
    printf "\nGantry benchmark: %d s per run, median of %d run(s); CPU from /proc/<pid>/stat (CLK_TCK %d)\n", secs, runs, hz
    printf "load average at start: %s, at end: %s (2 cores shared by wrk, fastmock and gantry)\n\n", load0, load1
    print "| scenario | conns | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | server CPU µs/req | peak RSS MB | errors |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nkeys; i++) {
        key = order[i]
        base = (name[key] ~ /stream/) ? "direct-stream" : "direct"
        bkey = base "/" conns[key]
        a50 = "-"; a99 = "-"
        if (name[key] != base && (bkey in cnt)) {
            a50 = added(med[bkey, 4], med[key, 4]); a99 = added(med[bkey, 5], med[key, 5])
        }
        printf "| %s | %d | %d | %s | %s | %s | %s | %.1f | %.1f | %d |\n", name[key], conns[key], med[key, 3],
               ms(med[key, 4]), ms(med[key, 5]), a50, a99, med[key, 6], med[key, 7] / 1024, med[key, 8]
    }
    print ""
    print "server = fastmock for direct rows, gantry for gw rows; added = gw minus direct at the same connections"
    print "(gw-stream against direct-stream); errors = socket errors + non-2xx responses."
}' "$RESULTS" | tee "$WORK/table.md"
