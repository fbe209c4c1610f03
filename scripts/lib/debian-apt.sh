# Sourced by the scripts that read Debian's archive. A private apt configuration (sources list,
# lists and archives under a folder of ours) leaves the host's apt state untouched; the mirror is
# the one the host's own apt sources name (override with DEBIAN_MIRROR).

# Prints the host's Debian mirror: the first deb822 or one-line source that is not the security archive.
debian_find_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(awk '
        /^URIs:/ {u=$2} /^Suites:/ {s=$0}
        /^$/ { if (u != "" && s !~ /security/) {print u; exit} u=""; s="" }
        END { if (u != "" && s !~ /security/) print u }' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    if [[ -z $uri && -f /etc/apt/sources.list ]]; then
        uri=$(awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit} }' /etc/apt/sources.list)
    fi
    [[ -n $uri ]] || { echo "no Debian mirror found in the host's apt sources; set DEBIAN_MIRROR" >&2; return 1; }
    echo "$uri"
}

DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# debian_private_apt DIR MIRROR SUITE: writes DIR/sources.list (deb and deb-src, signed by Debian's
# archive key) and sets the array APT_OPTS so apt-get/apt-cache use only DIR.
debian_private_apt() {
    local dir=$1 mirror=$2 suite=$3
    mkdir -p "$dir/lists/partial" "$dir/archives/partial"
    cat >"$dir/sources.list" <<SRC
deb [signed-by=$DEBIAN_KEYRING] $mirror $suite main
deb-src [signed-by=$DEBIAN_KEYRING] $mirror $suite main
SRC
    APT_OPTS=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives"
              -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
              -o "Acquire::Check-Valid-Until=false" -o "APT::Sandbox::User=root")
}

# debian_verify_source DIR PACKAGE VERSION: checks every file of the source package in DIR against
# the SHA-256 sums of the suite's Sources index (whose InRelease apt verified with Debian's key).
debian_verify_source() {
    local dir=$1 package=$2 version=$3 sums
    sums=$(apt-cache "${APT_OPTS[@]}" showsrc --only-source "$package" | awk -v v="$version" '
        /^Version:/ {keep = ($2 == v)}
        /^Checksums-Sha256:/ {inblock = keep; next}
        /^[^ ]/ {inblock = 0}
        inblock && NF == 3 {print $1 "  " $3}')
    [[ -n $sums ]] || { echo "no Sources entry for $package $version" >&2; return 1; }
    (cd "$dir" && sha256sum --quiet -c - <<<"$sums")
}
