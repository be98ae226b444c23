#!/usr/bin/env bash
# Runs the ctest suites of the normal and the ASan/UBSan build, the
# integration tests of the ThreadSanitizer build, then the TypeScript
# client's tests against the normal build's noormd-test, and prints one
# closing line: "N passed, N failed".
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
tsan=${3:-build-tsan}
export FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0
failed=0
status=0

# run_suite DIR LABEL [CTEST_ARGS...]: ctest runs under the command prefix
# in the array `wrap` (empty for the normal and ASan builds).
wrap=()
run_suite() {
  local dir=$1 label=$2 log
  shift 2
  log=$(mktemp)
  echo "== $label ($dir)"
  "${wrap[@]}" ctest --test-dir "$dir" -j2 --output-on-failure --timeout 600 "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    local f t
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + t - f))
    failed=$((failed + f))
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
  fi
  [ "$rc" -eq 0 ] || status=1
  rm -f "$log"
}

# adapter-ts: npm ci only when node_modules is missing or older than the
# lock file; counts come from node's "ℹ pass N" / "ℹ fail N" / "ℹ cancelled N"
# summary (a test file that times out is cancelled: it counts as failed).
run_node() {
  local bin log rc p f c
  bin="$(cd "$build" && pwd)/noormd-test"
  log=$(mktemp)
  echo "== @noormme/client (adapter-ts, node --test)"
  (
    set -e
    cd "$(dirname "$0")/../adapter-ts"
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund
    fi
    npm run build
    NOORMD_BIN="$bin" npm test
  ) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  p=$(grep -E '^ℹ pass [0-9]+$' "$log" | tail -n 1 | awk '{print $3}')
  f=$(grep -E '^ℹ fail [0-9]+$' "$log" | tail -n 1 | awk '{print $3}')
  c=$(grep -E '^ℹ cancelled [0-9]+$' "$log" | tail -n 1 | awk '{print $3}')
  f=$((${f:-0} + ${c:-0}))
  if [ -n "$p" ]; then
    passed=$((passed + p))
    failed=$((failed + ${f:-0}))
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
  fi
  [ "$rc" -eq 0 ] || status=1
  rm -f "$log"
}

run_suite "$build" "unit + integration"
run_suite "$asan" "unit + integration + fuzz under AddressSanitizer and UBSan"

# ThreadSanitizer: the integration tests start the build's own noormd-test,
# so server and client both run under TSan. halt_on_error makes the first
# report end the process (exit 66): the test fails on the exit status, and
# testsrv also fails it for a report found in the server's log. Options the
# caller sets in TSAN_OPTIONS come last and win.
run_tsan() {
  local probe
  wrap=(env "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}")
  # On kernels with high vm.mmap_rnd_bits, TSan stops at start with
  # "unexpected memory mapping"; with address randomisation off (setarch -R,
  # inherited by every child) it runs.
  if [ -x "$tsan/noormd" ] && ! probe=$("${wrap[@]}" "$tsan/noormd" --version 2>&1) &&
    grep -q 'unexpected memory mapping' <<<"$probe"; then
    echo "== TSan needs address randomisation off here: running under setarch -R"
    wrap+=(setarch "$(uname -m)" -R)
    # A sandbox may forbid that personality (Docker's default seccomp
    # profile does): then say so once instead of failing every test.
    if ! probe=$("${wrap[@]}" "$tsan/noormd" --version 2>&1); then
      echo "$probe"
      echo "== TSan cannot run here: lower vm.mmap_rnd_bits (sysctl vm.mmap_rnd_bits=28)" \
        "or allow personality(ADDR_NO_RANDOMIZE); counted as one failure"
      failed=$((failed + 1))
      status=1
      wrap=()
      return
    fi
  fi
  run_suite "$tsan" "integration under ThreadSanitizer" -R 'integration/'
  wrap=()
}
run_tsan

run_node
echo "${passed} passed, ${failed} failed"
exit $status
