"""`python -m gateway`: serve the API on PORT (local mode listens on loopback only), with
GATEWAY_WORKERS processes on the one port (uvicorn's supervisor restarts any that dies)."""

from typing import Any

import uvicorn

from gateway.settings import Settings

# Applied by uvicorn in every worker process (a worker is spawned, so nothing configured here in
# the parent reaches it otherwise): one format for the gateway's own log and uvicorn's, and the
# access log's secrets redacted (gateway.api.access_log).
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {"redact": {"()": "gateway.api.access_log.RedactSecrets"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "uvicorn": {"level": "INFO"},
        "uvicorn.access": {"level": "INFO", "filters": ["redact"]},
    },
}


def main() -> None:
    settings = Settings()
    host = settings.host or ("127.0.0.1" if settings.effective_auth_mode == "local" else "0.0.0.0")
    uvicorn.run(
        "gateway.main:app",
        host=host,
        port=settings.port,
        workers=settings.effective_gateway_workers,
        proxy_headers=True,
        log_config=LOG_CONFIG,
        # A bounded graceful shutdown: streams and long queries must not hold a restart hostage.
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
