#!/usr/bin/env bash
# Builds a sandbox image variant, ai-data-scientist/sandbox-NAME:latest: the sandbox image plus
# the packages of a requirements file (README: "Image variants"), offline like the other images:
# the host's pip downloads their wheels for the sandbox's Python and platform (as
# wheelhouse.sh does), held to the versions of the image's own packages, and the build installs
# from them with --no-index. Name it in SANDBOX_IMAGES (NAME=ai-data-scientist/sandbox-NAME:latest)
# for chats to choose at creation.
#
# Usage: deploy/variant.sh NAME REQUIREMENTS_FILE   (`make variant NAME=ml REQUIREMENTS=file`)
# Env: BASE_IMAGE (default ai-data-scientist/sandbox:latest: `make images` first),
#      PACKAGES_PYTHON_VERSION (default 3.11.2), PYTHON.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name=${1:?usage: $0 NAME REQUIREMENTS_FILE}
requirements=${2:?usage: $0 NAME REQUIREMENTS_FILE}
[[ $name =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "a variant's name is lower-case letters, digits, '.', '_' and '-', not '$name'"
[ -f "$requirements" ] || die "no requirements file $requirements"
base=${BASE_IMAGE:-ai-data-scientist/sandbox:latest}
image_exists "$base" || die "the base image $base does not exist: make images"
tag=ai-data-scientist/sandbox-$name:latest
python_version=${PACKAGES_PYTHON_VERSION:-3.11.2}

wheels=$DEPLOY_DIR/.wheelhouse/variant-$name
rm -rf "$wheels"
mkdir -p "$wheels"
sandbox_constraints >"$wheels/constraints.txt"
cp "$requirements" "$wheels/requirements.txt"
log "$name: downloading the wheels of $requirements for Python $python_version"
"$PYTHON" "$DEPLOY_DIR/pip_for_target.py" "$python_version" download --quiet \
    --disable-pip-version-check --dest "$wheels" "${PIP_TARGET[@]}" \
    -c "$wheels/constraints.txt" -r "$wheels/requirements.txt" 2>&1 |
    { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2 ||
    die "$name: the wheels could not be had (no wheel for CPython 3.11 on manylinux x86_64, or a package that needs another version of one of the sandbox image's?)"
"$PYTHON" "$DEPLOY_DIR/drop_image_wheels.py" "$wheels" "$wheels/constraints.txt"

if [ -z "${DOCKER_BUILDKIT:-}" ]; then
    if docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=1; else export DOCKER_BUILDKIT=0; fi
fi
log "building $tag FROM $base (network: none)"
docker build --force-rm --network=none --build-arg BASE_IMAGE="$base" --build-arg VARIANT="$name" \
    -f "$DEPLOY_DIR/sandbox-variant.Dockerfile" -t "$tag" "$REPO_ROOT" >&2
log "built $tag; let chats choose it with SANDBOX_IMAGES=$name=$tag"
