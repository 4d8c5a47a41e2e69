"""Sending one API request to one zone: rate limit, fencing, signing, timeouts, retries, metrics.

Each attempt takes a token from the zone's bucket (polls of operations in progress before other
requests, see :class:`.ratelimit.Priority`), then (for a mutation) asks the leadership guard, then
sends. Responses become JSON values or typed errors (:mod:`.responses`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import orjson
import structlog

from exoccm.exoscale.auth import ExoscaleAuth
from exoccm.exoscale.errors import (
    ExoscaleError,
    InvalidArgumentError,
    NotLeaderError,
    TransportError,
)
from exoccm.exoscale.metrics import API_RATE_LIMIT_WAIT, API_REQUEST_DURATION, API_REQUESTS
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.ratelimit import Priority, TokenBucket
from exoccm.exoscale.responses import (
    HEALTHCHECK_STATUS_OPERATIONS,
    error_for_status,
    read_without_healthcheck_status,
)
from exoccm.exoscale.retry import call_with_retries

log = structlog.get_logger(__name__)

Guard = Callable[[], bool]
"""Returns whether this replica may still mutate cloud state (leader election fencing)."""

# Headers describing the body as received, not as re-built without the health lists.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# httpx errors raised before any byte of the request left this process.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def path_segment(value: str, *, what: str, operation: str, zone: str) -> str:
    """``value`` escaped for use as one URL path segment, refusing empty or dot segments."""
    if not value or value in (".", "..") or not value.isprintable():
        raise InvalidArgumentError(
            f"{what} {value!r} is not a valid ID", operation=operation, zone=zone
        )
    return quote(value, safe="")


class ZoneSession:
    """The HTTP side of one zone's client. Owns nothing but the rate limiter's state."""

    def __init__(
        self,
        zone: str,
        base_url: str,
        http: httpx.AsyncClient,
        auth: ExoscaleAuth,
        options: ClientOptions,
        *,
        guard: Guard | None = None,
    ):
        self.zone = zone
        self.base_url = base_url.rstrip("/")
        self.limiter = TokenBucket(
            options.rate_limit, options.burst, clock=options.clock, sleep=options.sleep
        )
        self.guard = guard
        self._http = http
        self._auth = auth
        self._options = options

    async def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | None] | None = None,
        body: Mapping[str, Any] | None = None,
        signed: bool = True,
        guard: Guard | None = None,
        retries: bool = True,
        priority: Priority = Priority.NORMAL,
        prepaid: bool = False,
    ) -> bytes:
        """Send ``method path`` (relative to the zone's base URL) and return the success body
        (parsed by the caller into the model it expects, :func:`.responses.parse_model`).

        ``operation`` is the API operation id, used in metrics, logs and errors. Parameters
        whose value is ``None`` are left out. Mutations check ``guard`` and the session's guard
        right before each attempt. Each attempt waits for a rate-limit token at ``priority``;
        with ``prepaid`` the caller already took the first attempt's (:meth:`take_turn`).
        """
        query = {name: value for name, value in (params or {}).items() if value is not None}
        for name, value in query.items():
            if not value:
                raise InvalidArgumentError(
                    f"query parameter {name!r} is empty", operation=operation, zone=self.zone
                )
        content = orjson.dumps(dict(body)) if body is not None else b""
        mutating = method.upper() != "GET"
        paid = [prepaid]

        async def attempt() -> bytes:
            if paid[0]:
                paid[0] = False
            else:
                await self.take_turn(priority)
            if mutating:
                self._check_guards(guard, operation)
            return await self._send_once(operation, method, path, query, content, signed)

        return await call_with_retries(
            attempt,
            method=method,
            policy=self._options.retry,
            sleep=self._options.sleep,
            retries=retries,
        )

    async def take_turn(self, priority: Priority = Priority.NORMAL) -> None:
        """Wait for one rate-limit token of the zone and take it (for a ``prepaid`` request)."""
        waited = await self.limiter.acquire(priority)
        API_RATE_LIMIT_WAIT.labels(self.zone).observe(waited)

    def _check_guards(self, guard: Guard | None, operation: str) -> None:
        for check in (guard, self.guard):
            if check is not None and not check():
                raise NotLeaderError(
                    "not sent: this replica is no longer the leader",
                    operation=operation,
                    zone=self.zone,
                )

    async def _send_once(
        self,
        operation: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        content: bytes,
        signed: bool,
    ) -> bytes:
        headers = {"Accept": "application/json"}
        if content:
            headers["Content-Type"] = "application/json"
        request = self._http.build_request(
            method, self.base_url + path, params=query or None, content=content, headers=headers
        )
        started = self._options.clock()
        code = "error"
        try:
            response = await self._send(request, signed, operation)
            code = str(response.status_code)
        finally:
            elapsed = max(0.0, self._options.clock() - started)
            API_REQUESTS.labels(operation, self.zone, code).inc()
            API_REQUEST_DURATION.labels(operation, self.zone).observe(elapsed)
        log.debug(
            "Exoscale request",
            operation=operation,
            zone=self.zone,
            method=method,
            status=response.status_code,
            seconds=round(elapsed, 4),
        )
        if response.status_code >= 400:
            raise error_for_status(
                response.status_code,
                response.content,
                response.headers,
                operation=operation,
                zone=self.zone,
                now=self._options.wall_clock(),
                scrub=self._auth.redact,
            )
        return response.content

    async def _send_without_health(self, request: httpx.Request, signed: bool) -> httpx.Response:
        """Send a read of NLBs; their ``healthcheck-status`` lists are dropped as the body
        streams in, so the full body (~30 MB for 1,000 NLBs on pools of 500) is never held."""
        if signed:
            response = await self._http.send(request, stream=True, auth=self._auth)
        else:
            response = await self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                return response
            body = await read_without_healthcheck_status(response.aiter_bytes())
        finally:
            await response.aclose()
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _BODY_HEADERS
        ]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    async def _send(self, request: httpx.Request, signed: bool, operation: str) -> httpx.Response:
        # httpx's timeouts are per phase and ASGI transports ignore them: bound the whole exchange.
        timeout = self._options.request_timeout
        try:
            with anyio.fail_after(timeout):
                if operation in HEALTHCHECK_STATUS_OPERATIONS:
                    return await self._send_without_health(request, signed)
                if signed:
                    return await self._http.send(request, auth=self._auth)
                return await self._http.send(request)
        except TimeoutError:
            raise TransportError(
                f"no complete response within {timeout:g}s (EXOCCM_API_TIMEOUT)",
                sent=True,
                operation=operation,
                zone=self.zone,
            ) from None
        except httpx.UnsupportedProtocol:
            raise ExoscaleError(
                f"unsupported URL scheme in {self.base_url!r}; check EXOSCALE_API_ENDPOINT",
                operation=operation,
                zone=self.zone,
            ) from None
        except httpx.TransportError as exc:
            kind = type(exc).__name__
            detail = str(exc) or "no detail"
            raise TransportError(
                f"{kind} talking to {self.base_url}: {detail}",
                sent=not isinstance(exc, _NOT_SENT),
                operation=operation,
                zone=self.zone,
            ) from exc
