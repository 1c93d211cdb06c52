#!/usr/bin/env bash
# Fills the package store, PACKAGES_DIR: a folder of wheels that chats may install from
# (README: "Installing packages"). The host's pip downloads the packages named, their
# dependencies included, as wheels for the sandbox's Python and platform (lib.sh's PIP_TARGET,
# markers evaluated for that Python: pip_for_target.py), as the image build's wheelhouse does.
# Only wheels: a package published only as source is refused here, since building it would run
# its setup code, and the sandboxes have no compiler. Dependencies are held to the versions the
# sandbox image has (its lock file, as constraints), so an install never replaces one of its
# packages. Adding to the store needs no restart: the gateway lists it on every request.
#
# Usage: deploy/packages.sh [--env-file FILE] [--requirements FILE] [PACKAGE[==VERSION] ...]
#        (`make packages PKGS="xgboost lifelines"`, or `make packages REQUIREMENTS=file`)
# Env: PACKAGES_DIR (else the env file's, else /var/lib/ai-data-scientist-packages),
#      PACKAGES_PYTHON_VERSION (default 3.11.2, the images' Debian 12 Python), PYTHON.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

env_file=
requirements=
packages=()
while [ $# -gt 0 ]; do
    case $1 in
    --env-file) env_file=${2:?an env file}; shift 2 ;;
    --requirements) requirements=${2:?a requirements file}; shift 2 ;;
    -*) die "unknown option $1 (usage: $0 [--env-file FILE] [--requirements FILE] [PACKAGE ...])" ;;
    *) packages+=("$1"); shift ;;
    esac
done
[ ${#packages[@]} -gt 0 ] || [ -n "$requirements" ] ||
    die 'name the packages: make packages PKGS="xgboost lifelines" (or REQUIREMENTS=file)'

store=${PACKAGES_DIR:-}
if [ -z "$store" ] && [ -n "$env_file" ] && [ -f "$env_file" ]; then
    store=$(grep '^PACKAGES_DIR=' "$env_file" | tail -n1 | cut -d= -f2- || true)
fi
store=${store:-/var/lib/ai-data-scientist-packages}
case $store in
/*) ;;
*) die "PACKAGES_DIR must be an absolute path, not '$store'" ;;
esac
python_version=${PACKAGES_PYTHON_VERSION:-3.11.2}

constraints=$(mktemp "${TMPDIR:-/tmp}/ads-packages.XXXXXX")
trap 'rm -f "$constraints"' EXIT
sandbox_constraints >"$constraints"
sources=()
[ -z "$requirements" ] || sources+=(-r "$requirements")

mkdir -p "$store"
log "downloading ${packages[*]:-}${requirements:+ -r $requirements} for Python $python_version into $store"
# The filter drops warnings about this machine's pip config naming an index folder that does
# not exist.
"$PYTHON" "$DEPLOY_DIR/pip_for_target.py" "$python_version" download --quiet \
    --disable-pip-version-check --dest "$store" --find-links "$store" "${PIP_TARGET[@]}" \
    -c "$constraints" "${sources[@]}" "${packages[@]}" 2>&1 |
    { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2 ||
    die "the wheels could not be had (a package with no wheel for CPython 3.11 on manylinux x86_64, or one that needs another version of a package of the sandbox image?)"
# The sandbox image's own packages came along as dependencies: the image has them already, and an
# install never takes them from the store, so they are not offered (GET /packages) either.
"$PYTHON" "$DEPLOY_DIR/drop_image_wheels.py" "$store" "$constraints"
# Every sandbox uid reads the store (mounted read-only); nobody but the operator writes it.
chmod 755 "$store"
find "$store" -maxdepth 1 -name '*.whl' -exec chmod 644 {} +
log "$store: $(find "$store" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "$store" | cut -f1)"
