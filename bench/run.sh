#!/usr/bin/env bash
# run.sh - the noormd benchmark (`make bench`): starts the server from BUILD
# on a socket and database in a private temporary directory, runs each
# scenario BENCH_RUNS times with bench/loadgen, prints every run and the
# median, and stops the server with SIGTERM. Loads go only to that socket.
#
#   usage: bench/run.sh [BUILD]          (default BUILD: build)
#   env:   BENCH_RUNS (3), BENCH_DURATION seconds (5), BENCH_WARMUP seconds (1),
#          BENCH_IDLE connections (1000)
#
# Scenarios, with the goals from the issue:
#   a  server.ping, 16 connections x 16 in flight     goal >= 1,000,000 requests/s
#   b  server.ping, 64 connections x 1 in flight      goal p99 <= 1 ms
#   c  server RSS with BENCH_IDLE idle connections    goal <= 32 MB (fresh server each run)
#   d  test.write (noormd-test), 64 x 1, --synchronous full and normal
# Medians are taken per figure over the runs. Client and server share the
# machine's cores; see docs/benchmarks.md.
set -euo pipefail

BUILD=${1:-build}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
IDLE=${BENCH_IDLE:-1000}

NOORMD=$BUILD/noormd
NOORMD_TEST=$BUILD/noormd-test
LOADGEN=$BUILD/bench/loadgen
for bin in "$NOORMD" "$LOADGEN"; do
  [ -x "$bin" ] || { echo "run.sh: $bin not found; build first (make build)" >&2; exit 1; }
done

# A hard bound per loadgen call, on top of loadgen's own watchdog.
CALL_TIMEOUT=$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN { printf "%d", w + d + 60 }')

DIR=$(mktemp -d "${TMPDIR:-/tmp}/noormme-bench.XXXXXX")
chmod 700 "$DIR"
SOCK=$DIR/noormd.sock
SERVER_PID=

