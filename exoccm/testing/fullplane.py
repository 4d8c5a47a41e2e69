"""The fuller test control plane: etcd and kube-apiserver plus a controller manager, a scheduler
and KWOK standing in for the kubelets.

kube-controller-manager runs with ``--cloud-provider=external``, the topology in which a real
cluster runs an external cloud controller manager such as exoccm, and only the controllers that
Deployments, Services and Nodes need (:data:`CONTROLLERS`). kube-controller-manager,
kube-scheduler and KWOK each authenticate with their own client certificate, under the names
the bootstrap RBAC policy grants their rights to (KWOK gets a ClusterRole of its own). Deployments
then make ReplicaSets and Pods, the scheduler binds the Pods to Nodes, KWOK runs them with Pod IPs
from the Pod network (:mod:`exoccm.testing.podnet`: private Pod IPs, each carried by a loopback
address), and EndpointSlices list them.
"""

from __future__ import annotations

import ipaddress
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from exoccm.kube.resources import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, NAMESPACES, NODES
from exoccm.testing import kwok, pki
from exoccm.testing.binaries import FULL_PLANE
from exoccm.testing.controlplane import (
    SERVICE_CIDR,
    ChildProcess,
    ControlPlane,
    ControlPlaneError,
    free_port,
)
from exoccm.testing.podnet import PodNetwork
from exoccm.testing.polling import wait_until
from exoccm.testing.traffic import PODS

# What Deployments, EndpointSlices, namespaces, garbage collection, ServiceAccounts and Node
# health need; the rest of kube-controller-manager's default set (volumes, jobs, autoscaling,
# certificates...) would only cost CPU here.
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "pod-garbage-collector-controller",
    "clusterrole-aggregation-controller",
)
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
SCHEDULER_USER = "system:kube-scheduler"
KWOK_USER = "exoccm-test:kwok"
# What KWOK reads and writes while playing kubelets: Nodes (status only), Pods (status, and
# deleting those marked for deletion), node Leases and Events.
KWOK_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["nodes/status", "pods/status"], "verbs": ["patch", "update"]},
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["get", "list", "watch", "patch", "update", "delete"],
    },
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    },
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]


