"""Leader election between real processes on one apiserver, with a least-privilege identity.

Timings are shortened (lease 4 s, renew deadline 3 s, retry 0.4 s); the bounds asserted follow
from them: a released Lease is taken within one jittered retry (< 3 s), a crashed leader's within
``lease_duration + 2 · retry · 2.2`` < ``lease_duration + 2 s``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exoccm.kube.resources import LEASES
from exoccm.testing.controlplane import ControlPlane

from .leader_harness import Candidates, grant_lease_access, read_intervals, wait_for

pytestmark = pytest.mark.slow

LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 4.0, 3.0, 0.4


@pytest.fixture
def candidates(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[Candidates]:
    token = grant_lease_access(control_plane, namespace, "elector")
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "kubeconfig", token, user="elector")
    group = Candidates(
        control_plane,
        kubeconfig,
        namespace,
        tmp_path,
        timing=(LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD),
    )
    try:
        yield group
    finally:
        group.close()


def test_the_identity_is_least_privileged(
    control_plane: ControlPlane, candidates: Candidates
) -> None:
    elector_token = control_plane.service_account_token(candidates.namespace, "elector")
    ns = candidates.namespace
    with control_plane.http(elector_token) as client:
        assert client.get(LEASES.path(ns, "missing")).status_code == 404  # get: allowed
        assert client.get(LEASES.path(ns)).status_code == 403  # list: not granted
        assert client.get(LEASES.path("default", "x")).status_code == 403  # other namespace
        assert client.get(f"/api/v1/namespaces/{ns}/configmaps").status_code == 403
        assert client.delete(LEASES.path(ns, "x")).status_code == 403


def test_one_leader_fast_handoff_on_sigterm_takeover_after_sigkill_never_two(
    control_plane: ControlPlane, candidates: Candidates
) -> None:
    try:
        _scenario(control_plane, candidates)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{candidates.logs()}") from exc


def _scenario(plane: ControlPlane, candidates: Candidates) -> None:
    first, second = candidates.start(), candidates.start()
    wait_for(lambda: bool(read_intervals(candidates.probe)), 30, "the first leader to start acting")
    # Exactly one leads: over several renewals, only one process acts; the other stands by.
    time.sleep(2 * LEASE_DURATION / 4)
    pids = {i.pid for i in read_intervals(candidates.probe)}
    assert len(pids) == 1, f"more than one process acted: {pids}"
    (leader,) = pids
    standby = second if leader == first else first
    assert candidates.alive(standby)

    # Graceful SIGTERM: the leader releases the Lease, the standby leads within 3 s.
    terminated = candidates.signal(leader, signal.SIGTERM)
    wait_for(lambda: bool(candidates.acting(standby)), 3.0, "the standby after SIGTERM")
    assert candidates.acting(standby)[0].start - terminated < 3.0
    assert candidates.wait_exit(leader) == 0, "a terminated leader exits cleanly"

    # A new standby joins; it must not act while the current leader is healthy.
    third = candidates.start()
    time.sleep(LEASE_DURATION)
    assert not candidates.acting(third), "the new standby acted while a leader was healthy"

    # Crash: SIGKILL gives no chance to release; the standby waits out the lease.
    killed = candidates.signal(standby, signal.SIGKILL)
    bound = LEASE_DURATION + 2.0
    wait_for(lambda: bool(candidates.acting(third)), bound, "the standby after SIGKILL")
    took_over = candidates.acting(third)[0].start
    assert took_over - killed <= bound
    time.sleep(1.0)
    candidates.signal(third, signal.SIGTERM)
    assert candidates.wait_exit(third) == 0

    # Never two at once: acting intervals of different processes never overlap.
    intervals = sorted(read_intervals(candidates.probe), key=lambda i: i.start)
    latest_end: dict[int, float] = {}
    for interval in intervals:
        for pid, end in latest_end.items():
            assert pid == interval.pid or end <= interval.start, (
                f"overlap: {pid} acted until {end:.3f}, {interval.pid} started at "
                f"{interval.start:.3f}"
            )
        latest_end[interval.pid] = max(latest_end.get(interval.pid, 0.0), interval.end)
    assert {i.pid for i in intervals} == {leader, standby, third}
    # The crashed leader's last action ended before the kill, well before the takeover.
    assert max(i.end for i in intervals if i.pid == standby) <= killed < took_over

    with plane.http() as client:
        lease = client.get(LEASES.path(candidates.namespace, "exoccm-test")).json()
    assert not lease["spec"].get("holderIdentity"), "the last leader released the Lease"
    assert lease["spec"]["leaseDurationSeconds"] == 1
    assert lease["spec"]["leaseTransitions"] >= 2