# The server needs a descriptor per idle connection (plus its own files).
want=$((IDLE + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

# Stops the server this script started: SIGTERM, then SIGKILL after 10 s.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: server $SERVER_PID ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

cleanup() {
  stop_server
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server BIN DB [FLAG...]: starts BIN in the background and waits until
# it answers a ping.
start_server() {
  local bin=$1 db=$2
  shift 2
  "$bin" --socket "$SOCK" --db "$db" --log-level warn "$@" 2>>"$DIR/server.log" &
  SERVER_PID=$!
  # The socket file appears at bind, a moment before listen: probe until a
  # ping is answered.
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
    if [ -S "$SOCK" ] && timeout 20 "$LOADGEN" --socket "$SOCK" --connections 1 --warmup 0 \
      --duration 0.05 --json >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.05
  done
  echo "run.sh: server did not answer within 5 s" >&2
  exit 1
}

# field JSON KEY: a number from loadgen's JSON line ("null" when absent).
field() {
  local v
  v=$(printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p")
  echo "${v:-null}"
}

# median VALUE...: middle value (lower middle for an even count).
median() {
  printf '%s\n' "$@" | { grep -v '^null$' || true; } | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) print "null"; else print v[int((NR + 1) / 2)] }'
}

TICK=$(getconf CLK_TCK)

# CPU seconds used so far by a process (user + system; comm has no spaces).
cpu_s() {
  awk -v t="$TICK" '{ print ($14 + $15) / t }' "/proc/$1/stat"
}

# "busy steal": CPU seconds the whole machine has been busy (all processes,
# steal excluded) and stolen by the hypervisor, so far.
machine_s() {
  awk -v t="$TICK" '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8) / t, $9 / t }' /proc/stat
}

# load LABEL ARGS...: runs loadgen RUNS times against the running server;
# prints each run and the medians; sets MED_<field> for the summary.
load() {
  local label=$1
  shift
  local ops=() p50=() p99=() p999=() rss=() srv_cpu=() cli_cpu=() other=() errs=() batches=()
  echo "== $label"
  for i in $(seq "$RUNS"); do
    local c0 c1 m0 m1 w0 w1 line
    c0=$(cpu_s "$SERVER_PID")
    m0=$(machine_s)
    w0=$(date +%s.%N)
    line=$(timeout "$CALL_TIMEOUT" "$LOADGEN" --socket "$SOCK" --pid "$SERVER_PID" --json \
      --warmup "$WARMUP" --duration "$DURATION" "$@") ||
      echo "run.sh: loadgen reported failures (exit $?)" >&2
    [ -n "$line" ] || { echo "run.sh: loadgen printed nothing" >&2; exit 1; }
    c1=$(cpu_s "$SERVER_PID")
    m1=$(machine_s)
    w1=$(date +%s.%N)
    # Server and machine CPU over the loadgen call, in % of one core; "other"
    # is everything but this server and this loadgen (other work on the
    # machine), plus time the hypervisor stole: the noise indicator.
    local cpu cli oth
    cli=$(field "$line" client_cpu_pct)
    read -r cpu oth < <(awk -v a="$c0" -v b="$c1" -v m0="$m0" -v m1="$m1" -v w0="$w0" \
      -v w1="$w1" -v cl="$cli" 'BEGIN {
        split(m0, x, " "); split(m1, y, " "); d = w1 - w0
        s = (b - a) / d * 100; busy = (y[1] - x[1]) / d * 100; st = (y[2] - x[2]) / d * 100
        o = busy - s - (cl == "null" ? 0 : cl) + st; if (o < 0) o = 0
        printf "%.0f %.0f\n", s, o }')
    ops+=("$(field "$line" ops_per_sec)")
    p50+=("$(field "$line" p50_us)")
    p99+=("$(field "$line" p99_us)")
    p999+=("$(field "$line" p999_us)")
    rss+=("$(field "$line" rss_end_kb)")
    errs+=("$(($(field "$line" errors) + $(field "$line" failures)))")
    batches+=("$(field "$line" avg_batch)")
    srv_cpu+=("$cpu")
    cli_cpu+=("$cli")
    other+=("$oth")
    printf '   run %d: %10.0f req/s  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  errors %s' \
      "$i" "${ops[-1]}" "${p50[-1]}" "${p99[-1]}" "${p999[-1]}" "${errs[-1]}"
    printf '  cpu%%: server %s client %s other %s  rss %s kB' "$cpu" "$cli" "$oth" "${rss[-1]}"
    [ "${batches[-1]}" != null ] && printf '  avg batch %s' "${batches[-1]}"
    printf '\n'
  done
  MED_ops=$(median "${ops[@]}")
  MED_p50=$(median "${p50[@]}")
  MED_p99=$(median "${p99[@]}")
  MED_p999=$(median "${p999[@]}")
  MED_rss=$(median "${rss[@]}")
  MED_cpu=$(median "${srv_cpu[@]}")
  MED_batch=$(median "${batches[@]}")
  MED_errs=$(median "${errs[@]}")
  MED_cli=$(median "${cli_cpu[@]}")
  MED_other=$(median "${other[@]}")
  printf '   median: %8.0f req/s  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  errors %s' \
    "$MED_ops" "$MED_p50" "$MED_p99" "$MED_p999" "$MED_errs"
  printf '  cpu%%: server %s client %s other %s  rss %s kB' "$MED_cpu" "$MED_cli" "$MED_other" \
    "$MED_rss"
  [ "$MED_batch" != null ] && printf '  avg batch %s' "$MED_batch"
  printf '\n'
}

echo "noormd benchmark: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 |
  sed 's/^ *//'), kernel $(uname -r)"
echo "runs $RUNS x (${WARMUP} s warmup + ${DURATION} s measured); medians per figure"
echo "client (loadgen, 1 thread) and server share the cores"
echo

start_server "$NOORMD" "$DIR/ping.db"
load "a  server.ping, 16 connections x 16 in flight (goal >= 1,000,000 req/s)" \
  --mix server.ping=100 --connections 16 --depth 16
A_OPS=$MED_ops
load "b  server.ping, 64 connections x 1 in flight (goal p99 <= 1000 us)" \
  --mix server.ping=100 --connections 64 --depth 1
B_OPS=$MED_ops
B_P99=$MED_p99
stop_server

echo "== c  server RSS with $IDLE idle connections (goal <= 32768 kB), fresh server per run"
rs=() ri=()
for i in $(seq "$RUNS"); do
  start_server "$NOORMD" "$DIR/idle-$i.db" --max-connections "$((IDLE + 8 > 1024 ? IDLE + 8 : 1024))"
  line=$(timeout "$CALL_TIMEOUT" "$LOADGEN" --socket "$SOCK" --pid "$SERVER_PID" --json \
    --connections 0 --idle "$IDLE" --warmup 0 --duration 0) || true
  [ -n "$line" ] || { echo "run.sh: loadgen printed nothing" >&2; exit 1; }
  stop_server
  rs+=("$(field "$line" rss_start_kb)")
  ri+=("$(field "$line" rss_idle_kb)")
  printf '   run %d: rss at start %s kB, with %s idle connections %s kB\n' "$i" "${rs[-1]}" \
    "$IDLE" "${ri[-1]}"
done
C_START=$(median "${rs[@]}")
C_IDLE=$(median "${ri[@]}")
printf '   median: rss at start %s kB, with %s idle connections %s kB\n' "$C_START" "$IDLE" \
  "$C_IDLE"

D_FULL_OPS=null D_NORMAL_OPS=null
if [ -x "$NOORMD_TEST" ]; then
  for sync in full normal; do
    start_server "$NOORMD_TEST" "$DIR/write-$sync.db" --synchronous "$sync"
    load "d  test.write, 64 connections x 1 in flight, --synchronous $sync" \
      --mix test.write=100 --connections 64 --depth 1 --server-stats
    stop_server
    if [ "$sync" = full ]; then
      D_FULL_OPS=$MED_ops D_FULL_P50=$MED_p50 D_FULL_P99=$MED_p99 D_FULL_BATCH=$MED_batch
    else
      D_NORMAL_OPS=$MED_ops D_NORMAL_P50=$MED_p50 D_NORMAL_P99=$MED_p99 D_NORMAL_BATCH=$MED_batch
    fi
  done
else
  echo "== d  skipped: $NOORMD_TEST not built"
fi

verdict() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN {
  if (v == "null") print "n/a"; else if ((op == ">=" && v >= g) || (op == "<=" && v <= g))
  print "meets goal"; else print "MISSES goal" }'; }

echo
echo "summary (medians of $RUNS)"
printf '  a  ping 16x16 throughput   %10.0f req/s   goal >= 1000000   %s\n' "$A_OPS" \
  "$(verdict "$A_OPS" 1000000 '>=')"
printf '  b  ping 64x1 p99           %10.1f us      goal <= 1000      %s  (%.0f req/s)\n' \
  "$B_P99" "$(verdict "$B_P99" 1000 '<=')" "$B_OPS"
printf '  c  RSS, %d idle conns     %10s kB      goal <= 32768     %s  (at start %s kB)\n' \
  "$IDLE" "$C_IDLE" "$(verdict "$C_IDLE" 32768 '<=')" "$C_START"
if [ "$D_FULL_OPS" != null ]; then
  printf '  d  test.write 64x1 full    %10.0f w/s     p50 %.1f us  p99 %.1f us  avg batch %s\n' \
    "$D_FULL_OPS" "$D_FULL_P50" "$D_FULL_P99" "$D_FULL_BATCH"
  printf '  d  test.write 64x1 normal  %10.0f w/s     p50 %.1f us  p99 %.1f us  avg batch %s\n' \
    "$D_NORMAL_OPS" "$D_NORMAL_P50" "$D_NORMAL_P99" "$D_NORMAL_BATCH"
fi
