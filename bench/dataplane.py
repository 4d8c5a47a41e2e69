"""The simulator's data plane: what forwarding through a simulated NLB costs, and how fast a
failing member is noticed.

Usage::

    .venv/bin/python bench/dataplane.py [--connections 2000] [--megabytes 64] [--trials 3]

Prints one JSON document:

* ``maglev_build_ms``: building a Maglev lookup table (65537 slots) for 3, 10 and 50 members
  (median of 3), done whenever the set of healthy members changes;
* ``connections``: sequential short connections (connect, 5-byte request, 5-byte answer, close)
  through the NLB and, for reference, straight to the member: per-connection latency
  (median, p99) and connections per second;
* ``throughput``: one connection sending ``--megabytes`` MiB through the NLB, and straight;
* ``failure_detection_s``: from a member's health-check port closing to its
  ``healthcheck-status`` turning ``failure``, with interval 5 s, timeout 2 s, retries 1 (the
  documented bound: interval x (retries + 1) plus one probe's timeout, 12 s).

Everything (client, data plane, member) runs in one process and one event loop on loopback
addresses, so the figures are the whole path's cost on one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from anyio.abc import SocketStream

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine

from exoccm.sim import Simulator
from exoccm.sim.dataplane_balance import maglev_table
from exoccm.testing.loopback import random_blocks

ZONE = "de-muc-1"
TARGET_PORT, HEALTH_PORT = 30080, 30081
INTERVAL, TIMEOUT, RETRIES = 5, 2, 1
CHECK = {
    "mode": "tcp",
    "port": HEALTH_PORT,
    "interval": INTERVAL,
    "timeout": TIMEOUT,
    "retries": RETRIES,
}


def maglev_build_ms() -> dict[str, float]:
    results = {}
    for members in (3, 10, 50):
        names = [f"127.20.0.{i}:30080" for i in range(1, members + 1)]
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            maglev_table(names)
            runs.append((time.perf_counter() - started) * 1000)
        results[str(members)] = round(statistics.median(runs), 1)
    return results


async def answer(stream: SocketStream) -> None:
    """The member: reads until the client half-closes, then answers with the byte count."""
    async with stream:
        received = 0
        try:
            async for chunk in stream:
                received += len(chunk)
            await stream.send(str(received).encode().rjust(5, b"0")[-5:])
        except (OSError, anyio.BrokenResourceError):
            pass


async def one_connection(ip: str, port: int, payload: bytes) -> bytes:
    async with await anyio.connect_tcp(ip, port) as stream:
        await stream.send(payload)
        await stream.send_eof()
        reply = b""
        async for chunk in stream:
            reply += chunk
        return reply


async def connections(ip: str, port: int, count: int) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        begun = time.perf_counter()
        reply = await one_connection(ip, port, b"hello")
        latencies.append(time.perf_counter() - begun)
        assert reply == b"00005", reply
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "median_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "per_second": round(count / elapsed),
    }


async def throughput(ip: str, port: int, megabytes: int) -> float:
    chunk = b"x" * (1 << 20)
    started = time.perf_counter()
    async with await anyio.connect_tcp(ip, port) as stream:
        for _ in range(megabytes):
            await stream.send(chunk)
        await stream.send_eof()
        async for _ in stream:
            pass
    return round(megabytes / (time.perf_counter() - started), 1)


async def statuses(client: httpx.AsyncClient, lb_id: str) -> dict[str, str]:
    lb = (await client.get(f"/load-balancer/{lb_id}")).json()
    return {s["public-ip"]: s["status"] for s in lb["services"][0]["healthcheck-status"]}


async def wait_status(client: httpx.AsyncClient, lb_id: str, ip: str, status: str) -> None:
    with anyio.fail_after(60):
        while (await statuses(client, lb_id)).get(ip) != status:  # noqa: ASYNC110 - polling the API
            await anyio.sleep(0.02)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.sim.helpers import OfficialSigner  # the official signer, as the tests use

    blocks = random_blocks()
    sim = Simulator(seed=0, clock="manual", data_plane=True, networks=blocks.networks)
    assert sim.data_plane is not None
    key, secret = sim.add_api_key()
    pool = sim.add_instance_pool(ZONE, "nodes")
    member = sim.add_instance(ZONE, "node-0", pool_id=pool["id"])["public-ip"]
    traffic = await anyio.create_tcp_listener(local_host=member, local_port=TARGET_PORT)
    result: dict[str, Any] = {}
    async with (
        anyio.create_task_group() as group,
        sim.data_plane.running(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim.app),
            base_url=f"http://sim/{ZONE}/v2",
            auth=OfficialSigner(key, secret),
        ) as client,
    ):
        group.start_soon(traffic.serve, answer)
        lb_id = (await client.post("/load-balancer", json={"name": "bench"})).json()["reference"]
        lb_id = lb_id["id"]
        body = {
            "name": "tcp",
            "instance-pool": {"id": pool["id"]},
            "protocol": "tcp",
            "strategy": "round-robin",
            "port": 80,
            "target-port": TARGET_PORT,
            "healthcheck": CHECK,
        }
        await client.post(f"/load-balancer/{lb_id}/service", json=body)
        sim.advance(0)
        ip = (await client.get(f"/load-balancer/{lb_id}")).json()["ip"]

        detections = []
        for trial in range(args.trials):
            health = await anyio.create_tcp_listener(local_host=member, local_port=HEALTH_PORT)
            async with anyio.create_task_group() as checks:
                checks.start_soon(health.serve, answer)
                await sim.data_plane.sync()
                await wait_status(client, lb_id, member, "success")
                if trial == 0:
                    print("connections through the NLB ...", file=sys.stderr, flush=True)
                    result["connections"] = {
                        "through_nlb": await connections(ip, 80, args.connections),
                        "direct": await connections(member, TARGET_PORT, args.connections),
                    }
                    print("throughput ...", file=sys.stderr, flush=True)
                    result["throughput_mib_per_s"] = {
                        "through_nlb": await throughput(ip, 80, args.megabytes),
                        "direct": await throughput(member, TARGET_PORT, args.megabytes),
                    }
                print(f"failure detection, trial {trial + 1} ...", file=sys.stderr, flush=True)
                checks.cancel_scope.cancel()
            await health.aclose()
            stopped = time.perf_counter()
            await wait_status(client, lb_id, member, "failure")
            detections.append(round(time.perf_counter() - stopped, 2))
        result["failure_detection_s"] = {
            "trials": detections,
            "max": max(detections),
            "bound": INTERVAL * (RETRIES + 1) + TIMEOUT,
        }
        group.cancel_scope.cancel()
    await traffic.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    result = {"benchmark": "dataplane", "maglev_build_ms": maglev_build_ms()}
    result.update(anyio.run(run, args))
    result["machine"] = machine()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
