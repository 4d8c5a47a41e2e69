"""The Pods of ``hello-corp/website:latest``, played by small web servers.

Each answers any ``GET`` or ``HEAD`` with 200, the text "Welcome to Hello Corp" and the header
``X-Served-By: <pod ip>:<port>@<pod name>``, as the seed story's website does. It listens on
the loopback address carrying its Pod IP (see :class:`~exoccm.testing.podnet.PodNetwork`).

Ports below 1024 (the website's 80) need root, or a lowered
``net.ipv4.ip_unprivileged_port_start``. Where neither is the case, a site listens on its port
plus :data:`UNPRIVILEGED_PORT_OFFSET` (80 becomes 10080) instead; :meth:`PodSites.address_of`
tells the kube-proxy stand-in where to connect, and ``X-Served-By`` still names the port the
Pod declares.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskGroup

from exoccm.testing.cluster_state import Site
from exoccm.testing.httpserve import read_request, response
from exoccm.testing.podnet import PodNetwork

WELCOME = b"Welcome to Hello Corp\n"
UNPRIVILEGED_PORT_OFFSET = 10000
_UNPRIVILEGED_PORT_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")

logger = logging.getLogger("exoccm.testing.website")


def may_bind_low_ports() -> bool:
    """Whether this process may listen on ports below 1024."""
    if os.geteuid() == 0:
        return True
    try:
        return int(_UNPRIVILEGED_PORT_START.read_text()) <= 80
    except (OSError, ValueError):
        return False


@dataclass(eq=False)
class _Running:
    site: Site
    listen_ip: str
    listen_port: int
    scope: anyio.CancelScope
    stopped: anyio.Event


class PodSites:
    """Starts and stops the website servers as :meth:`apply` is told which Pods exist."""

    def __init__(
        self, group: TaskGroup, network: PodNetwork, *, low_ports: bool | None = None
    ) -> None:
        self._group = group
        self._network = network
        self._low_ports = may_bind_low_ports() if low_ports is None else low_ports
        self._running: dict[tuple[str, str], _Running] = {}
        self._refused: set[Site] = set()
        #: Requests answered, by ``X-Served-By`` value.
        self.requests: Counter[str] = Counter()

    @property
    def sites(self) -> list[Site]:
        return [running.site for running in self._running.values()]

    def address_of(self, ip: str, port: int) -> tuple[str, int] | None:
        """Where a Pod's ``ip:port`` really listens (the loopback address carrying its IP, and a
        higher port where low ones are out of reach); None for an address outside the Pod
        network."""
        for running in self._running.values():
            if (running.site.ip, running.site.port) == (ip, port):
                return running.listen_ip, running.listen_port
        carrier = self._carrier(ip)
        return None if carrier is None else (carrier, port)

    def _carrier(self, ip: str) -> str | None:
        try:
            return self._network.loopback_address(ip)
        except ValueError:
            return None

    async def apply(self, sites: Mapping[tuple[str, str], Site]) -> None:
        for key in [k for k, r in self._running.items() if sites.get(k) != r.site]:
            await self._stop(self._running.pop(key))
        for key, site in sites.items():
            if key not in self._running:
                await self._start(key, site)

    async def close(self) -> None:
        for running in list(self._running.values()):
            await self._stop(running)
        self._running.clear()

    async def _start(self, key: tuple[str, str], site: Site) -> None:
        carrier = self._carrier(site.ip)
        if carrier is None:
            if site not in self._refused:
                logger.warning(
                    "Pod %s/%s has IP %s, outside the Pod network %s: not served",
                    *key,
                    site.ip,
                    self._network.cidr,
                )
                self._refused.add(site)
            return
        port = site.port
        if port < 1024 and not self._low_ports:
            port += UNPRIVILEGED_PORT_OFFSET
        try:
            listener = await anyio.create_tcp_listener(local_host=carrier, local_port=port)
        except OSError as error:
            logger.error("Pod %s/%s: cannot listen on %s:%d: %s", *key, carrier, port, error)
            return
        running = _Running(site, carrier, port, anyio.CancelScope(), anyio.Event())
        self._running[key] = running
        self._group.start_soon(self._serve, running, listener)

    async def _serve(self, running: _Running, listener: Any) -> None:
        try:
            with running.scope:
                await listener.serve(lambda stream: self._answer(running.site, stream))
        finally:
            await listener.aclose()
            running.stopped.set()

    @staticmethod
    async def _stop(running: _Running) -> None:
        running.scope.cancel()
        await running.stopped.wait()

    async def _answer(self, site: Site, stream: SocketStream) -> None:
        async with stream:
            request = await read_request(stream)
            if request is None:
                return
            method, _ = request
            headers = {"Content-Type": "text/plain; charset=utf-8", "X-Served-By": site.served_by}
            if method in ("GET", "HEAD"):
                answer = response(200, WELCOME, headers, head_only=method == "HEAD")
                self.requests[site.served_by] += 1
            else:
                answer = response(405, b"", {**headers, "Allow": "GET, HEAD"})
            try:
                await stream.send(answer)
            except (anyio.BrokenResourceError, OSError):
                return
