#!/usr/bin/env bash
# Checks that a release noormd carries the hardening CMakeLists.txt asks for,
# by reading the ELF file (no need to run it):
#   PIE                  ELF header type DYN
#   -z now               BIND_NOW in the dynamic section (FLAGS or FLAGS_1 NOW)
#   -z relro             a GNU_RELRO program header
#   -fstack-protector    __stack_chk_fail imported
#   -D_FORTIFY_SOURCE=2  at least one fortified __*_chk function imported
# Usage: tests/check_hardening.sh path/to/noormd. Exits 1 listing every check
# that failed. Registered as a ctest test for hardened builds only.
set -euo pipefail
export LC_ALL=C

bin=${1:?usage: check_hardening.sh BINARY}
if [ ! -f "$bin" ]; then
  echo "check_hardening: no such file: $bin" >&2
  exit 2
fi
command -v readelf >/dev/null || { echo "check_hardening: readelf not found" >&2; exit 2; }

failed=0
pass() { echo "ok    $1"; }
fail() { echo "FAIL  $1" >&2; failed=1; }

header=$(readelf -h -W "$bin")
dynamic=$(readelf -d -W "$bin")
segments=$(readelf -l -W "$bin")
# Undefined dynamic symbols are the imports; strip @GLIBC_x.y versions.
imports=$(readelf --dyn-syms -W "$bin" | awk '$7 == "UND" { sub(/@.*/, "", $8); print $8 }')

if grep -Eq '^ *Type: +DYN' <<<"$header"; then
  pass "PIE (ELF type DYN)"
else
  fail "not PIE: $(grep -E '^ *Type:' <<<"$header" | sed 's/^ *//')"
fi

if grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*\bNOW\b|\(BIND_NOW\)' <<<"$dynamic"; then
  pass "BIND_NOW (-z now)"
else
  fail "no BIND_NOW in the dynamic section (link with -z now)"
fi

if grep -Eq '^ *GNU_RELRO ' <<<"$segments"; then
  pass "GNU_RELRO (-z relro)"
else
  fail "no GNU_RELRO program header (link with -z relro)"
fi

if grep -qx '__stack_chk_fail' <<<"$imports"; then
  pass "__stack_chk_fail imported (-fstack-protector-strong)"
else
  fail "__stack_chk_fail not imported (compile with -fstack-protector-strong)"
fi

chk=$(grep -E '^__[a-z0-9_]+_chk$' <<<"$imports" | grep -vx '__stack_chk_fail' || true)
if [ -n "$chk" ]; then
  pass "fortified calls imported (-D_FORTIFY_SOURCE): $(tr '\n' ' ' <<<"$chk")"
else
  fail "no __*_chk function imported (compile with -D_FORTIFY_SOURCE=2 and optimisation)"
fi

if [ "$failed" -ne 0 ]; then
  echo "check_hardening: $bin is missing hardening (see FAIL lines)" >&2
  exit 1
fi
echo "check_hardening: $bin is hardened"
