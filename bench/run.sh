#!/usr/bin/env bash
# run.sh - the noormd benchmark (`make bench`): starts the server from BUILD
# on a socket and database in a private temporary directory, with a master
# key made for the run, runs each scenario BENCH_RUNS times with
# bench/loadgen, prints every run and the median, and stops the server with
# SIGTERM. For scenarios e and f it also starts its own redis-server on a
# private socket in the same directory and runs redis-benchmark after each
# loadgen run. Loads go only to those sockets.
#
#   usage: bench/run.sh [BUILD]          (default BUILD: build)
#   env:   BENCH_RUNS (3), BENCH_DURATION seconds (5), BENCH_WARMUP seconds (1),
#          BENCH_IDLE connections (1000), BENCH_USERS (100000),
#          BENCH_REDIS (1; 0 skips Redis; when redis-server is missing and this
#          runs as root, it is installed with apt-get),
#          BENCH_SCENARIOS (abcdefg: the letters of the scenarios to run)
#
# Scenarios, with the goals from the issue:
#   a  server.ping, 16 connections x 16 in flight     goal >= 1,000,000 requests/s
#   b  server.ping, 64 connections x 1 in flight      goal p99 <= 1 ms
#   c  server RSS with BENCH_IDLE idle connections    goal <= 32 MB (fresh server each run)
#   d  test.write (noormd-test), 64 x 1, --synchronous full and normal
#   e  auth.getSessionAndUser over BENCH_USERS users and sessions, 50 x 1,
#      against redis-benchmark GET, 50 connections     goal >= 1.0 x Redis
#   f  the same, 50 x 16 pipelined, against GET -P 16  goal >= 300,000 requests/s
#   g  auth.createSession, 64 x 1, --synchronous full and normal, each with
#      group commit (default --batch-max) and with --batch-max 1 (one request
#      per transaction)                                goal full >= 4 x batch-max 1
# Medians are taken per figure over the runs. Client and server share the
# machine's cores; see docs/benchmarks.md.
set -euo pipefail

# The server gets its settings from the flags below only: a NOORMME_KEY or
# NOORMME_SYNCHRONOUS left in the caller's environment would change the run.
unset "${!NOORMME_@}"

BUILD=${1:-build}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
IDLE=${BENCH_IDLE:-1000}
USERS=${BENCH_USERS:-100000}
REDIS=${BENCH_REDIS:-1}
SCENARIOS=${BENCH_SCENARIOS:-abcdefg}
REDIS_VALUE=160 # bytes: a GET reply of 168 bytes, against 171 for getSessionAndUser

NOORMD=$BUILD/noormd
NOORMD_TEST=$BUILD/noormd-test
LOADGEN=$BUILD/bench/loadgen
for bin in "$NOORMD" "$LOADGEN"; do
  [ -x "$bin" ] || { echo "run.sh: $bin not found; build first (make build)" >&2; exit 1; }
done

# A hard bound per loadgen call, on top of loadgen's own watchdog; loading
# gets its own (at least 500 writes/s).
CALL_TIMEOUT=$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN { printf "%d", w + d + 60 }')
LG_LOAD_TIMEOUT=$((60 + 2 * USERS / 500))

DIR=$(mktemp -d "${TMPDIR:-/tmp}/noormme-bench.XXXXXX")
chmod 700 "$DIR"
SOCK=$DIR/noormd.sock
SERVER_PID=
RSOCK=$DIR/redis.sock
REDIS_PID=
# noormd refuses to start without a master key: one for this run only.
KEY=$DIR/master.key
(umask 077 && head -c 32 /dev/urandom | base64 >"$KEY")

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

stop_redis() {
  [ -n "$REDIS_PID" ] || return 0
  kill -TERM "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=
}

