#!/usr/bin/env bash
# Installs tiny-dl from BUILD_DIR into a temporary prefix, then builds a C and a
# C++ consumer against it with pkg-config, linked dynamically and statically,
# and runs all four.
#   usage: run.sh REPO_ROOT BUILD_DIR
set -euo pipefail
root=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
meson install -C "$build" --destdir "$work/dest" --no-rebuild >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; exit 1; }
pc=$(dirname "$(find "$work/dest" -name tiny-dl.pc | head -n 1)")
prefix=$(sed -n 's/^prefix=//p' "$pc/tiny-dl.pc")
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$work/dest
libdir=$(pkg-config --variable=libdir tiny-dl)
cflags=$(pkg-config --cflags tiny-dl)
libs=$(pkg-config --libs tiny-dl)
static_libs=$(pkg-config --static --libs-only-other --libs-only-l tiny-dl | sed 's/-ltiny-dl//')
src=$root/tests/consumers
cc=${CC:-cc}
cxx=${CXX:-c++}
$cc -std=c99 -Wall -Wextra -Werror $cflags "$src/consumer.c" -o "$work/c-dynamic" $libs
$cxx -std=c++11 -Wall -Wextra -Werror $cflags -x c++ "$src/consumer.c" -x none -o "$work/cxx-dynamic" $libs
$cc -std=c99 -Wall -Wextra -Werror $cflags "$src/consumer.c" -o "$work/c-static" \
    "$libdir/libtiny-dl.a" $static_libs
$cxx -std=c++11 -Wall -Wextra -Werror $cflags -x c++ "$src/consumer.c" -x none -o "$work/cxx-static" \
    "$libdir/libtiny-dl.a" $static_libs
for kind in c-dynamic cxx-dynamic; do
    LD_LIBRARY_PATH=$libdir "$work/$kind"
done
for kind in c-static cxx-static; do
    if ldd "$work/$kind" | grep -q libtiny-dl; then
        echo "$kind links libtiny-dl dynamically" >&2
        exit 1
    fi
    "$work/$kind"
done
echo "pkg-config consumers: 4 programs built and ran (prefix $prefix)"
