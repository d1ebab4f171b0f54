#!/usr/bin/env bash
# Builds tests/consumers/subproject with tiny-dl vendored as a subproject
# (a copy of the working tree, as `git subtree`/a wrap would give), then runs it.
#   usage: run.sh REPO_ROOT
set -euo pipefail
root=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/meson.build" "$here/../consumer.c" "$work/"
mkdir -p "$work/subprojects/tiny-dl"
# the library's sources only: no build folders, no VCS data
(cd "$root" && tar --exclude='./build*' --exclude='./.git' --exclude='./bindings' -cf - .) |
    tar -xf - -C "$work/subprojects/tiny-dl"
meson setup "$work/build" "$work" --force-fallback-for=tiny-dl -Dtiny-dl:tests=false \
    -Dtiny-dl:examples=false -Dtiny-dl:docs=disabled >"$work/setup.log" 2>&1 ||
    { cat "$work/setup.log"; exit 1; }
ninja -C "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/build/consumer"