cleanup() {
  stop_server
  stop_redis
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server BIN DB [FLAG...]: starts BIN in the background and waits until
# it answers a ping.
start_server() {
  local bin=$1 db=$2
  shift 2
  "$bin" --socket "$SOCK" --db "$db" --key-file "$KEY" --log-level warn "$@" \
    2>>"$DIR/server.log" &
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
# prints each run and the medians; sets MED_<field> for the summary and
# RUN_ops (one entry per run). When AFTER_RUN is set, the command it names
# runs after each loadgen run, with the run number.
AFTER_RUN=
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
    errs+=("$(($(field "$line" errors) + $(field "$line" failures) + $(field "$line" nil_results)))")
    batches+=("$(field "$line" avg_batch)")
    srv_cpu+=("$cpu")
    cli_cpu+=("$cli")
    other+=("$oth")
    printf '   run %d: %10.0f req/s  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  errors %s' \
      "$i" "${ops[-1]}" "${p50[-1]}" "${p99[-1]}" "${p999[-1]}" "${errs[-1]}"
    printf '  cpu%%: server %s client %s other %s  rss %s kB' "$cpu" "$cli" "$oth" "${rss[-1]}"
    [ "${batches[-1]}" != null ] && printf '  avg batch %s' "${batches[-1]}"
    printf '\n'
    [ -z "$AFTER_RUN" ] || "$AFTER_RUN" "$i"
  done
  RUN_ops=("${ops[@]}")
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

# ---- Redis, for scenarios e and f --------------------------------------------

# Installs Debian's redis-server and redis-tools when missing, before any
# measurement. Only as root; otherwise e and f run without Redis. (On a
# machine with systemd, the package also starts a system Redis on port 6379;
# this script never talks to it.)
# want LETTER: whether scenario LETTER is to run.
want() { [[ $SCENARIOS == *"$1"* ]]; }
[[ $SCENARIOS =~ ^[a-g]+$ ]] || { echo "run.sh: BENCH_SCENARIOS takes letters a-g" >&2; exit 2; }
{ want e || want f; } || REDIS=0

if [ "$REDIS" = 1 ] && ! { command -v redis-server && command -v redis-benchmark &&
  command -v redis-cli; } >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing redis-server and redis-tools with apt-get"
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-tools; }
    { apt_install || { apt-get update -q && apt_install; }; } >/dev/null ||
      { echo "run.sh: apt-get failed; Redis comparison skipped" >&2; REDIS=0; }
  else
    echo "run.sh: redis-server/redis-benchmark missing and not root; Redis comparison skipped" >&2
    REDIS=0
  fi
fi

# start_redis: our own redis-server, on a private socket only (no TCP port),
# no persistence, loaded with USERS keys "key:<12 digits>" (the names
# redis-benchmark -r USERS asks for) of REDIS_VALUE bytes.
start_redis() {
  redis-server --port 0 --unixsocket "$RSOCK" --unixsocketperm 700 --save '' \
    --appendonly no --daemonize no --dir "$DIR" --logfile "$DIR/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 100); do
    [ "$(redis-cli -s "$RSOCK" ping 2>/dev/null)" = PONG ] && break
    kill -0 "$REDIS_PID" 2>/dev/null || { cat "$DIR/redis.log" >&2; exit 1; }
    sleep 0.05
  done
  awk -v n="$USERS" -v len="$REDIS_VALUE" 'BEGIN {
    v = sprintf("%*s", len, ""); gsub(/ /, "v", v)
    for (i = 0; i < n; i++) {
      k = sprintf("key:%012d", i)
      printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, len, v
    } }' | redis-cli -s "$RSOCK" --pipe >/dev/null
  local n
  n=$(redis-cli -s "$RSOCK" dbsize)
  [ "$n" = "$USERS" ] || { echo "run.sh: Redis holds $n keys, not $USERS" >&2; exit 1; }
}

