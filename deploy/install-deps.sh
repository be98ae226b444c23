#!/usr/bin/env bash
# Installs the Debian packages noormd needs to build, test and run, if any
# are missing. Used by `make run`, `make test` and CI; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  libuv1-dev libmsgpack-dev libsodium-dev libsqlite3-dev libcmocka-dev
  python3 procps
)
# The TypeScript client (adapter-ts) needs node and npm. A machine that has
# node keeps it (Debian 12's own nodejs is 18, older than the 20.16 the
# client needs, so a newer node installed some other way must not be replaced).
if ! command -v node >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "install-deps: these Debian packages are missing and I am not root: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Say plainly when node is too old for the client (noormd itself does not
# need node, so this warns instead of stopping `make run`).
node_ok() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number);
           process.exit(a > 22 || (a === 22 && b >= 3) || (a === 20 && b >= 16) ? 0 : 1)'
}
if command -v node >/dev/null && ! node_ok; then
  echo "install-deps: warning: Node.js $(node --version) is too old for @noormme/client" \
       "(needs 20.16+ or 22.3+; Debian 12's own package is 18): its tests will fail." >&2
fi
