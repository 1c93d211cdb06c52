"""`python -m sandbox_runner`: start the kernel, then serve the executor protocol on the socket."""

import logging
import signal
import sys
from types import FrameType

from sandbox_runner.config import ConfigError, load_config
from sandbox_runner.server import ExecutorServer
from sandbox_runner.supervisor import Supervisor

log = logging.getLogger("sandbox_runner")


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config()
    except (ConfigError, ValueError) as e:
        log.error("cannot start: %s", e)
        raise SystemExit(2) from e
    supervisor = Supervisor(config)
    # The kernel first, so that a client which waits for the socket finds a warm executor.
    supervisor.start()
    server = ExecutorServer(config.socket_path, supervisor, config.secret)
    signal.signal(signal.SIGTERM, _stop)
    log.info("executor listening on %s, workspace %s", config.socket_path, config.workspace)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        log.info("executor stopping")
    finally:
        server.server_close()
        supervisor.close()


if __name__ == "__main__":
    main()