# redis_bench PIPELINE REQUESTS: one redis-benchmark GET run, 50 connections,
# random keys among the USERS loaded; prints "ops p50_us p99_us".
redis_bench() {
  local line
  line=$(timeout "$CALL_TIMEOUT" redis-benchmark -s "$RSOCK" -t get -c 50 -P "$1" -r "$USERS" \
    -n "$2" --csv | grep '^"GET"') || { echo "run.sh: redis-benchmark failed" >&2; exit 1; }
  # "GET","rps","avg_ms","min_ms","p50_ms","p95_ms","p99_ms","max_ms"
  awk -F'"' '{ printf "%s %.1f %.1f\n", $4, $10 * 1000, $14 * 1000 }' <<<"$line"
}

# redis_calibrate PIPELINE: a warmup run of about a second whose rate sets
# REDIS_N, the requests that make one run last about DURATION seconds.
redis_calibrate() {
  local ops
  read -r ops _ < <(redis_bench "$1" $(($1 == 1 ? 100000 : 500000)))
  REDIS_PIPE=$1
  REDIS_N=$(awk -v o="$ops" -v d="$DURATION" 'BEGIN { printf "%d", o * d }')
  R_ops=() R_p50=() R_p99=()
  printf '   redis warmup: %.0f req/s; %d requests per run\n' "$ops" "$REDIS_N"
}

# redis_run I: the Redis run that follows loadgen run I (load's AFTER_RUN).
redis_run() {
  local c0 c1 w0 w1 ops p50 p99 cpu
  c0=$(cpu_s "$REDIS_PID")
  w0=$(date +%s.%N)
  read -r ops p50 p99 < <(redis_bench "$REDIS_PIPE" "$REDIS_N")
  c1=$(cpu_s "$REDIS_PID")
  w1=$(date +%s.%N)
  cpu=$(awk -v a="$c0" -v b="$c1" -v w0="$w0" -v w1="$w1" \
    'BEGIN { printf "%.0f", (b - a) / (w1 - w0) * 100 }')
  R_ops+=("$ops")
  R_p50+=("$p50")
  R_p99+=("$p99")
  printf '   redis %d: %10.0f req/s  p50 %8.1f us  p99 %8.1f us  cpu%%: redis-server %s\n' "$1" \
    "$ops" "$p50" "$p99" "$cpu"
}

# redis_summary: Redis medians and the median over runs of noormd/Redis
# (run i of loadgen against run i of redis-benchmark); sets RMED_*.
redis_summary() {
  local ratios=() i
  for i in "${!R_ops[@]}"; do
    ratios+=("$(awk -v a="${RUN_ops[$i]}" -v b="${R_ops[$i]}" 'BEGIN { printf "%.3f", a / b }')")
  done
  RMED_ops=$(median "${R_ops[@]}")
  RMED_p50=$(median "${R_p50[@]}")
  RMED_p99=$(median "${R_p99[@]}")
  RMED_ratio=$(median "${ratios[@]}")
  printf '   redis median: %8.0f req/s  p50 %8.1f us  p99 %8.1f us;  noormd/redis per run: %s, median %s\n' \
    "$RMED_ops" "$RMED_p50" "$RMED_p99" "${ratios[*]}" "$RMED_ratio"
  local misses
  misses=$(redis-cli -s "$RSOCK" info stats | tr -d '\r' | sed -n 's/^keyspace_misses://p')
  [ "$misses" = 0 ] || echo "run.sh: Redis reported $misses keyspace misses" >&2
}

# ---- the run --------------------------------------------------------------------

echo "noormd benchmark: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 |
  sed 's/^ *//'), kernel $(uname -r)"
echo "scenarios $SCENARIOS; runs $RUNS x (${WARMUP} s warmup + ${DURATION} s measured); medians per figure"
echo "client (loadgen, 1 thread) and server share the cores"
echo

A_OPS=null B_P99=null C_IDLE=null D_FULL_OPS=null E_OPS=null F_OPS=null G_RUN=
if want a || want b; then
  start_server "$NOORMD" "$DIR/ping.db"
  if want a; then
    load "a  server.ping, 16 connections x 16 in flight (goal >= 1,000,000 req/s)" \
      --mix server.ping=100 --connections 16 --depth 16
    A_OPS=$MED_ops
  fi
  if want b; then
    load "b  server.ping, 64 connections x 1 in flight (goal p99 <= 1000 us)" \
      --mix server.ping=100 --connections 64 --depth 1
    B_OPS=$MED_ops
    B_P99=$MED_p99
  fi
  stop_server
