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