@dataclass(eq=False)
class FullControlPlane(ControlPlane):
    """:class:`ControlPlane` plus kube-controller-manager, kube-scheduler and KWOK.

    KWOK manages the Nodes labelled ``kwok.x-k8s.io/node: fake`` (see :mod:`exoccm.testing.kwok`)
    and hands out Pod IPs from ``pod_network.cidr``; ``pod_network.loopback_address(pod_ip)`` is
    where a Pod's traffic goes.
    """

    pod_network: PodNetwork = field(default_factory=PodNetwork.for_session)
    #: How often KWOK reports each Node's status (benchmarks use ``kwok.KUBELET_REPORTS``).
    status_reports: kwok.StatusReports = kwok.FREQUENT_REPORTS

    def __post_init__(self) -> None:
        if self.pod_network.cidr.overlaps(ipaddress.ip_network(SERVICE_CIDR)):
            raise ValueError(
                f"pod CIDR {self.pod_network.cidr} overlaps the Service CIDR {SERVICE_CIDR}"
            )
        super().__post_init__()
        self.controller_manager_port = free_port()
        self.scheduler_port = free_port()
        self.kwok_port = free_port()
        identities = self.workdir / "identities"
        identities.mkdir(exist_ok=True)
        self._serving = pki.serving_certificate(self.pki, identities, "components")
        self._controller_manager = ChildProcess(
            "kube-controller-manager",
            self._controller_manager_args(identities),
            self.workdir / "kube-controller-manager.log",
        )
        self._scheduler = ChildProcess(
            "kube-scheduler", self._scheduler_args(identities), self.workdir / "kube-scheduler.log"
        )
        kwok_config = kwok.write_config(self.workdir / "kwok.yaml", self.status_reports)
        self._kwok = ChildProcess(
            "kwok",
            kwok.arguments(
                self.assets.kwok,
                self.identity_kubeconfig(identities / "kwok.kubeconfig", KWOK_USER),
                kwok_config,
                self.pod_network.cidr,
                self.kwok_port,
            ),
            self.workdir / "kwok.log",
        )

    def _apiserver_args(self, tokens: Path) -> list[str]:
        # The front-proxy settings of the aggregation layer, published in the
        # extension-apiserver-authentication ConfigMap: the controller manager and the scheduler
        # read them to authenticate requests to their own ports, and log errors without them.
        return [
            *super()._apiserver_args(tokens),
            f"--requestheader-client-ca-file={self.pki.ca_cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        ]

    def _serving_args(self, kubeconfig: Path, port: int) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={self._serving.cert}",
            f"--tls-private-key-file={self._serving.key}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]

    def _controller_manager_args(self, identities: Path) -> list[str]:
        kubeconfig = self.identity_kubeconfig(
            identities / "kube-controller-manager.kubeconfig", CONTROLLER_MANAGER_USER
        )
        return [
            str(self.assets.kube_controller_manager),
            *self._serving_args(kubeconfig, self.controller_manager_port),
            "--cloud-provider=external",
            f"--controllers={','.join(CONTROLLERS)}",
            # Each controller acts as its own ServiceAccount, as in kubeadm clusters.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki.sa_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            "--allocate-node-cidrs=false",
        ]

    def _scheduler_args(self, identities: Path) -> list[str]:
        kubeconfig = self.identity_kubeconfig(
            identities / "kube-scheduler.kubeconfig", SCHEDULER_USER
        )
        return [
            str(self.assets.kube_scheduler),
            *self._serving_args(kubeconfig, self.scheduler_port),
        ]

    @property
    def controller_manager_log(self) -> Path:
        return self._controller_manager.log

    @property
    def scheduler_log(self) -> Path:
        return self._scheduler.log

    @property
    def kwok_log(self) -> Path:
        return self._kwok.log

    def _grant_kwok(self) -> None:
        name = KWOK_USER
        self.apply(CLUSTER_ROLES.path(), {"metadata": {"name": name}, "rules": KWOK_RULES})
        self.apply(
            CLUSTER_ROLE_BINDINGS.path(),
            {
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}
                ],
            },
        )

    def _check_binaries(self) -> None:
        missing = [n for n in FULL_PLANE if not (self.assets.directory / n).exists()]
        if missing:
            raise ControlPlaneError(
                f"{self.assets.directory} lacks {', '.join(missing)}; get them with "
                "binaries.ensure(needs=binaries.FULL_PLANE) or "
                "`python -m exoccm.testing.binaries --full`"
            )

    def start(self) -> FullControlPlane:
        try:
            self._check_binaries()
            super().start()
            self._grant_kwok()
            deadline = time.monotonic() + self.start_timeout
            checks = (
                (self._controller_manager, f"https://127.0.0.1:{self.controller_manager_port}"),
                (self._scheduler, f"https://127.0.0.1:{self.scheduler_port}"),
                (self._kwok, f"http://127.0.0.1:{self.kwok_port}"),
            )
            for process, _ in checks:
                process.start()
            with httpx.Client(verify=self._ssl(), timeout=3) as client:
                for process, base in checks:
                    self._wait_answering(process, client, f"{base}/healthz", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> FullControlPlane:
        return self.start()

    def stop(self) -> None:
        for process in (self._kwok, self._scheduler, self._controller_manager):
            process.stop()
        super().stop()

    def stop_kubelet(self, node: str) -> None:
        """Take the Node out of KWOK's care, as if its machine vanished: no more Lease renewals or
        status reports, so the controller manager marks it NotReady after the grace period."""
        key, _ = kwok.MANAGED_LABEL
        with self.http() as client:
            response = client.patch(
                NODES.path(name=node),
                json={"metadata": {"labels": {key: None}}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
        if response.status_code >= 400:
            raise ControlPlaneError(
                f"stop kubelet of {node}: {response.status_code} {response.text}"
            )

    def delete_namespace(self, name: str, timeout: float = 120.0) -> None:
        """Delete the namespace and wait until the namespace controller has emptied and removed
        it (TimeoutError after ``timeout`` seconds).

        Its Pods go at once (the namespace, terminating, accepts no new ones): a Pod on a Node
        that is already gone would otherwise wait for the pod garbage collector, a minute or
        more."""
        with self.http() as client:
            client.delete(NAMESPACES.path(name=name))
            client.delete(PODS.path(name), params={"gracePeriodSeconds": 0})

        def gone() -> bool:
            with self.http() as client:
                return client.get(NAMESPACES.path(name=name)).status_code == 404

        wait_until(gone, f"namespace {name} to be deleted", timeout)

    def kubectl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``kubectl --kubeconfig <admin kubeconfig> *args``; raises with stderr on failure."""
        command = [str(self.assets.kubectl), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed (exit {result.returncode}): {result.stderr}"
            )
        return result
