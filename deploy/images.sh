#!/usr/bin/env bash
# Builds the project's images: ai-data-scientist/sandbox, ai-data-scientist/gateway and
# ai-data-scientist/redis (all tagged latest). Starts a Docker engine if none answers, fills the
# wheelhouse with the host's pip, vendors plotly.js for the gateway's page (deploy/plotly-js.sh),
# and builds FROM python:3.11-slim / debian:bookworm-slim where they can be had, else FROM a local
# stand-in bootstrapped from Debian packages. With nothing changed, a rerun takes seconds: the
# wheelhouse is stamped and the engine's layer cache does the rest.
#
# Usage: deploy/images.sh [sandbox] [gateway] [redis]   (default: all three)
# Env: PYTHON_BASE_IMAGE, REDIS_BASE_IMAGE (use these bases as they are, no detection),
#      PULL_TIMEOUT_S (default 30, per pull attempt), DOCKER_BUILDKIT (default: 1 where the buildx
#      plugin exists, else 0), plus those of ensure-docker.sh, wheelhouse.sh and bootstrap-base.sh.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PULL_TIMEOUT_S=${PULL_TIMEOUT_S:-30}
REGISTRY_PYTHON_BASE=python:3.11-slim
REGISTRY_REDIS_BASE=debian:bookworm-slim
LOCAL_PYTHON_BASE=${PYTHON_BASE_TAG:-ai-data-scientist/python-base:3.11}
ALL_IMAGES=(sandbox gateway redis)

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL_IMAGES[@]}")
for name in "${names[@]}"; do
    case " ${ALL_IMAGES[*]} " in
    *" $name "*) ;;
    *) die "unknown image '$name' (known: ${ALL_IMAGES[*]})" ;;
    esac
done
wants() { case " ${names[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

"$DEPLOY_DIR/ensure-docker.sh"

# On a machine without a registry the pull fails at once (no DNS); the timeout is for one where a
# registry is named but does not answer.
obtainable() {
    image_exists "$1" && return 0
    log "trying to pull $1 (at most ${PULL_TIMEOUT_S}s)"
    timeout "$PULL_TIMEOUT_S" docker pull -q "$1" >/dev/null 2>&1
}

if [ -n "${PYTHON_BASE_IMAGE:-}" ]; then
    python_base=$PYTHON_BASE_IMAGE
elif obtainable "$REGISTRY_PYTHON_BASE"; then
    python_base=$REGISTRY_PYTHON_BASE
else
    log "$REGISTRY_PYTHON_BASE cannot be had here; using the local stand-in $LOCAL_PYTHON_BASE"
    "$DEPLOY_DIR/bootstrap-base.sh"
    python_base=$LOCAL_PYTHON_BASE
fi
image_exists "$python_base" || die "base image $python_base does not exist"

# Wheels are resolved for the base's exact Python version: some dependencies hang on markers like
# python_full_version < "3.11.3" (Debian 12 ships 3.11.2).
base_python_version() {
    local version
    version=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" | sed -n 's/^PYTHON_VERSION=//p')
    [ -n "$version" ] || version=$(docker run --rm --network none --entrypoint python3 "$1" \
        -c 'import platform; print(platform.python_version())')
    echo "$version"
}
wheel_sets=()
for name in sandbox gateway; do
    if wants "$name"; then wheel_sets+=("$name"); fi
done
if [ ${#wheel_sets[@]} -gt 0 ]; then
    WHEEL_PYTHON_VERSION=$(base_python_version "$python_base") "$DEPLOY_DIR/wheelhouse.sh" "${wheel_sets[@]}"
fi

# The local stand-in already holds redis-server, so Redis needs no registry and no network either.
redis_network=default
if wants redis; then
    if [ -n "${REDIS_BASE_IMAGE:-}" ]; then
        redis_base=$REDIS_BASE_IMAGE
    elif [ "$python_base" = "$LOCAL_PYTHON_BASE" ] || ! obtainable "$REGISTRY_REDIS_BASE"; then
        redis_base=$python_base
    else
        redis_base=$REGISTRY_REDIS_BASE
    fi
    if [ "$(docker image inspect -f '{{index .Config.Labels "ai-data-scientist.base"}}' "$redis_base")" = debootstrap ]; then
        redis_network=none
    fi
fi

# Docker's CLI needs the buildx plugin for BuildKit (Debian 12 packages none); the classic builder
# builds these Dockerfiles too, as they use no BuildKit-only syntax.
if [ -z "${DOCKER_BUILDKIT:-}" ]; then
    if docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=1; else export DOCKER_BUILDKIT=0; fi
fi

# The classic builder's deprecation notice would repeat for every build; the log line says which
# builder is used.
docker_build() {
    docker build "$@" 2>&1 | {
        grep -v -e '^DEPRECATED: The legacy builder' -e 'BuildKit is currently disabled' -e '^ *environment-variable\.$' || true
    } >&2
}

build() {
    local name=$1 base=$2 network=$3 tag=ai-data-scientist/$1 old new
    local args=(--force-rm --network="$network" --build-arg BASE_IMAGE="$base" -f "$DEPLOY_DIR/$name.Dockerfile")
    old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    log "building $tag FROM $base (network: $network, BuildKit: $DOCKER_BUILDKIT)"
    # Tagging the package stage keeps it as the layer cache of the next build, and marks any other
    # dangling image of a package stage as superseded (pruned below).
    if grep -q '^FROM .* AS packages$' "$DEPLOY_DIR/$name.Dockerfile"; then
        docker_build "${args[@]}" --target packages -t "$tag-packages" "$REPO_ROOT"
    fi
    docker_build "${args[@]}" -t "$tag" "$REPO_ROOT"
    new=$(docker image inspect -f '{{.Id}}' "$tag")
    # Drop the image this build replaced, unless something still uses or names it.
    if [ -n "$old" ] && [ "$old" != "$new" ] &&
        [ "$(docker image inspect -f '{{len .RepoTags}}' "$old" 2>/dev/null)" = 0 ]; then
        if docker image rm "$old" >/dev/null 2>&1; then log "removed the replaced image ${old:7:12}"; fi
    fi
}

# The gateway's page draws plotly figures with plotly.js, vendored into its static folder (which
# the image copies) from the npm registry, checked against a pinned hash.
if wants gateway; then "$DEPLOY_DIR/plotly-js.sh"; fi

# The Python images install everything from the wheelhouse, so they build without network.
for name in "${names[@]}"; do
    case $name in
    sandbox | gateway) build "$name" "$python_base" none ;;
    redis) build redis "$redis_base" "$redis_network" ;;
    esac
done

# Only untagged images that carry the package stages' label: superseded caches of these builds.
docker image prune -f --filter label=ai-data-scientist.stage=build >/dev/null

log "images:"
for name in "${names[@]}"; do
    docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}  ({{.ID}})' "ai-data-scientist/$name" | sed 's/^/  /' >&2
done
