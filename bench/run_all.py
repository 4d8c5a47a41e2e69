"""Run every benchmark in sequence and print one JSON document with all their results.

Usage::

    .venv/bin/python bench/run_all.py                 # the sizes docs/performance.md reports
    .venv/bin/python bench/run_all.py --quick         # small sizes: a smoke run of a few minutes
    .venv/bin/python bench/run_all.py --only convergence_1000,scale --output results.json
    nox -s bench -- --quick                           # the same through nox

Each benchmark runs as its own process (``bench/<module>.py``) with a wall-time bound; its
progress goes to stderr, its JSON result into the combined document under its name. A benchmark
that fails or times out is recorded as ``{"error": ...}`` and the others still run; the exit
status is 1 if any failed. The full suite takes about 55 minutes on a 2-vCPU machine (32 of them the heartbeat window).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine

BENCH = Path(__file__).resolve().parent
FAST = ["--rate-limit", "100", "--burst", "100", "--workers", "50"]


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    full: list[str]
    quick: list[str]
    timeout: float  # seconds, for the full size


SUITE = [
    Benchmark("workqueue", "workqueue_throughput", [], ["--keys", "20000", "--repeat", "2"], 300),
    Benchmark(
        "informer_decode",
        "informer_decode",
        ["--repeat", "3"],
        ["--events", "2000", "--nodes", "200", "--repeat", "1"],
        900,
    ),
    Benchmark("leader_failover", "leader_failover", ["--trials", "3"], ["--trials", "1"], 600),
    Benchmark(
        "dataplane",
        "dataplane",
        [],
        ["--connections", "300", "--megabytes", "16", "--trials", "1"],
        300,
    ),
    Benchmark("poll_schedule", "poll_schedule", [], ["--operations", "100"], 120),
    Benchmark(
        "single_service",
        "single_service",
        ["--runs", "5", "--warmup", "2"],
        ["--runs", "3", "--warmup", "1"],
        300,
    ),
    Benchmark(
        "convergence_100_defaults", "convergence", ["--services", "100"], ["--services", "20"], 900
    ),
    Benchmark(
        "convergence_100",
        "convergence",
        ["--services", "100", *FAST],
        ["--services", "20", *FAST],
        600,
    ),
    Benchmark(
        "convergence_1000",
        "convergence",
        ["--services", "1000", *FAST],
        ["--services", "100", *FAST],
        1200,
    ),
    Benchmark(
        "convergence_1000_workers_100",
        "convergence",
        ["--services", "1000", "--rate-limit", "100", "--burst", "100", "--workers", "100"],
        ["--services", "100", "--rate-limit", "100", "--burst", "100", "--workers", "100"],
        1200,
    ),
    Benchmark(
        "steady_state",
        "steady_state",
        ["--services", "1000", "--drift-period", "20", "--periods", "3"],
        [
            "--services",
            "50",
            "--drift-period",
            "10",
            "--periods",
            "2",
            "--node-refresh-period",
            "10",
        ],
        1200,
    ),
    Benchmark(
        "node_churn",
        "node_churn",
        ["--services", "200", "--nodes", "100"],
        ["--services", "20", "--nodes", "10"],
        900,
    ),
    Benchmark(
        "node_lifecycle",
        "node_lifecycle",
        ["--nodes", "30", "--runs", "6"],
        ["--nodes", "9", "--runs", "4", "--window", "15"],
        600,
    ),
    Benchmark(
        "scale",
        "scale",
        ["--nodes", "5000", "--services", "10000", "--load-balancers", "1000"],
        ["--nodes", "500", "--services", "1000", "--load-balancers", "50", "--settle", "3"],
        1800,
    ),
    # The 10-minute window at 5,000 heartbeating Nodes, after filling and converging: ~25 min.
    Benchmark("scale_heartbeats", "heartbeats", [], ["--quick"], 3000),
]


def run_one(bench: Benchmark, quick: bool) -> dict[str, Any]:
    args = bench.quick if quick else bench.full
    command = [sys.executable, str(BENCH / f"{bench.module}.py"), *args]
    print(f"=== {bench.name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    # The machine may be shared: what else ran shows in the load when the benchmark started.
    load_before = round(os.getloadavg()[0], 2)
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=None, timeout=bench.timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {bench.timeout:g}s", "args": args}
    wall = round(time.monotonic() - started, 1)
    if done.returncode != 0:
        return {"error": f"exit status {done.returncode}", "args": args, "wall_seconds": wall}
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        return {"error": f"no JSON result: {exc}", "args": args, "wall_seconds": wall}
    result.pop("machine", None)  # recorded once for the whole run
    result["args"] = args
    result["wall_seconds"] = wall
    result["load_average_1m_before"] = load_before
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    if args.list:
        for bench in SUITE:
            print(f"{bench.name}: bench/{bench.module}.py {' '.join(bench.full)}")
        return
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    unknown = (only | skip) - {b.name for b in SUITE}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    selected = [b for b in SUITE if (not only or b.name in only) and b.name not in skip]
    started = time.monotonic()
    results = {bench.name: run_one(bench, args.quick) for bench in selected}
    document = {
        "machine": machine(),
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(time.monotonic() - started, 1),
        "results": results,
    }
    text = json.dumps(document, indent=2)
    if args.output:
        args.output.write_text(text + "\n")
    print(text)
    failed = [name for name, result in results.items() if "error" in result]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
