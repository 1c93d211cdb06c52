#!/usr/bin/env bash
# Builds ai-data-scientist/python-base:3.11, a local stand-in for python:3.11-slim, for machines that
# cannot pull images: debootstrap a minimal Debian from the mirror apt already uses, add Debian's
# Python 3.11 (plus redis-server, so the same base serves the Redis image offline), and
# `docker import` the folder. Does nothing when the image already exists.
#
# Env: PYTHON_BASE_TAG (default ai-data-scientist/python-base:3.11), DEBIAN_SUITE (default bookworm,
# whose python3 is 3.11), DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (default: read from apt's sources).
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON_BASE_TAG=${PYTHON_BASE_TAG:-ai-data-scientist/python-base:3.11}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
PACKAGES=python3,python3-pip,python3-venv,ca-certificates,netbase,redis-server

if image_exists "$PYTHON_BASE_TAG"; then
    log "$PYTHON_BASE_TAG exists; nothing to do"
    exit 0
fi
is_root_on_debian || die "building $PYTHON_BASE_TAG needs root on Debian (debootstrap, chroot)"
command -v debootstrap >/dev/null || apt_install debootstrap

# First URI that apt's own sources give for a suite (deb822 *.sources or one-line *.list files).
apt_uri_for() (
    suite=$1
    shopt -s nullglob
    files=(/etc/apt/sources.list.d/*.sources)
    [ ${#files[@]} -eq 0 ] || awk -v suite="$suite" '
        BEGIN { RS = ""; FS = "\n" }
        {
            types = suites = uris = enabled = ""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^Types:/) types = " " substr($i, 7) " "
                else if ($i ~ /^Suites:/) suites = " " substr($i, 8) " "
                else if ($i ~ /^URIs:/) uris = substr($i, 6)
                else if ($i ~ /^Enabled:/) enabled = substr($i, 9)
            }
            gsub(/[ \t]+/, " ", types); gsub(/[ \t]+/, " ", suites)
            if (enabled !~ /no/ && index(types, " deb ") && index(suites, " " suite " ")) {
                split(uris, u, " "); print u[1]; exit
            }
        }' "${files[@]}"
    files=(/etc/apt/sources.list.d/*.list)
    [ ! -f /etc/apt/sources.list ] || files+=(/etc/apt/sources.list)
    [ ${#files[@]} -eq 0 ] || awk -v suite="$suite" '
        $1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
            if ($(i + 1) == suite) { print $i; exit }
        }' "${files[@]}"
)

mirror=${DEBIAN_MIRROR:-$(apt_uri_for "$DEBIAN_SUITE" | head -n1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-$(apt_uri_for "$DEBIAN_SUITE-security" | head -n1 || true)}

rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/ads-python-base.XXXXXX")
# mktemp makes it 0700, which inside the chroot would lock every non-root user out of "/".
chmod 755 "$rootfs"
# Unmounts what this script or an interrupted debootstrap left mounted inside, before deleting.
cleanup() {
    findmnt -rn -o TARGET | awk -v root="$rootfs/" 'index($0, root) == 1' | sort -r |
        while read -r mnt; do umount -l "$mnt" || true; done
    rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

log "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror into $rootfs (about a minute)"
if ! debootstrap --variant=minbase --components=main --include="$PACKAGES" \
    "$DEBIAN_SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    die "debootstrap failed (full log: $rootfs.log)"
fi
rm -f "$rootfs.log"

# Security and point updates come from other suites than the one debootstrap reads, so apply them
# in a chroot. policy-rc.d keeps maintainer scripts from starting redis-server on the host.
log "applying $DEBIAN_SUITE-updates${security_mirror:+ and $DEBIAN_SUITE-security} in a chroot"
{
    echo "Types: deb"
    echo "URIs: $mirror"
    echo "Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates"
    echo "Components: main"
    echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    if [ -n "$security_mirror" ]; then
        echo
        echo "Types: deb"
        echo "URIs: $security_mirror"
        echo "Suites: $DEBIAN_SUITE-security"
        echo "Components: main"
        echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
} >"$rootfs/etc/apt/sources.list.d/debian.sources"
rm -f "$rootfs/etc/apt/sources.list"
# The same trimming as Debian's -slim images, also for packages installed later from this base.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
EOF
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
# Mirrors here may be dated snapshots, whose Release files are past their Valid-Until.
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -euc '
    apt-get -qq -o Acquire::Check-Valid-Until=false update
    apt-get -qq -y -o Dpkg::Use-Pty=0 upgrade >/dev/null
    apt-get clean'
umount "$rootfs/proc"

log "trimming the root fs and making python/pip resolve as in python:3.11-slim"
rm -f "$rootfs/usr/sbin/policy-rc.d" "$rootfs/usr/lib/python3.11/EXTERNALLY-MANAGED"
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,locale}/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
# Docker supplies these per container; an empty machine-id is how Debian's images ship it.
: >"$rootfs/etc/machine-id"

python_version=$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')
log "importing $PYTHON_BASE_TAG (Python $python_version, Debian $(cat "$rootfs/etc/debian_version"))"
tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "ENV PYTHON_VERSION=$python_version" \
        --change 'LABEL ai-data-scientist.base=debootstrap' \
        --change 'CMD ["python3"]' \
        --message "debootstrap $DEBIAN_SUITE minbase + Debian python3 (deploy/bootstrap-base.sh)" \
        - "$PYTHON_BASE_TAG" >/dev/null
log "built $PYTHON_BASE_TAG ($(docker image inspect -f '{{.Size}}' "$PYTHON_BASE_TAG" | numfmt --to=si --suffix=B))"
