"""The data plane's only way out: connections to loopback addresses, and relaying bytes.

Every connection the data plane opens, for traffic or for a health check, goes through
:func:`connect`, which refuses (and logs) any destination outside 127.0.0.0/8: a simulated
cloud must never send a packet to a real machine, whatever address a test gave an instance.
"""

from __future__ import annotations

import ipaddress
import logging

import anyio
from anyio.abc import ByteStream, SocketStream

from exoccm.sim.dataplane_addresses import LOOPBACK

logger = logging.getLogger("exoccm.sim.dataplane")


class RefusedDestinationError(OSError):
    """The data plane was asked to connect outside 127.0.0.0/8."""


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in LOOPBACK
    except ValueError:
        return False  # not an IP address at all (a name would need a resolver: refused too)


def check_destination(host: str, port: int, purpose: str) -> None:
    """Raise :class:`RefusedDestinationError` (and log it) unless ``host`` is in 127.0.0.0/8."""
    if not is_loopback(host):
        logger.warning(
            "data plane: refusing to connect to %s:%d for %s: only 127.0.0.0/8 is reachable "
            "from the simulator",
            host,
            port,
            purpose,
        )
        raise RefusedDestinationError(f"{host}:{port} is outside 127.0.0.0/8")


async def connect(host: str, port: int, *, source: str, purpose: str) -> SocketStream:
    """A TCP connection from ``source`` (the NLB's address) to ``host:port`` on loopback."""
    check_destination(host, port, purpose)
    return await anyio.connect_tcp(host, port, local_host=source)


async def relay(a: ByteStream, b: ByteStream) -> tuple[int, int]:
    """Copy bytes both ways until both directions have ended; an error in one ends both.
    Returns how many bytes went from ``a`` to ``b`` and from ``b`` to ``a``.

    An end of stream is passed on as a half-close, so request/response protocols that close
    their sending side first keep working.
    """
    copied = [0, 0]
    async with anyio.create_task_group() as group:

        async def copy(source: ByteStream, sink: ByteStream, direction: int) -> None:
            try:
                async for chunk in source:
                    await sink.send(chunk)
                    copied[direction] += len(chunk)
                await sink.send_eof()
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                group.cancel_scope.cancel()

        group.start_soon(copy, a, b, 0)
        group.start_soon(copy, b, a, 1)
    return copied[0], copied[1]
