#!/usr/bin/env bash
# The CI matrix of tiny-dl, runnable anywhere: `bash scripts/test.sh`.
#
#   release    --buildtype=release -Dwerror=true                       build + test
#   asan       --buildtype=debug -Db_sanitize=address,undefined -Dwerror=true   build + test
#   simd-none  --buildtype=release -Dsimd=none -Dwerror=true           build + test
#   clang      CC=clang --buildtype=release -Dwerror=true              build + test
#   neon       scripts/cross-neon.sh: aarch64 cross build (-Dsimd=neon -Dwerror=true,
#              release) with gcc-aarch64-linux-gnu, the kernel tests run under
#              qemu-aarch64; each tests/kernels/test_*.c program counts as one test
#              (all counted as skipped when the cross compiler or qemu is missing)
#
# Each build is made from scratch in <repo>/build-ci-<name> (kept afterwards for
# the logs). The last line printed is "N passed, N failed" (", N skipped" when
# some were skipped), summed over every run; a build that fails counts as one
# failure. Exit status: 0 only if every build succeeded and no test failed.
#
# Environment:
#   TDL_CI_RUNS="release asan simd-none clang neon"   the runs to do, in order
#   TDL_CI_JOBS=N         parallel compile jobs and test processes (default: nproc)
#   TDL_CI_DIR=DIR        where the build-ci-* folders go (default: the repository)
#   TDL_CI_TEST_ARGS=...  more arguments for every `meson test` (e.g. --no-suite slow)
#   TDL_SKIP_DEPS=1       do not call scripts/setup-deps.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash "$root/scripts/setup-deps.sh"

runs=${TDL_CI_RUNS:-release asan simd-none clang neon}
jobs=${TDL_CI_JOBS:-$(nproc 2>/dev/null || echo 2)}
outdir=${TDL_CI_DIR:-$root}
py=/usr/bin/python3
[ -x "$py" ] || py=python3

total_pass=0
total_fail=0
total_skip=0
problems=()
t_start=$SECONDS

# Counts the results of <builddir>/meson-logs/testlog.json: prints "pass fail skip".
count_results() {
    "$py" - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
try:
    with open(sys.argv[1]) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result", "")
            if r in ("OK", "EXPECTEDFAIL"):
                p += 1
            elif r == "SKIP":
                s += 1
            else:  # FAIL, TIMEOUT, UNEXPECTEDPASS, ERROR, INTERRUPT
                f += 1
except FileNotFoundError:
    pass
print(p, f, s)
PY
}

# run NAME TEST(yes|no) ENV-ASSIGNMENTS... -- MESON-SETUP-ARGS...
run() {
    local name=$1 do_test=$2
    shift 2
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    shift
    local dir="$outdir/build-ci-$name"
    local t0=$SECONDS
    echo
    echo "=== [$name] meson setup $* ==="
    rm -rf "$dir"
    if ! env "${envs[@]}" meson setup "$dir" "$root" "$@"; then
        problems+=("$name: meson setup failed")
        total_fail=$((total_fail + 1))
        return
    fi
    echo "=== [$name] build ==="
    if ! env "${envs[@]}" meson compile -C "$dir" -j "$jobs"; then
        problems+=("$name: build failed")
        total_fail=$((total_fail + 1))
        return
    fi
    if [ "$do_test" != yes ]; then
        echo "=== [$name] built in $((SECONDS - t0)) s (tests not run) ==="
        return
    fi
    echo "=== [$name] test ==="
    local trc=0
    env "${envs[@]}" meson test -C "$dir" --print-errorlogs --num-processes "$jobs" \
        --timeout-multiplier "$timeout_mult" ${TDL_CI_TEST_ARGS:-} || trc=$?
    local p f s
    read -r p f s < <(count_results "$dir")
    if [ "$trc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # meson test failed without a failing test (e.g. a test could not be built).
        problems+=("$name: meson test exited with status $trc")
        f=1
    fi
    [ "$f" -gt 0 ] && problems+=("$name: $f test(s) failed (logs: $dir/meson-logs/testlog.txt)")
    echo "=== [$name] $p passed, $f failed, $s skipped in $((SECONDS - t0)) s ==="
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))
}

# The neon run: scripts/cross-neon.sh builds in build-ci-neon and writes
# "passed failed" to cross-neon-results.txt there once its tests have run;
# exit status 77 means the cross compiler, the arm64 libc or qemu is missing.
run_neon() {
    local dir="$outdir/build-ci-neon" t0=$SECONDS rc=0 p=0 f=0
    local ntests
    ntests=$(find "$root/tests/kernels" -maxdepth 1 -name 'test_*.c' | wc -l)
    echo
    echo "=== [neon] scripts/cross-neon.sh $dir ==="
    rm -rf "$dir"
    TDL_CI_JOBS=$jobs bash "$root/scripts/cross-neon.sh" "$dir" || rc=$?
    if [ "$rc" -eq 77 ]; then
        echo "=== [neon] SKIP: aarch64 cross compiler or qemu-aarch64 missing" \
            "(scripts/setup-deps.sh installs them as root); $ntests test(s) skipped ==="
        total_skip=$((total_skip + ntests))
        return
    fi
    if [ ! -f "$dir/cross-neon-results.txt" ]; then
        problems+=("neon: cross build failed (exit status $rc)")
        total_fail=$((total_fail + 1))
        echo "=== [neon] build failed in $((SECONDS - t0)) s ==="
        return
    fi
    read -r p f <"$dir/cross-neon-results.txt"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        problems+=("neon: scripts/cross-neon.sh exited with status $rc")
        f=1
    fi
    [ "$f" -gt 0 ] && problems+=("neon: $f test(s) failed (logs: $dir/cross-tests/*.log)")
    echo "=== [neon] $p passed, $f failed, 0 skipped in $((SECONDS - t0)) s ==="
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
}

timeout_mult=1
sanitizer_env=(ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1
               UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)

for r in $runs; do
    case $r in
        release)
            run release yes -- --buildtype=release -Dwerror=true ;;
        asan)
            # b_lundef=false: the sanitizer runtime resolves the shared library's symbols.
            timeout_mult=4 run asan yes "${sanitizer_env[@]}" -- --buildtype=debug \
                -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true ;;
        simd-none)
            run simd-none yes -- --buildtype=release -Dsimd=none -Dwerror=true ;;
        clang)
            if command -v clang >/dev/null 2>&1; then
                run clang yes CC=clang -- --buildtype=release -Dwerror=true
            else
                echo "=== [clang] skipped: clang not installed ==="
            fi ;;
        neon)
            run_neon ;;
        *)
            echo "unknown run '$r' (known: release asan simd-none clang neon)" >&2
            problems+=("$r: unknown run")
            total_fail=$((total_fail + 1)) ;;
    esac
done

echo
echo "=== total time $((SECONDS - t_start)) s ==="
for p in "${problems[@]+"${problems[@]}"}"; do
    echo "FAILED: $p"
done
summary="$total_pass passed, $total_fail failed"
[ "$total_skip" -gt 0 ] && summary="$summary, $total_skip skipped"
echo "$summary"
[ "$total_fail" -eq 0 ]
