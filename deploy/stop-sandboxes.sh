#!/usr/bin/env bash
# Stops the chats' sandbox containers of one deployment (those labelled with its DATA_DIR), as
# `make down` does after stopping the gateway: with no gateway, nothing would talk to them or stop
# them when idle. Their files and checkpoints stay in DATA_DIR; the next query starts them again
# and their variables are restored. Containers of other deployments on the engine are untouched.
#
# Usage: deploy/stop-sandboxes.sh --env-file FILE | DATA_DIR
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" = --env-file ]; then
    [ -f "${2:?an env file}" ] || { log "no $2: nothing was started from it"; exit 0; }
    data_dir=$(grep '^DATA_DIR=' "$2" | tail -n1 | cut -d= -f2-)
else
    data_dir=${1:?usage: $0 --env-file FILE | DATA_DIR}
fi
[ -n "$data_dir" ] || die "no DATA_DIR to stop the sandboxes of"

mapfile -t running < <(docker ps --quiet \
    --filter label=ai-data-scientist.managed=true \
    --filter "label=ai-data-scientist.data-dir=$data_dir")
if [ "${#running[@]}" -eq 0 ]; then
    log "no running sandboxes under $data_dir"
    exit 0
fi
log "stopping ${#running[@]} sandbox(es) under $data_dir (their files and variables stay)"
docker stop --time 2 "${running[@]}" >/dev/null