fi

if want c; then
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
fi

if want d && [ -x "$NOORMD_TEST" ]; then
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
elif want d; then
  echo "== d  skipped: $NOORMD_TEST not built"
fi

# e, f and g work on USERS users and sessions, loaded once into auth.db.
if want e || want f || want g; then
  start_server "$NOORMD" "$DIR/auth.db"
  line=$(timeout "$LG_LOAD_TIMEOUT" "$LOADGEN" --socket "$SOCK" --json --load-users "$USERS" \
    --connections 0 --warmup 0 --duration 0) || { echo "run.sh: loading failed" >&2; exit 1; }
  echo "== loaded $USERS users and $USERS sessions in $(field "$line" load_s) s"
  # Past --checkpoint-idle-ms (1 s) without writes, the writer checkpoints
  # the WAL into the database: the reads below find no pages in the WAL.
  sleep 2
fi

# e, f: that server, against our Redis holding as many keys; each loadgen run
# is followed by a redis-benchmark run.
E_RATIO=null F_RATIO=null
if { want e || want f; } && [ "$REDIS" = 1 ]; then
  start_redis
  AFTER_RUN=redis_run
fi
if want e; then
  [ -z "$AFTER_RUN" ] || redis_calibrate 1
  load "e  auth.getSessionAndUser over $USERS sessions, 50 connections x 1 in flight" \
    --mix auth.getSessionAndUser --users "$USERS" --connections 50 --depth 1
  E_OPS=$MED_ops E_P50=$MED_p50 E_P99=$MED_p99
  if [ -n "$AFTER_RUN" ]; then
    redis_summary
    E_ROPS=$RMED_ops E_RP50=$RMED_p50 E_RP99=$RMED_p99 E_RATIO=$RMED_ratio
  fi
fi
if want f; then
  [ -z "$AFTER_RUN" ] || redis_calibrate 16
  load "f  auth.getSessionAndUser over $USERS sessions, 50 connections x 16 in flight" \
    --mix auth.getSessionAndUser --users "$USERS" --connections 50 --depth 16
  F_OPS=$MED_ops F_P50=$MED_p50 F_P99=$MED_p99
  if [ -n "$AFTER_RUN" ]; then
    redis_summary
    F_ROPS=$RMED_ops F_RP50=$RMED_p50 F_RP99=$RMED_p99 F_RATIO=$RMED_ratio
  fi
fi
AFTER_RUN=
stop_redis
stop_server

# g: each server starts from a copy of the loaded database (stopped cleanly,
# so the WAL is folded in), with --batch-max 1 as the one-row-per-commit
# baseline. Sessions go to random loaded users.
declare -A G_OPS G_P50 G_P99 G_BATCH
if want g; then
  G_RUN=1
  for sync in full normal; do
    for bm in default 1; do
      db=$DIR/create-$sync-$bm.db
      cp "$DIR/auth.db" "$db"
      [ ! -s "$DIR/auth.db-wal" ] || cp "$DIR/auth.db-wal" "$db-wal"
      flags=(--synchronous "$sync")
      [ "$bm" = default ] || flags+=(--batch-max "$bm")
      start_server "$NOORMD" "$db" "${flags[@]}"
      load "g  auth.createSession, 64 connections x 1 in flight, --synchronous $sync, --batch-max $bm" \
        --mix auth.createSession --users "$USERS" --connections 64 --depth 1 --server-stats
      stop_server
      rm -f "$db" "$db-wal" "$db-shm"
      G_OPS[$sync-$bm]=$MED_ops G_P50[$sync-$bm]=$MED_p50 G_P99[$sync-$bm]=$MED_p99
      G_BATCH[$sync-$bm]=$MED_batch
    done
  done
