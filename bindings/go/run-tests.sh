#!/usr/bin/env bash
# Runs `go test` of the Go binding against a libtiny-dl build tree.
#
#   run-tests.sh GO PCDIR LIBDIR OUTDIR [INCLUDEDIR]
#
#   GO          the go program (Debian's golang-go: Go 1.19 or newer)
#   PCDIR       folder holding a tiny-dl.pc for the build tree (see tiny-dl.pc.in)
#   LIBDIR      folder holding libtiny-dl.so (also on LD_LIBRARY_PATH)
#   OUTDIR      where GOCACHE, GOPATH and temporary files go, so that neither the
#               source tree nor $HOME is written
#   INCLUDEDIR  the public headers the coverage test parses; default: the source tree's
#
# No network: GOPROXY=off, and the module has no dependency.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
go=$1
pcdir=$2
libdir=$3
outdir=$4
incdir=${5:-$here/../../include/tiny-dl}

mkdir -p "$outdir/gocache" "$outdir/gopath" "$outdir/tmp"
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOCACHE="$outdir/gocache" GOPATH="$outdir/gopath" GOTMPDIR="$outdir/tmp"
export GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod GO111MODULE=on GOTOOLCHAIN=local GOENV=off
export CGO_ENABLED=1
export TINYDL_INCLUDE_DIR="$incdir"
cd "$here"
"$go" version
"$go" vet ./...
exec "$go" test -count=1 -v ./...
