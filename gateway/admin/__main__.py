"""Operator commands, run beside a gateway with the same settings (environment); they call the
same service as the admin API (gateway.admin.service), and are audited as admin actions of the
command line (no user):

  python -m gateway.admin list                      sandboxes of this DATA_DIR and their status
                                                    (the warm pool's as "pool-...  pooled")
  python -m gateway.admin users                     users, their chats, sandboxes and use
  python -m gateway.admin restart-sandbox CHAT_ID   restart the chat's container, keeping its state
  python -m gateway.admin stop-sandbox CHAT_ID      stop it, keeping its state
  python -m gateway.admin block USER_ID             refuse every request of the user
  python -m gateway.admin unblock USER_ID
  python -m gateway.admin revoke USER_ID            end the user's sessions, delete their tokens

A restarted sandbox comes back with its variables restored from their checkpoints and its files in
place; the user's next query just works. With compose: `docker compose exec gateway python -m
gateway.admin ...`.
"""

import argparse
import asyncio
import sys

import docker
from redis.asyncio import Redis

from gateway.admin.service import AdminService
from gateway.audit import AuditAction, AuditLog
from gateway.auth.authenticator import Authenticator
from gateway.chats.store import ChatStore
from gateway.sandbox import runtime as sandbox_runtime
from gateway.sandbox.coordination import SandboxCoordination
from gateway.sandbox.manager import SandboxManager
from gateway.settings import Settings
from gateway.usage import UsageStore
from shared.errors import AppError
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
        coordination = SandboxCoordination(
            redis, settings.sandbox_idle_timeout_s, settings.sandbox_start_timeout_s
        )
        manager = SandboxManager(
            client,
            settings,
            runtime,
            coordination,
            is_deleted=_never_starts,
            uid_of=_never_allocates,
            is_busy=chats.query_running,
        )
        auth = Authenticator.create(settings, redis, settings.local_auth_token or "")
        service = AdminService(
            settings,
            chats,
            manager,
            coordination,
            UsageStore(redis),
            auth,
            stops=None,
        )
        audit = AuditLog(redis, settings.audit_retention_days)
        return await _command(args, manager, service, audit)
    except AppError as e:
        print(e.detail, file=sys.stderr)
        return 1
    finally:
        await redis.aclose()


async def _command(
    args: argparse.Namespace, manager: SandboxManager, service: AdminService, audit: AuditLog
) -> int:
    if args.command == "list":
        for chat_id, status in sorted((await manager.adopt()).items()):
            print(f"{chat_id}\t{status}")
        for pooled in await manager.list_pooled():
            print(f"{pooled.pool_id}\tpooled, {'running' if pooled.running else 'stopped'}")
        return 0
    if args.command == "users":
        for user in await service.users():
            print(
                f"{user.id}\t{user.login}\tchats {user.chats}\trunning {user.running_sandboxes}"
                f"\tdisk {user.disk_bytes}\ttokens today {user.llm_tokens_today}"
                f"{chr(9) + 'blocked' if user.blocked else ''}"
            )
        return 0
    if args.command in ("restart-sandbox", "stop-sandbox"):
        if not is_chat_id(args.chat_id):
            print(f"'{args.chat_id}' is not a chat id", file=sys.stderr)
            return 2
        if args.command == "restart-sandbox":
            await service.restart_sandbox(args.chat_id)
            await audit.record(AuditAction.ADMIN_SANDBOX_RESTARTED, target=args.chat_id)
            print(f"restarted the sandbox of {args.chat_id}; its state is kept")
        else:
            await service.stop_sandbox(args.chat_id)
            await audit.record(AuditAction.ADMIN_SANDBOX_STOPPED, target=args.chat_id)
            print(f"stopped the sandbox of {args.chat_id}; its state is kept")
        return 0
    if args.command in ("block", "unblock"):
        blocked = args.command == "block"
        await service.set_blocked(args.user_id, blocked)
        action = AuditAction.ADMIN_USER_BLOCKED if blocked else AuditAction.ADMIN_USER_UNBLOCKED
        await audit.record(action, target=args.user_id)
        print(f"{args.command}ed {args.user_id}")
        return 0
    revoked = await service.revoke(args.user_id)
    await audit.record(
        AuditAction.ADMIN_SESSIONS_REVOKED,
        target=args.user_id,
        details={"sessions": revoked.sessions, "tokens": revoked.tokens},
    )
    print(f"ended {revoked.sessions} session(s) and deleted {revoked.tokens} token(s)")
    return 0


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
    commands.add_parser("users", help="list the users and their use")
    for name, what in (
        ("restart-sandbox", "restart a chat's container, keeping state"),
        ("stop-sandbox", "stop a chat's container, keeping state"),
    ):
        commands.add_parser(name, help=what).add_argument("chat_id")
    for name, what in (
        ("block", "refuse every request of a user"),
        ("unblock", "let a blocked user in again"),
        ("revoke", "end a user's sessions and delete their API tokens"),
    ):
        commands.add_parser(name, help=what).add_argument("user_id")
    sys.exit(asyncio.run(_run(parser.parse_args())))


if __name__ == "__main__":
    main()
