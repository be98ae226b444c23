#!/usr/bin/env bash
# run.sh - the adapter benchmark: getSessionAndUser through NoormmeAdapter
# (to a noormd it starts itself) against @auth/kysely-adapter,
# @auth/drizzle-adapter and a raw better-sqlite3 statement, in one Node.js
# process (run.mjs). Not part of `make test`.
#
# It builds what it needs: adapter-ts (npm ci when node_modules is missing,
# then npm run build), noormd when NOORMD is not given (cmake into BUILD), and
# this directory's packages with `npm ci` (better-sqlite3 is compiled from
# source: that needs python3, make and g++, and Node's headers, taken from
# npm_config_nodedir, default /usr where Debian's nodejs puts them).
#
#   usage: bench/adapter/run.sh [BUILD]   (default BUILD: build; noormd is BUILD/noormd)
#   env:   NOORMD (a noormd binary to use instead of BUILD/noormd), BENCH_USERS (100000),
#          BENCH_RUNS (3), BENCH_DURATION (5), BENCH_WARMUP (1), BENCH_JSON (a file
#          for the results), and the other BENCH_* knobs run.mjs lists
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

# Settings noormd would take from the environment do not leak into the run.
unset "${!NOORMME_@}"

export npm_config_nodedir=${npm_config_nodedir:-/usr}
# better-sqlite3's install script tries a prebuilt binary first; there is
# none to fetch here, so go straight to node-gyp.
export npm_config_build_from_source=true

for tool in node npm python3 make g++; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed (better-sqlite3 builds from source)" >&2; exit 1; }
done
[ -f "$npm_config_nodedir/include/node/node_api.h" ] ||
  echo "run.sh: no Node headers under $npm_config_nodedir/include/node; set npm_config_nodedir" >&2

if [ -z "${NOORMD:-}" ]; then
  if [ ! -x "$BUILD/noormd" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target noormd >/dev/null
  fi
  NOORMD=$BUILD/noormd
fi
NOORMD=$(realpath "$NOORMD")
[ -x "$NOORMD" ] || { echo "run.sh: $NOORMD is not an executable" >&2; exit 1; }
export NOORMD

(
  cd "$ROOT/adapter-ts"
  [ -d node_modules ] || npm ci --no-audit --no-fund
  npm run build >/dev/null
)
(
  cd "$HERE"
  # Installed again only when the lock file changed since the last install.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
    [ ! -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; then
    npm ci --no-audit --no-fund
  fi
)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r); $(uptime)"
# A hard bound on top of run.mjs's own.
exec timeout 1800 node --expose-gc "$HERE/run.mjs"
