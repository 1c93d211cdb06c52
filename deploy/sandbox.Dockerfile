# ai-data-scientist/sandbox: the per-chat sandbox (DESIGN.md, "Sandbox"). Built by deploy/images.sh
# from the repo root, with pip packages from the host-built wheelhouse only, so the build needs no
# network. Containers run it with a read-only root fs, so everything that Python or matplotlib would
# otherwise write on first use is made here.
ARG BASE_IMAGE=python:3.11-slim

# The wheels stay in this stage; only the installed venv reaches the final image. The lock file
# names every package at its exact version and pip checks each wheel's sha256 against it.
FROM ${BASE_IMAGE} AS packages
LABEL ai-data-scientist.stage=build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY deploy/requirements-sandbox.lock.txt /build/requirements.lock.txt
COPY deploy/.wheelhouse/sandbox/ /build/wheels/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet --no-index --find-links=/build/wheels \
        --require-hashes -r /build/requirements.lock.txt \
    && /opt/venv/bin/python -m compileall -q -j0 /opt/venv/lib

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONPATH=/opt/executor \
    EXECUTOR_OWNS_PID_NAMESPACE=1
COPY --from=packages /opt/venv /opt/venv

# matplotlib uses a config/cache dir only if it can write to it, and the root fs is read-only: the
# font cache is built here into /opt/matplotlib and the entrypoint copies it to MPLCONFIGDIR on the
# /tmp tmpfs at start, so no container ever rebuilds it.
COPY deploy/sandbox-entrypoint.sh /usr/local/bin/sandbox-entrypoint
RUN MPLCONFIGDIR=/opt/matplotlib python -c "import matplotlib.pyplot" \
    && chmod -R a+rX /opt/matplotlib \
    && chmod 755 /usr/local/bin/sandbox-entrypoint \
    && groupadd --system --gid 10001 sandbox \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin sandbox \
    && mkdir -p /workspace /state /run/executor \
    && chown 10001:10001 /workspace /state /run/executor

COPY shared/ /opt/executor/shared/
COPY sandbox_runner/ /opt/executor/sandbox_runner/
RUN python -m compileall -q /opt/executor

WORKDIR /workspace
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/sandbox-entrypoint"]
# -P: the working directory (the user's workspace) must not shadow the executor's own modules.
CMD ["python", "-P", "-m", "sandbox_runner"]
