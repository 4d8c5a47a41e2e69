"""A real etcd + kube-apiserver on loopback, for tests and the demo (the envtest approach).

RBAC authorization is on; the admin authenticates with a static token in group
``system:masters``, other identities (the fuller plane's controller manager, scheduler and KWOK)
with client certificates from the plane's own CA; ServiceAccount tokens (TokenRequest) are signed
with a throwaway key, so tests can run exoccm with exactly the rights a ClusterRole grants. Child
processes get their own process group and die with the parent (``PR_SET_PDEATHSIG``), so an
interrupted run leaves no stray processes.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from exoccm.testing import pki
from exoccm.testing.binaries import Assets
from exoccm.testing.polling import wait_answering

ADMIN_USER = "exoccm-admin"
SERVICE_CIDR = "10.96.0.0/16"


class ControlPlaneError(RuntimeError):
    """The control plane failed to start or answer."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: new process group, SIGKILL when we die."""
    os.setpgrp()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class ChildProcess:
    """A control-plane binary run in its own process group, logging to ``log``."""

    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.args,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads are started before
            )
        finally:
            handle.close()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


@dataclass(eq=False)
class ControlPlane:
    """etcd and kube-apiserver in ``workdir``. Use as a context manager or call start/stop."""

    assets: Assets
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="exoccm-cp-")))
    start_timeout: float = 90.0
    keep_workdir: bool = False
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.port = free_port()
        self.pki = pki.create(self.workdir / "pki")
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.admin_token},{ADMIN_USER},uid-{ADMIN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        self._etcd = ChildProcess("etcd", self._etcd_args(), self.workdir / "etcd.log")
        self._apiserver = ChildProcess(
            "kube-apiserver", self._apiserver_args(tokens), self.workdir / "kube-apiserver.log"
        )
        self.kubeconfig = self.write_kubeconfig(self.workdir / "kubeconfig", self.admin_token)
        self._started = False

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def apiserver_log(self) -> Path:
        return self._apiserver.log

    def _etcd_args(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        return [
            str(self.assets.etcd),
            f"--data-dir={self.workdir / 'etcd-data'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_args(self, tokens: Path) -> list[str]:
        return [
            str(self.assets.kube_apiserver),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # 1.37 refuses a loopback advertise address for the kubernetes Service endpoints.
            "--endpoint-reconciler-type=none",
            f"--secure-port={self.port}",
            f"--cert-dir={self.workdir / 'pki'}",
            f"--tls-cert-file={self.pki.serving_cert}",
            f"--tls-private-key-file={self.pki.serving_key}",
            f"--token-auth-file={tokens}",
            f"--client-ca-file={self.pki.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{self.port}/",
            f"--service-account-key-file={self.pki.sa_key}",
            f"--service-account-signing-key-file={self.pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
        ]

    def write_kubeconfig(self, path: Path, token: str, user: str = "exoccm") -> Path:
        """A kubeconfig for this apiserver authenticating with ``token``."""
        return self._write_kubeconfig(path, user, {"token": token})

    def identity_kubeconfig(self, path: Path, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig authenticating as ``user`` in ``groups`` with a fresh client certificate."""
        pair = pki.client_certificate(self.pki, path.parent, user, groups)
        credentials = {
            "client-certificate-data": base64.b64encode(pair.cert.read_bytes()).decode(),
            "client-key-data": base64.b64encode(pair.key.read_bytes()).decode(),
        }
        return self._write_kubeconfig(path, user, credentials)

    def _write_kubeconfig(self, path: Path, user: str, credentials: dict[str, str]) -> Path:
        doc: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "exoccm-local",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.pki.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [
                {"name": "exoccm-local", "context": {"cluster": "exoccm-local", "user": user}}
            ],
            "current-context": "exoccm-local",
        }
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cadata=self.pki.ca_pem.decode())
        return ctx

    def http(self, token: str | None = None) -> httpx.Client:
        """A synchronous client for quick setup calls in tests (admin unless ``token`` is given)."""
        return httpx.Client(
            base_url=self.url,
            verify=self._ssl(),
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
            timeout=30.0,
        )

    def _wait_answering(
        self, process: ChildProcess, client: httpx.Client, url: str, deadline: float
    ) -> None:
        """Until ``process`` answers 200 at ``url``, or ControlPlaneError with its log's tail."""
        wait_answering(
            client,
            url,
            name=process.name,
            running=process.running,
            log=process.log,
            deadline=deadline,
            error=ControlPlaneError,
        )

    def _wait_etcd(self, deadline: float) -> None:
        with httpx.Client(timeout=2) as client:
            self._wait_answering(self._etcd, client, f"{self.etcd_url}/health", deadline)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll ``/readyz`` until the apiserver answers 200, or fail with its log's tail."""
        deadline = time.monotonic() + (timeout or self.start_timeout)
        with self.http() as client:
            client.timeout = httpx.Timeout(3)
            self._wait_answering(self._apiserver, client, "/readyz", deadline)

    def start(self) -> ControlPlane:
        deadline = time.monotonic() + self.start_timeout
        _live.add(self)
        self._etcd.start()
        self._wait_etcd(deadline)
        self._apiserver.start()
        self.wait_ready(max(1.0, deadline - time.monotonic()))
        self._started = True
        return self

    def stop_apiserver(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self._apiserver.stop(sig)

    def start_apiserver(self) -> None:
        self._apiserver.start()
        self.wait_ready()

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver on the same port; etcd (the data) stays."""
        self.stop_apiserver()
        self.start_apiserver()

    def stop(self) -> None:
        self._apiserver.stop()
        self._etcd.stop()
        _live.discard(self)
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- conveniences for tests ---------------------------------------------------------------

    def apply(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` at ``path`` as admin, raising with the server's message on failure."""
        with self.http() as client:
            response = client.post(path, json=obj)
            if response.status_code >= 400:
                raise ControlPlaneError(f"POST {path}: {response.status_code} {response.text}")
            result: dict[str, Any] = response.json()
            return result

    def service_account_token(
        self, namespace: str, name: str, expiration_seconds: int = 3600
    ) -> str:
        """Create the ServiceAccount if needed and mint a token for it (TokenRequest API)."""
        with self.http() as client:
            created = client.post(
                f"/api/v1/namespaces/{namespace}/serviceaccounts",
                json={"metadata": {"name": name}},
            )
            if created.status_code not in (201, 409):
                raise ControlPlaneError(f"create ServiceAccount: {created.text}")
            response = client.post(
                f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                json={
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenRequest",
                    "spec": {"expirationSeconds": expiration_seconds},
                },
            )
            if response.status_code >= 400:
                raise ControlPlaneError(f"TokenRequest: {response.status_code} {response.text}")
            return str(response.json()["status"]["token"])


_live: set[ControlPlane] = set()


@atexit.register
def _stop_all() -> None:
    for plane in list(_live):
        plane.stop()


@contextlib.contextmanager
def running(assets: Assets, **kwargs: Any) -> Iterator[ControlPlane]:
    plane = ControlPlane(assets, **kwargs)
    try:
        yield plane.start()
    finally:
        plane.stop()
