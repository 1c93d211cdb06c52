#!/usr/bin/env bash
# What the test suite needs on the host besides Docker: the project's Python packages (with the
# test extras), a redis-server binary, which the tests start themselves on a free port, Debian's
# chromium, which the browser tests drive through Playwright (no browser download), Debian's
# package of the shell linter that `make lint` runs, wrk, the HTTP load generator `make bench`
# drives the gateway with, and plotly.js in the page's static folder (deploy/plotly-js.sh), for the
# gateways the tests run from source.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.pytest_cache/.deps-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "test-deps: installing Python packages (pip install -e '.[test]')"
  python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
  mkdir -p "$(dirname "$stamp")" && echo "$want" > "$stamp"
fi

# Installs a Debian package, refreshing the package lists once if it is not found.
debian_install() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "test-deps: $1 is missing; install it (apt-get install $1)" >&2
    exit 1
  fi
  echo "test-deps: installing $1 from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
}

if ! command -v redis-server >/dev/null; then
  debian_install redis-server
  # Debian's package starts a system Redis on 6379; the tests start their own, so stop it.
  (service redis-server stop || true) >/dev/null 2>&1
fi
# The path tests/e2e/conftest.py launches.
if [[ ! -x /usr/bin/chromium ]]; then
  debian_install chromium
fi
if ! command -v shellcheck >/dev/null; then
  debian_install shellcheck
fi
if ! command -v wrk >/dev/null; then
  debian_install wrk
fi
deploy/plotly-js.sh
