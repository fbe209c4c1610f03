#!/usr/bin/env bash
# Installs the host tools a target needs, from the host's own apt sources:
#   host-deps.sh          build and tests (`make build`, `make test`)
#   host-deps.sh source   also building Asterisk from source (`make test-source`)
#   host-deps.sh deb      also building the Debian package (`make deb`)
set -euo pipefail
packages=(libclang-dev mmdebstrap baresip-core dpkg-dev xz-utils make gcc pkg-config ca-certificates openssl libxml2-utils)
for group in "$@"; do
    case $group in
    # What ./configure --with-pjproject-bundled needs for a default menuselect with res_pjsip.
    source) packages+=(g++ bzip2 patch libedit-dev libjansson-dev libsrtp2-dev libcurl4-openssl-dev libxml2-dev
                       libxslt1-dev libssl-dev uuid-dev libsqlite3-dev libncurses-dev zlib1g-dev) ;;
    deb) packages+=(dpkg-dev binutils) ;;
    *) echo "[deps] unknown group '$group'" >&2; exit 1 ;;
    esac
done
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || { echo "[deps] need root to install: ${missing[*]}" >&2; exit 1; }
    echo "[deps] installing ${missing[*]}" >&2
    apt-get update -q >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi
command -v cargo >/dev/null || { echo "[deps] error: Rust (cargo) is required; install the stable toolchain" >&2; exit 1; }
