#!/usr/bin/env bash
# Installs the built module into an existing Asterisk 22:
#   module  -> ASTERISK_MODDIR, or the running Asterisk's module directory
#   docs    -> <data dir>/documentation/thirdparty/ (read at start-up: core show application ...)
#   samples -> <etc>/pjsip_multireg.conf, only if no such file exists (nothing is overwritten)
# Before copying, the running Asterisk (its CLI: ASTERISK_CLI, default `asterisk`) is compared with
# the headers the module was built against: Asterisk refuses a module whose build-option checksum
# differs ("was not compiled with the same compile-time options"), so install.sh refuses it first
# and says which headers to build with. A different version is refused too.
set -euo pipefail
module=${1:-target/release/libres_pjsip_multireg.so}
[[ -f $module ]] || { echo "[install] build first: make build" >&2; exit 1; }
read -r -a cli <<<"${ASTERISK_CLI:-asterisk}"
settings=$("${cli[@]}" -rx 'core show settings' 2>/dev/null || true)
setting() { sed -n "s/^ *$1: *//p" <<<"$settings" | head -n1; }
moddir=${ASTERISK_MODDIR:-$(setting 'Module directory')}
datadir=${ASTERISK_DATADIR:-$(setting 'Data directory')}
etcdir=${ASTERISK_ETCDIR:-$(setting 'Configuration directory')}
[[ -n $moddir ]] || { echo "[install] Asterisk is not running; set ASTERISK_MODDIR (e.g. /usr/lib/x86_64-linux-gnu/asterisk/modules)" >&2; exit 1; }

# What the module was built for: a line build.rs puts into it (src/build_info.rs).
built_for=$(grep -a -o 'res_pjsip_multireg built for: [^;]*;' "$module" | head -n1 || true)
[[ -n $built_for ]] || { echo "[install] $module carries no build information; rebuild it (make build)" >&2; exit 1; }
built_sum=$(sed -n 's/.*buildopt_sum=\([0-9a-f]*\).*/\1/p' <<<"$built_for")
built_version=$(sed -n 's/.* version=\([^ ]*\) .*/\1/p' <<<"$built_for")
built_opts=$(sed -n 's/.* buildopts=\(.*\);$/\1/p' <<<"$built_for")

if [[ -n $settings ]]; then
    running_version=$(setting 'Version')
    # Debian's package says 22.10.1+dfsg+~cs6.17.60671434-1: compare the upstream part.
    running_upstream=${running_version%%[+~-]*}
    running_opts=$(setting 'ABI related Build Options')
    [[ $running_opts == "(none)" ]] && running_opts=
    # Asterisk's checksum is the MD5 of this list plus a newline (build_tools/make_buildopts_h).
    running_sum=$(printf '%s\n' "$running_opts" | md5sum | cut -c1-32)
    if [[ $running_version != 22.* ]]; then
        echo "[install] refusing: this module is built for Asterisk 22, the running Asterisk is '$running_version'" >&2; exit 1
    fi
    advice="Build the module against the headers of the running Asterisk:
  Debian's asterisk package:        make build                       (headers of the same asterisk-dev version)
  Asterisk built from source:       ASTERISK_SRC=/path/to/that/built/source/tree make build
  only its installed headers:       ASTERISK_INCLUDE_DIR=/usr/include PJPROJECT_INCLUDE_DIRS=... make build
then run make install again."
    if [[ $running_sum != "$built_sum" ]]; then
        cat >&2 <<MSG
[install] refusing: the running Asterisk $running_version would not load this module
  ("was not compiled with the same compile-time options"):
    running Asterisk:  build-option checksum $running_sum  (ABI build options: ${running_opts:-none})
    module's headers:  build-option checksum $built_sum  (ABI build options: ${built_opts:-none}, Asterisk ${built_version})
$advice
MSG
        exit 1
    fi
    if [[ $built_version != unknown && $built_version != "$running_upstream" ]]; then
        cat >&2 <<MSG
[install] refusing: the module was built against Asterisk $built_version headers, the running Asterisk is $running_version.
$advice
MSG
        exit 1
    fi
    echo "[install] running Asterisk $running_version, build-option checksum $running_sum: matches the module's headers"
else
    echo "[install] Asterisk is not running: its version and build options were not checked (module built for Asterisk $built_version, checksum $built_sum)"
fi

install -D -m 0644 "$module" "$moddir/res_pjsip_multireg.so"
echo "[install] module -> $moddir/res_pjsip_multireg.so"
if [[ -n ${datadir:-} ]]; then
    install -D -m 0644 docs/res_pjsip_multireg-en_US.xml "$datadir/documentation/thirdparty/res_pjsip_multireg-en_US.xml"
    echo "[install] documentation -> $datadir/documentation/thirdparty/"
fi
etcdir=${etcdir:-/etc/asterisk}
if [[ -e $etcdir/pjsip_multireg.conf ]]; then
    echo "[install] $etcdir/pjsip_multireg.conf exists: left as it is"
else
    install -D -m 0640 asterisk-conf/pjsip_multireg.conf "$etcdir/pjsip_multireg.conf"
    echo "[install] sample -> $etcdir/pjsip_multireg.conf (add '#include pjsip_multireg.conf' to pjsip.conf)"
fi
echo "[install] now: ${cli[*]} -rx 'module load res_pjsip_multireg.so'"
