#!/usr/bin/env bash
# Mounts DATA_DIR/chats onto itself with noexec,nosuid,nodev on the host, so that every sandbox's
# bind mounts (which inherit the flags of the mount they come from) are noexec too: see
# gateway/sandbox/data_mount.py. A gateway running as root on the host does this itself; one in
# a container cannot, so `make up` does it first. Idempotent; the mount lasts until reboot (`make
# up` makes it again).
#
# Usage: deploy/ensure-data-mount.sh DATA_DIR | --env-file FILE
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" = --env-file ]; then
    data_dir=$(grep '^DATA_DIR=' "${2:?an env file}" | tail -n1 | cut -d= -f2-)
else
    data_dir=${1:?usage: $0 DATA_DIR | --env-file FILE}
fi
chats="$data_dir/chats"
mkdir -p "$chats"

noexec_already() {
    local options
    options=$(findmnt --noheadings --output OPTIONS --target "$chats" | tail -n1) || return 1
    [[ ",$options," == *,noexec,* && ",$options," == *,nosuid,* && ",$options," == *,nodev,* ]]
}

if noexec_already; then
    log "$chats is mounted noexec,nosuid,nodev"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    log "WARNING: $chats is not mounted noexec,nosuid,nodev and only root can mount it; files user code writes there can be run as programs (run this script as root)"
    exit 0
fi
mount --bind "$chats" "$chats"
mount -o remount,bind,noexec,nosuid,nodev "$chats"
noexec_already || die "mounted $chats but the flags did not take"
log "mounted $chats onto itself noexec,nosuid,nodev"
