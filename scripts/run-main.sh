#!/usr/bin/env bash
# Builds tiny-dl (release) and runs the flagship example: the Fashion-MNIST
# CNN (examples/fmnist_cnn: about 7-10 minutes of training on 2 cores), which
# evaluates, saves the model and its training curves under build/model, reloads
# it and checks identical predictions.
#
# Usage: scripts/run-main.sh [more example arguments, e.g. --epochs 2]
#   TDL_MAIN=mlp         run the MLP example instead (a few seconds)
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

example=fmnist_${TDL_MAIN:-cnn}
exe="$build/examples/$example/$example"
if [ ! -x "$exe" ]; then
    echo "run-main: $exe was not built" >&2
    exit 1
fi
mkdir -p "$build/model"
exec "$exe" --data "$data" --out "$build/model" "$@"
