#!/bin/sh
# Entrypoint of the sandbox image. matplotlib ignores a config/cache dir it cannot write to (it then
# warns and rebuilds its font cache in a temporary dir), and the root fs is read-only, so the font
# cache built into the image is copied to MPLCONFIGDIR on the /tmp tmpfs first. Without a writable
# /tmp (a bare `docker run --read-only`), /dev/shm, which Docker always mounts, serves instead.
set -eu
for dir in "${MPLCONFIGDIR:-/tmp/matplotlib}" /dev/shm/matplotlib; do
    if mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; then
        cp -n /opt/matplotlib/* "$dir"/ 2>/dev/null || true
        MPLCONFIGDIR=$dir
        export MPLCONFIGDIR
        break
    fi
done
exec "$@"
