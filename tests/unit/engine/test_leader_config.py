"""Leader election settings are validated like client-go's."""

from __future__ import annotations

from typing import Any

import pytest

from exoccm.engine.leader import LeaderElectionConfig


def test_defaults_are_client_go_defaults() -> None:
    config = LeaderElectionConfig("kube-system", "cloud-controller-manager", "host_1234")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert config.request_timeout == 5


@pytest.mark.parametrize(
    ("timing", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "lease duration"),
        ({"renew_deadline": 2.4, "retry_period": 2}, "renew deadline"),
        ({"lease_duration": 4, "renew_deadline": 3, "retry_period": 0}, "retry period"),
    ],
)
def test_timing_must_satisfy_ld_gt_rd_gt_1_2_rp(timing: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeaderElectionConfig("ns", "lease", "me", **timing)


def test_an_identity_is_required() -> None:
    with pytest.raises(ValueError, match="identity"):
        LeaderElectionConfig("ns", "lease", "")
