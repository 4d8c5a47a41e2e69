"""How the heartbeat benchmark tells a Node's status report from any other change of the Node."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from watching import NodeTracker, Window  # bench/ is not a package: its modules are top-level

Obj = dict[str, Any]
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"


def kwok_node(heartbeat: str, rv: str = "1") -> Obj:
    return {
        "metadata": {"name": "worker-0", "resourceVersion": rv, "labels": {"team": "a"}},
        "spec": {"taints": [{"key": UNINITIALIZED, "effect": "NoSchedule"}]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "159.100.224.2"}],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": "2026-12-05T13:00:00Z",
                }
            ],
        },
    }


def test_an_update_moving_only_heartbeat_times_is_a_status_report() -> None:
    tracker = NodeTracker()
    tracker.handle("ADDED", kwok_node("2026-12-05T13:00:00Z"), 0.0)
    tracker.window = window = Window()
    tracker.handle("MODIFIED", kwok_node("2026-12-05T13:05:00Z", rv="2"), 300.0)
    tracker.handle("MODIFIED", kwok_node("2026-12-05T13:10:03Z", rv="3"), 603.0)
    assert window.status_reports == 2
    assert window.status_report_intervals == [303.0]  # the first report had none before it
    assert not window.other_node_changes


def test_any_other_change_is_counted_by_the_part_it_touched() -> None:
    tracker = NodeTracker()
    before = kwok_node("2026-12-05T13:00:00Z")
    tracker.handle("ADDED", before, 0.0)
    tracker.window = window = Window()
    initialized = copy.deepcopy(before)
    initialized["spec"] = {"providerID": "exoscale://x"}
    initialized["metadata"]["labels"]["topology.kubernetes.io/zone"] = "de-muc-1"
    tracker.handle("MODIFIED", initialized, 1.0)
    not_ready = copy.deepcopy(initialized)
    not_ready["status"]["conditions"][0]["status"] = "False"
    tracker.handle("MODIFIED", not_ready, 2.0)
    assert window.status_reports == 0
    assert dict(window.other_node_changes) == {"labels,spec": 1, "conditions": 1}


def test_counts_initialized_and_ready_nodes() -> None:
    tracker = NodeTracker()
    node = kwok_node("2026-12-05T13:00:00Z")
    tracker.handle("ADDED", node, 0.0)
    assert tracker.counts() == (1, 0, 1)
    node = copy.deepcopy(node)
    node["spec"] = {"providerID": "exoscale://x"}
    tracker.handle("MODIFIED", node, 1.0)
    assert tracker.counts() == (1, 1, 1)
    tracker.handle("DELETED", node, 2.0)
    assert tracker.counts() == (0, 0, 0)
