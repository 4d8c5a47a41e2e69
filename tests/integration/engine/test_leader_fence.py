"""The fence closes the moment a renewal finds another holder in the Lease (real apiserver, fake
clock): not at the renew deadline, and never while the Lease still names us."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio import wait_all_tasks_blocked
from prometheus_client import REGISTRY

from exoccm.engine.clock import FakeClock
from exoccm.engine.leader import LeaderElectionConfig, LeaderElector, LeadershipLostError
from exoccm.kube.client import KubeClient
from exoccm.kube.resources import LEASES
from exoccm.testing.controlplane import ControlPlane

from .conftest import SpyClient, until

pytestmark = pytest.mark.anyio

LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 4.0, 3.0, 0.4
TIMING: dict[str, Any] = {
    "lease_duration": LEASE_DURATION,
    "renew_deadline": RENEW_DEADLINE,
    "retry_period": RETRY_PERIOD,
}


def _metric(name: str, lease: str) -> float:
    return REGISTRY.get_sample_value(name, {"name": lease}) or 0.0


class ReadHookClient(SpyClient):
    """A spy that runs ``on_read`` on every Lease it GETs, in the elector's own task, right
    before the elector sees the response (nothing can run in between: there is no ``await``)."""

    def __init__(self, plane: ControlPlane):
        super().__init__(plane)
        self.on_read: Callable[[dict[str, Any]], None] = lambda lease: None

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await super().request(method, path, **kwargs)
        if method == "GET" and isinstance(response, dict):
            self.on_read(response)
        return response


@dataclass
class Leading:
    """An elector leading on a fake clock, its leader work, and how that work ended."""

    elector: LeaderElector
    spy: ReadHookClient
    clock: FakeClock
    guard_at_cancel: list[bool] = field(default_factory=list)
    outcome: list[LeadershipLostError | None] = field(default_factory=list)
    finished: anyio.Event = field(default_factory=anyio.Event)

    async def waiting_for_next_renewal(self) -> None:
        """Return once the elector sleeps on the fake clock (its last renewal has completed)."""
        await until(lambda: self.clock.pending_timers > 0)
        await wait_all_tasks_blocked()

    async def renewal_done(self) -> None:
        """Return once the renewal just made due has ended, in loss or in the next wait."""
        await until(lambda: self.finished.is_set() or self.clock.pending_timers > 0)

    async def renewal_is_due(self) -> None:
        await self.waiting_for_next_renewal()
        self.clock.advance(RETRY_PERIOD)


@asynccontextmanager
async def leading(plane: ControlPlane, namespace: str, lease: str) -> AsyncIterator[Leading]:
    """Start "me" leading ``lease``, with leader work that runs until cancelled."""
    spy = ReadHookClient(plane)
    clock = FakeClock()
    elector = LeaderElector(
        spy, LeaderElectionConfig(namespace, lease, "me", **TIMING), clock=clock
    )
    state = Leading(elector, spy, clock)
    work_started = anyio.Event()

    async def lead() -> None:
        work_started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            state.guard_at_cancel.append(elector.still_leading())
            raise

    async def run() -> None:
        try:
            await elector.run(lead)
        except LeadershipLostError as exc:
            state.outcome.append(exc)
        else:
            state.outcome.append(None)
        state.finished.set()

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await work_started.wait()
                assert elector.still_leading()
                yield state
                tg.cancel_scope.cancel()
    finally:
        await spy.aclose()


async def _overwrite_holder(kube: KubeClient, path: str, holder: str) -> None:
    """Write ``holder`` into the Lease, as another replica taking it over would."""
    lease = await kube.get(path)
    lease["spec"].update(
        holderIdentity=holder,
        leaseDurationSeconds=int(LEASE_DURATION),
        leaseTransitions=int(lease["spec"].get("leaseTransitions") or 0) + 1,
    )
    await kube.replace(path, lease)


async def test_a_renewal_that_finds_another_holder_stops_the_leader_at_once(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    async with leading(control_plane, namespace, "displaced") as state:
        elector, clock, spy = state.elector, state.clock, state.spy
        path = LEASES.path(namespace, "displaced")
        renewed_at = clock.monotonic()
        await _overwrite_holder(kube, path, "thief")
        assert elector.still_leading(), "nothing has told the leader yet"
        methods_before = len(spy.methods)

        await state.renewal_is_due()
        await state.renewal_done()
        assert not elector.still_leading(), "the guard stayed open after seeing another holder"
        await state.finished.wait()

        # One retry period after the last renewal, far from the 3 s renew deadline.
        assert clock.monotonic() - renewed_at == pytest.approx(RETRY_PERIOD)
        (lost,) = state.outcome
        assert isinstance(lost, LeadershipLostError)
        assert lost.holder == "thief"
        assert "'thief'" in str(lost)
        assert state.guard_at_cancel == [False], "the leader work was cancelled, fence closed"
        assert not elector.is_leader
        assert elector.observed_holder == "thief"
        assert _metric("leader_election_master_status", "displaced") == 0
        # Its cached PUT got a 409, the re-read showed the thief: no write after that.
        assert spy.methods[methods_before:] == ["PUT", "GET"]
        lease = await kube.get(path)
        assert lease["spec"]["holderIdentity"] == "thief", "neither fought back nor released"

        # Then it is a candidate again, as in client-go: it respects the thief's lease for a
        # full lease duration of its own observation, and takes it only once that has passed.
        displaced_at = clock.monotonic()
        relead = anyio.Event()

        async def lead_again() -> None:
            relead.set()

        assert clock.pending_timers == 0
        async with anyio.create_task_group() as tg:
            tg.start_soon(elector.run, lead_again)
            while True:
                # A pending timer is the candidate waiting for its next attempt.
                await until(lambda: relead.is_set() or clock.pending_timers > 0)
                if relead.is_set():
                    break
                clock.advance(RETRY_PERIOD * 2.2)  # past any jittered retry
            tg.cancel_scope.cancel()
        waited = clock.monotonic() - displaced_at
        assert LEASE_DURATION <= waited < LEASE_DURATION + RETRY_PERIOD * 2.2
        lease = await kube.get(path)
        assert lease["spec"]["leaseTransitions"] == 2, "taken over from the thief, as a candidate"


async def test_a_conflict_while_the_lease_still_names_us_keeps_us_leading(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    async with leading(control_plane, namespace, "concurrent") as state:
        elector, spy = state.elector, state.spy
        path = LEASES.path(namespace, "concurrent")
        # A concurrent update that leaves us the holder (a tool labelling the Lease): our cached
        # resourceVersion is now stale, so the next renewal's PUT gets a 409.
        lease = await kube.get(path)
        lease["metadata"].setdefault("labels", {})["touched-by"] = "a-tool"
        touched = await kube.replace(path, lease)
        slowpath_before = _metric("leader_election_slowpath_total", "concurrent")
        methods_before = len(spy.methods)

        await state.renewal_is_due()
        await state.renewal_done()

        assert not state.finished.is_set(), "a 409 on a Lease still naming us ended leadership"
        assert spy.methods[methods_before:] == ["PUT", "GET", "PUT"], "409, re-read, renewed"
        assert _metric("leader_election_slowpath_total", "concurrent") == slowpath_before + 1
        assert elector.still_leading()
        assert elector.is_leader
        assert state.guard_at_cancel == [], "the leader work was not disturbed"
        renewed = await kube.get(path)
        assert renewed["spec"]["holderIdentity"] == "me"
        assert renewed["spec"]["leaseTransitions"] == touched["spec"]["leaseTransitions"]
        assert renewed["metadata"]["labels"]["touched-by"] == "a-tool"
        assert int(renewed["metadata"]["resourceVersion"]) > int(
            touched["metadata"]["resourceVersion"]
        )

        # And the renewals after it go the one-PUT fast path again.
        await state.renewal_is_due()
        await state.waiting_for_next_renewal()
        assert spy.methods[methods_before + 3 :] == ["PUT"]
        assert elector.still_leading()


async def test_no_guard_check_passes_between_seeing_another_holder_and_the_cancellation(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    """Race-free by construction: the elector stops leading in the very step in which the read
    returns. The read hook marks that step; a watcher checks the guard at every scheduling point
    from then on (it yields at each turn of the event loop, so it runs between any two steps of
    the elector), and the leader work checks it when it is cancelled. Had the elector awaited
    anything between the read and closing the fence, the watcher would catch the guard open."""
    async with leading(control_plane, namespace, "race") as state:
        elector = state.elector
        seen_thief = False
        checks_after: list[bool] = []

        def on_read(lease: dict[str, Any]) -> None:
            nonlocal seen_thief
            if lease.get("spec", {}).get("holderIdentity") == "thief":
                seen_thief = True

        state.spy.on_read = on_read

        async def watch_guard() -> None:
            while not state.finished.is_set():
                if seen_thief:
                    checks_after.append(elector.still_leading())
                await anyio.lowlevel.checkpoint()

        await _overwrite_holder(kube, LEASES.path(namespace, "race"), "thief")
        await state.waiting_for_next_renewal()  # before the watcher: it never blocks
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_guard)
            state.clock.advance(RETRY_PERIOD)
            await state.renewal_done()
            assert state.finished.is_set(), "the renewal that saw another holder did not end it"

        assert seen_thief
        assert checks_after, "the watcher checked the guard after the read"
        assert True not in checks_after, "a guard check passed after another holder was seen"
        assert state.guard_at_cancel == [False]
        (lost,) = state.outcome
        assert isinstance(lost, LeadershipLostError)