fi

verdict() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN {
  if (v == "null") print "n/a"; else if ((op == ">=" && v >= g) || (op == "<=" && v <= g))
  print "meets goal"; else print "MISSES goal" }'; }

echo
echo "summary (medians of $RUNS)"
if [ "$A_OPS" != null ]; then
  printf '  a  ping 16x16 throughput   %10.0f req/s   goal >= 1000000   %s\n' "$A_OPS" \
    "$(verdict "$A_OPS" 1000000 '>=')"
fi
if [ "$B_P99" != null ]; then
  printf '  b  ping 64x1 p99           %10.1f us      goal <= 1000      %s  (%.0f req/s)\n' \
    "$B_P99" "$(verdict "$B_P99" 1000 '<=')" "$B_OPS"
fi
if [ "$C_IDLE" != null ]; then
  printf '  c  RSS, %d idle conns     %10s kB      goal <= 32768     %s  (at start %s kB)\n' \
    "$IDLE" "$C_IDLE" "$(verdict "$C_IDLE" 32768 '<=')" "$C_START"
fi
if [ "$D_FULL_OPS" != null ]; then
  printf '  d  test.write 64x1 full    %10.0f w/s     p50 %.1f us  p99 %.1f us  avg batch %s\n' \
    "$D_FULL_OPS" "$D_FULL_P50" "$D_FULL_P99" "$D_FULL_BATCH"
  printf '  d  test.write 64x1 normal  %10.0f w/s     p50 %.1f us  p99 %.1f us  avg batch %s\n' \
    "$D_NORMAL_OPS" "$D_NORMAL_P50" "$D_NORMAL_P99" "$D_NORMAL_BATCH"
fi
if [ "$E_OPS" != null ]; then
  printf '  e  getSessionAndUser 50x1  %10.0f req/s   p50 %.1f us  p99 %.1f us\n' "$E_OPS" \
    "$E_P50" "$E_P99"
fi
if [ "$E_RATIO" != null ]; then
  printf '     redis GET 50x1          %10.0f req/s   p50 %.1f us  p99 %.1f us\n' "$E_ROPS" \
    "$E_RP50" "$E_RP99"
  printf '     noormd/redis            %10s         goal >= 1.00      %s\n' "$E_RATIO" \
    "$(verdict "$E_RATIO" 1 '>=')"
fi
if [ "$F_OPS" != null ]; then
  printf '  f  getSessionAndUser 50x16 %10.0f req/s   goal >= 300000    %s  (p50 %.1f us  p99 %.1f us)\n' \
    "$F_OPS" "$(verdict "$F_OPS" 300000 '>=')" "$F_P50" "$F_P99"
fi
if [ "$F_RATIO" != null ]; then
  printf '     redis GET 50x16 (-P 16) %10.0f req/s   p50 %.1f us  p99 %.1f us;  noormd/redis %s\n' \
    "$F_ROPS" "$F_RP50" "$F_RP99" "$F_RATIO"
fi
if [ -n "$G_RUN" ]; then
  for sync in full normal; do
    for bm in default 1; do
      printf '  g  createSession 64x1 %-6s batch-max %-7s %8.0f w/s  p50 %.1f us  p99 %.1f us  avg batch %s\n' \
        "$sync" "$bm" "${G_OPS[$sync-$bm]}" "${G_P50[$sync-$bm]}" "${G_P99[$sync-$bm]}" \
        "${G_BATCH[$sync-$bm]}"
    done
    ratio=$(awk -v a="${G_OPS[$sync-default]}" -v b="${G_OPS[$sync-1]}" \
      'BEGIN { printf "%.2f", a / b }')
    if [ "$sync" = full ]; then
      printf '     group commit / batch-max 1: %s x   goal >= 4         %s\n' "$ratio" \
        "$(verdict "$ratio" 4 '>=')"
    else
      printf '     group commit / batch-max 1: %s x\n' "$ratio"
    fi
  done
fi
