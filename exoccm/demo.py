"""``exoccm demo``: the seed story on this machine, from an empty cluster to the last curl.

Starts the fuller test control plane (etcd, kube-apiserver, kube-controller-manager with
``--cloud-provider=external``, kube-scheduler, and KWOK playing the kubelets; built once from
the Go module proxy), the Exoscale API simulator with its data plane, exoccm itself and the
stand-ins of kube-proxy and the website Pods; replays the story that started exoccm (the
``website`` of ``hello-corp`` behind an NLB in de-muc-1); shows it with the real kubectl, the
NLB as the simulator holds it, and real HTTP requests through the NLB; then keeps everything
running until Ctrl-C (or SIGTERM) and removes everything it made.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.testing import binaries, objects
from exoccm.testing.cluster_state import WEBSITE_IMAGE
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.polling import tail
from exoccm.testing.scenario import NAMESPACE, ZONE
from exoccm.testing.seedworld import REPLICAS, SeedWorld, seed_world
from exoccm.testing.website import may_bind_low_ports

STEPS = 6
LOOP_REQUESTS = 10
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _say(message: str = "") -> None:
    print(message, flush=True)


def details(pairs: Sequence[tuple[str, object]]) -> str:
    """An ``exo ... show`` style two-column listing."""
    width = max(len(key) for key, _ in pairs)
    return "\n".join(f"  {key.ljust(width)}  {value}" for key, value in pairs)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A kubectl-style table: left-aligned columns, two spaces apart."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    )


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    """Ctrl-C and SIGTERM both stop the demo; a second one, while it cleans up, is ignored."""
    _ignore_signals()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _ignore_signals() -> None:
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def _workdir() -> Iterator[Path]:
    """The demo's temporary directory, removed on the way out whatever happened."""
    path = Path(tempfile.mkdtemp(prefix="exoccm-demo-"))
    try:
        yield path
    finally:
        _ignore_signals()  # a late Ctrl-C must not cut the removal short
        shutil.rmtree(path, ignore_errors=True)


def _kubectl(plane: FullControlPlane, *args: str) -> None:
    """Run the real kubectl and print its output under the command line a user would type."""
    _say(f"$ kubectl {' '.join(args)}")
    _say(plane.kubectl(*args).stdout.rstrip())
    _say()


def show_simulator_view(world: SeedWorld) -> None:
    """The NLB and its NLB service as the simulator holds them, laid out as ``exo`` shows them."""
    nlb = world.nlb()
    if nlb is None:
        _say("The simulator holds no NLB for the Service (see exoccm's log).")
        return
    _say(
        "The NLB as the Exoscale simulator holds it, laid out the way `exo compute load-balancer "
        "show` prints an NLB (the exo CLI talks to the real Exoscale and did not run here):"
    )
    _say(
        details(
            [
                ("ID", nlb["id"]),
                ("Name", nlb["name"]),
                ("Zone", world.zone),
                ("IP Address", nlb["ip"]),
                ("Services", ", ".join(s["name"] for s in nlb["services"])),
                ("State", nlb["state"]),
            ]
        )
    )
    for service in nlb["services"]:
        check = service["healthcheck"]
        measured = ", ".join(
            f"{s['public-ip']}:{s['status']}" for s in service.get("healthcheck-status", [])
        )
        _say("\nIts NLB service, as `exo compute load-balancer service show` would lay it out:")
        _say(
            details(
                [
                    ("ID", service["id"]),
                    ("Name", service["name"]),
                    ("Instance Pool ID", service["instance-pool"]["id"]),
                    ("Protocol", service["protocol"]),
                    ("Port", service["port"]),
                    ("Target Port", service["target-port"]),
                    ("Strategy", service["strategy"]),
                    ("Healthcheck Mode", check["mode"]),
                    ("Healthcheck Port", check["port"]),
                    ("Healthcheck Interval", f"{check['interval']}s"),
                    ("Healthcheck Timeout", f"{check['timeout']}s"),
                    ("Healthcheck Retries", check["retries"]),
                    ("Healthcheck Status", measured),
                    ("State", service["state"]),
                ]
            )
        )
    _say()


