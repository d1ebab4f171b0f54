#!/usr/bin/env bash
# Cross-builds tiny-dl for aarch64 with the NEON kernels and runs the kernel
# tests (tests/kernels/test_*.c) under qemu-aarch64: the `neon` run of
# scripts/test.sh, runnable on its own.
#
#   1. meson setup BUILDDIR --cross-file tests/cross/aarch64.ini -Dsimd=neon
#      -Dwerror=true --buildtype=release (no tests/examples/docs/zlib), ninja
#   2. tests/cross/check_isa.c, linked against BUILDDIR/lib/libtiny-dl.a and
#      run under qemu: the library must say simd=neon
#   3. every tests/kernels/test_*.c, compiled with aarch64-linux-gnu-gcc
#      against tests/cross/cmocka.h (a stand-in: no arm64 libcmocka here),
#      statically linked against the library, run under qemu-aarch64
#
# Each test program counts as one test. The last line printed is
# "neon: N passed, N failed"; BUILDDIR/cross-neon-results.txt holds "N N"
# (passed failed) once the tests have run.
#
# Usage: scripts/cross-neon.sh [BUILDDIR]        (default: <repo>/build-neon)
# Exit status: 0 all passed; 1 a test failed; 2 the build (or the ISA check)
# failed; 77 the cross compiler, the arm64 libc or qemu is missing (SKIP).
#
# Environment:
#   TDL_CI_JOBS=N             compile jobs (default: nproc)
#   TDL_CROSS_TIMEOUT=S       time limit of each test program (default: 300 s)
#   TDL_CROSS_CC=...          the cross compiler (default: aarch64-linux-gnu-gcc)
#   TDL_QEMU=...              qemu-user for aarch64 (default: qemu-aarch64, else
#                             qemu-aarch64-static)
# Packages (Debian 12): gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# (scripts/setup-deps.sh installs them as root).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

builddir=${1:-$root/build-neon}
jobs=${TDL_CI_JOBS:-$(nproc 2>/dev/null || echo 2)}
test_timeout=${TDL_CROSS_TIMEOUT:-300}
cross_cc=${TDL_CROSS_CC:-aarch64-linux-gnu-gcc}
sysroot=/usr/aarch64-linux-gnu
cross_file=$root/tests/cross/aarch64.ini
t_start=$SECONDS

say() { echo "cross-neon: $*"; }

# ---- tools ----------------------------------------------------------------
qemu=${TDL_QEMU:-}
if [ -z "$qemu" ]; then
    if command -v qemu-aarch64 >/dev/null 2>&1; then
        qemu="qemu-aarch64"
    elif command -v qemu-aarch64-static >/dev/null 2>&1; then
        qemu="qemu-aarch64-static"
    fi
fi
missing=()
command -v "$cross_cc" >/dev/null 2>&1 || missing+=("$cross_cc (gcc-aarch64-linux-gnu)")
[ -f "$sysroot/lib/libc.a" ] || missing+=("$sysroot/lib/libc.a (libc6-dev-arm64-cross)")
{ [ -n "$qemu" ] && command -v "$qemu" >/dev/null 2>&1; } || missing+=("qemu-aarch64 (qemu-user)")
for tool in meson ninja; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "SKIP: missing ${missing[*]}"
    say "install with: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" \
        "(or run scripts/setup-deps.sh as root)"
    exit 77
fi
run_aarch64() { "$qemu" -L "$sysroot" "$@"; }

# ---- 1. the library ---------------------------------------------------------
mkdir -p "$builddir"
builddir=$(cd "$builddir" && pwd)
results=$builddir/cross-neon-results.txt
rm -f "$results"

cross_files=(--cross-file "$cross_file")
if [ "$qemu" != qemu-aarch64 ]; then
    # Another qemu than the one the cross file names: override its exe_wrapper.
    printf "[binaries]\nexe_wrapper = ['%s', '-L', '%s']\n" "$qemu" "$sysroot" \
        >"$builddir/exe-wrapper.ini"
    cross_files+=(--cross-file "$builddir/exe-wrapper.ini")
fi
setup_args=("${cross_files[@]}" -Dsimd=neon -Dtests=false -Dexamples=false -Dbench=false
            -Ddocs=disabled -Dzlib=disabled -Dwerror=true --buildtype=release)
wipe=()
[ -f "$builddir/meson-private/coredata.dat" ] && wipe=(--wipe)

build_failed() {
    say "$1"
    say "build failed after $((SECONDS - t_start)) s"
    exit 2
}

say "meson setup $builddir ${setup_args[*]}"
meson setup "${wipe[@]}" "$builddir" "$root" "${setup_args[@]}" ||
    build_failed "meson setup failed"
say "ninja -C $builddir"
ninja -C "$builddir" -j "$jobs" || build_failed "ninja failed"
lib=$builddir/lib/libtiny-dl.a
[ -f "$lib" ] || build_failed "$lib was not built"
say "library built in $((SECONDS - t_start)) s"

# ---- 2. and 3. the programs -----------------------------------------------
bindir=$builddir/cross-tests
mkdir -p "$bindir"
# The flags meson gives the tests (c_std=c11, release, -D_GNU_SOURCE), with
# tests/cross first on the include path so that its cmocka.h is the one used.
cflags=(-std=c11 -O2 -DNDEBUG -D_GNU_SOURCE -pthread -Wall -Wextra -Werror
        -I "$root/tests/cross" -I "$root/include" -I "$builddir/include"
        -I "$root/lib" -I "$builddir/lib" -I "$root/tests/common")
ldflags=(-static -pthread "$lib" -lm -lpthread)

compile() { # compile OUT SRC...
    local out=$1
    shift
    "$cross_cc" "${cflags[@]}" -o "$out" "$@" "${ldflags[@]}"
}

say "ISA check (tests/cross/check_isa.c)"
compile "$bindir/check_isa" "$root/tests/cross/check_isa.c" ||
    build_failed "tests/cross/check_isa.c did not compile"
run_aarch64 "$bindir/check_isa" || build_failed "the library is not a working NEON build"

pass=0
fail=0
failed=()
for src in "$root"/tests/kernels/test_*.c; do
    name=$(basename "$src" .c)
    exe=$bindir/$name
    log=$bindir/$name.log
    t0=$SECONDS
    echo
    say "=== $name ==="
    # Linked with tests/common/test_util.c, as meson links every test.
    if ! compile "$exe" "$src" "$root/tests/common/test_util.c"; then
        say "$name: FAIL (did not compile)"
        fail=$((fail + 1))
        failed+=("$name (did not compile)")
        continue
    fi
    rc=0
    timeout -k 10 "$test_timeout" "$qemu" -L "$sysroot" "$exe" >"$log" 2>&1 || rc=$?
    cat "$log"
    if [ "$rc" -eq 0 ]; then
        say "$name: OK in $((SECONDS - t0)) s"
        pass=$((pass + 1))
    else
        why="exit status $rc"
        [ "$rc" -eq 124 ] && why="timed out after $test_timeout s"
        say "$name: FAIL ($why) in $((SECONDS - t0)) s"
        fail=$((fail + 1))
        failed+=("$name ($why; log: $log)")
    fi
done

echo "$pass $fail" >"$results"
echo
say "total time $((SECONDS - t_start)) s"
for f in "${failed[@]+"${failed[@]}"}"; do
    say "FAILED: $f"
done
echo "neon: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
