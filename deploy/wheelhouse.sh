#!/usr/bin/env bash
# Downloads the wheels of deploy/requirements-{sandbox,gateway}.lock.txt with the host's pip into
# deploy/.wheelhouse/{sandbox,gateway}/, so that the image builds install with --no-index (pip inside
# `docker build` cannot reach or verify an index on these machines). The lock files name every
# package at its exact version with its wheel's sha256, and pip checks the hashes both here and in
# the image build, so the same lock gives the same packages on any machine, any month.
#
# The wheels are for the images' platform (lib.sh's PIP_TARGET), whatever the host is, and
# dependency markers are evaluated for the images' exact Python version (WHEEL_PYTHON_VERSION;
# images.sh passes the base image's): a dependency that version needs but the lock lacks stops
# the download here. A set is downloaded again only when its lock file, that version or the pip
# options change; a stamp file records them.
#
# Usage: deploy/wheelhouse.sh [sandbox|gateway ...]   (default: both)
# Env: WHEEL_PYTHON_VERSION (default: the host's Python 3.11.x), PYTHON (default python3),
#      WHEELHOUSE_FORCE=1 (download anyway).
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

stamp_of() {
    { cat "$DEPLOY_DIR/requirements-$1.lock.txt"; printf '%s\n' "$WHEEL_PYTHON_VERSION" "${PIP_TARGET[@]}"; } |
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
    log "$name: downloading wheels of requirements-$name.lock.txt for Python $WHEEL_PYTHON_VERSION into ${fresh#"$REPO_ROOT"/}"
    # A fresh folder keeps superseded versions out of the image; the old one is offered as a local
    # source so that unchanged wheels are copied rather than fetched. The filter drops warnings
    # about this machine's pip config naming an index folder that does not exist.
    "$PYTHON" "$DEPLOY_DIR/pip_for_target.py" "$WHEEL_PYTHON_VERSION" download --quiet \
        --disable-pip-version-check --dest "$fresh" --find-links "$dest" "${PIP_TARGET[@]}" \
        --require-hashes -r "$DEPLOY_DIR/requirements-$name.lock.txt" 2>&1 |
        { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2 ||
        die "$name: the wheels of requirements-$name.lock.txt could not be had for Python $WHEEL_PYTHON_VERSION (a dependency missing from the lock for that version? then: LOCK_PYTHON_VERSION=$WHEEL_PYTHON_VERSION make lock)"
    rm -rf "$dest"
    mv "$fresh" "$dest"
    { stamp_of "$name"; (cd "$dest" && ls -1); } >"$WHEELHOUSE_DIR/$name.stamp"
    log "$name: $(($(wc -l <"$WHEELHOUSE_DIR/$name.stamp") - 1)) wheels, $(du -sh "$dest" | cut -f1)"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(sandbox gateway)
for name in "${names[@]}"; do
    [ -f "$DEPLOY_DIR/requirements-$name.txt" ] || die "no deploy/requirements-$name.txt (known sets: sandbox, gateway)"
    lock_file=$DEPLOY_DIR/requirements-$name.lock.txt
    [ -f "$lock_file" ] || die "no deploy/requirements-$name.lock.txt: run 'make lock'"
    # A lock made from another version of its requirements file would quietly build the old set.
    if ! grep -qx "# requirements-$name.txt digest: $(requirements_digest "$DEPLOY_DIR/requirements-$name.txt")" "$lock_file"; then
        die "deploy/requirements-$name.txt changed since requirements-$name.lock.txt was made: run 'make lock' (deploy/lock.sh $name)"
    fi
    if up_to_date "$name"; then
        log "$name: wheelhouse matches requirements-$name.lock.txt; nothing to download"
    else
        download "$name"
    fi
done
