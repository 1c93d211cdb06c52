"""`python -m gateway`: serve the API on PORT (local mode listens on loopback only)."""

import logging

import uvicorn

from gateway.api import access_log
from gateway.settings import Settings


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    access_log.install()
    settings = Settings()
    host = settings.host or ("127.0.0.1" if settings.effective_auth_mode == "local" else "0.0.0.0")
    # A bounded graceful shutdown: streams and long queries must not hold a restart hostage.
    uvicorn.run(
        "gateway.main:app",
        host=host,
        port=settings.port,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
