"""``exoccm demo``: the seed story on this machine, start to finish.

Starts a real etcd + kube-apiserver (built once from the Go module proxy), the Exoscale API
simulator and exoccm itself, replays the story that started exoccm (the ``website`` of
``hello-corp`` behind an NLB in de-muc-1), prints what an operator would see with kubectl and the
exo CLI, then keeps everything running until Ctrl-C and cleans up.
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from exoccm.kube.resources import NODES, SERVICES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import NAMESPACE, ZONE, replay
from exoccm.testing.simprocess import SimProcess


def _say(message: str = "") -> None:
    print(message, flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A kubectl-style table: left-aligned columns, two spaces apart."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    )


def details(pairs: Sequence[tuple[str, object]]) -> str:
    """An ``exo ... show`` style two-column listing."""
    width = max(len(key) for key, _ in pairs)
    return "\n".join(f"  {key.ljust(width)}  {value}" for key, value in pairs)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise RuntimeError(f"gave up after {timeout:.0f}s waiting for {what}")


def _get(plane: ControlPlane, path: str) -> dict[str, Any] | None:
    with plane.http() as client:
        response = client.get(path)
    return response.json() if response.status_code == 200 else None


def _external_ip(service: dict[str, Any] | None) -> str | None:
    ingress = ((service or {}).get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


def _node_ips(node: dict[str, Any], kind: str) -> list[str]:
    return [a["address"] for a in node["status"].get("addresses", []) if a["type"] == kind]


def show_story(plane: ControlPlane, sim: SimProcess, node_names: list[str]) -> None:
    service = _get(plane, SERVICES.path(NAMESPACE, "website"))
    assert service is not None
    spec = service["spec"]
    ports = ",".join(f"{p['port']}:{p['nodePort']}/{p['protocol']}" for p in spec["ports"])
    _say(f"$ kubectl -n {NAMESPACE} get svc website")
    _say(
        table(
            ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"],
            [["website", spec["type"], spec["clusterIP"], _external_ip(service), ports]],
        )
    )
    nlbs = sim.load_balancers(ZONE)
    _say(f"\n$ exo compute load-balancer list --zone {ZONE}")
    _say(
        table(
            ["ID", "NAME", "ZONE", "IP ADDRESS"],
            [[lb["id"], lb["name"], ZONE, lb["ip"]] for lb in nlbs],
        )
    )
    for lb in nlbs:
        _say(f"\n$ exo compute load-balancer show {lb['name']} --zone {ZONE}")
        _say(
            details(
                [
                    ("ID", lb["id"]),
                    ("Name", lb["name"]),
                    ("Zone", ZONE),
                    ("IP Address", lb["ip"]),
                    ("Services", ", ".join(s["name"] for s in lb["services"])),
                    ("State", lb["state"]),
                ]
            )
        )
        for svc in lb["services"]:
            hc = svc["healthcheck"]
            status = ", ".join(
                f"{s['public-ip']}:{s['status']}" for s in svc.get("healthcheck-status", [])
            )
            _say(
                f"\n$ exo compute load-balancer service show {lb['name']} {svc['name']} --zone {ZONE}"
            )
            _say(
                details(
                    [
                        ("ID", svc["id"]),
                        ("Name", svc["name"]),
                        ("Instance Pool ID", svc["instance-pool"]["id"]),
                        ("Protocol", svc["protocol"]),
                        ("Port", svc["port"]),
                        ("Target Port", svc["target-port"]),
                        ("Strategy", svc["strategy"]),
                        ("Healthcheck Mode", hc["mode"]),
                        ("Healthcheck Port", hc["port"]),
                        ("Healthcheck Interval", f"{hc['interval']}s"),
                        ("Healthcheck Timeout", f"{hc['timeout']}s"),
                        ("Healthcheck Retries", hc["retries"]),
                        ("Healthcheck Status", status),
                        ("State", svc["state"]),
                    ]
                )
            )
    _say("\n$ kubectl get nodes -o wide")
    rows = []
    for name in node_names:
        node = _get(plane, NODES.path(name=name)) or {}
        labels = node.get("metadata", {}).get("labels", {})
        rows.append(
            [
                name,
                node.get("spec", {}).get("providerID", ""),
                labels.get("node.kubernetes.io/instance-type", ""),
                ",".join(_node_ips(node, "ExternalIP")) or "<none>",
            ]
        )
    _say(table(["NAME", "PROVIDER-ID", "INSTANCE-TYPE", "EXTERNAL-IP"], rows))


def _initialized(plane: ControlPlane, names: list[str]) -> bool:
    for name in names:
        node = _get(plane, NODES.path(name=name)) or {}
        if not node.get("spec", {}).get("providerID") or not _node_ips(node, "ExternalIP"):
            return False
    return True


def run_demo(args: argparse.Namespace) -> int:
    _say("exoccm demo: the seed story on a local Kubernetes control plane and Exoscale simulator\n")
    assets = binaries.ensure(needs=("kube-apiserver", "etcd"))  # the demo needs no helm
    workdir = Path(tempfile.mkdtemp(prefix="exoccm-demo-"))
    stop = threading.Event()
    with ControlPlane(assets, workdir=workdir / "control-plane") as plane:
        _say(f"[1/4] kube-apiserver {binaries.KUBERNETES_VERSION} is up at {plane.url}")
        sim = SimProcess(workdir / "simulator", latency=args.latency).start()
        try:
            _say(
                f"[2/4] Exoscale API simulator is up at {sim.url} (operations take {args.latency}s)"
            )
            exoccm = ExoccmProcess(
                plane.kubeconfig,
                {**sim.env(ZONE), "EXOCCM_LEADER_ELECTION_NAMESPACE": "kube-system"},
                workdir / "exoccm.log",
            ).start()
            try:
                exoccm.wait_ready()
                _say(f"[3/4] exoccm is running (metrics and health on {exoccm.url})")
                started = time.monotonic()
                story = replay(plane, sim)
                names = [n["metadata"]["name"] for n in story.nodes]
                _say(
                    f"[4/4] created Nodes {', '.join(names)} on Instance Pool "
                    f"{story.pool['name']}, Deployment {NAMESPACE}/website and its LoadBalancer "
                    f"Service (zone {ZONE})"
                )
                wait_until(
                    lambda: _external_ip(_get(plane, SERVICES.path(NAMESPACE, "website"))),
                    "the Service's EXTERNAL-IP",
                )
                wait_until(lambda: _initialized(plane, names), "the Nodes to be initialized")
                _say(f"      ... EXTERNAL-IP assigned {time.monotonic() - started:.1f}s later\n")
                show_story(plane, sim, names)
                _say(
                    "\nEverything keeps running. Try it yourself:\n"
                    f"  export KUBECONFIG={plane.kubeconfig}\n"
                    f"  kubectl -n {NAMESPACE} get svc website\n"
                    f"  kubectl -n {NAMESPACE} delete svc website   # the NLB goes away too\n"
                    f"Simulator: EXOSCALE_API_ENDPOINT={sim.endpoint}\n"
                    f"  EXOSCALE_API_KEY={sim.env(ZONE)['EXOSCALE_API_KEY']} "
                    f"EXOSCALE_API_SECRET={sim.env(ZONE)['EXOSCALE_API_SECRET']}\n"
                    f"  NLBs: curl {sim.url}/_sim/load_balancers?zone={ZONE}\n"
                    f"exoccm logs: {exoccm.log_path}"
                )
                if not args.no_wait:
                    signal.signal(signal.SIGTERM, lambda *_: stop.set())
                    _say("Press Ctrl-C to stop and clean up.")
                    try:
                        stop.wait()
                    except KeyboardInterrupt:
                        _say()
            finally:
                exoccm.stop()
        finally:
            sim.stop()
    _say("stopped exoccm, the simulator and the control plane; cleaned up")
    return 0
