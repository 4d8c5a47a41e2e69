"""Running the simulator over real sockets: the ``exoccm sim`` command and a test helper.

The heavy imports (starlette, uvicorn) happen inside the functions: ``exoccm.cli`` imports
this module to register the subcommand, and must work where the ``demo`` extra is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exoccm.sim.dataplane_addresses import (
    DEFAULT_INSTANCE_NETWORK,
    DEFAULT_LOAD_BALANCER_NETWORK,
    LoopbackNetworks,
)

if TYPE_CHECKING:
    from exoccm.sim.simulator import Simulator

_STARTUP_TIMEOUT_SECONDS = 10.0
_SHUTDOWN_TIMEOUT_SECONDS = 10.0
_BACKLOG = 128


def add_cli(subparsers: Any) -> None:
    """Register ``exoccm sim`` on the ``subparsers`` of the main argument parser."""
    parser = subparsers.add_parser(
        "sim",
        help="run the Exoscale API simulator on a local port",
        description=(
            "Serve a simulated Exoscale API v2 for every zone at http://HOST:PORT/<zone>/v2 "
            "(admin API at /_sim/) and print the endpoint and credentials to use."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default 0: any free port)"
    )
    parser.add_argument(
        "--seed",
        type=Path,
        metavar="FILE",
        help="YAML or JSON seed file: API keys, zones, instance types, pools, instances, "
        "SKS clusters, operation latency, random seed (see docs/simulator.md)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        metavar="SECONDS",
        help="how long write Operations stay pending (overrides the seed file)",
    )
    parser.add_argument(
        "--data-plane",
        action="store_true",
        help="make NLBs carry traffic: each NLB service listens on its NLB's IP and forwards to "
        "the healthy members of its Instance Pool, with real health checks; NLB and instance "
        "IPs are then loopback addresses (see docs/simulator.md)",
    )
    parser.add_argument(
        "--nlb-network",
        metavar="CIDR",
        help=f"with --data-plane: where NLB IPs come from (default {DEFAULT_LOAD_BALANCER_NETWORK})",
    )
    parser.add_argument(
        "--instance-network",
        metavar="CIDR",
        help=f"with --data-plane: where instance IPs come from (default {DEFAULT_INSTANCE_NETWORK})",
    )
    parser.set_defaults(func=_run_command)


def _run_command(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from exoccm.sim.seed import SeedFile, build_simulator, load_seed_file
    except ImportError as error:
        sys.stderr.write(
            f"exoccm sim: {error}; the simulator needs the 'demo' extra: "
            "pip install 'exoccm[demo]'\n"
        )
        return 1

    try:
        networks = _networks(args)
        seed = load_seed_file(args.seed) if args.seed is not None else SeedFile()
        sim, credentials = build_simulator(
            seed, operation_latency=args.latency, data_plane=args.data_plane, networks=networks
        )
    except ValueError as error:
        sys.stderr.write(f"exoccm sim: {error}\n")
        return 2
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as error:
        sys.stderr.write(f"exoccm sim: cannot listen on {args.host}:{args.port}: {error}\n")
        return 1
    base = base_url(sock)
    lines = [
        f"Exoscale API simulator listening on {base} (zones: {', '.join(sim.zones)})",
        f"EXOSCALE_API_ENDPOINT={base}/{{zone}}/v2",
        *(f"EXOSCALE_API_KEY={key} EXOSCALE_API_SECRET={secret}" for key, secret in credentials),
        f"admin API: {base}/_sim/ (see docs/simulator.md); stop with Ctrl-C",
    ]
    if sim.data_plane is not None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        lines.append(
            f"data plane: NLB IPs from {sim.data_plane.networks.load_balancers}, instance IPs "
            f"from {sim.data_plane.networks.instances}; traffic only ever goes to 127.0.0.0/8"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    server = uvicorn.Server(_uvicorn_config(sim))
    if sim.data_plane is not None:
        # uvicorn handles SIGTERM while it serves, then re-raises it to the handler it found;
        # let that one stop the server gracefully too, so the data plane closes its listeners.
        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    asyncio.run(serve(server, sock, sim))
    return 0


def _networks(args: argparse.Namespace) -> LoopbackNetworks | None:
    if args.nlb_network is None and args.instance_network is None:
        return None
    if not args.data_plane:
        raise ValueError("--nlb-network and --instance-network only apply with --data-plane")
    defaults = LoopbackNetworks()
    return LoopbackNetworks(
        load_balancers=args.nlb_network or defaults.load_balancers,
        instances=args.instance_network or defaults.instances,
    )


async def serve(server: Any, sock: socket.socket, sim: Simulator) -> None:
    """Serve the API with uvicorn ``server`` on ``sock``, and the data plane if ``sim`` has one;
    when the server stops, the data plane closes every listener."""
    if sim.data_plane is None:
        await server.serve(sockets=[sock])
        return
    async with sim.data_plane.running():
        await server.serve(sockets=[sock])


@contextmanager
def serve_in_thread(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``sim`` on ``host:port`` (0: a free port) from a background thread.

    Yields the base URL, e.g. ``http://127.0.0.1:40123``; zone endpoints are at
    ``<base>/<zone>/v2``. A simulator with a data plane carries traffic in the same thread.
    The server (and the data plane) stop when the block exits.
    """
    import uvicorn

    sock = bind_socket(host, port)
    server = uvicorn.Server(_uvicorn_config(sim))
    thread = threading.Thread(
        target=asyncio.run, args=(serve(server, sock, sim),), name="exoccm-sim-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator server on {host}:{port} did not start")
            time.sleep(0.01)
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(_SHUTDOWN_TIMEOUT_SECONDS)
        sock.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` for uvicorn to serve (port 0: a free one).

    It listens at once, so clients that connect before uvicorn is up wait in the backlog
    instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _uvicorn_config(sim: Simulator) -> Any:
    import uvicorn

    return uvicorn.Config(
        sim.app,
        loop="asyncio",
        http="h11",
        lifespan="off",
        access_log=False,
        log_config=None,  # leave the host application's logging alone
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
