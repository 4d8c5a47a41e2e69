"""Command line: ``exoccm run | sim | demo | plan | doctor | version``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from exoccm import __version__
from exoccm.runcmd import add_cli as add_run_cli
from exoccm.sim.dataplane_addresses import DEFAULT_INSTANCE_NETWORK, DEFAULT_LOAD_BALANCER_NETWORK
from exoccm.sim.server import add_cli as add_sim_cli

DESCRIPTION = """\
exoccm: Kubernetes cloud controller manager for Exoscale.

Turns Services of type LoadBalancer into Exoscale Network Load Balancers and initializes Nodes
from the instances they run on. Configured by environment variables (see `exoccm run --help`).
"""


def version_text() -> str:
    """What ``exoccm version`` and ``exoccm --version`` print."""
    return f"exoccm {__version__}"


def _cmd_version(_: argparse.Namespace) -> int:
    print(version_text())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from exoccm.demo import run_demo
    except ImportError as error:  # the container image, say, ships without the demo extra
        sys.stderr.write(
            f"exoccm demo: {error}; the demo needs the 'demo' extra: pip install 'exoccm[demo]'\n"
        )
        return 1
    return run_demo(args)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from exoccm.doctor import run_doctor

    return run_doctor(args.kubeconfig, args.cloud_config, lambda check: print(check.render()))


def _cmd_plan(args: argparse.Namespace) -> int:
    import sys

    from exoccm.plan import run_plan

    return run_plan(
        args.kubeconfig,
        args.cloud_config,
        print,
        lambda line: print(line, file=sys.stderr),
    )


def _cluster_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig file (default: in-cluster ServiceAccount, else $KUBECONFIG or ~/.kube/config)",
    )
    parser.add_argument(
        "--cloud-config",
        type=Path,
        help="the Go CCM's cloud-config YAML (same as EXOCCM_CLOUD_CONFIG; environment wins)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exoccm", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--version", action="version", version=version_text(), help="print the exoccm version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_run_cli(sub, _cluster_flags)

    version = sub.add_parser("version", help="print the exoccm version")
    version.set_defaults(func=_cmd_version)

    demo = sub.add_parser(
        "demo",
        help="see exoccm work: a local Kubernetes, the Exoscale simulator and the seed story",
        description=(
            "Start a local Kubernetes (kube-apiserver, controller manager, scheduler, and KWOK "
            "playing the kubelets; built once from the Go module proxy), the Exoscale API "
            "simulator with its data plane, and exoccm; create two Nodes on an Instance Pool, "
            "the website Deployment and its LoadBalancer Service in zone de-muc-1; show the Pods, "
            "the Service, the Nodes and the NLB, and send HTTP requests through the NLB; keep "
            "everything running until Ctrl-C, then remove everything. The NLB listens on port "
            "80: run it as root or allow unprivileged ports from 80."
        ),
    )
    demo.add_argument(
        "--no-wait",
        action="store_true",
        help="stop and clean up right after showing the result instead of waiting for Ctrl-C",
    )
    demo.add_argument(
        "--latency",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long the simulated Exoscale operations take (default: 1.0)",
    )
    demo.add_argument(
        "--nlb-network",
        default=DEFAULT_LOAD_BALANCER_NETWORK,
        metavar="CIDR",
        help=f"where NLB IPs come from (default: {DEFAULT_LOAD_BALANCER_NETWORK})",
    )
    demo.add_argument(
        "--instance-network",
        default=DEFAULT_INSTANCE_NETWORK,
        metavar="CIDR",
        help=f"where the Nodes' instance IPs come from (default: {DEFAULT_INSTANCE_NETWORK})",
    )
    demo.set_defaults(func=_cmd_demo)
    doctor = sub.add_parser(
        "doctor",
        help="check that exoccm can work here: configuration, Exoscale, Kubernetes, RBAC, pools",
        description=(
            "Run read-only checks with the same configuration as `exoccm run` and print one "
            "verdict per check: the settings, the Exoscale zone endpoint, the API credentials, "
            "the Kubernetes API, the RBAC permissions of exoccm's identity (by "
            "SelfSubjectAccessReview), and the Instance Pools of the Nodes. Exits 1 if any check "
            "fails."
        ),
    )
    _cluster_flags(doctor)
    doctor.set_defaults(func=_cmd_doctor)
    plan = sub.add_parser(
        "plan",
        help="print the changes exoccm would make to NLBs and Services, and make none",
        description=(
            "Read the cluster's Services and Nodes and the zones' NLBs with the same "
            "configuration as `exoccm run`, and print for every LoadBalancer Service what exoccm "
            "would change (NLB and NLB service creations, updates and deletions, annotations, "
            "status), plus orphaned NLBs it would delete. Read-only."
        ),
    )
    _cluster_flags(plan)
    plan.set_defaults(func=_cmd_plan)
    add_sim_cli(sub)
    return parser


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