def show_targets(world: SeedWorld) -> None:
    """Each Node's ExternalIP next to what the NLB's health checks measured there."""
    measured = world.health_statuses()
    rows = [
        [node["metadata"]["name"], ip, measured.pop(ip, "not a target")]
        for node in world.nodes()
        for ip in objects.addresses(node, "ExternalIP")
    ]
    rows += [["(no Node)", ip, status] for ip, status in measured.items()]
    _say("The Nodes' ExternalIPs are the NLB's health-check targets:")
    _say(table(["NODE", "EXTERNAL-IP", "HEALTH CHECK"], rows))
    _say()


def show_requests(ip: str) -> None:
    """``curl http://<ip>`` and the ``X-Served-By`` loop, each a real HTTP request."""
    url = f"http://{ip}"
    _say("These requests are made by the demo itself, from Python, and shown as curl shows them:")
    with httpx.Client(timeout=10) as client:
        _say(f"$ curl {url}")
        try:
            _say(client.get(url).text.rstrip())
            _say()
            _say(f"$ for i in $(seq {LOOP_REQUESTS}); do curl -siI {url} | grep X-Served-By; done")
            for _ in range(LOOP_REQUESTS):
                # A new connection each time, as each curl makes one.
                response = client.head(url, headers={"Connection": "close"})
                _say(f"X-Served-By: {response.headers.get('X-Served-By', '(none)')}")
        except httpx.HTTPError as error:
            _say(f"curl: the request failed: {error!r} (see the simulator's log)")
    _say()


def show_story(world: SeedWorld) -> None:
    namespace = world.namespace
    _kubectl(world.plane, "-n", namespace, "get", "pods", "-o", "wide")
    _kubectl(world.plane, "-n", namespace, "get", "svc", "website")
    _kubectl(world.plane, "get", "nodes", "-o", "wide")
    show_simulator_view(world)
    show_targets(world)
    ip = world.external_ip()
    if ip is not None:
        show_requests(ip)


def try_it_yourself(world: SeedWorld) -> None:
    ip = world.external_ip()
    assets = world.plane.assets.directory
    env = world.sim.env(world.zone)
    _say(
        "Try it yourself, in another terminal, while the demo runs:\n"
        f"  export PATH={assets}:$PATH    # kubectl {binaries.KUBERNETES_VERSION} is there\n"
        f"  export KUBECONFIG={world.plane.kubeconfig}\n"
        f"  kubectl -n {world.namespace} get pods,svc\n"
        f"  curl http://{ip}\n"
        f"  for i in $(seq {LOOP_REQUESTS}); do curl -siI http://{ip} | grep X-Served-By; done\n"
        f"  kubectl -n {world.namespace} scale deployment website --replicas=5\n"
        f"  kubectl -n {world.namespace} delete svc website   # exoccm deletes the NLB too\n"
        f"The simulator: EXOSCALE_API_ENDPOINT={world.sim.endpoint} "
        f"EXOSCALE_API_KEY={env['EXOSCALE_API_KEY']} "
        f"EXOSCALE_API_SECRET={env['EXOSCALE_API_SECRET']}\n"
        f"  its NLBs: curl '{world.sim.url}/_sim/load_balancers?zone={world.zone}'\n"
        f"exoccm's log: {world.exoccm.log_path}\n"
        f"Everything lives in {world.plane.workdir.parent}, removed when the demo stops."
    )


def _step(number: int, message: str) -> None:
    _say(f"[{number}/{STEPS}] {message}")


class DemoError(RuntimeError):
    """The story did not happen; the message says which step and why."""


@dataclass
class _Outcome:
    shown: bool = False


