"""The fault campaign in CI: a minute of storm with a fixed seed, then the end-state checks.

The same campaign as ``nox -s chaos`` (see ``docs/reliability.md``), shorter and denser: faults
(listings that lie among them) change every few seconds, the leader is killed and handed over,
the apiserver restarts, Services move between zones and a hostile tenant names NLBs that are
not its own. The test asserts the campaign's own checks (NLBs exactly as the Services ask, in
their zones, statuses, no leak, no duplicate, deleted Services gone, no write once converged, no
IP change nobody asked for, no Service without an NLB, nothing handed to or written for the
attackers) and that the storm really blew.
"""

from __future__ import annotations

import json
from pathlib import Path

from chaos.campaign import CampaignConfig, run_campaign

SEED = 7


def test_a_short_campaign_ends_converged(tmp_path: Path) -> None:
    config = CampaignConfig(
        duration=60.0,
        seed=SEED,
        services=6,
        settle_timeout=150.0,
        quiet_window=10.0,
        workdir=tmp_path / "chaos",
        keep=True,
        kill_period=25.0,
        term_period=30.0,
        apiserver_period=45.0,
        fault_phase=(5.0, 10.0),
        churn_interval=(0.7, 2.0),
        hostile_interval=(2.0, 5.0),
        operation_timeout=8.0,  # stuck operations (10-15 s) outlive it and land soon after
        stuck_seconds=(10.0, 15.0),
    )
    summary = run_campaign(config, say=print)
    report = json.dumps(summary, indent=2)

    assert summary["checks"]["passed"], report
    assert summary["problems"] == [], report
    assert summary["settle"]["converged"], report
    assert summary["settle"]["writes_in_quiet_window"] == 0, report
    # The storm blew: faults fired, the leader was killed and handed over, the apiserver restarted.
    assert summary["faults"]["fired_total"] > 0, report
    assert summary["disruptions"].get("sigkill", 0) >= 1, report
    assert summary["disruptions"].get("apiserver-restart", 0) >= 1, report
    assert summary["leadership"]["handovers"] >= 1, report
    assert summary["workload"]["actions"].get("create", 0) >= 4, report
    # Listings lied, Services moved zones, and the hostile tenant attacked and was refused.
    fired = summary["faults"]["fired_by_kind"]
    assert sum(n for kind, n in fired.items() if kind.startswith("listing-")) > 0, report
    assert summary["workload"]["zone_moves_asked"] >= 1, report
    hostile = summary["hostile"]
    assert sum(hostile["refused_with_warning_by_kind"].values()) >= 2, report
    assert hostile["pairs_adopted"] == hostile["pairs"] >= 1, report
    assert summary["ingress_watch"]["samples"] >= 30, report
