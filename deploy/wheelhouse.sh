#!/usr/bin/env bash
# Downloads the wheels of deploy/requirements-{sandbox,gateway}.txt with the host's pip into
# deploy/.wheelhouse/{sandbox,gateway}/, so that the image builds install with --no-index (pip inside
# `docker build` cannot reach or verify an index on these machines).
#
# The wheels are for the images' platform (CPython 3.11, manylinux glibc <= 2.36, x86_64), whatever
# the host is, and dependency markers are evaluated for the images' exact Python version
# (WHEEL_PYTHON_VERSION; images.sh passes the base image's). Each set is re-resolved only when its
# requirements file, that version or this script's pip options change; a stamp file records them,
# so unpinned requirements stay at the versions first resolved.
#
# Usage: deploy/wheelhouse.sh [sandbox|gateway ...]   (default: both)
# Env: WHEEL_PYTHON_VERSION (default: the host's Python 3.11.x), PYTHON (default python3),
#      WHEELHOUSE_FORCE=1 (re-resolve anyway).
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A fixed place: the Dockerfiles COPY from it.
WHEELHOUSE_DIR=$DEPLOY_DIR/.wheelhouse
WHEEL_PYTHON_VERSION=${WHEEL_PYTHON_VERSION:-$("$PYTHON" -c 'import platform; print(platform.python_version())')}
case $WHEEL_PYTHON_VERSION in
3.11.*) ;;
*) die "the images run CPython 3.11; set WHEEL_PYTHON_VERSION to their full version (e.g. 3.11.2), not '$WHEEL_PYTHON_VERSION'" ;;
esac

pip_target=(--only-binary=:all: --implementation cp --python-version 3.11 --abi cp311)
# pip does not widen a manylinux_2_X --platform to older glibc versions itself.
for minor in $(seq 36 -1 17); do pip_target+=(--platform "manylinux_2_${minor}_x86_64"); done
pip_target+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)

stamp_of() {
    { cat "$DEPLOY_DIR/requirements-$1.txt"; printf '%s\n' "$WHEEL_PYTHON_VERSION" "${pip_target[@]}"; } |
        sha256sum | cut -d' ' -f1
}

# Up to date when the stamp's hash matches and every wheel it lists is still there.
up_to_date() {
    local name=$1 stamp=$WHEELHOUSE_DIR/$1.stamp
    [ "${WHEELHOUSE_FORCE:-0}" = 1 ] && return 1
    [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "$(stamp_of "$name")" ] || return 1
    local wheel
    while read -r wheel; do
        [ -f "$WHEELHOUSE_DIR/$name/$wheel" ] || return 1
    done < <(tail -n +2 "$stamp")
}

download() {
    local name=$1 dest=$WHEELHOUSE_DIR/$1
    local fresh=$dest.partial
    rm -rf "$fresh"
    mkdir -p "$dest" "$fresh"
    log "$name: downloading wheels of requirements-$name.txt for Python $WHEEL_PYTHON_VERSION into ${fresh#"$REPO_ROOT"/}"
    # A fresh folder keeps superseded versions out of the image; the old one is offered as a local
    # source so that unchanged wheels are copied rather than fetched. The filter drops warnings
    # about this machine's pip config naming an index folder that does not exist.
    "$PYTHON" "$DEPLOY_DIR/pip_for_target.py" "$WHEEL_PYTHON_VERSION" download --quiet \
        --disable-pip-version-check --dest "$fresh" --find-links "$dest" "${pip_target[@]}" \
        -r "$DEPLOY_DIR/requirements-$name.txt" 2>&1 |
        { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2
    rm -rf "$dest"
    mv "$fresh" "$dest"
    { stamp_of "$name"; (cd "$dest" && ls -1); } >"$WHEELHOUSE_DIR/$name.stamp"
    log "$name: $(($(wc -l <"$WHEELHOUSE_DIR/$name.stamp") - 1)) wheels, $(du -sh "$dest" | cut -f1)"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(sandbox gateway)
for name in "${names[@]}"; do
    [ -f "$DEPLOY_DIR/requirements-$name.txt" ] || die "no deploy/requirements-$name.txt (known sets: sandbox, gateway)"
    if up_to_date "$name"; then
        log "$name: wheelhouse matches requirements-$name.txt; nothing to download"
    else
        download "$name"
    fi
done
