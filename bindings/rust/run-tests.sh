#!/usr/bin/env bash
# Runs `cargo test` of the Rust bindings against a libtiny-dl build tree.
#
#   run-tests.sh CARGO LIBDIR OUTDIR [INCLUDEDIR]
#
#   CARGO       the cargo program (rustup's or Debian's)
#   LIBDIR      folder holding libtiny-dl.so (linked with -Wl,-rpath to it)
#   OUTDIR      where cargo's output goes (CARGO_TARGET_DIR=OUTDIR/target), so
#               that the source tree stays clean
#   INCLUDEDIR  the public headers (include/tiny-dl) that tiny-dl-sys's coverage
#               test parses; default: the source tree's
#
# No network: --offline, and the workspace has no dependency. --locked keeps the
# committed Cargo.lock (lock file version 3, which cargo 0.66 / Rust 1.63 reads).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cargo=$1
libdir=$2
outdir=$3
incdir=${4:-$here/../../include/tiny-dl}

export CARGO_TARGET_DIR="$outdir/target"
export TINYDL_LIB_DIR="$libdir"
export TINYDL_INCLUDE_DIR="$incdir"
export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# Debian's cargo runs the rustc on PATH; pair it with Debian's rustc when both exist
if [ -z "${RUSTC:-}" ] && [ "$(readlink -f "$(command -v "$cargo")")" = /usr/bin/cargo ] && [ -x /usr/bin/rustc ]; then
    export RUSTC=/usr/bin/rustc
    [ -x /usr/bin/rustdoc ] && export RUSTDOC=/usr/bin/rustdoc
fi
cd "$here"
"$cargo" --version
exec "$cargo" test --offline --locked --workspace
