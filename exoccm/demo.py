"""``exoccm demo``: a local control plane to try exoccm against."""

from __future__ import annotations

import argparse
import signal
import threading

from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane


def run_demo(args: argparse.Namespace) -> int:
    assets = binaries.ensure()
    stop = threading.Event()
    with ControlPlane(assets) as plane:
        print(
            f"kube-apiserver {binaries.KUBERNETES_VERSION} is running at {plane.url}\n"
            f"  export KUBECONFIG={plane.kubeconfig}\n"
            "  kubectl get namespaces\n",
            flush=True,
        )
        if not args.no_wait:
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print("Press Ctrl-C to stop and clean up.", flush=True)
            try:
                stop.wait()
            except KeyboardInterrupt:
                print()
    print("stopped; everything cleaned up", flush=True)
    return 0
