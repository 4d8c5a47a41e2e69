"""The ASGI application: Exoscale endpoints at ``/<zone>/v2/...``, controls at ``/_sim/...``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from exoccm.sim.admin import admin_routes
from exoccm.sim.cloud import Cloud
from exoccm.sim.dispatch import ApiRequest, dispatch

if TYPE_CHECKING:
    from exoccm.sim.simulator import Simulator

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
_HANG_POLL_SECONDS = 0.05


def build_app(cloud: Cloud, simulator: Simulator) -> Starlette:
    async def api(request: Request) -> Response:
        body = await request.body()
        # The signature covers the path exactly as sent, so prefer the undecoded raw path.
        raw_path: bytes | None = request.scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else request.url.path
        reply = dispatch(
            cloud,
            ApiRequest(
                method=request.method,
                path=path,
                query_string=request.scope["query_string"].decode("latin-1"),
                body=body,
                authorization=request.headers.get("authorization"),
                base_url=str(request.base_url).rstrip("/"),
            ),
        )
        if reply.hang > 0:
            await _hold(request, cloud, reply.hang)
        return Response(
            reply.body,
            status_code=reply.status,
            headers=reply.headers,
            media_type="application/json",
        )

    return Starlette(
        routes=[
            Mount("/_sim", routes=admin_routes(simulator)),
            Route("/{path:path}", api, methods=_METHODS),
        ]
    )


async def _hold(request: Request, cloud: Cloud, seconds: float) -> None:
    """Wait ``seconds`` of real time (hangs target clients' real timeouts), ending early when
    the client goes away or the faults are cleared."""
    generation = cloud.hang_generation
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if cloud.hang_generation != generation or await request.is_disconnected():
            return
        await anyio.sleep(min(remaining, _HANG_POLL_SECONDS))
