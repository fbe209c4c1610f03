#!/usr/bin/env bash
# Prepares the embedded Asterisk 22 LTS used by `make run` and the tests:
#   $CACHE/root         runtime root from Debian testing (asterisk, sounds, voicemail)
#   $CACHE/include      asterisk-dev headers from the same package set
#   $CACHE/pjproject    pjproject headers configured as Asterisk bundles them
#   $CACHE/VERSION      the Asterisk package version all three come from
# The host's apt configuration is never touched: a private sources list and state directory are used.
# The mirror comes from the host's own apt sources (override with DEBIAN_MIRROR).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/debian-apt.sh"

CACHE=${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}
SUITE=${ASTERISK_SUITE:-forky}
SERIES=${ASTERISK_SERIES:-22}
PACKAGES=asterisk,asterisk-dev,asterisk-modules,asterisk-core-sounds-en-gsm
# Bump when this script's output layout changes so old caches are rebuilt.
RECIPE=3

log() { printf '[prepare-asterisk] %s\n' "$*" >&2; }
die() { printf '[prepare-asterisk] error: %s\n' "$*" >&2; exit 1; }

stamp_wanted="recipe=$RECIPE suite=$SUITE series=$SERIES packages=$PACKAGES"
cache_ready() { [[ -f $CACHE/READY && "$(cat "$CACHE/READY")" == "$stamp_wanted" && -x $CACHE/root/usr/sbin/asterisk ]]; }
# MULTIREG_REFRESH=1 asks Debian for its current Asterisk and rebuilds only if the version changed.
if cache_ready && [[ ${MULTIREG_REFRESH:-0} != 1 ]]; then
    exit 0
fi

[[ $(id -u) == 0 ]] || die "building the Asterisk runtime root needs root (mmdebstrap, chroot)"

need_host_packages=()
command -v mmdebstrap >/dev/null || need_host_packages+=(mmdebstrap)
command -v dpkg-source >/dev/null || need_host_packages+=(dpkg-dev)
command -v xz >/dev/null || need_host_packages+=(xz-utils)
command -v make >/dev/null || need_host_packages+=(make)
command -v cc >/dev/null || need_host_packages+=(gcc)
if ((${#need_host_packages[@]})); then
    log "installing host tools: ${need_host_packages[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_host_packages[@]}" >&2
fi

MIRROR=$(debian_find_mirror) || die "no Debian mirror in the host's apt sources; set DEBIAN_MIRROR"
log "Debian mirror from host apt sources: $MIRROR, suite $SUITE"

rm -rf "$CACHE.tmp"
mkdir -p "$CACHE.tmp/src"
T=$CACHE.tmp
KEYRING=$DEBIAN_KEYRING
debian_private_apt "$T/apt" "$MIRROR" "$SUITE"

log "reading the $SUITE package index"
apt-get "${APT_OPTS[@]}" update -q >&2
if cache_ready; then
    candidate=$(apt-cache "${APT_OPTS[@]}" policy asterisk | awk '/Candidate:/ {print $2}')
    if [[ -n $candidate && $candidate == "$(cat "$CACHE/VERSION")" ]]; then
        log "Asterisk $candidate is current; nothing to rebuild"
        rm -rf "$T"
        exit 0
    fi
    log "Debian now has Asterisk $candidate (cached: $(cat "$CACHE/VERSION")): rebuilding"
fi

log "building the runtime root (mmdebstrap)"
mmdebstrap --variant=apt --include="$PACKAGES" \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    "$SUITE" "$T/root" "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >&2

VERSION=$(chroot "$T/root" dpkg-query -W -f='${Version}' asterisk)
DEV_VERSION=$(chroot "$T/root" dpkg-query -W -f='${Version}' asterisk-dev)
[[ $VERSION == "$DEV_VERSION" ]] || die "asterisk $VERSION and asterisk-dev $DEV_VERSION differ"
UPSTREAM=${VERSION#*:}; UPSTREAM=${UPSTREAM%%-*}; UPSTREAM=${UPSTREAM%%~*}; UPSTREAM=${UPSTREAM%%+*}
[[ $UPSTREAM == "$SERIES".* ]] || die "Debian $SUITE has Asterisk $UPSTREAM, not the $SERIES LTS series"
log "Asterisk package version $VERSION"

mkdir -p "$T/include"
cp -a "$T/root/usr/include/asterisk.h" "$T/root/usr/include/asterisk" "$T/include/"

log "fetching the asterisk source package $VERSION for pjproject headers"
(cd "$T/src" && apt-get "${APT_OPTS[@]}" source --download-only -q "asterisk=$VERSION" >&2)
debian_verify_source "$T/src" asterisk "$VERSION" || die "source package files do not match the signed Sources index"
orig=$(ls "$T"/src/asterisk_*.orig.tar.* | head -n1)
pjorig=$(ls "$T"/src/asterisk_*.orig-*pjproject*.tar.* | head -n1)
[[ -f $orig && -f $pjorig ]] || die "source package lacks the asterisk or pjproject tarball"

mkdir -p "$T/src/ast" "$T/pjproject"
tar -xf "$orig" -C "$T/src/ast" --strip-components=1 --wildcards \
    '*/third-party/pjproject/patches/*' '*/third-party/pjproject/Makefile.rules'
tar -xf "$pjorig" -C "$T/pjproject"
# The pjproject tarball may hold one top folder; use it as the tree root.
if [[ ! -d $T/pjproject/pjlib && $(ls "$T/pjproject" | wc -l) == 1 ]]; then
    inner=$(ls "$T/pjproject"); mv "$T/pjproject/$inner" "$T/pjproject.inner"; rmdir "$T/pjproject"; mv "$T/pjproject.inner" "$T/pjproject"
fi
PJ=$T/pjproject
PATCHES=$T/src/ast/third-party/pjproject/patches
cp "$PATCHES/config_site.h" "$PATCHES/asterisk_malloc_debug.h" "$PJ/pjlib/include/pj/"
cp "$PATCHES/user.mak" "$PJ/"
# Configure options exactly as Asterisk's bundled build uses them.
CONF_OPTS=$(sed -n '/PJPROJECT_CONFIG_OPTS *=/,/^$/p' "$T/src/ast/third-party/pjproject/Makefile.rules" \
    | sed -e 's/.*PJPROJECT_CONFIG_OPTS *=//' -e 's/\$(PJPROJECT_CONFIGURE_OPTS)//' -e 's/\\$//' | tr '\n' ' ')
# Non-developer Linux builds add these (the ifneq/ifeq blocks that follow in Makefile.rules).
CONF_OPTS="$CONF_OPTS --disable-resample --disable-g711-codec --enable-epoll"
log "configuring pjproject headers: $CONF_OPTS"
(cd "$PJ" && chmod +x aconfigure configure 2>/dev/null; ./aconfigure $CONF_OPTS >"$T/pjproject-configure.log" 2>&1) \
    || die "pjproject configure failed, see $T/pjproject-configure.log"
[[ -f $PJ/pjlib/include/pj/compat/os_auto.h ]] || die "pjproject configure wrote no os_auto.h"

echo "$VERSION" >"$T/VERSION"
rm -rf "$T/src" "$T/apt/archives"
echo "$stamp_wanted" >"$T/READY"
# A source build (make asterisk-source) kept in the cache survives the swap.
if [[ -d $CACHE/source && ! -e $T/source ]]; then mv "$CACHE/source" "$T/source"; fi
rm -rf "$CACHE"
mv "$T" "$CACHE"
log "ready: $CACHE (Asterisk $VERSION)"
