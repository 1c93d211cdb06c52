"""Two sandbox images side by side, on one gateway: the image under test (SANDBOX_IMAGE) as the
chats' default and the other as a chat's choice (SANDBOX_IMAGES), so their chats take turns and
a machine that drifts mid-run drifts for both. For each: the image's size; create_chat + a first
`1+1` (a cold start: no pool); each of those chats' memory once idle, before anything is
imported; then, in the same chats, the time of a first `import pandas` cell."""

import statistics
import time
from dataclasses import dataclass, field

import docker

from bench.latency import percentile
from bench.memory import chats_mib
from tests.gateway_process import GatewayProcess

COMPARED = "compared"  # the other image's name in SANDBOX_IMAGES
# Idle memory "must not grow": the image under test may use this much more, for noise.
MEMORY_SLACK = 1.02


@dataclass
class ImageSide:
    """One image's measures: first cells and the import in ms, idle memory in MiB."""

    image: str
    size_mb: float = 0.0
    first_cell_ms: list[float] = field(default_factory=list)
    idle_mib: list[float] = field(default_factory=list)
    import_pandas_ms: list[float] = field(default_factory=list)


def measure_images(
    gateway: GatewayProcess,
    client: docker.DockerClient,
    tested: str,
    compared: str,
    chats: int,
    idle_s: float,
) -> list[ImageSide]:
    """`chats` chats on each image, made in turn; `gateway` has `compared` as COMPARED."""
    sides = {name: ImageSide(image) for name, image in (("default", tested), (COMPARED, compared))}
    chat_ids: dict[str, list[str]] = {name: [] for name in sides}
    try:
        for _ in range(chats):
            for name, side in sides.items():
                started = time.perf_counter()
                response = gateway.client.post("/create_chat", json={"image": name})
                assert response.status_code == 201, response.text
                chat_ids[name].append(chat_id := response.json()["chat_id"])
                reply = gateway.run(chat_id, "1+1")
                side.first_cell_ms.append((time.perf_counter() - started) * 1000)
                # An image from before the IPython kernel flags no display as the result.
                assert [o["data"]["text/plain"] for o in reply["outputs"]] == ["2"], reply
        time.sleep(idle_s)
        for name, side in sides.items():
            side.size_mb = client.images.get(side.image).attrs["Size"] / 1e6
            side.idle_mib = chats_mib(client, chat_ids[name])
        for turn in range(chats):
            for name, side in sides.items():
                started = time.perf_counter()
                reply = gateway.run(chat_ids[name][turn], "import pandas")
                side.import_pandas_ms.append((time.perf_counter() - started) * 1000)
                assert reply["status"] == "ok", reply
    finally:
        for chat_id in (chat_id for ids in chat_ids.values() for chat_id in ids):
            gateway.client.delete(f"/chat/{chat_id}")
    return list(sides.values())


def image_lines(sides: list[ImageSide], runtime: str, idle_s: float) -> list[str]:
    """The table: a column per image, then the ratio tested/compared."""
    tested, compared = sides
    n = len(tested.first_cell_ms)
    idle = statistics.median(tested.idle_mib), statistics.median(compared.idle_mib)
    rows: list[tuple[str, int | str, float, float]] = [
        ("image size (MB, docker image inspect)", "", tested.size_mb, compared.size_mb),
        ("idle memory per chat, median (MiB)", n, *idle),
    ]
    timed = (
        ("create_chat + first 1+1", tested.first_cell_ms, compared.first_cell_ms),
        ("first `import pandas` cell", tested.import_pandas_ms, compared.import_pandas_ms),
    )
    rows += [
        (f"{what}, p{pct} (ms)", n, percentile(ours, pct), percentile(theirs, pct))
        for what, ours, theirs in timed
        for pct in (50, 90)
    ]
    lines = [
        "",
        f"sandbox images side by side, sandboxes under {runtime}, {n} chats each, made in turn "
        f"(no pool); idle memory as docker stats, {idle_s:g} s after the first 1+1; "
        "`import pandas` as each chat's second cell",
        f"  tested:   {tested.image}",
        f"  compared: {compared.image}",
        f"{'measure':<50} {'n':>5} {'tested':>10} {'compared':>10} {'ratio':>7}  {'goal':<20} met",
    ]
    for name, count, ours, theirs in rows:
        line = f"{name:<50} {count:>5} {ours:>10.1f} {theirs:>10.1f} {ours / theirs:>6.2f}x"
        if name.startswith("idle memory"):
            grew = ours > theirs * MEMORY_SLACK
            goal = f"≤ compared +{(MEMORY_SLACK - 1) * 100:g}%"
            line += f"  {goal:<20} {'NO: it grew' if grew else 'yes'}"
        lines.append(line)
    return lines
