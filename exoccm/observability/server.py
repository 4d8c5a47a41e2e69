"""``/healthz``, ``/readyz`` and ``/metrics`` on one plain-HTTP port (aiohttp).

Liveness fails only when something is really stuck (a registered check says so); readiness
means "caches synced", so standby replicas are ready too (a PDB must be able to drain them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = structlog.get_logger(__name__)

# A check returns None when healthy, else a short reason.
Check = Callable[[], str | None]


@dataclass
class HealthChecks:
    """Named liveness and readiness checks, registered by the parts of the process."""

    liveness: dict[str, Check] = field(default_factory=dict)
    readiness: dict[str, Check] = field(default_factory=dict)

    @staticmethod
    def _evaluate(checks: dict[str, Check]) -> tuple[bool, str]:
        lines = []
        healthy = True
        for name, check in sorted(checks.items()):
            try:
                problem = check()
            except Exception as exc:  # a broken check is a failed check, not a crash
                problem = f"check raised {type(exc).__name__}: {exc}"
            if problem is None:
                lines.append(f"[+]{name} ok")
            else:
                healthy = False
                lines.append(f"[-]{name} failed: {problem}")
        lines.append("ok" if healthy else "failed")
        return healthy, "\n".join(lines) + "\n"

    def live(self) -> tuple[bool, str]:
        return self._evaluate(self.liveness)

    def ready(self) -> tuple[bool, str]:
        return self._evaluate(self.readiness)


def build_app(checks: HealthChecks, registry: CollectorRegistry = REGISTRY) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        ok, text = checks.live()
        return web.Response(status=200 if ok else 500, text=text)

    async def readyz(_: web.Request) -> web.Response:
        ok, text = checks.ready()
        return web.Response(status=200 if ok else 503, text=text)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


class HttpServer:
    """Runs the app on ``host:port`` inside the caller's event loop."""

    def __init__(self, checks: HealthChecks, host: str, port: int):
        self._app = build_app(checks)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._runner is None:
            return self._port
        for site in self._runner.sites:
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            for sock in sockets:
                return int(sock.getsockname()[1])
        return self._port

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        log.info("http_server_listening", address=self._host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
