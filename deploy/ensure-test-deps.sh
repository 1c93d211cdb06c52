#!/usr/bin/env bash
# What the test suite needs on the host besides Docker: the project's Python packages (with the
# test extras) and a redis-server binary, which the tests start themselves on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.pytest_cache/.deps-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "test-deps: installing Python packages (pip install -e '.[test]')"
  python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
  mkdir -p "$(dirname "$stamp")" && echo "$want" > "$stamp"
fi
if ! command -v redis-server >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "test-deps: redis-server is missing; install it (apt-get install redis-server)" >&2
    exit 1
  fi
  echo "test-deps: installing redis-server from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
  # Debian's package starts a system Redis on 6379; the tests start their own, so stop it.
  (service redis-server stop || true) >/dev/null 2>&1
fi
