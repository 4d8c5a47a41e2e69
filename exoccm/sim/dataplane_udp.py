"""UDP forwarding for an NLB service: datagrams from one client address form a flow.

The first datagram of a flow picks a member (by the service's strategy, among healthy members)
and opens a socket to it; later datagrams of the flow follow it, and the member's replies go
back to the client from the NLB's address and port. A flow without datagrams in either
direction for :data:`FLOW_IDLE_SECONDS` is forgotten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from anyio.abc import ConnectedUDPSocket, TaskGroup, UDPSocket

from exoccm.sim.dataplane_net import check_destination

FLOW_IDLE_SECONDS = 60.0
_ENDED = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)

logger = logging.getLogger("exoccm.sim.dataplane")

Destination = Callable[[str], "tuple[str, int] | None"]
"""The member address and port for a new flow from a client IP; None when none is healthy."""


@dataclass(slots=True)
class _Flow:
    upstream: ConnectedUDPSocket
    last_active: float = field(default_factory=time.monotonic)


async def serve_udp(
    sock: UDPSocket, destination: Destination, source: str, group: TaskGroup
) -> None:
    """Forward datagrams arriving on ``sock`` until cancelled; flows run in ``group``."""
    flows: dict[tuple[str, int], _Flow] = {}
    async for data, client in sock:
        flow = flows.get(client)
        if flow is None:
            target = destination(client[0])
            if target is None:
                continue  # no healthy member: dropped
            try:
                check_destination(target[0], target[1], "traffic")
                upstream = await anyio.create_connected_udp_socket(
                    target[0], target[1], local_host=source
                )
            except OSError as error:
                logger.debug("data plane: udp %s:%d: %s", target[0], target[1], error)
                continue
            flow = flows[client] = _Flow(upstream)
            group.start_soon(_replies, sock, flow, client, flows)
        flow.last_active = time.monotonic()
        try:
            await flow.upstream.send(data)
        except _ENDED:
            continue  # the reply task sees the socket fail and ends the flow


async def _replies(
    sock: UDPSocket,
    flow: _Flow,
    client: tuple[str, int],
    flows: dict[tuple[str, int], _Flow],
) -> None:
    try:
        while True:
            remaining = flow.last_active + FLOW_IDLE_SECONDS - time.monotonic()
            if remaining <= 0:
                return
            with anyio.move_on_after(remaining):
                reply = await flow.upstream.receive()
                flow.last_active = time.monotonic()
                await sock.sendto(reply, client[0], client[1])
    except _ENDED:
        return
    finally:
        flows.pop(client, None)
        with anyio.CancelScope(shield=True):
            await flow.upstream.aclose()
