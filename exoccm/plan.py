"""``exoccm plan``: the changes ``exoccm run`` would make now, and nothing else.

Lists the Services and Nodes once, lists each zone's NLBs, and runs the service controller's own
decision code on every load-balancer Service, plus the orphan collector's. Every Exoscale client
refuses mutations (its leadership guard always says no), so a bug here cannot change anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from exoccm.config import ConfigError, Settings
from exoccm.controllers.inventory import Inventories
from exoccm.controllers.projections import project_node, project_service
from exoccm.controllers.service import kubeside
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.decide import Decision, ServiceContext, decide_confirmed
from exoccm.controllers.service.drift import find_orphans, owned_by_cluster
from exoccm.controllers.service.lookup import find_load_balancer
from exoccm.controllers.service.ownership import ListedServices
from exoccm.exoscale import ExoscaleClients, ExoscaleError
from exoccm.exoscale.endpoints import reachable_zones
from exoccm.kube.client import KubeClient
from exoccm.kube.config import KubeConfigError, load
from exoccm.kube.errors import KubeError
from exoccm.kube.objects import annotations_of, key_of, uid_of
from exoccm.kube.resources import NODES, SERVICES

Print = Callable[[str], None]


@dataclass
class ServicePlan:
    key: str
    zone: str
    lines: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.lines


def describe_decision(service: dict[str, Any], decision: Decision) -> list[str]:
    if decision.invalid:
        return [f"invalid, no change until fixed: {p}" for p in decision.invalid]
    if decision.refused:
        return [f"refused, nothing is written: {decision.refused}"]
    if decision.blocked:
        return [f"blocked: {decision.blocked}"]
    lines = decision.plan.describe()
    lb = decision.found.load_balancer if decision.found else None
    lb_id = lb.id if lb is not None else "<new NLB>"
    current = annotations_of(service)
    lines += [
        f"set annotation {key}={value}"
        for key, value in decision.write_back(lb_id).items()
        if current.get(key) != value
    ]
    if not kubeside.has_finalizer(service):
        lines.append(f"add finalizer {kubeside.FINALIZER}")
    ingress = kubeside.ingress_for(lb.ip if lb is not None else None)
    if lb is None or ingress != (service.get("status", {}).get("loadBalancer") or {}).get(
        "ingress"
    ):
        lines.append(f"set EXTERNAL-IP to {lb.ip if lb is not None else 'the new NLB IP'}")
    return lines + [f"warning ({note.reason}): {note.message}" for note in decision.notes]


async def compute(
    kube: KubeClient, inventories: Inventories, context: ServiceContext
) -> tuple[list[ServicePlan], list[str]]:
    services = [project_service(s) for s in (await kube.list(SERVICES.path())).items]
    nodes = [project_node(n) for n in (await kube.list(NODES.path())).items]
    directory = ListedServices(services)
    plans = []
    for service in services:
        authority = Authority(inventories)
        if kubeside.wants_load_balancer(service):
            decision = await decide_confirmed(
                service, nodes, inventories, context, authority=authority, directory=directory
            )
            plans.append(
                ServicePlan(key_of(service), decision.zone, describe_decision(service, decision))
            )
        elif kubeside.has_finalizer(service):
            settings, _ = context.settings_of(service)
            zone = context.zone_of(settings)
            found = await find_load_balancer(
                settings,
                uid_of(service),
                inventories.zone(zone),
                authority,
                cluster_id=context.cluster_id,
                other_zones=context.known_zones,
            )
            lines = ["not a load balancer any more: clean up and remove the finalizer"]
            if found.load_balancer is not None:
                lines.insert(
                    0, f"delete NLB {found.load_balancer.name} (or its services if external)"
                )
            plans.append(ServicePlan(key_of(service), zone, lines))
    orphans = []
    for inventory in inventories.zones():
        for orphan in find_orphans(
            inventory.zone,
            inventory.find_by_labels(owned_by_cluster(context.cluster_id)),
            services,
            lambda s: context.zone_of(context.settings_of(s)[0]),
            context.cluster_id,
        ):
            lb = orphan.load_balancer
            orphans.append(
                f"delete orphaned NLB {lb.name} ({lb.id}) in zone {orphan.zone}: {orphan.reason}"
            )
    return plans, orphans


async def _plan(settings: Settings, kubeconfig: Path | None, out: Print) -> int:
    from exoccm.app import cluster_id

    assert settings.zone is not None
    async with (
        KubeClient(load(kubeconfig)) as kube,
        ExoscaleClients.from_settings(settings, guard=lambda: False) as clients,
    ):
        context = ServiceContext(
            default_zone=settings.zone,
            known_zones=reachable_zones(settings.zone, settings.api_endpoint),
            cluster_id=await cluster_id(settings, kube),
            existing_nlb_namespaces=settings.existing_nlb_namespace_set,
        )
        inventories = Inventories(clients.zone)
        inventories.zone(settings.zone)  # the default zone is always checked for orphans
        plans, orphans = await compute(kube, inventories, context)
    for plan in plans:
        if plan.in_sync:
            out(f"{plan.key} (zone {plan.zone}): in sync")
            continue
        out(f"{plan.key} (zone {plan.zone}):")
        for line in plan.lines:
            out(f"  - {line}")
    for line in orphans:
        out(line)
    changed = sum(1 for p in plans if not p.in_sync)
    out(
        f"\n{len(plans)} load-balancer Services: {len(plans) - changed} in sync, {changed} to "
        f"change; {len(orphans)} orphaned NLBs. Nothing was changed."
    )
    return 0


def run_plan(kubeconfig: Path | None, cloud_config: Path | None, out: Print, err: Print) -> int:
    try:
        settings = Settings.from_environment(cloud_config_path=cloud_config)
    except ConfigError as exc:
        err(f"exoccm: {exc}")
        return 2
    try:
        return anyio.run(_plan, settings, kubeconfig, out)
    except (KubeConfigError, KubeError, ExoscaleError) as exc:
        err(f"exoccm plan: {exc}")
        return 1
