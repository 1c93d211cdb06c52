# A sandbox image variant (SANDBOX_IMAGES): the sandbox image plus the packages of a requirements
# file, for stacks too heavy to install per chat. Built by deploy/variant.sh from the repo root,
# offline: pip installs from the wheels the host downloaded into deploy/.wheelhouse/variant-NAME/,
# held to the sandbox image's own versions of its packages (constraints from its lock). The
# wheels stay in the COPY layer (the classic builder has no build mounts); the image's own
# packages were dropped from them first, so that is the new packages' size once more.
ARG BASE_IMAGE=ai-data-scientist/sandbox:latest
FROM ${BASE_IMAGE}
ARG VARIANT
USER root
COPY deploy/.wheelhouse/variant-${VARIANT}/ /tmp/variant/
RUN pip install --quiet --no-index --no-cache-dir --find-links=/tmp/variant \
        -c /tmp/variant/constraints.txt -r /tmp/variant/requirements.txt \
    && python -m compileall -q -j0 /opt/venv/lib \
    && rm -rf /tmp/variant
LABEL ai-data-scientist.variant=${VARIANT}
USER 10001:10001
