"""``exoccm doctor``: is this installation able to work? One verdict per check.

Checks, in order (later ones need earlier ones): the configuration; the Exoscale zone endpoint
answers; the credentials are accepted; the Kubernetes API answers; RBAC grants every permission
the enabled controllers need (SelfSubjectAccessReview, so it checks the identity exoccm runs as);
the Nodes run on instances of Instance Pools exoccm can target. Read-only: it changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from exoccm.config import ConfigError, Settings
from exoccm.controllers.inventory import InstanceIndex
from exoccm.controllers.matching import eligible_for_load_balancing, find_instance
from exoccm.exoscale import ExoscaleClients, ExoscaleError
from exoccm.exoscale.client import ZoneClient
from exoccm.kube.client import KubeClient
from exoccm.kube.config import KubeConfigError, load
from exoccm.kube.errors import KubeError
from exoccm.kube.resources import NODES
from exoccm.rbac import Permission, required

Verdict = Literal["ok", "warn", "fail"]
Report = Callable[["Check"], None]


@dataclass
class Check:
    name: str
    verdict: Verdict
    detail: str
    hints: list[str] = field(default_factory=list)

    def render(self) -> str:
        mark = {"ok": "[ ok ]", "warn": "[warn]", "fail": "[FAIL]"}[self.verdict]
        lines = [f"{mark} {self.name}: {self.detail}"]
        lines += [f"       {hint}" for hint in self.hints]
        return "\n".join(lines)


async def _review(kube: KubeClient, permission: Permission) -> bool:
    optional = {
        "subresource": permission.subresource,
        "namespace": permission.namespace,
        "name": permission.name,
    }
    attributes = {
        "verb": permission.verb,
        "resource": permission.resource,
        "group": permission.group,
        **{key: value for key, value in optional.items() if value},
    }
    review = await kube.create(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        },
    )
    return bool(review.get("status", {}).get("allowed"))


async def check_rbac(kube: KubeClient, settings: Settings) -> Check:
    lease = (
        (settings.leader_election_namespace, settings.leader_election_name)
        if settings.leader_elect
        else None
    )
    needed = required(settings.enabled_controllers, lease)
    missing = [p for p in needed if not await _review(kube, p)]
    if missing:
        return Check(
            "RBAC",
            "fail",
            f"{len(missing)} of {len(needed)} needed permissions are missing",
            [f"missing: {p}" for p in missing]
            + [
                "install the Helm chart's ClusterRole and Role, or grant these to exoccm's identity"
            ],
        )
    return Check("RBAC", "ok", f"all {len(needed)} permissions the enabled controllers need")


async def check_nodes(kube: KubeClient, client: ZoneClient) -> Check:
    nodes = (await kube.list(NODES.path())).items
    index = InstanceIndex.build(await client.list_instances())
    pools: dict[str, list[str]] = {}
    unmatched = []
    outside = []
    for node in nodes:
        name = node["metadata"]["name"]
        instance = find_instance(node, index)
        if instance is None:
            unmatched.append(name)
        elif instance.instance_pool_id is None:
            outside.append(name)
        elif eligible_for_load_balancing(node):
            pools.setdefault(instance.instance_pool_id, []).append(name)
    hints = []
    if unmatched:
        hints.append(f"not Exoscale instances of zone {client.zone}: {', '.join(unmatched)}")
    if outside:
        hints.append(f"instances outside any Instance Pool: {', '.join(outside)}")
    found = "; ".join(f"pool {pool}: {', '.join(names)}" for pool, names in sorted(pools.items()))
    if not pools:
        return Check(
            "Instance Pools",
            "warn" if not nodes else "fail",
            f"none of the {len(nodes)} Nodes runs on an Instance Pool of zone {client.zone}",
            [*hints, "LoadBalancer Services will need the service-instancepool-id annotation"],
        )
    if len(pools) > 1:
        hints.append(
            "several pools: Services must name theirs with the service-instancepool-id or "
            "service-sks-nodepool-name annotation"
        )
    return Check("Instance Pools", "warn" if hints else "ok", found, hints)


async def _run_checks(settings: Settings, kubeconfig: Path | None, report: Report) -> bool:
    healthy = True

    def emit(check: Check) -> None:
        nonlocal healthy
        healthy = healthy and check.verdict != "fail"
        report(check)

    async with ExoscaleClients.from_settings(settings) as clients:
        client = clients.zone()
        cloud_ok = await _step(
            emit,
            "Exoscale endpoint",
            client.list_zones,
            f"zone {client.zone} answers at {client.session.base_url}",
        )
        credentials_ok = cloud_ok and await _step(
            emit,
            "Exoscale credentials",
            client.list_load_balancers,
            f"accepted in zone {client.zone} (list-load-balancers)",
        )
        try:
            config = load(kubeconfig)
        except KubeConfigError as exc:
            emit(Check("Kubernetes API", "fail", str(exc)))
            return False
        async with KubeClient(config) as kube:
            version: dict[str, str] = {}

            async def server_version() -> None:
                version.update(await kube.get("/version"))

            kube_ok = await _step(emit, "Kubernetes API", server_version, f"{config.server}")
            if kube_ok:
                emit(await check_rbac(kube, settings))
            if kube_ok and credentials_ok:
                try:
                    emit(await check_nodes(kube, client))
                except (ExoscaleError, KubeError) as exc:
                    emit(Check("Instance Pools", "fail", str(exc)))
    return healthy


async def _step(
    report: Report, name: str, action: Callable[[], Awaitable[object]], ok: str
) -> bool:
    try:
        await action()
    except (ExoscaleError, KubeError) as exc:
        report(Check(name, "fail", str(exc)))
        return False
    report(Check(name, "ok", ok))
    return True


def run_doctor(kubeconfig: Path | None, cloud_config: Path | None, report: Report) -> int:
    """0 when no check failed, 1 otherwise."""
    import anyio

    try:
        settings = Settings.from_environment(cloud_config_path=cloud_config)
    except ConfigError as exc:
        report(Check("configuration", "fail", f"{len(exc.problems)} problem(s)", exc.problems))
        return 1
    warnings = settings.warnings()
    report(
        Check(
            "configuration",
            "warn" if warnings else "ok",
            f"zone {settings.zone}, controllers {', '.join(sorted(settings.enabled_controllers))}",
            list(warnings),
        )
    )
    healthy = anyio.run(_run_checks, settings, kubeconfig, report)
    return 0 if healthy else 1
