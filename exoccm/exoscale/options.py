"""Tunables of the Exoscale API client, with production defaults."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import httpx

from exoccm.exoscale.operations import WaitPolicy
from exoccm.exoscale.retry import RetryPolicy


@dataclass(frozen=True)
class ClientOptions:
    """Settings shared by every zone's client.

    ``clock`` (monotonic seconds) and ``sleep`` drive rate limiting, retries and operation
    polling; ``wall_clock`` (UNIX seconds) dates signatures. Tests replace them to run fast.
    """

    rate_limit: float = 10.0
    """Sustained requests per second per zone, polls included."""
    burst: int = 20
    """Requests allowed at once per zone before the rate applies."""
    request_timeout: float = 30.0
    """Seconds one HTTP request may take in total (connect, send, wait, read)."""
    connect_timeout: float = 10.0
    """Seconds to establish a connection (capped by ``request_timeout``)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    wait: WaitPolicy = field(default_factory=WaitPolicy)
    max_connections: int = 20
    """Connections per zone's connection pool."""
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep

    def __post_init__(self) -> None:
        if self.request_timeout <= 0:
            raise ValueError("request_timeout must be positive")

    def httpx_timeout(self) -> httpx.Timeout:
        """Per-phase timeouts for httpx; the total is enforced separately."""
        return httpx.Timeout(
            self.request_timeout, connect=min(self.connect_timeout, self.request_timeout)
        )

    def httpx_limits(self) -> httpx.Limits:
        """Connection pool size for one zone."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_connections,
            keepalive_expiry=30.0,
        )
