"""``exoccm demo``: a local control plane to try exoccm against."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane


def run_demo(args: argparse.Namespace) -> int:
    assets = binaries.ensure()
    stop = threading.Event()
    with ControlPlane(assets):
        if not args.no_wait:
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    return 0
