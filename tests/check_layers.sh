#!/usr/bin/env bash
# Checks that server/layers.h does what CMakeLists.txt says: a layer that may
# not use SQLite, libuv or libsodium cannot even include its header, and the
# one layer allowed to (NOORMD_ALLOW_<LIB>) can. Compiles one-line files with
# the same forced include the layer libraries get.
# Usage: tests/check_layers.sh CC path/to/server/layers.h
set -uo pipefail
cc=${1:?usage: check_layers.sh CC LAYERS_H}
guard=${2:?usage: check_layers.sh CC LAYERS_H}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failed=0
for pair in sqlite3.h:SQLITE uv.h:UV sodium.h:SODIUM; do
  header=${pair%%:*}
  lib=${pair##*:}
  printf '#include <%s>\nint layer_probe(void);\nint layer_probe(void) { return 0; }\n' "$header" >"$dir/probe.c"
  if "$cc" -fsyntax-only -include "$guard" "$dir/probe.c" 2>"$dir/err"; then
    echo "check_layers: <$header> compiled in a layer that may not use it" >&2
    failed=1
  elif ! grep -q "poisoned" "$dir/err"; then
    echo "check_layers: <$header> failed for another reason than the poison:" >&2
    cat "$dir/err" >&2
    failed=1
  fi
  if ! "$cc" -fsyntax-only -include "$guard" -DNOORMD_ALLOW_$lib=1 "$dir/probe.c" 2>"$dir/err"; then
    echo "check_layers: <$header> does not compile even with NOORMD_ALLOW_$lib:" >&2
    cat "$dir/err" >&2
    failed=1
  fi
done
[ "$failed" -eq 0 ] && echo "check_layers: sqlite3.h, uv.h and sodium.h refused outside their layer"
exit "$failed"
