"""``exoccm sim --data-plane`` as a process: traffic through an NLB made with the official
client, health in its answers, and every listener gone when the process stops."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from exoscale.api.v2 import Client

from exoccm.testing.loopback import LoopbackBlocks
from exoccm.testing.simprocess import API_KEY, API_SECRET, SimProcess
from tests.sim.dataplane_helpers import TARGET_PORT, backends, eventually, refused, served_by
from tests.sim.helpers import ZONE

pytestmark = pytest.mark.anyio


@pytest.fixture
def sim_process(tmp_path: Path, blocks: LoopbackBlocks) -> Iterator[SimProcess]:
    sim = SimProcess(tmp_path / "sim", data_plane=True, networks=blocks.networks).start()
    try:
        yield sim
    finally:
        sim.stop()


def _nlb_with_service(sim: SimProcess, pool_id: str) -> dict[str, Any]:
    client = Client(API_KEY, API_SECRET, url=f"{sim.url}/{ZONE}/v2")
    lb_id = client.wait(client.create_load_balancer(name="website")["id"])["reference"]["id"]
    client.wait(
        client.add_service_to_load_balancer(
            id=lb_id,
            name="http",
            instance_pool={"id": pool_id},
            protocol="tcp",
            strategy="round-robin",
            port=80,
            target_port=TARGET_PORT,
            healthcheck={"mode": "tcp", "port": TARGET_PORT, "interval": 5, "timeout": 2},
        )["id"]
    )
    result: dict[str, Any] = client.get_load_balancer(id=lb_id)
    return result


async def test_the_simulator_process_carries_traffic(
    sim_process: SimProcess, blocks: LoopbackBlocks
) -> None:
    pool = sim_process.call("add_instance_pool", zone=ZONE, name="nodes")
    ips = [
        sim_process.call("add_instance", zone=ZONE, name=f"node-{i}", pool_id=pool["id"])[
            "public-ip"
        ]
        for i in range(2)
    ]
    assert all(ip.startswith(blocks.networks.instances.split("0.0/")[0]) for ip in ips)
    async with backends(ips):
        nlb = await anyio.to_thread.run_sync(_nlb_with_service, sim_process, pool["id"])

        async def healthy() -> bool:
            [lb] = await anyio.to_thread.run_sync(sim_process.load_balancers, ZONE)
            return {s["status"] for s in lb["services"][0]["healthcheck-status"]} == {"success"}

        await eventually(healthy, what="both members healthy")
        answers = [await served_by(nlb["ip"], 80) for _ in range(4)]
        assert sorted(answers) == sorted(ips * 2)
        await anyio.to_thread.run_sync(sim_process.stop)
        assert await refused(nlb["ip"], 80)
    log = sim_process.log_path.read_text()
    assert f"data plane: NLB IPs from {blocks.networks.load_balancers}" in log
    assert f"listening on tcp {nlb['ip']}:80" in log
    assert f"closed tcp {nlb['ip']}:80" in log  # closed by the shutdown, not by the exit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data-plane", "--nlb-network", "10.1.0.0/16"], "must lie within 127.0.0.0/8"),
        (["--nlb-network", "127.30.0.0/16"], "only apply with --data-plane"),
    ],
)
def test_bad_data_plane_options_are_named(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exoccm", "sim", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
