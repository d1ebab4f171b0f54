#!/usr/bin/env bash
# Regenerates the ABI baseline that the 'abi_baseline' test compares against:
#   abi/libtiny-dl.so.1.abi  abidw output (symbols and types of the exported functions)
#   abi/api.txt              prototypes and constant values of the public headers
# Run it when the API is released, or after *adding* functions/constants (never to
# make a removal or a signature change pass: that needs a new SONAME, see docs/abi.md).
#
# Usage: abi/update.sh [BUILDDIR]   (default: a fresh build in build-abi/, removed afterwards)
# Needs: meson, ninja, a C compiler, gcc, abigail-tools (abidw), python3.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
command -v abidw >/dev/null || { echo "abidw not found (Debian: apt-get install abigail-tools)" >&2; exit 1; }

# The default build folder is inside the source tree, so that the source paths
# recorded in the baseline (relative to the build folder) are the same everywhere.
if [ $# -ge 1 ]; then
    build=$1
    cleanup=
else
    build=$root/build-abi
    rm -rf "$build"
    cleanup=$build
fi
trap '[ -n "$cleanup" ] && rm -rf "$cleanup"' EXIT

# Debug info is what gives abidw the types; the SIMD choice does not touch the
# exported interface, so simd=none keeps the baseline independent of the machine.
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=debugoptimized -Dsimd=none \
        -Dtests=false -Dexamples=false -Dbench=false -Ddocs=disabled >/dev/null
fi
meson compile -C "$build" >/dev/null

so=$(ls "$build"/lib/libtiny-dl.so.*.*.* 2>/dev/null | head -n1)
[ -n "$so" ] || { echo "no libtiny-dl.so.X.Y.Z in $build/lib" >&2; exit 1; }

"$py" "$root/tests/abi/check_abi.py" --update \
    --lib "$so" --include "$root/include" --build-include "$build/include" \
    --baseline-dir "$root/abi" --cc "${CC:-cc}"
echo "Review with: git diff -- abi/   (only additions are expected)"
