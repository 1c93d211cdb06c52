"""Measure a real gateway, Redis and sandboxes, and print one table.

Parts (--parts, --skip):
  latency: warm {"code": "1+1"} (p50, p99 over N runs), cold create_chat + first result, and
           checkpoint/restore of a 1M-row frame, under every runtime the engine has (runsc
           beside runc): absolute times drift on shared machines, the ratio much less
  pool:    create_chat + first result from a full warm pool (1+1, and a first pandas DataFrame),
           beside latency's cold rows (no pool), under the same runtimes; and the background
           time to make one pooled sandbox ready
  jupyter: the peer, a warm ipykernel on the host, `1+1` N times, with ours/Jupyter
  memory:  --chats chats with a pandas frame, idle, each sandbox's memory (docker stats)
  load:    wrk with 1, 10, 20 and 50 clients over those chats, for each GATEWAY_WORKERS count:
           req/s, p50, p99, errors and the gateway's CPU ms per query
  images:  the sandbox image (SANDBOX_IMAGE) beside --compare-image: image size, a chat's idle
           memory after its first 1+1, create_chat + first 1+1 (cold), a first `import pandas`;
           --cold chats on each, under --load-runtime (runs when --compare-image is given)

memory and load share their chats and run under one runtime (--load-runtime). The pandas frame
is loaded before the load runs, so those measure chats holding data, as in use, and the memory
read is not skewed by thousands of queries.

Run with `make bench` (or `python -m bench --warm 200 --cold 3 --state 1 --duration 5`).
"""

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from bench.images import COMPARED, measure_images
from bench.jupyter_peer import measure_jupyter
from bench.latency import measure_latency
from bench.load import measure_load, open_chats, require_wrk, run_in_each, warm_up
from bench.memory import PANDAS_FRAME, chats_mib
from bench.pool import POOL_SIZE, measure_pool
from bench.report import Results, report
from gateway.sandbox.containers import LABEL_DATA_DIR, LABEL_POOL
from tests.gateway_process import GatewayProcess, remove_deployment
from tests.services import redis_server

PARTS = ("latency", "pool", "jupyter", "memory", "load", "images")


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        default="",
        help=f"parts to run, of {','.join(PARTS)} (default: all, images only with --compare-image)",
    )
    parser.add_argument("--skip", default="", help="parts to leave out, e.g. load,memory")
    parser.add_argument("--warm", type=int, default=1000, help="warm round trips (and Jupyter's)")
    parser.add_argument(
        "--cold",
        type=int,
        default=20,
        help="cold create-and-run round trips; images: chats per image",
    )
    parser.add_argument("--state", type=int, default=5, help="checkpoint and restore rounds")
    parser.add_argument("--pool", type=int, default=20, help="first results from the pool")
    parser.add_argument(
        "--runtimes",
        default="runsc,runc",
        help="latency: the runtimes to compare, side by side (those the engine lacks are left out)",
    )
    parser.add_argument(
        "--load-runtime",
        default="auto",
        choices=["auto", "runsc", "runc"],
        help="memory, load and images: the sandboxes' runtime (auto: the gateway's default, runsc "
        "where the engine has it)",
    )
    parser.add_argument(
        "--compare-image",
        default="",
        help="images: the sandbox image to compare SANDBOX_IMAGE (or :latest) with, such as "
        "ai-data-scientist/sandbox:before",
    )
    parser.add_argument("--chats", type=int, default=50, help="memory and load: chats")
    parser.add_argument("--clients", default="1,10,20,50", help="load: concurrent clients")
    parser.add_argument("--workers", default="1,2", help="load: GATEWAY_WORKERS values")
    parser.add_argument("--duration", type=float, default=10.0, help="load: seconds per row")
    parser.add_argument(
        "--idle", type=float, default=3.0, help="memory, images: seconds idle first"
    )
    args = parser.parse_args()
    default = [p for p in PARTS if p != "images" or args.compare_image]
    wanted = comma_list(args.parts) or default
    args.parts = [p for p in wanted if p not in comma_list(args.skip)]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; the parts are {', '.join(PARTS)}")
    args.clients = [int(n) for n in comma_list(args.clients)]
    args.workers = [int(n) for n in comma_list(args.workers)]
    if "images" in args.parts and not args.compare_image:
        parser.error("the images part compares two images: name the other with --compare-image")
    if "load" in args.parts and max(args.clients) > args.chats:
        parser.error("every client needs a chat of its own: --clients at most --chats")
    return args


def measure_chats(
    env: dict[str, str], client: docker.DockerClient, args: argparse.Namespace, results: Results
) -> None:
    """Memory and load: one set of chats, served by a gateway per GATEWAY_WORKERS value in
    turn (the chats and their sandboxes outlive a gateway's restart)."""
    data_dir = Path(env["DATA_DIR"])
    chat_ids: list[str] = []
    for workers in args.workers if "load" in args.parts else args.workers[:1]:
        log_dir = data_dir / f"gateway-chats-{workers}w"
        log_dir.mkdir()
        gateway_env = {**env, "SANDBOX_RUNTIME": args.load_runtime}
        gateway_env["GATEWAY_WORKERS"] = str(workers)
        with GatewayProcess(gateway_env, log_dir) as gateway:
            health = gateway.client.get("/health").json()
            results.chats_runtime = health["sandbox_runtime"]
            if not chat_ids:
                chat_ids = open_chats(gateway, args.chats)
                results.chat_count = len(chat_ids)
                if "memory" in args.parts:
                    measure_memory(gateway, client, chat_ids, args.idle, results)
            if "load" not in args.parts:
                return
            label = f"{workers} ({health.get('workers', '-')})"
            warm_up(gateway, chat_ids)
            for clients in args.clients:
                results.load.append(measure_load(gateway, chat_ids, clients, args.duration, label))


