"""`python -m gateway`: serve the API on PORT (local mode listens on loopback only), with
GATEWAY_WORKERS processes on the one port (uvicorn's supervisor restarts any that dies)."""

import socket
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from gateway import logs
from gateway.metrics_dir import metrics_dir
from gateway.settings import Settings, SettingsError


def main() -> None:
    settings = Settings()
    try:
        # Checked here too, before any worker starts: a worker that fails on import is
        # started again by uvicorn's supervisor, forever.
        settings.raise_if_unusable()
    except SettingsError as e:
        sys.exit(f"gateway: {e}")
    # Set up before prometheus_client is imported, here (by the app, or by the logging
    # configuration's modules) or in a worker.
    with metrics_dir():
        _serve(settings)


def _serve(settings: Settings) -> None:
    host = settings.host or ("127.0.0.1" if settings.effective_auth_mode == "local" else "0.0.0.0")
    config = uvicorn.Config(
        "gateway.main:app",
        host=host,
        port=settings.port,
        workers=settings.effective_gateway_workers,
        proxy_headers=True,
        # Applied by uvicorn in every worker process (a worker is spawned, so nothing configured
        # here in the parent reaches it otherwise): one format for the gateway's lines and
        # uvicorn's. Its access log is off: gateway.api.request_ids writes one line a request.
        log_config=logs.config(settings.log_format),
        access_log=False,
        # A bounded graceful shutdown: streams and long queries must not hold a restart hostage.
        timeout_graceful_shutdown=10,
    )
    if config.workers == 1:
        config.load_app()
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    # The workers share one listening socket, made here. uvicorn makes it with protocol 0, so
    # asyncio never sets TCP_NODELAY on the connections it accepts, and Nagle's algorithm held
    # each response's body ~40 ms behind its headers on a kept-alive connection
    # (encode/uvicorn#3149). Linux hands the listening socket's TCP_NODELAY to every accepted one.
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
