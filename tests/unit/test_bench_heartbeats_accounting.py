"""How the heartbeat benchmark accounts for the reconciles of exoccm's periodic passes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import promtext  # bench/ is not a package
from heartbeats import pass_sizes, reconcile_accounting, resyncs_in

# 10,000 Services created by the benchmark and the apiserver's own default/kubernetes.
SIZES = {"load_balancers": 1000, "services": 10001, "nodes": 5000}


def test_a_resync_counts_only_when_certainly_inside_the_window() -> None:
    # Controllers built between t=0 and t=18: resyncs at 600-618, 1200-1218, ...
    assert resyncs_in((0.0, 18.0), 600.0, 532.0, 1133.0) == [1, 1]
    assert resyncs_in((0.0, 18.0), 600.0, 610.0, 1210.0) == [0, 2]
    assert resyncs_in((0.0, 18.0), 600.0, 20.0, 590.0) == [0, 0]
    assert resyncs_in((0.0, 1.0), 10.0, 5.0, 29.0) == [2, 2]


def test_passes_explain_drift_refresh_and_resync_reconciles() -> None:
    calls = {"list-load-balancers": 10, "list-instances": 2}
    by_controller = {"service": 20001, "node": 5000, "node-lifecycle": 15000}
    result = reconcile_accounting(by_controller, calls, 1, SIZES)
    assert result["queued_by_the_passes"] == {
        "service": 20001,
        "node": 5000,
        "node-lifecycle": 15000,
    }
    assert result["beyond_the_passes"] == {"service": 0, "node": 0, "node-lifecycle": 0}
    without_resync = reconcile_accounting(by_controller, calls, 0, SIZES)
    assert without_resync["beyond_the_passes"] == {
        "service": 10001,
        "node": 5000,
        "node-lifecycle": 5000,
    }


def test_a_resync_queues_what_exoccm_caches_not_what_the_benchmark_made() -> None:
    page = """
# TYPE exoccm_informer_objects gauge
exoccm_informer_objects{informer="nodes"} 5000.0
exoccm_informer_objects{informer="services"} 10001.0
exoccm_informer_objects{informer="csrs"} 3.0
"""
    sizes = pass_sizes(promtext.parse(page), 1000)
    assert sizes == {"load_balancers": 1000, "services": 10001, "nodes": 5000}
