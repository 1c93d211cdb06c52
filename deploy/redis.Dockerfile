# ai-data-scientist/redis: Redis for the gateway's users, sessions, chats and query journal.
# images.sh builds it FROM the offline python base (which already holds Debian's redis-server) where
# no registry answers, else FROM debian:bookworm-slim, where apt-get installs it.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN command -v redis-server || (apt-get update \
        && apt-get install -y --no-install-recommends redis-server \
        && rm -rf /var/lib/apt/lists/*) \
    && mkdir -p /data \
    && chown redis:redis /data
COPY deploy/redis.conf /etc/redis/ai-data-scientist.conf
# A named volume mounted at /data starts with this ownership; a bind-mounted host dir must be
# writable by the redis user.
USER redis
WORKDIR /data
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=10 CMD ["redis-cli", "ping"]
CMD ["redis-server", "/etc/redis/ai-data-scientist.conf"]
