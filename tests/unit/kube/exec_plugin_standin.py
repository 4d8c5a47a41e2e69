"""A stand-in kubeconfig exec credential plugin, run by the tests as a real subprocess::

    python exec_plugin_standin.py MODE STATE_DIR

Every run appends its pid to ``STATE_DIR/runs``. MODE:

* ``token``: print an ExecCredential with ``$STANDIN_TOKEN`` (expiring at ``$STANDIN_EXPIRY``
  if set) and the ``KUBERNETES_EXEC_INFO`` it was given, as ``STATE_DIR/exec-info``;
* ``wait-for-file``: like ``token``, but only once ``STATE_DIR/go`` exists (gives up after 30 s);
* ``hang``: never answer;
* ``fail``: say why on stderr and exit 3;
* ``garbage``: print something that is not an ExecCredential.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(mode: str, state: Path) -> int:
    with (state / "runs").open("a") as runs:
        runs.write(f"{os.getpid()}\n")
    if mode == "hang":
        while True:
            time.sleep(1)
    if mode == "fail":
        print("starting up", file=sys.stderr)
        print("error: you must be logged in to the server", file=sys.stderr)
        return 3
    if mode == "garbage":
        print("not json")
        return 0
    if mode == "wait-for-file":
        deadline = time.monotonic() + 30
        while not (state / "go").exists():
            if time.monotonic() > deadline:
                print("nobody created the go file", file=sys.stderr)
                return 4
            time.sleep(0.01)
    (state / "exec-info").write_text(os.environ.get("KUBERNETES_EXEC_INFO", ""))
    status = {"token": os.environ["STANDIN_TOKEN"]}
    if os.environ.get("STANDIN_EXPIRY"):
        status["expirationTimestamp"] = os.environ["STANDIN_EXPIRY"]
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": status,
    }
    print(json.dumps(credential))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2])))
