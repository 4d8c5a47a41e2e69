"""A raw-JSON Kubernetes API client on httpx.

Objects are plain ``dict``s decoded with orjson; there are no model classes. Every request has a
timeout. Watches are streamed line by line by :meth:`KubeClient.stream_lines`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx
import orjson

from exoccm import __version__
from exoccm.kube import metrics
from exoccm.kube.config import KubeConfig, KubeConfigError, run_exec_plugin
from exoccm.kube.errors import KubeConnectionError, from_status

PatchType = Literal["merge", "strategic", "json", "apply"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
DEFAULT_TIMEOUT = 30.0
TOKEN_FILE_REFRESH = 60.0


class _TokenAuth(httpx.Auth):
    """Bearer token from a static value, a rotating file, or an exec plugin (async only: the
    plugin runs as a subprocess while the event loop keeps serving)."""

    def __init__(self, config: KubeConfig):
        self._config = config
        self._token = config.token
        self._loaded_at = 0.0
        self._expires_at: float | None = None
        # One plugin run at a time: requests that need a token meanwhile wait for its answer.
        self._exec_lock = anyio.Lock()

    def __repr__(self) -> str:
        return "<_TokenAuth>"

    def _exec_token_stale(self) -> bool:
        return self._token is None or (
            self._expires_at is not None and time.monotonic() >= self._expires_at
        )

    async def _current(self) -> str | None:
        now = time.monotonic()
        if self._config.token_file is not None and now - self._loaded_at > TOKEN_FILE_REFRESH:
            try:
                self._token = self._config.token_file.read_text().strip()
            except OSError as exc:
                if self._token is None:
                    raise KubeConfigError(
                        f"cannot read token file {self._config.token_file}: {exc}"
                    ) from exc
            self._loaded_at = now
        elif self._config.exec_plugin is not None and self._exec_token_stale():
            async with self._exec_lock:
                if self._exec_token_stale():  # not renewed while this request waited
                    credential = await run_exec_plugin(self._config.exec_plugin)
                    self._token, self._expires_at = credential.token, credential.expires_at
        return self._token

    def invalidate(self) -> None:
        """Forget a cached token after a 401 so the next request reloads it."""
        self._loaded_at = 0.0
        if self._config.exec_plugin is not None:
            self._token = None

    def sync_auth_flow(
        self,
        request: httpx.Request,  # noqa: ARG002 - httpx.Auth's signature
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("KubeClient authenticates asynchronously only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


@dataclass(frozen=True)
class ListResult:
    """A decoded list: items plus the list's resourceVersion and continue token."""

    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str | None


class KubeClient:
    """Asynchronous access to one apiserver. Create with :meth:`create`, close with ``aclose``."""

    def __init__(
        self,
        config: KubeConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        user_agent: str | None = None,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.config = config
        self.timeout = timeout
        self._auth = _TokenAuth(config)
        self._host = httpx.URL(config.server).netloc.decode()
        self._http = httpx.AsyncClient(
            base_url=config.server,
            verify=config.ssl_context(),
            auth=self._auth,
            timeout=httpx.Timeout(timeout),
            headers={
                "User-Agent": user_agent or f"exoccm/{__version__}",
                "Accept": "application/json",
            },
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"KubeClient(server={self.config.server!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body; raise a typed error on failure."""
        content = None
        headers = {}
        if body is not None:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            headers["Content-Type"] = content_type
        query = _encode_params(params)
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method,
                path,
                params=query,
                content=content,
                headers=headers,
                timeout=httpx.Timeout(timeout or self.timeout),
            )
        except httpx.TransportError as exc:
            self._count(method, None)
            raise KubeConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            metrics.REQUEST_DURATION.labels(method, self._host).observe(
                time.perf_counter() - started
            )
        self._count(method, response.status_code)
        if response.status_code == 401:
            self._auth.invalidate()
        if response.status_code >= 400:
            raise _error(response, method, path)
        if not response.content:
            return None
        return orjson.loads(response.content)

    async def get(self, path: str, *, timeout: float | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", path, timeout=timeout)
        return result

    async def list(
        self,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        timeout: float | None = None,
    ) -> ListResult:
        """One page of a list call."""
        body = await self.request("GET", path, params=params, timeout=timeout)
        meta = body.get("metadata") or {}
        return ListResult(
            items=body.get("items") or [],
            resource_version=str(meta.get("resourceVersion") or ""),
            continue_token=meta.get("continue") or None,
        )

    async def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", path, body=obj)
        return result

    async def replace(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PUT", path, body=obj)
        return result

    async def patch(
        self,
        path: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        params: Mapping[str, str | int | bool] | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            body=patch,
            params=params,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
        )
        return result

    async def delete(
        self, path: str, *, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self.request("DELETE", path, body=body)
        return result

    @asynccontextmanager
    async def stream_lines(
        self,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        read_timeout: float,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open a streaming GET (a watch) and yield an iterator over its newline-delimited lines.

        ``read_timeout`` bounds the silence between two chunks, so a dead connection is noticed.
        Like client-go, a watch counts in ``rest_client_requests_total`` but not in the latency
        histogram (it lasts as long as the server keeps it open).
        """
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        method = "GET"
        opened = False  # a connection broken mid-stream is the same request, counted once
        try:
            async with self._http.stream(
                method, path, params=_encode_params(params), timeout=timeout
            ) as response:
                opened = True
                self._count(method, response.status_code)
                if response.status_code >= 400:
                    await response.aread()
                    raise _error(response, method, path)
                yield _lines(response)
        except httpx.TransportError as exc:
            if not opened:
                self._count(method, None)
            raise KubeConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def _count(self, method: str, status: int | None) -> None:
        code = "<error>" if status is None else str(status)
        metrics.REQUESTS.labels(code, method, self._host).inc()


async def _lines(response: httpx.Response) -> AsyncIterator[bytes]:
    buffer = bytearray()  # deleting from the front of a bytearray is amortized O(1)
    async for chunk in response.aiter_raw():
        buffer.extend(chunk)
        while (newline := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:newline])
            del buffer[: newline + 1]
            if line.strip():
                yield line
        # Yield control so one chatty stream cannot starve the loop.
        await asyncio.sleep(0)
    if bytes(buffer).strip():
        yield bytes(buffer)


def _encode_params(params: Mapping[str, str | int | bool] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in params.items()
    }


def _error(response: httpx.Response, method: str, path: str) -> Exception:
    try:
        body: Any = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = response.content
    retry_after = None
    header = response.headers.get("Retry-After")
    if header:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    return from_status(
        response.status_code, body, method=method, path=path, retry_after=retry_after
    )
