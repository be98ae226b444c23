#!/usr/bin/env bash
# tests/e2e/quickstart.sh - runs docs/quickstart.md from nothing, by hand
# (not part of `make test`):
#
#   tests/e2e/quickstart.sh            # QS_KEEP=1 keeps the scratch directory
#
# It copies this working tree (the files git tracks or would track) to a
# scratch directory, turns the page's code blocks into bash with
# quickstart-steps.mjs and runs them there in order: `make run` builds and
# starts noormd from that copy, the app is created beside it, and `npm start`
# serves it on a free port. Headless Chromium (quickstart-browser.mjs, with
# playwright-core from npm) does the sign-in and sign-out of steps 5 and 6,
# and the step-6 check must show the user with one 30-day session, then none.
# On exit it stops the app and noormd (SIGTERM to their process groups) and
# deletes the scratch directory.
#
# Needs: Node.js 20.16+, npm with access to the registry, git, setsid,
# Chromium (apt-get install -y chromium; CHROMIUM=/path overrides).
set -eo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/tests/e2e
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PLAYWRIGHT_CORE=playwright-core@1.65.1
QS_EMAIL=you@example.com

die() { echo "quickstart.sh: $*" >&2; exit 1; }
command -v node >/dev/null || die "node is missing"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=3)||(a===20&&b>=16)||a===21?0:1)' ||
  die "Node.js $(node --version) is too old: 20.16+ or 22.3+"
command -v git >/dev/null || die "git is missing"
command -v setsid >/dev/null || die "setsid (util-linux) is missing"
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM: apt-get install -y chromium, or set CHROMIUM"

# Only what the page sets: no inherited noormd settings.
for v in $(compgen -e | grep '^NOORMME_' || true); do unset "$v"; done
export NEXT_TELEMETRY_DISABLED=1
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export PORT

T=$(mktemp -d /tmp/noormme-qs.XXXXXX)
QS_OUT=$T/out
QS_TOOLS=$T/tools
mkdir -p "$QS_OUT" "$QS_TOOLS" "$T/noormme"
START=$SECONDS

# Stops a process group started by qs_bg: SIGTERM, then up to 10 s, then SIGKILL.
qs_stop() {
  local f=$QS_OUT/$1.pgid g i
  [ -f "$f" ] || return 0
  g=$(cat "$f")
  kill -TERM -- "-$g" 2>/dev/null || return 0
  for i in $(seq 100); do
    kill -0 -- "-$g" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "quickstart.sh: $1 did not stop within 10 s; SIGKILL" >&2
  kill -KILL -- "-$g" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  qs_stop app
  qs_stop noormd
  if [ "$rc" != 0 ]; then
    for f in noormd app; do
      [ -f "$QS_OUT/$f.log" ] && { echo "--- last lines of $f.log"; tail -n 25 "$QS_OUT/$f.log"; }
    done
    echo "quickstart.sh: FAILED after $((SECONDS - START)) s" >&2
  fi
  if [ -n "$QS_KEEP" ]; then echo "quickstart.sh: kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Called by the generated steps.
qs_step() { printf '[%4d s] %s\n' "$((SECONDS - START))" "$1"; }

qs_bg() {   # qs_bg NAME COMMAND...: start in its own process group, wait until ready
  local name=$1 pattern limit i pid
  shift
  : >"$QS_OUT/$name.log"
  setsid "$@" >>"$QS_OUT/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$QS_OUT/$name.pgid"
  case $name in
    noormd) pattern='event=listening' limit=900 ;;
    *) pattern='Ready in' limit=120 ;;
  esac
  for ((i = 0; i < limit * 5; i++)); do
    grep -q "$pattern" "$QS_OUT/$name.log" && { qs_step "$name is up: $(grep -m1 "$pattern" "$QS_OUT/$name.log")"; return 0; }
    kill -0 "$pid" 2>/dev/null || die "$name exited before '$pattern'"
    sleep 0.2
  done
  die "$name did not print '$pattern' within $limit s"
}

qs_browser() {
  qs_step "browser: $1"
  (cd "$QS_TOOLS" && QS_BASE="http://localhost:$PORT" QS_APP_LOG="$QS_OUT/app.log" QS_STATE="$QS_OUT/state.json" \
    QS_EMAIL=$QS_EMAIL CHROMIUM=$CHROMIUM node quickstart-browser.mjs "$1")
}

qs_step "copying the working tree of $REPO to $T/noormme"
(cd "$REPO" && git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf -) | tar -C "$T/noormme" -xf -
(cd "$REPO" && node tests/e2e/quickstart-steps.mjs docs/quickstart.md) >"$QS_OUT/steps.sh"

qs_step "installing $PLAYWRIGHT_CORE for the browser"
cp "$HERE/quickstart-browser.mjs" "$QS_TOOLS/"
(cd "$QS_TOOLS" && echo '{"private":true}' >package.json && npm install --no-audit --no-fund --loglevel=error "$PLAYWRIGHT_CORE" >/dev/null)

qs_step "running the steps of docs/quickstart.md in $T (app on port $PORT)"
cd "$T"
# shellcheck disable=SC1091
source "$QS_OUT/steps.sh"
cd "$T"

qs_step "checking the step-6 output"
signed_in=$QS_OUT/check-signed-in.txt
signed_out=$QS_OUT/check-after-signout.txt
grep -q "email: '$QS_EMAIL'" "$signed_in" || die "step 6 did not print the user $QS_EMAIL"
grep -Eq "emailVerified: [0-9]{4}-" "$signed_in" || die "step 6: emailVerified is not set"
[ "$(grep -c 'expires: ' "$signed_in")" = 1 ] || die "step 6: expected exactly one session"
expires=$(grep -o 'expires: [0-9TZ:.-]*' "$signed_in" | cut -d' ' -f2)
node -e 'const d=(Date.parse(process.argv[1])-Date.now())/864e5; process.exit(d>29.9&&d<=30?0:1)' "$expires" ||
  die "step 6: the session expires at $expires, not in 30 days"
echo "  ok: noormd has $QS_EMAIL with one session, expiring $expires"
grep -q '} \[\]$' "$signed_out" || die "after sign-out, step 6 still lists sessions: $(cat "$signed_out")"
echo "  ok: after sign-out noormd lists no session"

qs_stop app
qs_stop noormd
grep -q 'event=exit status=0' "$QS_OUT/noormd.log" || die "noormd did not stop cleanly"
[ ! -e "$T/noormme/var/noormme.sock" ] || die "noormd left its socket behind"
echo "  ok: noormd stopped cleanly (event=exit status=0)"
echo "quickstart.sh: passed in $((SECONDS - START)) s"
