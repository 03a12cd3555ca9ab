"""Finding the nodes before a run: every address a DNS name resolves to (a Kubernetes headless
Service), and waiting until enough of them answer /api/ready."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from client.http import DetectClient
from client.nodes import node_url

POLL_SECONDS = 2.0


class DiscoveryError(RuntimeError):
    """Not enough nodes resolved or became ready in time."""


def resolve_all(target: str) -> list[str]:
    """`host:port` for every address `NAME:PORT` resolves to, sorted (none when it does not resolve)."""
    name, _, port = target.rpartition(":")
    if not name or not port.isdigit():
        raise ValueError(f"--discover {target!r}: give NAME:PORT, e.g. objdet-node-headless:5000")
    try:
        infos = socket.getaddrinfo(name, int(port), proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return []
    hosts = sorted({str(info[4][0]) for info in infos})
    return [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts]


def _ready(address: str, timeout: float) -> bool:
    client = DetectClient(node_url(address), api_key=None, connect_timeout=timeout, read_timeout=timeout)
    try:
        return client.ready(timeout)
    finally:
        client.close()


def wait_for_nodes(
    nodes: list[str],
    discover: str | None,
    min_nodes: int,
    wait: float,
    notify: Callable[[str], None] = lambda message: None,
) -> list[str]:
    """The nodes to use once at least `min_nodes` of them answer /api/ready (all of `nodes` when no
    `discover` name is given); raises DiscoveryError after `wait` seconds."""
    deadline = time.monotonic() + wait
    want = min_nodes if discover else len(nodes)
    announced: tuple[str, ...] = ()
    while True:
        candidates = resolve_all(discover) if discover else list(nodes)
        ready = [address for address in candidates if _ready(address, timeout=3.0)]
        if len(ready) >= want:
            return ready if discover else list(nodes)
        status = f"{len(ready)} of {want} node(s) ready" + (
            f" ({len(candidates)} behind {discover})" if discover else ""
        )
        if tuple(ready) != announced:
            notify(f"waiting for nodes: {status}")
            announced = tuple(ready)
        if time.monotonic() >= deadline:
            raise DiscoveryError(f"after {wait:.0f} s only {status}")
        time.sleep(POLL_SECONDS)
