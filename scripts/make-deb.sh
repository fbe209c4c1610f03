#!/usr/bin/env bash
# `make deb`: a Debian package of the module for Debian's asterisk 22 package, built against the
# asterisk-dev headers of the embedded runtime (MULTIREG_CACHE) and depending on exactly that
# asterisk version (Asterisk refuses modules built with other build options, and the ABI may
# change between versions). Contents:
#   /usr/lib/<multiarch>/asterisk/modules/res_pjsip_multireg.so
#   /usr/share/asterisk/documentation/thirdparty/res_pjsip_multireg-en_US.xml
#   /etc/asterisk/pjsip_multireg.conf   (sample policies; a conffile, so local changes are kept)
#   /usr/share/doc/<package>/           README.md, copyright
# Usage: make-deb.sh MODULE.so OUTDIR   prints the path of the .deb
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
module=$1 outdir=$2
CACHE=${MULTIREG_CACHE:-$HOME/.cache/res_pjsip_multireg}
PACKAGE=asterisk-res-pjsip-multireg
die() { printf '[deb] error: %s\n' "$*" >&2; exit 1; }

[[ -f $module ]] || die "no module at $module (make build)"
asterisk_version=$(cat "$CACHE/VERSION") || die "no $CACHE/VERSION (make asterisk)"
upstream=${asterisk_version#*:}; upstream=${upstream%%[+~-]*}
# The module must have been built against this package's headers (build.rs records them).
built_for=$(grep -a -o 'res_pjsip_multireg built for: [^;]*;' "$module" | head -n1)
sum=$(sed -n 's/.*#define AST_BUILDOPT_SUM "\(.*\)"/\1/p' "$CACHE/include/asterisk/buildopts.h")
[[ $built_for == *"buildopt_sum=$sum version=$upstream "* ]] \
    || die "$module was not built against asterisk-dev $asterisk_version ($built_for); run make build without ASTERISK_SRC/ASTERISK_INCLUDE_DIR"

crate_version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
version="$crate_version-1+asterisk$upstream"
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P=$T/pkg
install -D -m 0644 "$module" "$P/usr/lib/$multiarch/asterisk/modules/res_pjsip_multireg.so"
strip --strip-unneeded "$P/usr/lib/$multiarch/asterisk/modules/res_pjsip_multireg.so"
install -D -m 0644 docs/res_pjsip_multireg-en_US.xml "$P/usr/share/asterisk/documentation/thirdparty/res_pjsip_multireg-en_US.xml"
install -D -m 0644 asterisk-conf/pjsip_multireg.conf "$P/etc/asterisk/pjsip_multireg.conf"
install -D -m 0644 README.md "$P/usr/share/doc/$PACKAGE/README.md"
cat >"$P/usr/share/doc/$PACKAGE/copyright" <<TXT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: res_pjsip_multireg
Files: *
License: $(sed -n 's/^license *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
TXT

# Shared-library dependencies of the module itself (libc, libgcc), as Debian computes them.
mkdir -p "$T/shlibs/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PACKAGE" "$PACKAGE" >"$T/shlibs/debian/control"
shlibs=$(cd "$T/shlibs" && dpkg-shlibdeps -O -e "$P/usr/lib/$multiarch/asterisk/modules/res_pjsip_multireg.so" 2>/dev/null \
    | sed -n 's/^shlibs:Depends=//p')

mkdir -p "$P/DEBIAN"
echo /etc/asterisk/pjsip_multireg.conf >"$P/DEBIAN/conffiles"
cat >"$P/DEBIAN/control" <<CONTROL
Package: $PACKAGE
Version: $version
Architecture: $arch
Maintainer: ${DEBFULLNAME:-res_pjsip_multireg} <${DEBEMAIL:-root@localhost}>
Depends: asterisk (= $asterisk_version)${shlibs:+, $shlibs}
Section: comm
Priority: optional
Installed-Size: $(du -sk "$P" | cut -f1)
Description: Asterisk 22 module: one extension on many devices (res_pjsip_multireg)
 Per-extension limits on registered devices by client type (IP phone, web, desktop,
 mobile), an optional secondary registration with ring modes, and AMI/CLI views.
 Built for asterisk $asterisk_version
 (build-option checksum $sum); Asterisk refuses it in
 any other build, hence the exact dependency.
 .
 Enable it with '#include pjsip_multireg.conf' in /etc/asterisk/pjsip.conf, then
 'module load res_pjsip_multireg.so'.
CONTROL
# Asterisk runs as user asterisk and Debian's own configuration files are asterisk:asterisk 0640;
# the sample gets the same on first installation (later changes by the administrator are kept).
cat >"$P/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -z "$2" ] && getent passwd asterisk >/dev/null; then
    chown asterisk:asterisk /etc/asterisk/pjsip_multireg.conf
    chmod 0640 /etc/asterisk/pjsip_multireg.conf
fi
SH
chmod 0755 "$P/DEBIAN/postinst"
mkdir -p "$outdir"
deb=$outdir/${PACKAGE}_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$P" "$deb" >&2
echo "$deb"
