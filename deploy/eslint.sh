#!/usr/bin/env bash
# Lints the web page's JavaScript (gateway/web/static) with ESLint, as `make lint` does. ESLint
# and its two companions come from the npm registry at the exact versions and integrity hashes
# of package-lock.json (`npm ci`), into node_modules/ (not in git), again only when the lock
# file changed. Installs npm where it is missing, as deploy/plotly-js.sh does.
#
# Usage: deploy/eslint.sh [eslint options]
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
if ! command -v npm >/dev/null; then
    is_root_on_debian || die "npm is missing: install Node.js and npm (apt-get install npm)"
    apt_install npm
fi

# A stamp of the lock file that was installed, kept inside node_modules (npm ci replaces it).
stamp=node_modules/.installed-lock.sha256
lock_sha=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sha" ]; then
    log "installing ESLint from package-lock.json"
    npm ci --no-audit --no-fund --loglevel=error >&2
    echo "$lock_sha" >"$stamp"
fi
node_modules/.bin/eslint --max-warnings=0 "$@" gateway/web/static