def _play(
    args: argparse.Namespace,
    assets: binaries.Assets,
    networks: LoopbackNetworks,
    workdir: Path,
    outcome: _Outcome,
) -> None:
    with FullControlPlane(assets, workdir=workdir / "control-plane") as plane:
        _step(
            1,
            f"Kubernetes {binaries.KUBERNETES_VERSION} is up at {plane.url}: kube-apiserver, "
            "kube-controller-manager (--cloud-provider=external), kube-scheduler, and KWOK "
            "playing the kubelets",
        )
        steps = iter(range(2, STEPS - 1))
        with seed_world(
            plane,
            workdir,
            networks=networks,
            latency=args.latency,
            progress=lambda message: _step(next(steps), message),
        ) as world:
            try:
                _replay(world, outcome)
            except TimeoutError as error:
                log = tail(world.exoccm.log_path, 20)
                raise DemoError(f"{error}\nthe end of exoccm's log:\n{log}") from None
            if not args.no_wait:
                _say("Press Ctrl-C to stop everything and clean up.")
                while True:
                    signal.pause()  # until Ctrl-C or SIGTERM raises KeyboardInterrupt


def _replay(world: SeedWorld, outcome: _Outcome) -> None:
    """The story, step by step as the user sees it, then what to try."""
    started = time.monotonic()
    world.register_nodes()
    _step(
        STEPS - 1,
        f"registered Nodes {', '.join(world.node_names)} as kubelets with "
        "--cloud-provider=external do (uninitialized; KWOK plays their kubelets), on "
        f"the instances of Instance Pool {(world.pool or {}).get('name')}",
    )
    world.wait_nodes_initialized()
    _say(f"      ... exoccm initialized them {time.monotonic() - started:.1f}s later")
    started = time.monotonic()
    world.deploy_website()
    _step(
        STEPS,
        f"created Deployment {NAMESPACE}/website ({REPLICAS} replicas of "
        f"{WEBSITE_IMAGE}) and its LoadBalancer Service (zone {ZONE})",
    )
    _say("      ... waiting for the Pods to run, the EXTERNAL-IP and the NLB's health checks")
    world.wait_converged()
    _say(f"      ... all there {time.monotonic() - started:.1f}s later\n")
    show_story(world)
    try_it_yourself(world)
    outcome.shown = True


def _refuse_without_low_ports() -> bool:
    if may_bind_low_ports():
        return False
    _say(
        "exoccm demo: the NLB listens on port 80, which this user may not open: run the demo as "
        "root, or let everyone open ports from 80 up first:\n"
        "  sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80"
    )
    return True


def run_demo(args: argparse.Namespace) -> int:
    _say("exoccm demo: the seed story, from an empty cluster to the last curl\n")
    if _refuse_without_low_ports():
        return 1
    try:
        networks = LoopbackNetworks(args.nlb_network, args.instance_network)
    except ValueError as error:
        _say(f"exoccm demo: {error}")
        return 2
    try:
        assets = binaries.ensure(needs=binaries.FULL_PLANE)
    except binaries.BinariesError as error:
        _say(f"exoccm demo: {error}")
        return 1
    except KeyboardInterrupt:
        _say("\ninterrupted while building the binaries")
        return 130
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    try:
        return _run(args, assets, networks)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace, assets: binaries.Assets, networks: LoopbackNetworks) -> int:
    outcome, failed = _Outcome(), False
    for sig in _SIGNALS:
        signal.signal(sig, _interrupt)
    with _workdir() as workdir:
        try:
            _play(args, assets, networks, workdir, outcome)
        except KeyboardInterrupt:
            _say()
        except RuntimeError as error:  # a part did not start, or the story did not happen
            _say(f"\nexoccm demo failed: {error}\n")
            failed = True
    _say(f"stopped exoccm, the simulator, the stand-ins and Kubernetes; removed {workdir}")
    if failed:
        return 1
    # Ctrl-C after the story is how the demo ends; before, it cut the story short.
    return 0 if outcome.shown else 130
