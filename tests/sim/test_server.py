"""Seed files, the `exoccm sim` command and the background-thread server."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from exoccm.cli import build_parser, main
from exoccm.sim import Simulator
from exoccm.sim.seed import build_simulator, load_seed_file
from exoccm.sim.server import serve_in_thread
from tests.sim.helpers import ZONE, OfficialSigner, check_httpx_response

pytestmark = pytest.mark.anyio

KEY = "EXO0123456789abcdef01234567"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstu"
SEED_YAML = f"""
seed: 5
operation_latency: 0.5
zones: [de-muc-1, ch-gva-2]
api_keys:
  - key: {KEY}
    secret: {SECRET}
  - operations: [list-zones]
resources:
  de-muc-1:
    instance_types:
      - {{family: standard, size: large, cpus: 4, memory: 8589934592}}
    instance_pools:
      - {{name: workers, instance_type: [standard, large]}}
    instances:
      - {{name: worker, count: 3, pool: workers}}
      - {{name: bastion, public_ip: 203.0.113.5, labels: {{role: bastion}}}}
    sks_clusters:
      - name: prod
        nodepools: [{{name: workers, instance_pool: workers}}]
"""


def test_seed_file_builds_a_simulator(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED_YAML)
    sim, keys = build_simulator(load_seed_file(path), clock="manual")
    assert sim.zones == ("ch-gva-2", "de-muc-1")
    assert keys[0] == (KEY, SECRET)
    assert len(keys) == 2
    probe = sim.add_instance(ZONE, "probe", instance_type=("standard", "large"))
    assert probe["instance-type"]["cpus"] == 4


async def test_seeded_inventory_is_served(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"api_keys": [{"key": KEY, "secret": SECRET}]}))
    assert build_simulator(load_seed_file(path))[1] == [(KEY, SECRET)]
    path.write_text(SEED_YAML)
    sim, _ = build_simulator(load_seed_file(path))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=f"http://sim/{ZONE}/v2",
        auth=OfficialSigner(KEY, SECRET),
        event_hooks={"response": [check_httpx_response]},
    ) as client:
        instances = (await client.get("/instance")).json()["instances"]
        assert [i["name"] for i in instances] == ["worker-0", "worker-1", "worker-2", "bastion"]
        [pool] = (await client.get("/instance-pool")).json()["instance-pools"]
        assert len(pool["instances"]) == 3
        [cluster] = (await client.get("/sks-cluster")).json()["sks-clusters"]
        assert cluster["nodepools"][0]["instance-pool"]["id"] == pool["id"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("api_keys: [{key: EXOshort, secret: s}]", "EXO followed by 24"),
        ("resources: {de-muc-1: {instance: []}}", "instance"),
        (
            "resources: {de-muc-1: {instances: [{name: n, pool: nowhere}]}}",
            "no instance pool named",
        ),
        ("zones: [mars-1]", "zones must be"),
        ("seed: [", "cannot read"),
        ("operation_latency: -2", "latency"),
    ],
)
def test_bad_seed_files_name_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=fragment):
        build_simulator(load_seed_file(path))


def test_cli_registers_the_sim_command() -> None:
    args = build_parser().parse_args(["sim", "--port", "0", "--latency", "1.5"])
    assert (args.command, args.port, args.host, args.latency, args.seed) == (
        "sim",
        0,
        "127.0.0.1",
        1.5,
        None,
    )


def test_cli_reports_a_bad_seed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seed", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def _read_banner(process: subprocess.Popen[str], timeout: float) -> list[str]:
    """The lines `exoccm sim` prints before serving (a thread reads, so we can time out)."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    banner: list[str] = []
    while not any(line.startswith("admin API") for line in banner):
        try:
            banner.append(lines.get(timeout=timeout).strip())
        except queue.Empty:
            pytest.fail(f"no complete banner from exoccm sim; got {banner}")
    return banner


def test_sim_command_serves_and_prints_how_to_connect(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED_YAML)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exoccm",
            "sim",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--latency",
            "3600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _read_banner(process, timeout=60)
        [endpoint] = [
            line.split("=", 1)[1] for line in lines if line.startswith("EXOSCALE_API_ENDPOINT=")
        ]
        assert endpoint.startswith("http://127.0.0.1:")
        assert endpoint.endswith("/{zone}/v2")
        assert f"EXOSCALE_API_KEY={KEY} EXOSCALE_API_SECRET={SECRET}" in lines
        with httpx.Client(
            base_url=endpoint.format(zone=ZONE), auth=OfficialSigner(KEY, SECRET), timeout=10
        ) as client:
            op = client.post("/load-balancer", json={"name": "nlb"}).json()
            # --latency 3600 overrides the seed's 0.5 s.
            assert client.get(f"/operation/{op['id']}").json()["state"] == "pending"
            assert len(client.get("/instance").json()["instances"]) == 4
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_serve_in_thread_serves_on_a_free_port_and_stops() -> None:
    sim = Simulator()
    key = sim.add_api_key()
    with serve_in_thread(sim) as base:
        assert base.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=f"{base}/{ZONE}/v2", auth=OfficialSigner(*key)) as client:
            assert client.get("/load-balancer").json() == {"load-balancers": []}
            assert client.get("/zone").json()["zones"][6]["api-endpoint"] == f"{base}/{ZONE}/v2"
    with pytest.raises(httpx.ConnectError), httpx.Client() as client:
        client.get(f"{base}/{ZONE}/v2/zone")


def test_serve_in_thread_on_ipv6_loopback() -> None:
    sim = Simulator()
    try:
        server = serve_in_thread(sim, host="::1")
        base = server.__enter__()
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    try:
        assert base.startswith("http://[::1]:")
        with httpx.Client() as client:
            assert client.get(f"{base}/{ZONE}/v2/zone").status_code == 200
    finally:
        server.__exit__(None, None, None)
