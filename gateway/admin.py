"""Operator commands, run beside a gateway with the same settings (environment):

  python -m gateway.admin list                      sandboxes of this DATA_DIR and their status
                                                    (the warm pool's as "pool-...  pooled")
  python -m gateway.admin restart-sandbox CHAT_ID   restart the chat's container, keeping its state

A restarted sandbox comes back with its variables restored from their checkpoints and its files in
place; the user's next query just works. With compose: `docker compose exec gateway python -m
gateway.admin ...`.
"""

import argparse
import asyncio
import sys

import docker
from redis.asyncio import Redis

from gateway.chats.store import ChatStore
from gateway.sandbox import runtime as sandbox_runtime
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.manager import SandboxManager
from gateway.settings import Settings
from shared.ids import is_chat_id


async def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    client = await asyncio.to_thread(docker.from_env)
    runtime = sandbox_runtime.choose(
        settings.sandbox_runtime,
        await asyncio.to_thread(sandbox_runtime.registered_runtimes, client),
    )
    # The gateway processes' Redis: a restart here waits for a start there, as theirs do.
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        chats = ChatStore(redis)
        manager = SandboxManager(
            client,
            settings,
            runtime,
            SandboxCoordination(
                redis, settings.sandbox_idle_timeout_s, settings.sandbox_start_timeout_s
            ),
            is_deleted=_never_starts,
            uid_of=_never_allocates,
            is_busy=chats.query_running,
        )
        if args.command == "list":
            for chat_id, status in sorted((await manager.adopt()).items()):
                print(f"{chat_id}\t{status}")
            for pooled in await manager.list_pooled():
                print(f"{pooled.pool_id}\tpooled, {'running' if pooled.running else 'stopped'}")
            return 0
        if not is_chat_id(args.chat_id):
            print(f"'{args.chat_id}' is not a chat id", file=sys.stderr)
            return 2
        if not await manager.restart(args.chat_id):
            print(f"no sandbox for {args.chat_id} under {settings.data_dir}", file=sys.stderr)
            return 1
        print(f"restarted the sandbox of {args.chat_id}; its state is kept")
        return 0
    finally:
        await redis.aclose()


async def _never_allocates(chat_id: str, first_uid: int) -> int:
    raise AssertionError(f"the admin CLI does not start sandboxes ({chat_id})")


async def _never_starts(chat_id: str) -> bool:
    # The manager asks this only before starting a sandbox, which no command here does.
    raise AssertionError(f"the admin CLI does not start sandboxes ({chat_id})")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the sandboxes of this DATA_DIR")
    restart = commands.add_parser(
        "restart-sandbox", help="restart a chat's container, keeping state"
    )
    restart.add_argument("chat_id")
    sys.exit(asyncio.run(_run(parser.parse_args())))


if __name__ == "__main__":
    main()
