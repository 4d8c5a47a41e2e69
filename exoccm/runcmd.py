"""``exoccm run``: parse flags and settings, set up logging, run the controllers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

RUN_DESCRIPTION = """\
Run the cloud controller manager: the service (load balancer), node, node lifecycle and (opt-in)
CSR approval controllers, with leader election, and /healthz, /readyz and /metrics.

Configuration comes from environment variables with the Go Exoscale CCM's names:
  EXOSCALE_API_KEY, EXOSCALE_API_SECRET   API credentials (or EXOSCALE_API_CREDENTIALS_FILE)
  EXOSCALE_API_ZONE                       the default zone (e.g. ch-gva-2)
  EXOSCALE_API_ENDPOINT                   another API endpoint; {zone} is replaced by the zone
plus EXOCCM_* settings for exoccm itself; docs/configuration.md lists and explains every
setting. Every invalid setting is reported at once, with the variable's name.
"""


def add_cli(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    cluster_flags: Callable[[argparse.ArgumentParser], None],
) -> None:
    run = sub.add_parser(
        "run",
        help="run the cloud controller manager (the production entry point)",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cluster_flags(run)
    run.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from exoccm.app import RunOptions, main
    from exoccm.config import ConfigError, Settings
    from exoccm.kube.config import KubeConfigError
    from exoccm.observability import logging as exolog

    try:
        settings = Settings.from_environment(cloud_config_path=args.cloud_config)
    except ConfigError as exc:
        print(f"exoccm: {exc}", file=sys.stderr)
        return 2
    exolog.configure(settings.log_level, settings.log_format)
    import structlog

    log = structlog.get_logger("exoccm")
    for warning in settings.warnings():
        log.warning("Configuration warning", warning=warning)
    try:
        return main(settings, RunOptions(kubeconfig=args.kubeconfig))
    except KubeConfigError as exc:
        log.error("Kubernetes configuration error", error=str(exc))
        return 2
