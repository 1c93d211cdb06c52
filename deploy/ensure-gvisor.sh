#!/usr/bin/env bash
# Installs gVisor's runsc and registers it with the Docker engine as the runtime `runsc`, when the
# engine is ours to configure (root on Debian, dockerd running on this machine). Sandboxes then
# run under gVisor by default (SANDBOX_RUNTIME=auto). Elsewhere it only says how to do it, and
# sandboxes run under runc.
#
# The runtime arguments: ptrace is the platform that works in VMs without nested virtualisation
# (kvm hangs there); --network=none because sandboxes have no network and gVisor refuses the host
# network namespace; --host-uds=create lets the executor inside make its unix socket on the bind
# mount, where the gateway connects to it.
#
# Env: GVISOR=off skips all of it; GVISOR_PLATFORM (default ptrace); DOCKER_DAEMON_JSON (default
# /etc/docker/daemon.json).
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GVISOR=${GVISOR:-on}
GVISOR_PLATFORM=${GVISOR_PLATFORM:-ptrace}
DOCKER_DAEMON_JSON=${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}

registered() { docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }

dockerd_pid() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

if [ "$GVISOR" = off ]; then
    log "GVISOR=off: not installing gVisor; sandboxes run under runc"
    exit 0
fi
if registered; then
    log "the Docker engine has the runsc runtime (gVisor); sandboxes run under it"
    exit 0
fi
if ! is_root_on_debian || ! pid=$(dockerd_pid); then
    log "the Docker engine has no runsc runtime and is not ours to configure; sandboxes run under runc. For gVisor: install runsc, add it to $DOCKER_DAEMON_JSON as \"runsc\" with runtimeArgs [\"--platform=$GVISOR_PLATFORM\", \"--network=none\", \"--host-uds=create\"], and reload dockerd"
    exit 0
fi

command -v runsc >/dev/null || apt_install runsc
log "registering runsc (platform $GVISOR_PLATFORM) in $DOCKER_DAEMON_JSON"
mkdir -p "$(dirname "$DOCKER_DAEMON_JSON")"
# Merged into what is there: other settings and runtimes stay.
"$PYTHON" - "$DOCKER_DAEMON_JSON" "$(command -v runsc)" "$GVISOR_PLATFORM" <<'PY'
import json, os, sys
path, runsc, platform = sys.argv[1:]
config = {}
if os.path.exists(path) and os.path.getsize(path):
    with open(path) as f:
        config = json.load(f)
config.setdefault("runtimes", {})["runsc"] = {
    "path": runsc,
    "runtimeArgs": [f"--platform={platform}", "--network=none", "--host-uds=create"],
}
with open(path + ".tmp", "w") as f:
    json.dump(config, f, indent=2)
os.replace(path + ".tmp", path)
PY
# dockerd reloads its runtimes on SIGHUP; running containers are untouched.
kill -HUP "$pid"
for ((i = 0; i < 20; i++)); do
    if registered; then
        log "runsc registered; sandboxes run under gVisor"
        exit 0
    fi
    sleep 0.5
done
die "dockerd did not pick up the runsc runtime from $DOCKER_DAEMON_JSON (see its log)"
