"""``/healthz``, ``/readyz`` and ``/metrics`` on one plain-HTTP port.

Liveness fails only when something is really stuck (a registered check says so); readiness
means "caches synced", so standby replicas are ready too (a PDB must be able to drain them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
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


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TEXT = "text/plain; charset=utf-8"
_MAX_HEAD = 16 * 1024  # request line and headers; probes and scrapers send a few hundred bytes
_REQUEST_TIMEOUT = 10.0  # seconds to receive them, so an idle connection cannot linger


class HttpServer:
    """Serves the endpoints on ``host:port`` inside the caller's (asyncio) event loop.

    A minimal HTTP/1.1 server on asyncio streams rather than aiohttp, which cost ~9 MB of RSS for
    four GET routes (docs/performance.md): one request per connection (``Connection: close``),
    GET and HEAD only.
    """

    def __init__(
        self, checks: HealthChecks, host: str, port: int, registry: CollectorRegistry = REGISTRY
    ):
        self._checks = checks
        self._registry = registry
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection, self._host, self._port, limit=_MAX_HEAD
        )
        log.info("HTTP server listening", address=self._host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a request (exposed for tests)."""
        if method not in ("GET", "HEAD"):
            return 405, _TEXT, b"method not allowed\n"
        route = path.split("?", 1)[0]
        if route in ("/healthz", "/livez"):
            ok, text = self._checks.live()
            return (200 if ok else 500), _TEXT, text.encode()
        if route == "/readyz":
            ok, text = self._checks.ready()
            return (200 if ok else 503), _TEXT, text.encode()
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        return 404, _TEXT, b"not found\n"

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _REQUEST_TIMEOUT)
                method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            except (ValueError, asyncio.LimitOverrunError):
                status, content_type, body = 400, _TEXT, b"bad request\n"
                method = "GET"
            else:
                status, content_type, body = self.respond(method, path)
            headers = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                + ("Allow: GET, HEAD\r\n" if status == 405 else "")
                + "Connection: close\r\n\r\n"
            )
            writer.write(headers.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass  # the client went away or never finished its request
        except asyncio.CancelledError:
            # Server stopping. This task belongs to asyncio's server, which nothing awaits, and
            # Python 3.11 logs a cancelled one as an error: end it normally instead.
            pass
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)
