#!/usr/bin/env bash
# Makes sure a Docker engine answers `docker info`. Machines of this project start without one and
# have no container registry, so as root on Debian it installs Debian's docker.io and starts dockerd
# itself (there is no init system to hand it to). Elsewhere it only says what is missing.
#
# Env: DOCKERD_LOG (default /var/log/ai-data-scientist-dockerd.log), DOCKER_WAIT_S (default 60).
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/ai-data-scientist-dockerd.log}
DOCKER_WAIT_S=${DOCKER_WAIT_S:-60}

docker_answers() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

dockerd_running() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

iptables_works() { iptables -t nat -L -n >/dev/null 2>&1; }

# dockerd sets up its bridge NAT with iptables and refuses to start when that fails. Debian
# defaults to the nftables backend, which some kernels lack; the legacy backend often works there.
ensure_iptables() {
    command -v iptables >/dev/null || apt_install iptables
    iptables_works && return 0
    if command -v iptables-legacy >/dev/null && iptables-legacy -t nat -L -n >/dev/null 2>&1; then
        log "iptables (nftables backend) does not work here; switching to iptables-legacy"
        update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
        update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1 || true
        iptables_works && return 0
    fi
    return 1
}

if docker_answers; then
    log "Docker engine answers; nothing to do"
    exit 0
fi

is_root_on_debian || die "no Docker engine answers 'docker info'. Start one (or get access to its socket) and retry; this script installs and starts one only as root on Debian."

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    log "no Docker engine installed; installing Debian's docker.io"
    apt_install docker.io
fi

dockerd_args=()
if ! ensure_iptables; then
    log "WARNING: iptables does not work on this kernel; starting dockerd with --iptables=false (containers get no NAT to the outside, which this project does not need)"
    dockerd_args+=(--iptables=false)
fi

# The package's postinst may already have started it where an init system exists.
if ! docker_answers; then
    if dockerd_running; then
        log "dockerd is running (pid $(cat /var/run/docker.pid)) but not answering yet; waiting"
    else
        log "starting dockerd in the background; log: $DOCKERD_LOG"
        nohup setsid dockerd "${dockerd_args[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
fi

for ((i = 0; i < DOCKER_WAIT_S; i++)); do
    if docker_answers; then
        log "Docker engine answers ($(docker info --format 'server {{.ServerVersion}}, cgroup v{{.CgroupVersion}} {{.CgroupDriver}}, storage {{.Driver}}'))"
        exit 0
    fi
    sleep 1
done
log "last lines of $DOCKERD_LOG:"
tail -n 20 "$DOCKERD_LOG" >&2 || true
die "dockerd did not answer within ${DOCKER_WAIT_S}s"
