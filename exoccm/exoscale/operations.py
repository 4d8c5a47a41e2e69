"""Waiting for asynchronous operations.

With history (:mod:`.estimates`: per zone and operation kind, when operations are most likely
done), the first poll comes at that moment and the next ones after brief, doubling pauses
(a twentieth of the estimate, at least 50 ms). Without history the first poll comes after
``first_delay`` (0.2 s by default) and the delay doubles from there. Either way no pause
exceeds the official clients' curve, ``clamp(3, 60, a·t + b)`` seconds at ``t`` seconds into the
wait (3 s for the first 30 s, then linear to 60 s at 15 minutes). Each poll waits for the zone's
rate limiter like any request. A few consecutive transient polling errors are tolerated; an
overall deadline bounds the wait.

Only one operation of a kind is watched on the fixed schedule while nothing is known: operations
of that kind started meanwhile (a burst of new Services) wait for what it teaches, for at most
the official clients' first interval (3 s), and are then polled at the learned moment (or, if
nothing was learned, go on with the fixed schedule).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import structlog

from exoccm.exoscale.errors import (
    ExoscaleError,
    OperationFailedError,
    OperationTimeoutError,
)
from exoccm.exoscale.estimates import DurationEstimate, Poll
from exoccm.exoscale.metrics import OPERATION_FIRST_POLL, OPERATION_POLLS
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


def fixed_polls_by(elapsed: float, *, first_delay: float = 0.2) -> int:
    """How many polls the fixed schedule has made ``elapsed`` seconds into a wait."""
    at, polls = 0.0, 0
    while True:
        at += poll_delay(polls, at, first_delay=first_delay)
        if at > elapsed:
            return polls
        polls += 1


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
    """The first poll's delay while nothing is known about the operation's kind."""
    max_consecutive_errors: int = 5
    backoff_share: float = 0.05
    min_backoff: float = 0.05
    """After a learned first poll, pauses start at ``backoff_share`` of the estimate, at least
    ``min_backoff`` seconds, and double."""


@dataclass
class PollPlan:
    """When to poll one operation: at the learned moment if there is one, else on the fixed
    schedule. ``planned`` is fixed when the wait starts."""

    policy: WaitPolicy
    planned: float | None
    version: int = -1  # of the estimate ``planned`` came from
    attempts: int = 0
    polls: list[Poll] = field(default_factory=list)

    def delay(self, elapsed: float) -> float:
        """Seconds to wait, ``elapsed`` seconds into the wait, before the next poll."""
        if self.planned is None:
            return poll_delay(self.attempts, elapsed, first_delay=self.policy.first_delay)
        if self.attempts == 0:
            return max(0.0, self.planned - elapsed)
        brief = max(self.policy.min_backoff, self.policy.backoff_share * self.planned)
        return min(brief * 2.0 ** min(self.attempts - 1, 30), official_poll_interval(elapsed))


async def wait_for_operation(
    operation: Operation,
    *,
    poll: Callable[[str], Awaitable[Operation]],
    policy: WaitPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    name: str,
    zone: str,
    estimate: DurationEstimate | None = None,
    turn: Callable[[], Awaitable[None]] | None = None,
) -> Operation:
    """Poll until ``operation`` succeeds and return its final state.

    ``poll`` fetches the operation once (no retries of its own); ``turn``, when given, waits
    for the rate limiter right before each poll (so that a poll's time is when it was sent).
    ``name`` is the API operation that started it (``create-load-balancer``), used in errors and
    logs. ``estimate`` is what is known about operations of this kind in this zone; it learns
    from this wait if the operation succeeds.

    Raises :class:`OperationFailedError` on ``failure``/``timeout``, :class:`OperationTimeoutError`
    past ``policy.timeout``, and the polling error itself after too many consecutive ones or at
    once for a non-transient one (a 404 for the operation, say).
    """
    plan = PollPlan(
        policy,
        estimate.first_poll if estimate is not None else None,
        estimate.version if estimate is not None else -1,
    )
    probing = waiting = None
    if estimate is not None and plan.planned is None and operation.state == "pending":
        if estimate.probe is None:
            probing = estimate.probe = anyio.Event()  # this wait learns for the others
        else:
            waiting = estimate.probe
    try:
        return await _poll_until_done(
            operation, plan, waiting, poll, policy, clock, sleep, name, zone, estimate, turn
        )
    finally:
        if probing is not None and estimate is not None:
            estimate.probe = None
            probing.set()


async def _within(
    event: anyio.Event, seconds: float, sleep: Callable[[float], Awaitable[None]]
) -> None:
    """Until ``event`` is set, for at most ``seconds`` (measured with ``sleep``)."""
    async with anyio.create_task_group() as tg:

        async def timer() -> None:
            await sleep(seconds)
            tg.cancel_scope.cancel()

        async def watch() -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(timer)
        tg.start_soon(watch)


async def _poll_until_done(
    operation: Operation,
    plan: PollPlan,
    waiting: anyio.Event | None,
    poll: Callable[[str], Awaitable[Operation]],
    policy: WaitPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    name: str,
    zone: str,
    estimate: DurationEstimate | None,
    turn: Callable[[], Awaitable[None]] | None,
) -> Operation:
    started = clock()
    consecutive_errors = 0
    extra_pause = 0.0
    while operation.state == "pending":
        elapsed = clock() - started
        remaining = policy.timeout - elapsed
        if remaining <= 0:
            raise OperationTimeoutError(operation.id, elapsed, operation=name, zone=zone)
        if waiting is not None:
            # Another operation of the kind is being watched to learn its timing: wait for it.
            await _within(waiting, min(MIN_OFFICIAL_INTERVAL - elapsed, remaining), sleep)
            waiting = None
            learned = estimate.first_poll if estimate is not None else None
            if learned is not None and estimate is not None:
                plan.planned, plan.version = learned, estimate.version
                continue
            # Nothing learned (that operation failed, or is slow): poll now, then go on with
            # the fixed schedule as if it had been followed from the start.
            done_by_now = fixed_polls_by(clock() - started, first_delay=policy.first_delay)
            plan.attempts = max(0, done_by_now - 1)
            delay = 0.0
        else:
            delay = max(plan.delay(elapsed), extra_pause)
        await sleep(min(delay, remaining))
        plan.attempts += 1
        try:
            if turn is not None:
                await turn()
            sent = clock() - started
            operation = await poll(operation.id)
        except ExoscaleError as exc:
            if not exc.retryable:
                raise
            consecutive_errors += 1
            if consecutive_errors >= policy.max_consecutive_errors:
                raise
            extra_pause = getattr(exc, "retry_after", None) or 0.0
            log.warning(
                "Exoscale operation poll failed",
                operation=name,
                zone=zone,
                operation_id=operation.id,
                consecutive_errors=consecutive_errors,
                error=str(exc),
            )
            continue
        plan.polls.append(Poll(sent, clock() - started, operation.state != "pending"))
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
    if plan.polls:
        OPERATION_POLLS.labels(name, zone).observe(len(plan.polls))
        if estimate is not None:
            estimate.learn(plan.polls, plan.planned, plan.version)
            if estimate.first_poll is not None:
                OPERATION_FIRST_POLL.labels(name, zone).set(estimate.first_poll)
    log.debug(
        "Exoscale operation done",
        operation=name,
        zone=zone,
        operation_id=operation.id,
        polls=plan.attempts,
        planned_first_poll=plan.planned,
        seconds=round(clock() - started, 3),
    )
    return operation
