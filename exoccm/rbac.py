"""The Kubernetes permissions exoccm uses, per controller: what ``exoccm doctor`` checks.

Keep in step with ``charts/exoccm/templates/clusterrole.yaml`` and ``role.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        if self.group:
            what += f".{self.group}"
        where = f" in namespace {self.namespace}" if self.namespace else ""
        named = f" named {self.name}" if self.name else ""
        return f"{self.verb} {what}{named}{where}"


def _all(verbs: str, resource: str, **kwargs: str) -> list[Permission]:
    return [Permission(verb, resource, **kwargs) for verb in verbs.split()]


COMMON = [
    *_all("get list watch", "nodes"),
    *_all("create patch", "events"),
    Permission("get", "namespaces", name="kube-system"),
]
SERVICE = [
    *_all("get list watch patch", "services"),
    Permission("patch", "services", subresource="status"),
]
NODE = [Permission("patch", "nodes"), Permission("patch", "nodes", subresource="status")]
LIFECYCLE = [Permission("delete", "nodes"), Permission("patch", "nodes")]
CSR = [
    *_all("get list watch", "certificatesigningrequests", group="certificates.k8s.io"),
    Permission(
        "update", "certificatesigningrequests", group="certificates.k8s.io", subresource="approval"
    ),
    Permission(
        "approve", "signers", group="certificates.k8s.io", name="kubernetes.io/kubelet-serving"
    ),
]


def lease_permissions(namespace: str, name: str) -> list[Permission]:
    group = "coordination.k8s.io"
    return [
        Permission("create", "leases", group=group, namespace=namespace),
        Permission("get", "leases", group=group, namespace=namespace, name=name),
        Permission("update", "leases", group=group, namespace=namespace, name=name),
    ]


def required(controllers: frozenset[str], lease: tuple[str, str] | None) -> list[Permission]:
    """Every permission the enabled controllers (and leader election on ``lease``) need."""
    needed = list(COMMON)
    for controller, permissions in (
        ("service", SERVICE),
        ("node", NODE),
        ("lifecycle", LIFECYCLE),
        ("csr", CSR),
    ):
        if controller in controllers:
            needed += permissions
    if lease is not None:
        needed += lease_permissions(*lease)
    return list(dict.fromkeys(needed))
