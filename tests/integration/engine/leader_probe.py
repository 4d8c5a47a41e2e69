"""One leader-election candidate as a process, for the two-process election test.

While leading, every ~50 ms it checks :meth:`LeaderElector.still_leading` and, only if that is
true, "acts" for 50 ms and appends ``pid start end`` (wall-clock seconds) to the probe file:
``start`` is taken right after the successful check, ``end`` after the action. Intervals written
by different processes must never overlap. SIGTERM stops the work and releases the Lease (exit
0); a lost lease exits 3.

    python -m tests.integration.engine.leader_probe --kubeconfig K --namespace NS --lease NAME \
        --probe-file F [--lease-duration 4 --renew-deadline 3 --retry-period 0.4]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import anyio

from exoccm.engine.leader import LeaderElectionConfig, LeaderElector, LeadershipLostError
from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig

ACTION_SECONDS = 0.05
EXIT_LOST = 3


async def campaign(args: argparse.Namespace) -> int:
    pid = os.getpid()
    client = KubeClient(from_kubeconfig(Path(args.kubeconfig)), user_agent="leader-probe")
    config = LeaderElectionConfig(
        namespace=args.namespace,
        name=args.lease,
        identity=f"probe-{pid}",
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
    )
    elector = LeaderElector(client, config)
    stop = anyio.Event()
    probe = os.open(args.probe_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def lead() -> None:
        while not stop.is_set():
            if elector.still_leading():
                start = time.time()
                await anyio.sleep(ACTION_SECONDS)  # the guarded action, e.g. a cloud call
                end = time.time()
                os.write(probe, f"{pid} {start:.6f} {end:.6f}\n".encode())
            else:
                await anyio.sleep(ACTION_SECONDS)

    async def on_signal() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                stop.set()
                elector.stop()
                return

    code = 0
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(on_signal)
            try:
                await elector.run(lead)
            except LeadershipLostError:
                code = EXIT_LOST
            tg.cancel_scope.cancel()
    finally:
        os.close(probe)
        await client.aclose()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--lease", required=True)
    parser.add_argument("--probe-file", required=True)
    parser.add_argument("--lease-duration", type=float, default=4.0)
    parser.add_argument("--renew-deadline", type=float, default=3.0)
    parser.add_argument("--retry-period", type=float, default=0.4)
    args = parser.parse_args(argv)
    return anyio.run(campaign, args)


if __name__ == "__main__":
    sys.exit(main())
