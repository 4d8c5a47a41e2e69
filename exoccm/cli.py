"""Command line: ``exoccm run | sim | demo | plan | doctor | version``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from exoccm import __version__
from exoccm.runcmd import add_cli as add_run_cli
from exoccm.sim.server import add_cli as add_sim_cli

DESCRIPTION = """\
exoccm: Kubernetes cloud controller manager for Exoscale.

Turns Services of type LoadBalancer into Exoscale Network Load Balancers and initializes Nodes
from the instances they run on. Configured by environment variables (see `exoccm run --help`).
"""


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"exoccm {__version__}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from exoccm.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exoccm", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_run_cli(sub)

    version = sub.add_parser("version", help="print the exoccm version")
    version.set_defaults(func=_cmd_version)

    demo = sub.add_parser(
        "demo",
        help="start a local Kubernetes control plane (and later the whole seed story) to try exoccm",
        description="Start etcd and kube-apiserver on loopback and print how to reach them.",
    )
    demo.add_argument(
        "--no-wait",
        action="store_true",
        help="print the connection details and stop at once instead of waiting for Ctrl-C",
    )
    demo.set_defaults(func=_cmd_demo)
    add_sim_cli(sub)
    return parser


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
