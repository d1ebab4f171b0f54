#!/usr/bin/env bash
# Installs the Debian packages that building and testing tiny-dl need, when
# they are missing. As root it runs apt-get; otherwise it only lists what is
# missing. Never fails the caller because of a package that cannot be had:
# the test suite skips what it cannot run.
#
# Usage: scripts/setup-deps.sh      (TDL_SKIP_DEPS=1 to do nothing)
set -euo pipefail

if [ "${TDL_SKIP_DEPS:-0}" = 1 ]; then
    exit 0
fi

pkgs=(meson ninja-build gcc g++ clang pkg-config libcmocka-dev zlib1g-dev
      abigail-tools doxygen dataset-fashion-mnist binutils python3 python3-numpy
      python3-setuptools python3-pytest fortunes
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
# The last three are for the `neon` run of scripts/test.sh (scripts/cross-neon.sh):
# the aarch64 cross compiler, its libc (a Recommends, so not pulled in with
# --no-install-recommends) and qemu-user, which provides /usr/bin/qemu-aarch64.

# The Go and Rust bindings' tests (suite 'ffi'): Debian's Go 1.19, and Debian's
# cargo only when no cargo is on the machine already (e.g. from rustup).
pkgs+=(golang-go)
if ! command -v cargo >/dev/null 2>&1 && [ ! -x /root/.cargo/bin/cargo ]; then
    pkgs+=(cargo)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup-deps: no dpkg here; install by hand: ${pkgs[*]}" >&2
    exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-deps: all ${#pkgs[@]} packages present"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "setup-deps: missing (run as root to install): ${missing[*]}" >&2
    exit 0
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update || echo "setup-deps: apt-get update failed; trying with the current lists" >&2
apt_install() {
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@"
}
if ! apt_install "${missing[@]}"; then
    # One unavailable package must not keep the others out.
    failed=()
    for p in "${missing[@]}"; do
        apt_install "$p" || failed+=("$p")
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "setup-deps: could not install: ${failed[*]}" >&2
    fi
fi
exit 0
