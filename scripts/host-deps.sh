#!/usr/bin/env bash
# Installs the host tools the build and tests need, from the host's own apt sources.
set -euo pipefail
packages=(libclang-dev mmdebstrap baresip-core dpkg-dev xz-utils make gcc pkg-config ca-certificates)
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
