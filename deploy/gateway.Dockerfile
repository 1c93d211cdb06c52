# ai-data-scientist/gateway: the FastAPI gateway (DESIGN.md, "Gateway"). Built by deploy/images.sh
# from the repo root, with pip packages from the host-built wheelhouse only, so the build needs no
# network. It runs as root because it drives the Docker engine through the mounted socket.
ARG BASE_IMAGE=python:3.11-slim

# The wheels stay in this stage; only the installed venv reaches the final image. The lock file
# names every package at its exact version and pip checks each wheel's sha256 against it.
FROM ${BASE_IMAGE} AS packages
LABEL ai-data-scientist.stage=build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY deploy/requirements-gateway.lock.txt /build/requirements.lock.txt
COPY deploy/.wheelhouse/gateway/ /build/wheels/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet --no-index --find-links=/build/wheels \
        --require-hashes -r /build/requirements.lock.txt \
    && /opt/venv/bin/python -m compileall -q -j0 /opt/venv/lib

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app
COPY --from=packages /opt/venv /opt/venv

WORKDIR /app
COPY shared/ /app/shared/
# static/vendor/ (plotly.js, put there by deploy/plotly-js.sh, not in git) comes with the rest.
COPY gateway/ /app/gateway/
RUN test -s /app/gateway/web/static/vendor/plotly.min.js \
    && python -m compileall -q /app

EXPOSE 8018
CMD ["python", "-m", "gateway"]
