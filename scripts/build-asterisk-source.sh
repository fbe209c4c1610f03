#!/usr/bin/env bash
# Builds Asterisk 22 from its upstream source the way an administrator does (./configure
# --with-pjproject-bundled, default menuselect, make, make install into a prefix), once, cached in
#   $SRC_CACHE/asterisk     the built source tree                          (ASTERISK_SRC)
#   $SRC_CACHE/prefix       `make install` + `make install-headers` result (sbin/asterisk,
#                           lib/asterisk/modules, var/lib/asterisk, include = ASTERISK_INCLUDE_DIR)
#   $SRC_CACHE/VERSION      the Debian source package version the upstream tarballs came from
# SRC_CACHE is MULTIREG_SOURCE_CACHE, default $MULTIREG_CACHE/source.
#
# The upstream tarballs are taken from Debian's source package of the same Asterisk version the
# embedded runtime uses (the orig tarball and its orig-Xpjproject component), fetched from the host's
# Debian mirror with a private apt configuration and checked against the suite's signed Sources.
# No other download happens: pjproject is handed to the bundled build through its externals cache,
# and the menuselect items that download (core sounds, music on hold) or that Debian's orig tarball
# lacks (codec_ilbc) are disabled; none of them changes the build-option checksum. The sounds those
# items would have fetched come from Debian's packages of the same files (install_sounds).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/debian-apt.sh"

CACHE=${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}
OUT=${MULTIREG_SOURCE_CACHE:-$CACHE/source}
SUITE=${ASTERISK_SUITE:-forky}
JOBS=${JOBS:-$(nproc)}
# Bump when this script's output changes so old builds are redone.
RECIPE=1

log() { printf '[asterisk-source] %s\n' "$*" >&2; }
die() { printf '[asterisk-source] error: %s\n' "$*" >&2; exit 1; }

# The same Debian version as the embedded runtime (so both runtimes run the same Asterisk), unless
# ASTERISK_SOURCE_VERSION names another; without either, the suite's current one.
VERSION=${ASTERISK_SOURCE_VERSION:-$(cat "$CACHE/VERSION" 2>/dev/null || true)}
stamp_wanted="recipe=$RECIPE suite=$SUITE version=${VERSION:-current}"
SOUNDS=(asterisk-core-sounds-en-gsm asterisk-moh-opsound-wav)

