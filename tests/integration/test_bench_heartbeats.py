"""The heartbeat scale benchmark's smoke run (``bench/heartbeats.py --quick``), kept from rotting.

It runs the whole path of the full benchmark on 30 KWOK Nodes and 60 Services in about a minute:
the fuller control plane, KWOK heartbeating, exoccm as a process, convergence, the window and its
accounting. Only counts are checked here; the timings are the benchmark's to report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench" / "heartbeats.py"


def test_quick_run_sees_heartbeats_and_accounts_for_every_reconcile() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--timeout", "240"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    assert (result["nodes"], result["services"], result["load_balancer_services"]) == (30, 60, 6)

    seen = result["seen_in_window"]
    # KWOK heartbeated in the window, both ways, and nothing else changed the Nodes.
    assert seen["node_lease_renewals"] > 0
    assert seen["node_status_reports"] > 0
    assert seen["other_node_changes"] == {}
    assert seen["nodes_added"] == seen["nodes_deleted"] == seen["service_updates"] == 0
    # exoccm received the status reports (and did nothing with them, below).
    assert seen["exoccm_node_watch_events"].get("MODIFIED", 0) > 0

    reconciles = result["reconciles"]
    assert reconciles["drift_passes"] >= 1
    assert reconciles["node_refresh_passes"] >= 1
    # Each drift pass queues every load-balancer Service, each node refresh every Node.
    assert reconciles["by_controller"] == reconciles["queued_by_the_passes"]
    assert result["exoscale_calls"]["other_than_the_listings"] == {}
    assert result["caused_by_heartbeats"] == {
        "exact": True,
        "reconciles": 0,
        "exoscale_calls": 0,
        "met": True,
    }
    assert result["memory_mib"]["peak_rss_whole_run"] > 0
    assert result["cpu"]["seconds_per_minute"] > 0
