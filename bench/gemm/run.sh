#!/bin/sh
# Builds (if needed) and runs the SGEMM benchmark against OpenBLAS.
# usage: bench/gemm/run.sh [build-dir] [bench_gemm options]
# OpenBLAS reads OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE to override its CPU
# detection; they are unset so that it picks its own best kernels.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build-bench}
[ $# -gt 0 ] && shift
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$src" -Dbench=true -Dbuildtype=release >/dev/null
elif ! grep -q 'bench/gemm/bench_gemm:' "$build/build.ninja"; then
    meson configure "$build" -Dbench=true >/dev/null
fi
ninja -C "$build" bench/gemm/bench_gemm >/dev/null
exec "$build/bench/gemm/bench_gemm" "$@"
