"""Memory of idle chats' sandboxes, as `docker stats` reports it.

`docker stats` shows usage minus the inactive page cache (file pages the kernel can drop at
will), and so do we: cgroup v1 names it total_inactive_file, v2 inactive_file. Read with
one_shot, which answers at once instead of waiting a second for a second CPU sample.
"""

from concurrent.futures import ThreadPoolExecutor

import docker

MIB = 1024 * 1024
PANDAS_FRAME = (
    'import pandas as pd; df = pd.DataFrame({"a": range(1000), "b": [1.5] * 1000}); len(df)'
)


def container_mib(client: docker.DockerClient, chat_id: str) -> float:
    """MiB the chat's running sandbox (`ads-<chat_id>`) uses, page cache it can drop left out."""
    stats = client.containers.get(f"ads-{chat_id}").stats(stream=False, one_shot=True)
    memory = stats["memory_stats"]
    usage = memory["usage"]
    counters = memory.get("stats", {})
    inactive = counters.get("total_inactive_file", counters.get("inactive_file", 0))
    return (usage - inactive if inactive < usage else usage) / MIB


def chats_mib(client: docker.DockerClient, chat_ids: list[str]) -> list[float]:
    """MiB per chat for all of them, read a few at a time (each read is one engine round trip)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda chat_id: container_mib(client, chat_id), chat_ids))
