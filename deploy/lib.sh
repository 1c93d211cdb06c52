# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Helpers shared by the deploy/ scripts. Sourced, never run.
# Messages go to stderr so that a script's stdout stays usable by callers.

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$DEPLOY_DIR")
PYTHON=${PYTHON:-python3}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

is_root_on_debian() { [ "$(id -u)" -eq 0 ] && [ -r /etc/debian_version ]; }

# A fresh machine may have no package lists at all, so update before every install.
apt_install() {
    log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# pip options that pick wheels for the images' platform whatever the host is: CPython 3.11,
# manylinux glibc <= 2.36 (Debian 12), x86_64. pip does not widen a manylinux_2_X --platform to
# older glibc versions itself, so each is named.
PIP_TARGET=(--only-binary=:all: --implementation cp --python-version 3.11 --abi cp311)
for _minor in $(seq 36 -1 17); do PIP_TARGET+=(--platform "manylinux_2_${_minor}_x86_64"); done
PIP_TARGET+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
unset _minor

# What a requirements file asks for, without its comments and blank lines: the lock files record
# it, so that a lock older than its requirements file is noticed.
requirements_digest() {
    sed -e 's/[[:space:]]*#.*//' -e '/^[[:space:]]*$/d' "$1" | sha256sum | cut -d' ' -f1
}

# The sandbox lock as pip constraints (name==version, without the hashes): wheels downloaded
# under them depend on the image's own versions of its packages, so installing them never has
# to replace one (deploy/packages.sh, deploy/variant.sh).
sandbox_constraints() {
    sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' "$DEPLOY_DIR/requirements-sandbox.lock.txt"
}
