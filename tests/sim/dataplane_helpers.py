"""Helpers for the data-plane tests: members that answer with their address, and clients.

A :class:`Backends` serves TCP (and optionally UDP) on each member's IP: a connection gets the
member's IP back, then an echo of what it sent. The members record the connections they get,
so a test can tell where the NLB sent each one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from anyio.abc import SocketAttribute, SocketStream, TaskGroup

from exoccm.sim import Simulator
from tests.sim.helpers import ZONE, add_service, create_nlb

TARGET_PORT = 30080


@dataclass
class Backends:
    """Members listening on ``port``; ``seen[ip]`` lists the client IPs each one served."""

    port: int
    group: TaskGroup
    seen: dict[str, list[str]] = field(default_factory=dict)
    _listeners: dict[str, Any] = field(default_factory=dict)

    async def start(self, ip: str) -> None:
        listener = await anyio.create_tcp_listener(local_host=ip, local_port=self.port)
        scope, stopped = anyio.CancelScope(), anyio.Event()
        self._listeners[ip] = (listener, scope, stopped)
        self.seen.setdefault(ip, [])

        async def serve() -> None:
            try:
                with scope:
                    await listener.serve(self._answer(ip))
            finally:
                await listener.aclose()
                stopped.set()

        self.group.start_soon(serve)

    async def stop(self, ip: str) -> None:
        """Stop listening on ``ip``: new connections are refused."""
        _, scope, stopped = self._listeners.pop(ip)
        scope.cancel()
        await stopped.wait()

    async def start_udp(self, ip: str) -> None:
        sock = await anyio.create_udp_socket(local_host=ip, local_port=self.port)
        self.seen.setdefault(ip, [])

        async def echo() -> None:
            async with sock:
                async for data, client in sock:
                    self.seen[ip].append(client[0])
                    await sock.sendto(ip.encode() + b"|" + data, client[0], client[1])

        self.group.start_soon(echo)

    def _answer(self, ip: str) -> Callable[[SocketStream], Awaitable[None]]:
        async def answer(stream: SocketStream) -> None:
            async with stream:
                self.seen[ip].append(str(stream.extra(SocketAttribute.remote_address)[0]))
                try:
                    await stream.send(ip.encode() + b"|")
                    async for chunk in stream:
                        await stream.send(chunk)
                except (OSError, anyio.BrokenResourceError):
                    pass

        return answer

    def counts(self) -> dict[str, int]:
        return {ip: len(clients) for ip, clients in self.seen.items()}


@asynccontextmanager
async def backends(
    ips: Iterable[str], port: int = TARGET_PORT, *, udp: bool = False
) -> AsyncIterator[Backends]:
    async with anyio.create_task_group() as group:
        served = Backends(port, group)
        try:
            for ip in ips:
                await (served.start_udp(ip) if udp else served.start(ip))
            yield served
        finally:
            group.cancel_scope.cancel()


async def fetch(ip: str, port: int, *, source: str | None = None, payload: bytes = b"ping") -> str:
    """Connect, send ``payload``, half-close, and return everything that came back."""
    with anyio.fail_after(10):
        stream = await anyio.connect_tcp(ip, port, local_host=source)
        async with stream:
            await stream.send(payload)
            await stream.send_eof()
            received = b""
            try:
                async for chunk in stream:
                    received += chunk
            except (OSError, anyio.BrokenResourceError):
                pass
    return received.decode()


async def served_by(ip: str, port: int, *, source: str | None = None) -> str:
    """The member that answered one connection (its IP), or "" when the NLB dropped it."""
    return (await fetch(ip, port, source=source)).split("|", 1)[0]


async def refused(ip: str, port: int) -> bool:
    try:
        stream = await anyio.connect_tcp(ip, port)
    except OSError:
        return True
    await stream.aclose()
    return False


async def eventually(
    condition: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await condition()
        if last:
            return last
        await anyio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Nlb:
    """An NLB with one service, made through the API, and how to read it back."""

    client: httpx.AsyncClient
    id: str
    service_id: str
    ip: str

    async def read(self) -> dict[str, Any]:
        response = await self.client.get(f"/load-balancer/{self.id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def statuses(self) -> dict[str, str]:
        """``public-ip -> status`` of the service's ``healthcheck-status``."""
        service = next(s for s in (await self.read())["services"] if s["id"] == self.service_id)
        return {s["public-ip"]: s["status"] for s in service["healthcheck-status"]}

    async def has_status(self, ip: str, status: str) -> bool:
        """Whether member ``ip``'s ``healthcheck-status`` is ``status`` now."""
        return (await self.statuses()).get(ip) == status

    async def update_service(self, **body: Any) -> None:
        url = f"/load-balancer/{self.id}/service/{self.service_id}"
        response = await self.client.put(url, json=body)
        assert response.status_code == 200, response.text


async def make_nlb(sim: Simulator, client: httpx.AsyncClient, pool_id: str, **service: Any) -> Nlb:
    """An NLB whose service (port 80 unless given) targets ``pool_id`` and is running."""
    lb_id = await create_nlb(client)
    service_id = await add_service(client, lb_id, pool_id, **service)
    sim.advance(0)  # settle the operations (latency 0)
    nlb = Nlb(client, lb_id, service_id, "")
    nlb.ip = (await nlb.read())["ip"]
    assert sim.data_plane is not None
    await sim.data_plane.sync()
    return nlb


def pool_with_members(sim: Simulator, count: int, name: str = "nodes") -> tuple[str, list[str]]:
    """An instance pool of ``count`` running members; its id and the members' IPs."""
    pool = sim.add_instance_pool(ZONE, name)
    ips = [
        sim.add_instance(ZONE, f"{name}-{i}", pool_id=pool["id"])["public-ip"] for i in range(count)
    ]
    return str(pool["id"]), ips


async def all_healthy(nlb: Nlb, ips: Iterable[str]) -> bool:
    statuses = await nlb.statuses()
    return all(statuses.get(ip) == "success" for ip in ips)
