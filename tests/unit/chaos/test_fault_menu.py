"""Every rule the fault campaign draws is one the simulator accepts, lies included."""

from __future__ import annotations

import random

import pytest

from chaos.faults import LAG_SECONDS, MENU
from exoccm.sim.faults import Fault
from exoccm.sim.listings import LISTING_OPERATION_IDS


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
