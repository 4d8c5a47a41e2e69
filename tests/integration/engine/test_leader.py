"""Leader election in-process against real apiservers: fast path, handoff, loss, observed time."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from prometheus_client import REGISTRY

from exoccm.engine.clock import FakeClock
from exoccm.engine.leader import LeaderElectionConfig, LeaderElector, LeadershipLostError
from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.resources import LEASES
from exoccm.testing.controlplane import ControlPlane

from .conftest import SpyClient, new_namespace, until

pytestmark = pytest.mark.anyio

TIMING: dict[str, Any] = {"lease_duration": 4.0, "renew_deadline": 3.0, "retry_period": 0.4}


def _status(name: str) -> float | None:
    return REGISTRY.get_sample_value("leader_election_master_status", {"name": name})


async def test_renewals_take_one_put_each(control_plane: ControlPlane, namespace: str) -> None:
    spy = SpyClient(control_plane)
    config = LeaderElectionConfig(namespace, "fast-path", "me", **TIMING)
    elector = LeaderElector(spy, config)
    renewals_seen = anyio.Event()

    async def lead() -> None:
        assert elector.still_leading()
        assert _status("fast-path") == 1
        start = len(spy.methods)
        await until(lambda: len(spy.methods) >= start + 3)
        renewals_seen.set()

    try:
        with anyio.fail_after(20):
            await elector.run(lead)
        assert renewals_seen.is_set()
        first_get = spy.methods.index("GET")
        acquisition, renewals = spy.methods[: first_get + 2], spy.methods[first_get + 2 :]
        assert acquisition == ["GET", "POST"], "acquire: GET (not found), then create"
        assert renewals[:3] == ["PUT", "PUT", "PUT"], "renewals go the one-PUT fast path"
        assert renewals[-1] == "PUT"  # the release
        assert _status("fast-path") == 0
        assert not elector.still_leading()
        lease = await spy.get(LEASES.path(namespace, "fast-path"))
        assert lease["spec"].get("holderIdentity") is None
        assert lease["spec"]["leaseDurationSeconds"] == 1
    finally:
        await spy.aclose()


async def test_a_standby_takes_over_a_released_lease(kube: KubeClient, namespace: str) -> None:
    first = LeaderElector(kube, LeaderElectionConfig(namespace, "handoff", "first", **TIMING))
    second = LeaderElector(kube, LeaderElectionConfig(namespace, "handoff", "second", **TIMING))
    first_may_stop = anyio.Event()
    order: list[str] = []

    async def first_lead() -> None:
        order.append("first")
        await first_may_stop.wait()
        order.append("first done")

    async def second_lead() -> None:
        order.append("second")
        assert not first.is_leader

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run, first_lead)
            await until(lambda: first.is_leader)
            tg.start_soon(second.run, second_lead)
            await until(lambda: second.observed_holder == "first")
            assert not second.is_leader
            first_may_stop.set()
    assert order == ["first", "first done", "second"]
    lease = await kube.get(LEASES.path(namespace, "handoff"))
    assert lease["spec"]["leaseTransitions"] == 1


async def test_losing_the_apiserver_cancels_leader_work(own_plane: ControlPlane) -> None:
    namespace = new_namespace(own_plane)
    client = KubeClient(from_kubeconfig(own_plane.kubeconfig))
    elector = LeaderElector(client, LeaderElectionConfig(namespace, "loss", "me", **TIMING))
    fence_at_cancel: list[bool] = []

    async def lead() -> None:
        try:
            await anyio.to_thread.run_sync(own_plane.stop_apiserver)
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            fence_at_cancel.append(elector.still_leading())
            raise

    try:
        with (
            anyio.fail_after(60),
            pytest.raises(LeadershipLostError, match="no successful renewal"),
        ):
            await elector.run(lead)
        assert fence_at_cancel == [False], "the fence closes no later than the work is cancelled"
        assert not elector.is_leader
        assert _status("loss") == 0
    finally:
        await anyio.to_thread.run_sync(own_plane.start_apiserver)
        lease = await client.get(LEASES.path(namespace, "loss"))
        await client.aclose()
    assert lease["spec"]["holderIdentity"] == "me", "a lost lease is not released (not ours)"


async def test_expiry_is_judged_on_our_clock_not_the_lease_timestamps(
    control_plane: ControlPlane, namespace: str
) -> None:
    """A Lease renewed "in 2001" by a holder is still respected for leaseDurationSeconds of *our*
    observation: the candidate waits a full lease duration after first seeing the record."""
    spy = SpyClient(control_plane)
    await spy.create(
        LEASES.path(namespace),
        {
            "metadata": {"name": "observed"},
            "spec": {
                "holderIdentity": "ghost",
                "leaseDurationSeconds": 10,
                "renewTime": "2001-01-01T00:00:00.000000Z",
                "acquireTime": "2001-01-01T00:00:00.000000Z",
            },
        },
    )
    clock = FakeClock()
    config = LeaderElectionConfig(namespace, "observed", "me", **TIMING)
    elector = LeaderElector(spy, config, clock=clock)
    led = anyio.Event()

    async def lead() -> None:
        led.set()

    async def next_attempt() -> None:
        # A request in flight also counts as "blocked": wait until the elector really sleeps on
        # our clock, or the advance would land before its timer exists and never wake it.
        await until(lambda: clock.pending_timers > 0)
        gets = spy.methods.count("GET")
        clock.advance(TIMING["retry_period"] * 2.2)  # past any jittered retry
        await until(lambda: spy.methods.count("GET") > gets)
        await wait_all_tasks_blocked()

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(elector.run, lead)
                await until(lambda: spy.methods.count("GET") == 1)
                await wait_all_tasks_blocked()
                first_seen = clock.monotonic()
                while clock.monotonic() - first_seen < 10 - TIMING["retry_period"] * 2.2:
                    await next_attempt()
                    assert not led.is_set(), "took a lease the holder may still be renewing"
                while not led.is_set():
                    await next_attempt()
                    assert clock.monotonic() - first_seen < 10 + TIMING["retry_period"] * 4.4
        lease = await spy.get(LEASES.path(namespace, "observed"))
        assert lease["spec"]["leaseTransitions"] == 1
    finally:
        await spy.aclose()


async def test_release_survives_a_renewal_that_landed_unseen(
    kube: KubeClient, namespace: str
) -> None:
    """A renewal cancelled in flight can land after we cached the Lease: the release must not
    give up on the resulting conflict while the Lease is still ours."""
    config = LeaderElectionConfig(namespace, "unseen", "me")  # 2 s retry: no renewal meanwhile
    elector = LeaderElector(kube, config)

    async def lead() -> None:
        lease = await kube.get(LEASES.path(namespace, "unseen"))
        lease["spec"]["renewTime"] = "2030-01-01T00:00:00.000000Z"  # our write, response lost
        await kube.replace(LEASES.path(namespace, "unseen"), lease)

    with anyio.fail_after(20):
        await elector.run(lead)
    lease = await kube.get(LEASES.path(namespace, "unseen"))
    assert lease["spec"].get("holderIdentity") is None
    assert lease["spec"]["leaseDurationSeconds"] == 1


async def test_a_failing_leader_work_is_re_raised_and_the_lease_released(
    kube: KubeClient, namespace: str
) -> None:
    elector = LeaderElector(kube, LeaderElectionConfig(namespace, "failing", "me", **TIMING))

    async def lead() -> None:
        raise RuntimeError("controller crashed")

    with anyio.fail_after(20), pytest.raises(RuntimeError, match="controller crashed"):
        await elector.run(lead)
    lease = await kube.get(LEASES.path(namespace, "failing"))
    assert lease["spec"].get("holderIdentity") is None


async def test_stop_while_campaigning_returns_without_leading(
    kube: KubeClient, namespace: str
) -> None:
    holder = LeaderElector(kube, LeaderElectionConfig(namespace, "busy", "holder", **TIMING))
    candidate = LeaderElector(kube, LeaderElectionConfig(namespace, "busy", "candidate", **TIMING))
    ran: list[str] = []
    returned = anyio.Event()

    async def lead() -> None:
        ran.append("candidate")

    async def campaign() -> None:
        await candidate.run(lead)
        returned.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(holder.run, anyio.sleep_forever)
            await until(lambda: holder.is_leader)
            tg.start_soon(campaign)
            await until(lambda: candidate.observed_holder == "holder")
            candidate.stop()
            await returned.wait()
            tg.cancel_scope.cancel()
    assert ran == []
    assert not candidate.is_leader
