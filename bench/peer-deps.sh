#!/usr/bin/env bash
# Makes sure the PyTorch peer (shared/anchors/peer.sh) can run at its best before a benchmark
# compares against it: Debian's python3-torch, numpy, the data sets, and OpenBLAS as the
# system BLAS.
#
#   source bench/peer-deps.sh [extra Debian packages...]      (from a bench/*/run.sh)
#
# Why OpenBLAS: Debian's python3-torch does its matrix products through libblas.so.3 and
# only recommends OpenBLAS, so an install without recommends leaves the reference BLAS
# behind it: ~5 GFLOP/s instead of ~150 on two cores, and a PyTorch 10-30 times slower
# than it should be. A comparison against that would be against a badly configured peer,
# so this refuses to go on when libblas.so.3 is not OpenBLAS.
#
# As root the missing packages are installed; otherwise they are listed and the
# benchmark stops.

peer_deps_main() {
    local pkgs=(python3-torch python3-numpy libopenblas0-pthread "$@")
    local missing=() p status
    for p in "${pkgs[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "peer-deps: missing (install as root): ${missing[*]}" >&2
            return 1
        fi
        echo "peer-deps: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
            --no-install-recommends "${missing[@]}" >/dev/null ||
            { echo "peer-deps: apt-get install failed" >&2; return 1; }
    fi
    # The BLAS that libblas.so.3 resolves to, through Debian's alternatives.
    local blas=
    local lib
    lib="/usr/lib/$(uname -m)-linux-gnu/libblas.so.3"
    [ -e "$lib" ] && blas=$(readlink -f "$lib")
    case $blas in
    *openblas*) ;;
    *)
        echo "peer-deps: libblas.so.3 is '${blas:-missing}', not OpenBLAS: PyTorch would run" \
            "far below its best (update-alternatives --config libblas.so.3-$(uname -m)-linux-gnu)" >&2
        return 1
        ;;
    esac
}

peer_deps_main "$@" || exit 1
