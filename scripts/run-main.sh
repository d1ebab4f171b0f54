#!/usr/bin/env bash
# Builds tiny-dl (release) and trains the flagship example, an MLP on
# Fashion-MNIST, saving the model under build/model.
#
# Usage: scripts/run-main.sh [more example arguments, e.g. --epochs 2]
#   TDL_FMNIST_DIR=DIR   where the IDX files are (default: Debian's dataset-fashion-mnist)
#   TDL_BUILD_DIR=DIR    build folder (default: build)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash "$root/scripts/setup-deps.sh"

build=${TDL_BUILD_DIR:-build}
data=${TDL_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}

if [ -f "$build/build.ninja" ]; then
    meson setup --reconfigure "$build" --buildtype=release -Dexamples=true >/dev/null
else
    meson setup "$build" --buildtype=release -Dexamples=true
fi
meson compile -C "$build"

exe="$build/examples/fmnist_mlp/fmnist_mlp"
if [ ! -x "$exe" ]; then
    echo "run-main: $exe was not built" >&2
    exit 1
fi
mkdir -p "$build/model"
exec "$exe" --data "$data" --out "$build/model" "$@"
