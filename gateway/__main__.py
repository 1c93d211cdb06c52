"""`python -m gateway`: serve the API on PORT (local mode listens on loopback only)."""

import logging

import uvicorn

from gateway.settings import Settings


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    host = settings.host or ("127.0.0.1" if settings.effective_auth_mode == "local" else "0.0.0.0")
    uvicorn.run("gateway.main:app", host=host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main()
