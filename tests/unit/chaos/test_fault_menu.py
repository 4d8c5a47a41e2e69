"""The fault campaign's faults: every rule it draws is one the simulator accepts, lies
included, and the settle knows when the last stuck operation lands."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chaos.faults import LAG_SECONDS, MENU, STUCK_SECONDS, FaultPhases
from exoccm.sim.faults import Fault
from exoccm.sim.listings import LISTING_OPERATION_IDS
from exoccm.testing.simprocess import SimProcess


@pytest.mark.parametrize("kind", sorted(MENU))
def test_each_kind_builds_faults_the_simulator_accepts(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(200):
        rule = MENU[kind](rng)
        fault = Fault.from_json(rule["fault"])
        assert fault.kind == kind
        assert 0 < rule["probability"] <= 0.5
        if fault.family == "listing":
            assert rule["operation_id"] in LISTING_OPERATION_IDS | {"*"}


def test_listings_lag_seconds_not_minutes() -> None:
    rng = random.Random(1)
    lags = [MENU["listing-lagging"](rng)["fault"]["seconds"] for _ in range(500)]
    assert LAG_SECONDS[0] <= min(lags) <= max(lags) <= LAG_SECONDS[1] <= 10


def test_the_lies_mostly_reach_the_nlb_listing() -> None:
    rng = random.Random(2)
    targets = [MENU["listing-partial"](rng)["operation_id"] for _ in range(600)]
    assert targets.count("list-load-balancers") > len(targets) / 3
    assert {"list-instances", "list-instance-pools", "*"} <= set(targets)


def test_the_settle_waits_for_the_last_stuck_operation_of_its_rule() -> None:
    phases = FaultPhases(SimProcess(Path("unused")), random.Random(0))
    phases.stuck_rules += [(100.0, 30.0), (200.0, 25.0)]
    requests = [
        {"at": 150.0, "fault": "operation-stuck"},  # the first rule's: due at 180
        {"at": 210.0, "fault": "operation-stuck"},  # the second's: due at 235
        {"at": 260.0, "fault": "http-503"},
        {"at": 90.0, "fault": "operation-stuck"},  # before any rule known: the longest hold
    ]
    assert phases.stuck_until(requests) == 235.0
    assert phases.stuck_until(requests[:1]) == 180.0
    assert phases.stuck_until(requests[3:]) == 90.0 + STUCK_SECONDS[1]
    assert phases.stuck_until(requests[2:3]) == 0.0