def measure_memory(
    gateway: GatewayProcess,
    client: docker.DockerClient,
    chat_ids: list[str],
    idle_s: float,
    results: Results,
) -> None:
    """Each chat's sandbox memory idle after one `1+1`, then idle with the pandas frame."""
    results.idle_s = idle_s
    time.sleep(idle_s)
    results.memory["1+1 only (sandbox started, nothing imported)"] = chats_mib(client, chat_ids)
    run_in_each(gateway, chat_ids, PANDAS_FRAME)
    results.pandas_loaded = True
    time.sleep(idle_s)
    results.memory["pandas + a 1000-row DataFrame"] = chats_mib(client, chat_ids)


def measure_image_pair(
    env: dict[str, str], client: docker.DockerClient, args: argparse.Namespace, results: Results
) -> None:
    """Images: one gateway whose chats are made on either image (see bench.images)."""
    log_dir = Path(env["DATA_DIR"]) / "gateway-images"
    log_dir.mkdir()
    both = {
        **env,
        "SANDBOX_RUNTIME": args.load_runtime,
        "SANDBOX_IMAGES": f"{COMPARED}={args.compare_image}",
    }
    with GatewayProcess(both, log_dir) as gateway:
        results.images_runtime = gateway.client.get("/health").json()["sandbox_runtime"]
        results.idle_s = args.idle
        results.images = measure_images(
            gateway, client, env["SANDBOX_IMAGE"], args.compare_image, args.cold, args.idle
        )


@contextmanager
def started_gateway(env: dict[str, str], log_dir: Path) -> Iterator[GatewayProcess]:
    log_dir.mkdir()
    with GatewayProcess(env, log_dir) as gateway:
        found = gateway.client.get("/health").json()["sandbox_runtime"]
        runtime = env["SANDBOX_RUNTIME"]
        assert found == runtime, f"asked for {runtime}, the gateway runs {found}"
        yield gateway


def remove_pooled(client: docker.DockerClient, data_dir: Path) -> None:
    """The pool a stopped gateway left waiting: idle, but not to be measured beside the rest."""
    labels = [f"{LABEL_DATA_DIR}={data_dir}", LABEL_POOL]
    for container in client.containers.list(all=True, filters={"label": labels}):
        container.remove(force=True)


def main() -> None:
    args = parse_args()
    if "load" in args.parts:
        require_wrk()
    data_dir = Path(tempfile.mkdtemp(prefix="ads-bench-", dir="/tmp"))
    client = docker.from_env()
    image = os.environ.get("SANDBOX_IMAGE", "ai-data-scientist/sandbox:latest")
    for name in [image, args.compare_image] if "images" in args.parts else []:
        try:
            client.images.get(name)
        except ImageNotFound:
            raise SystemExit(f"bench: no image {name} in this Docker engine") from None
    registered = set(client.info().get("Runtimes") or {})
    results = Results(machine="")
    results.runtimes = [r for r in comma_list(args.runtimes) if r in registered]
    results.duration_s = args.duration
    try:
        with redis_server() as redis:
            env = {
                "DATA_DIR": str(data_dir),
                "REDIS_URL": redis.url,
                "AUTH_MODE": "local",
                "LOCAL_AUTH_TOKEN": "bench-" + os.urandom(8).hex(),
                "SANDBOX_IMAGE": image,
                # Only the pool part has one: elsewhere it would turn cold starts warm and keep
                # sandboxes busy starting beside what is measured.
                "SANDBOX_POOL_SIZE": "0",
                # The bench is one user with many chats at once, which the per-user quotas
                # exist to stop: left on, USER_MAX_RUNNING_SANDBOXES would stop and restore
                # sandboxes under the load instead of measuring it.
                "USER_MAX_CHATS": "0",
                "USER_MAX_RUNNING_SANDBOXES": "0",
                "USER_DISK_LIMIT": "0",
                "USER_LLM_TOKENS_PER_DAY": "0",
            }
            for runtime in results.runtimes if {"latency", "pool"} & set(args.parts) else []:
                # One gateway process, as these rows have always been measured; what more
                # workers change is the load part's to show.
                single = {**env, "SANDBOX_RUNTIME": runtime, "GATEWAY_WORKERS": "1"}
                samples = results.latency.setdefault(runtime, {})
                if "latency" in args.parts:
                    with started_gateway(single, data_dir / f"gateway-{runtime}") as gateway:
                        samples.update(
                            measure_latency(gateway, client, args.warm, args.cold, args.state)
                        )
                if "pool" in args.parts:
                    pooled = {**single, "SANDBOX_POOL_SIZE": str(POOL_SIZE)}
                    with started_gateway(pooled, data_dir / f"gateway-pool-{runtime}") as gateway:
                        samples.update(measure_pool(gateway, args.pool))
                    remove_pooled(client, data_dir)
            if "jupyter" in args.parts:
                results.jupyter = measure_jupyter(args.warm, data_dir / "jupyter-kernel.log")
            if "memory" in args.parts or "load" in args.parts:
                measure_chats(env, client, args, results)
            if "images" in args.parts:
                measure_image_pair(env, client, args, results)
    finally:
        remove_deployment(client, data_dir)

    measured = [*results.latency]
    for runtime in (results.chats_runtime, results.images_runtime):
        measured += [runtime] if runtime not in ("", *measured) else []
    results.machine = (
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Docker {client.version()['Version']}; "
        f"runtimes measured in this one run: {', '.join(measured) or 'none'}"
    )
    print(report(results))


if __name__ == "__main__":
    main()
