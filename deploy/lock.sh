#!/usr/bin/env bash
# Resolves deploy/requirements-{sandbox,gateway}.txt (what each image asks for, some of it loose)
# into deploy/requirements-{sandbox,gateway}.lock.txt: the exact version of every package,
# transitive ones included, and the sha256 of its wheel. The images install from the lock files
# only (deploy/wheelhouse.sh, the Dockerfiles), so a rebuild gives the same packages until this
# runs again. It resolves with the host's pip for the images' platform, like wheelhouse.sh, and
# needs no Docker: the newest versions that the requirements allow are taken.
#
# Usage: deploy/lock.sh [sandbox|gateway ...]   (default: both; `make lock`)
# Env: LOCK_PYTHON_VERSION (default 3.11.2, Debian 12's python3, the oldest 3.11 an image here
#      runs: dependencies that only older 3.11 releases need are locked too, and are harmless on
#      newer ones), PYTHON (default python3).
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOCK_PYTHON_VERSION=${LOCK_PYTHON_VERSION:-3.11.2}
case $LOCK_PYTHON_VERSION in
3.11.*) ;;
*) die "the images run CPython 3.11; set LOCK_PYTHON_VERSION to a full 3.11 version, not '$LOCK_PYTHON_VERSION'" ;;
esac
WHEELHOUSE_DIR=$DEPLOY_DIR/.wheelhouse

# One "name==version" line and its hash per wheel in a folder, sorted by name.
write_lock() {
    local name=$1 wheels=$2
    cat <<EOF
# Every Python package of the $name image at its exact version, with the sha256 of its wheel.
# Made by \`make lock\` (deploy/lock.sh) from requirements-$name.txt for CPython
# $LOCK_PYTHON_VERSION on manylinux x86_64; change that file and run \`make lock\`, never edit this.
# requirements-$name.txt digest: $(requirements_digest "$DEPLOY_DIR/requirements-$name.txt")
EOF
    "$PYTHON" - "$wheels" <<'EOF'
import hashlib
import pathlib
import sys

from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename

locked = {}
for wheel in pathlib.Path(sys.argv[1]).glob("*.whl"):
    name, version, _, _ = parse_wheel_filename(wheel.name)
    locked[canonicalize_name(name)] = (version, hashlib.sha256(wheel.read_bytes()).hexdigest())
for name, (version, digest) in sorted(locked.items()):
    print(f"{name}=={version} \\\n    --hash=sha256:{digest}")
EOF
}

lock() {
    local name=$1 wheels
    local lock_file=$DEPLOY_DIR/requirements-$name.lock.txt
    wheels=$(mktemp -d "${TMPDIR:-/tmp}/ads-lock-$name.XXXXXX")
    # A function's locals are gone when an EXIT trap runs, so the folder is named in the trap.
    # shellcheck disable=SC2064
    trap "rm -rf '$wheels'" EXIT
    local sources=()
    [ ! -d "$WHEELHOUSE_DIR/$name" ] || sources=(--find-links "$WHEELHOUSE_DIR/$name")
    log "$name: resolving requirements-$name.txt for CPython $LOCK_PYTHON_VERSION"
    # The filter drops warnings about this machine's pip config naming an index folder that does
    # not exist.
    "$PYTHON" "$DEPLOY_DIR/pip_for_target.py" "$LOCK_PYTHON_VERSION" download --quiet \
        --disable-pip-version-check --dest "$wheels" "${sources[@]}" "${PIP_TARGET[@]}" \
        -r "$DEPLOY_DIR/requirements-$name.txt" 2>&1 |
        { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2
    write_lock "$name" "$wheels" >"$lock_file.partial"
    mv "$lock_file.partial" "$lock_file"
    rm -rf "$wheels"
    trap - EXIT
    log "$name: $(grep -c '^[a-z0-9]' "$lock_file") packages in ${lock_file#"$REPO_ROOT"/}"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(sandbox gateway)
for name in "${names[@]}"; do
    [ -f "$DEPLOY_DIR/requirements-$name.txt" ] || die "no deploy/requirements-$name.txt (known sets: sandbox, gateway)"
    lock "$name"
done
