"""Waiting for asynchronous operations.

Most NLB operations finish within a second or two, so the first poll comes after
``first_delay`` (0.2 s by default) and the delay doubles from there until it meets the official
clients' curve, ``clamp(3, 60, a·t + b)`` seconds at ``t`` seconds into the wait (3 s for the
first 30 s, then linear to 60 s at 15 minutes). A few consecutive transient polling errors are
tolerated; an overall deadline bounds the wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from exoccm.exoscale.errors import (
    ExoscaleError,
    OperationFailedError,
    OperationTimeoutError,
)
from exoccm.exoscale.models import Operation

log = structlog.get_logger(__name__)

# python-exoscale's Client.wait and egoscale v3's pollInterval.
SLOPE = 57 / 870
INTERCEPT = 3 - 30 * SLOPE
MIN_OFFICIAL_INTERVAL = 3.0
MAX_OFFICIAL_INTERVAL = 60.0


def official_poll_interval(elapsed: float) -> float:
    """The official clients' delay between polls, ``elapsed`` seconds into a wait."""
    return min(MAX_OFFICIAL_INTERVAL, max(MIN_OFFICIAL_INTERVAL, SLOPE * elapsed + INTERCEPT))


def poll_delay(attempt: int, elapsed: float, *, first_delay: float = 0.2) -> float:
    """Seconds to wait before poll number ``attempt + 1`` (``attempt`` polls done so far).

    Doubles from ``first_delay`` and never exceeds the official curve.
    """
    fast = first_delay * 2.0 ** min(attempt, 30)
    return min(fast, official_poll_interval(elapsed))


@dataclass(frozen=True)
class WaitPolicy:
    """How long and how patiently to wait for an operation."""

    timeout: float = 600.0
    first_delay: float = 0.2
    max_consecutive_errors: int = 5


async def wait_for_operation(
    operation: Operation,
    *,
    poll: Callable[[str], Awaitable[Operation]],
    policy: WaitPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    name: str,
    zone: str,
) -> Operation:
    """Poll until ``operation`` succeeds and return its final state.

    ``poll`` fetches the operation once (no retries of its own). ``name`` is the API operation
    that started it (``create-load-balancer``), used in errors and logs.

    Raises :class:`OperationFailedError` on ``failure``/``timeout``, :class:`OperationTimeoutError`
    past ``policy.timeout``, and the polling error itself after too many consecutive ones or at
    once for a non-transient one (a 404 for the operation, say).
    """
    started = clock()
    polls = 0
    consecutive_errors = 0
    extra_pause = 0.0
    while operation.state == "pending":
        elapsed = clock() - started
        remaining = policy.timeout - elapsed
        if remaining <= 0:
            raise OperationTimeoutError(operation.id, elapsed, operation=name, zone=zone)
        delay = max(poll_delay(polls, elapsed, first_delay=policy.first_delay), extra_pause)
        await sleep(min(delay, remaining))
        polls += 1
        try:
            operation = await poll(operation.id)
        except ExoscaleError as exc:
            if not exc.retryable:
                raise
            consecutive_errors += 1
            if consecutive_errors >= policy.max_consecutive_errors:
                raise
            extra_pause = getattr(exc, "retry_after", None) or 0.0
            log.warning(
                "exoscale_operation_poll_failed",
                operation=name,
                zone=zone,
                operation_id=operation.id,
                consecutive_errors=consecutive_errors,
                error=str(exc),
            )
            continue
        consecutive_errors = 0
        extra_pause = 0.0
    if operation.state != "success":
        raise OperationFailedError(
            operation.id,
            operation.state,
            operation.reason,
            operation.message,
            operation=name,
            zone=zone,
        )
    log.debug(
        "exoscale_operation_done",
        operation=name,
        zone=zone,
        operation_id=operation.id,
        polls=polls,
        seconds=round(clock() - started, 3),
    )
    return operation