# What default menuselect downloads at `make install` (CORE-SOUNDS-EN-GSM, MOH-OPSOUND-WAV), taken
# from Debian's packages of the same upstream files instead (apt checks them against the signed
# Packages index): en prompts into sounds/en, music on hold into moh/.
install_sounds() {
    local data=$OUT/prefix/var/lib/asterisk dir=$OUT/work/sounds
    rm -rf "$dir"; mkdir -p "$dir"
    [[ ${#APT_OPTS[@]} -gt 0 ]] || {
        debian_private_apt "$OUT/work/apt" "$(debian_find_mirror)" "$SUITE"
        apt-get "${APT_OPTS[@]}" update -q >&2
    }
    log "installing ${SOUNDS[*]} into $data"
    (cd "$dir" && apt-get "${APT_OPTS[@]}" download -q "${SOUNDS[@]}" >&2)
    for deb in "$dir"/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
    mkdir -p "$data/sounds/en" "$data/moh"
    cp -a "$dir"/root/usr/share/asterisk/sounds/en_US_f_Allison/. "$data/sounds/en/"
    cp -a "$dir"/root/usr/share/asterisk/moh/. "$data/moh/"
    rm -rf "$dir" "$OUT/work/apt"
    echo "${SOUNDS[*]}" >"$OUT/SOUNDS_READY"
}

APT_OPTS=()
if [[ -f $OUT/READY && "$(cat "$OUT/READY")" == "$stamp_wanted" && -x $OUT/prefix/sbin/asterisk ]]; then
    [[ -f $OUT/SOUNDS_READY && "$(cat "$OUT/SOUNDS_READY")" == "${SOUNDS[*]}" ]] || install_sounds
    exit 0
fi

bash "$HERE/host-deps.sh" source

# Everything is built in place (the configured tree holds absolute paths); READY is written last.
if [[ -d $OUT && -n $(ls -A "$OUT") && ! -e $OUT/work && ! -e $OUT/READY ]]; then
    die "$OUT holds something else; set MULTIREG_SOURCE_CACHE to an empty or new folder"
fi
rm -rf "${OUT:?}"
T=$OUT/work
mkdir -p "$T/dl" "$OUT/externals"
MIRROR=$(debian_find_mirror)
debian_private_apt "$T/apt" "$MIRROR" "$SUITE"
log "Debian mirror from host apt sources: $MIRROR, suite $SUITE"
apt-get "${APT_OPTS[@]}" update -q >&2
if [[ -z $VERSION ]]; then
    VERSION=$(apt-cache "${APT_OPTS[@]}" showsrc --only-source asterisk | awk '/^Version:/ {print $2; exit}')
    stamp_wanted="recipe=$RECIPE suite=$SUITE version=current"
fi
[[ -n $VERSION ]] || die "no asterisk source package in $SUITE"

log "fetching the asterisk $VERSION source package"
(cd "$T/dl" && apt-get "${APT_OPTS[@]}" source --download-only -q "asterisk=$VERSION" >&2)
debian_verify_source "$T/dl" asterisk "$VERSION" || die "source package files do not match the signed Sources index"
log "all files match the SHA-256 sums of the signed $SUITE Sources index"
orig=$(ls "$T"/dl/asterisk_*.orig.tar.* | head -n1)
pjorig=$(ls "$T"/dl/asterisk_*.orig-Xpjproject.tar.* | head -n1)
[[ -f $orig && -f $pjorig ]] || die "source package lacks the asterisk or pjproject tarball"

SRC=$OUT/asterisk
mkdir -p "$SRC"
tar -xf "$orig" -C "$SRC" --strip-components=1
UPSTREAM=$(cat "$SRC/.version" 2>/dev/null || true)
[[ $UPSTREAM == 22.* ]] || die "the orig tarball holds Asterisk '$UPSTREAM', not 22"
PJVER=$(sed -n 's/^PJPROJECT_VERSION=//p' "$SRC/third-party/versions.mak")
log "Asterisk $UPSTREAM with bundled pjproject $PJVER"

# The pjproject tarball the bundled build expects, rebuilt from the source package's component.
mkdir -p "$T/pj"
tar -xf "$pjorig" -C "$T/pj"
pjtree=$T/pj
if [[ ! -d $pjtree/pjlib && $(ls "$pjtree" | wc -l) == 1 ]]; then pjtree=$pjtree/$(ls "$pjtree"); fi
[[ -d $pjtree/pjlib ]] || die "no pjlib in the orig-Xpjproject tarball"
# Debian's rules drop this prebuilt object (it is not in the source package) from the Makefile too.
sed -i 's/ *bdimad_dev\.o//' "$pjtree/pjmedia/build/Makefile"
mv "$pjtree" "$T/pjproject-$PJVER"
tar -C "$T" -cjf "$OUT/externals/pjproject-$PJVER.tar.bz2" "pjproject-$PJVER"
rm -rf "$T/pj" "$T/pjproject-$PJVER"
(cd "$OUT/externals" && md5sum "pjproject-$PJVER.tar.bz2") >"$SRC/third-party/pjproject/pjproject-$PJVER.tar.bz2.md5"

PREFIX=$OUT/prefix
cd "$SRC"
log "configure --with-pjproject-bundled (log: $T/configure.log)"
./configure --prefix="$PREFIX" --with-pjproject-bundled --with-externals-cache="$OUT/externals" \
    >"$T/configure.log" 2>&1 || die "configure failed, see $T/configure.log"
make menuselect.makeopts >"$T/menuselect.log" 2>&1 || die "menuselect failed, see $T/menuselect.log"
menuselect/menuselect --disable codec_ilbc \
    --disable-category MENUSELECT_CORE_SOUNDS --disable-category MENUSELECT_MOH \
    --disable-category MENUSELECT_EXTRA_SOUNDS menuselect.makeopts >>"$T/menuselect.log" 2>&1 \
    || die "menuselect failed, see $T/menuselect.log"
log "make -j$JOBS (log: $T/make.log)"
make -j"$JOBS" >"$T/make.log" 2>&1 || die "make failed, see $T/make.log"
rm -rf "$PREFIX"
log "make install install-headers into $PREFIX"
make install install-headers >"$T/install.log" 2>&1 || die "make install failed, see $T/install.log"
grep -q '^#define AST_BUILDOPT_SUM ' include/asterisk/buildopts.h || die "no AST_BUILDOPT_SUM in buildopts.h"

echo "$VERSION" >"$OUT/VERSION"
rm -rf "$T/dl"
install_sounds
echo "$stamp_wanted" >"$OUT/READY"
log "ready: $OUT (Asterisk $UPSTREAM from Debian's $VERSION source package)"
