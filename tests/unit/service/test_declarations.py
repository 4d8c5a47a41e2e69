"""Every declared annotation is documented, fuzzed, and reaches the NLB it tunes.

These tests keep the walkthrough "Adding an annotation" (docs/architecture.md) true: a new
declaration in ``exoccm/controllers/service/declarations.py`` is all it takes, and they fail,
naming the annotation, when something it needs is missing: a row in the reference, values to
fuzz it with, or a path from the annotation to the desired NLB and the API's request body.

"Reaches" is checked through the controller's own decision (:func:`~exoccm.controllers.service.
decide.decide`), on zone clients that are in-memory stand-ins for
:class:`~exoccm.exoscale.client.ZoneClient`: for any value the annotation accepts, and the other
annotations it needs, the decision's desired NLB (or the NLB it found, or the pool it picked)
holds the parsed value, and so do the bodies of the ``add-service-to-load-balancer`` requests the
plan makes; and the value differs from what the decision holds without the annotation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.service import annotations as annotations_module
from exoccm.controllers.service import apply as apply_module
from exoccm.controllers.service import declarations as d
from exoccm.controllers.service import desired as desired_module
from exoccm.controllers.service import diff as diff_module
from exoccm.controllers.service import value_kinds
from exoccm.controllers.service.annotations import parse_annotations
from exoccm.controllers.service.apply import service_spec
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.decide import Decision, ServiceContext, decide
from exoccm.controllers.service.declarations import ANNOTATIONS, Annotation, Feeds
from exoccm.controllers.service.desired import DesiredLoadBalancer, DesiredService
from exoccm.controllers.service.diff import AddService
from exoccm.controllers.service.ownership import ListedServices
from exoccm.docs_reference import PAGES, cell, render_annotation_table, stale_pages
from exoccm.exoscale import models
from exoccm.exoscale.endpoints import KNOWN_ZONES
from exoccm.exoscale.errors import NotFoundError
from exoccm.exoscale.models import (
    Healthcheck,
    Instance,
    InstancePool,
    LoadBalancer,
    Manager,
    Ref,
    SksCluster,
    SksNodepool,
)
from tests.unit.service.annotation_values import accepted_by, accepted_for

ROOT = Path(__file__).parents[3]
DOCS = ROOT / "docs"
CLUSTER = "prod"
HOME = "ch-gva-2"
UID = "0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"
INSTANCE = "11111111-0000-4000-8000-000000000001"
NODES_POOL = "22222222-0000-4000-8000-000000000001"  # the pool inferred from the Node
SKS_POOL = "33333333-0000-4000-8000-000000000001"
SHARED_NLB = "44444444-0000-4000-8000-000000000001"
NODE = {"metadata": {"name": "n1"}, "spec": {"providerID": f"exoscale://{INSTANCE}"}}


# -- documented ----------------------------------------------------------------------------------


def _reference_rows() -> dict[str, list[str]]:
    text = (DOCS / "annotations.md").read_text(encoding="utf-8")
    rows = re.findall(r'^\| <span id="([^"]+)"></span>(.*) \|$', text, flags=re.MULTILINE)
    return {suffix: re.split(r"(?<!\\) \| ", row) for suffix, row in rows}


def test_the_reference_is_generated_from_the_declarations() -> None:
    page = next(p for p in PAGES if p.path == "annotations.md")
    assert stale_pages(DOCS, [page]) == [], "run `python -m exoccm.docs_reference`"
    assert render_annotation_table().count('<span id="') == len(ANNOTATIONS)


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=lambda a: a.suffix)
def test_every_declared_annotation_is_documented(annotation: Annotation[Any]) -> None:
    rows = _reference_rows()
    assert annotation.suffix in rows, f"no row for {annotation.suffix} in docs/annotations.md"
    _, shown_type, default, description = rows[annotation.suffix]
    assert annotation.description
    assert shown_type == cell(annotation.shown_type)
    assert default == (cell(annotation.shown_default) if annotation.shown_default else "unset")
    assert cell(annotation.description) in description
    assert cell(annotation.go_ccm.note) in description


def test_only_the_zone_and_the_tls_server_name_are_exoccm_s_own() -> None:
    """The Go CCM reads every other annotation (https and maglev-hash pass through it too)."""
    own = {a.suffix for a in ANNOTATIONS if not a.go_ccm.understood}
    assert own == {"zone", "service-healthcheck-tls-sni"}


# -- fuzzed --------------------------------------------------------------------------------------


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=lambda a: a.suffix)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_every_declared_kind_has_values_to_fuzz_with(
    annotation: Annotation[Any], data: st.DataObject
) -> None:
    value = data.draw(accepted_for(annotation))
    _, problems = parse_annotations(
        {annotation.key: value, **needed_with(annotation)}, known_zones=KNOWN_ZONES
    )
    assert problems == [], "the fuzz tests would rarely get past the parser"


# -- reaches the desired NLB ---------------------------------------------------------------------


def test_every_feed_names_a_field_exoccm_sets() -> None:
    settable = {
        "nlb": {f.name for f in fields(DesiredLoadBalancer)},
        "service": {f.name for f in fields(DesiredService)},
        "pool": {"instance_pool_id"},
        "healthcheck": set(Healthcheck.model_fields),
        "lookup": {""},
    }
    for annotation in ANNOTATIONS:
        feeds = annotation.feeds
        assert feeds.field in settable[feeds.part], f"{annotation.suffix} feeds {feeds}"


class Zone:
    """One zone's API as these decisions read it: one Node's instance in the pool NODES_POOL,
    and whatever a test adds."""

    def __init__(self, zone: str):
        self.zone = zone
        self.load_balancers: dict[str, LoadBalancer] = {}
        self.pools = {NODES_POOL: InstancePool(id=NODES_POOL, name="nodes")}
        self.sks_clusters: list[SksCluster] = []

    async def list_load_balancers(self, *, prepaid: bool = False) -> tuple[LoadBalancer, ...]:
        return tuple(self.load_balancers.values())

    async def get_load_balancer(self, lb_id: str, *, prepaid: bool = False) -> LoadBalancer:
        if lb_id not in self.load_balancers:
            raise NotFoundError(404, f"load balancer {lb_id} not found", zone=self.zone)
        return self.load_balancers[lb_id]

    async def list_instances(self) -> tuple[Instance, ...]:
        manager = Manager(id=NODES_POOL, type="instance-pool")
        return (Instance(id=INSTANCE, name="n1", manager=manager),)

    async def list_instance_pools(self) -> tuple[InstancePool, ...]:
        return tuple(self.pools.values())

    async def get_instance_pool(self, pool_id: str) -> InstancePool:
        if pool_id not in self.pools:
            raise NotFoundError(404, f"instance pool {pool_id} not found", zone=self.zone)
        return self.pools[pool_id]

    async def list_sks_clusters(self) -> tuple[SksCluster, ...]:
        return tuple(self.sks_clusters)


def sks_cluster(name: str, nodepool: str) -> SksCluster:
    pool = SksNodepool(id="np", name=nodepool, instance_pool=Ref(id=SKS_POOL))
    return SksCluster(id="sks", name=name, nodepools=(pool,))


# What an annotation that feeds a decision needs to find in the zone to matter, and what the
# decision then holds: (home zone, parsed value) -> expected value.
Arrange = Callable[[Zone, Any], object]


def _an_nlb_with_that_id(zone: Zone, lb_id: str) -> str:
    zone.load_balancers[lb_id] = LoadBalancer(id=lb_id, name="hand-made")
    return lb_id


def _a_pool_with_that_id(zone: Zone, pool_id: str) -> str:
    zone.pools[pool_id] = InstancePool(id=pool_id, name="ingress")
    return pool_id


def _a_nodepool_of_that_name(zone: Zone, name: str) -> str:
    zone.sks_clusters.append(sks_cluster(CLUSTER, name))
    return SKS_POOL


def _a_cluster_of_that_name(zone: Zone, name: str) -> str:
    zone.sks_clusters.append(sks_cluster(name, "ingress"))
    return SKS_POOL


ARRANGE: dict[str, Arrange] = {
    d.ID.suffix: _an_nlb_with_that_id,
    d.INSTANCE_POOL_ID.suffix: _a_pool_with_that_id,
    d.SKS_NODEPOOL_NAME.suffix: _a_nodepool_of_that_name,
    d.SKS_CLUSTER_NAME.suffix: _a_cluster_of_that_name,
}
# Other annotations a value needs to be accepted, or to matter, besides the health-check mode
# it applies in (which comes from its declaration).
NEEDED_WITH: dict[str, dict[str, str]] = {
    d.HEALTHCHECK_TIMEOUT.suffix: {d.HEALTHCHECK_INTERVAL.key: "300s"},
    d.SKS_NODEPOOL_NAME.suffix: {d.SKS_CLUSTER_NAME.key: CLUSTER},
    d.SKS_CLUSTER_NAME.suffix: {d.SKS_NODEPOOL_NAME.key: "ingress"},
    d.EXTERNAL.suffix: {d.NAME.key: "shared"},
}


def needed_with(annotation: Annotation[Any]) -> dict[str, str]:
    needed = dict(NEEDED_WITH.get(annotation.suffix, {}))
    if annotation.modes is not None:
        needed[d.HEALTHCHECK_MODE.key] = annotation.modes[0]
    return needed


class World:
    def __init__(self) -> None:
        self.zones = {name: Zone(name) for name in KNOWN_ZONES}
        self.home = self.zones[HOME]
        # An NLB made by hand, for external annotations to name.
        self.home.load_balancers[SHARED_NLB] = LoadBalancer(id=SHARED_NLB, name="shared")

    def decide(self, annotations: Mapping[str, str]) -> Decision:
        service = {
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "uid": UID,
                "annotations": dict(annotations),
            },
            "spec": {
                "type": "LoadBalancer",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
            },
        }
        inventories = Inventories(self.zones.__getitem__)  # type: ignore[arg-type]
        context = ServiceContext(
            default_zone=HOME, known_zones=frozenset(KNOWN_ZONES), cluster_id=CLUSTER
        )

        async def run() -> Decision:
            return await decide(
                service,
                [NODE],
                inventories,
                context,
                authority=Authority(inventories),
                directory=ListedServices([service]),
            )

        return anyio.run(run)


def held(decision: Decision, feeds: Feeds) -> list[object]:
    """What the decision holds where ``feeds`` points (one value per NLB service for the
    service-level parts); nothing when it made no desired NLB."""
    desired = decision.desired
    if desired is None:
        return []
    match feeds.part:
        case "nlb":
            return [getattr(desired, feeds.field)]
        case "service" | "pool":
            return [getattr(svc, feeds.field) for svc in desired.services]
        case "healthcheck":
            return [getattr(svc.healthcheck, feeds.field) for svc in desired.services]
        case "lookup":
            found = decision.found.load_balancer if decision.found else None
            return [found.id if found else None]
    raise AssertionError(feeds)


def sent(decision: Decision, feeds: Feeds) -> list[object]:
    """What the plan's add-service-to-load-balancer bodies hold where ``feeds`` points."""
    bodies = [
        service_spec(step.service, with_pool=True)
        for step in decision.plan.steps
        if isinstance(step, AddService)
    ]
    if feeds.part == "healthcheck":
        return [getattr(body.healthcheck, feeds.field) for body in bodies]
    return [getattr(body, feeds.field) for body in bodies]


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=lambda a: a.suffix)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_declared_annotation_reaches_the_desired_nlb(
    annotation: Annotation[Any], data: st.DataObject
) -> None:
    raw = data.draw(accepted_by(annotation.value), label="value")
    needed = needed_with(annotation)
    parsed, problems = parse_annotations({annotation.key: raw, **needed}, known_zones=KNOWN_ZONES)
    assert problems == []
    value = parsed[annotation]
    world = World()
    arrange = ARRANGE.get(annotation.suffix)
    if annotation.feeds.part in ("lookup", "pool"):
        assert arrange is not None, f"ARRANGE needs what makes {annotation.suffix} matter"
    expected = value if arrange is None else arrange(world.home, value)
    feeds = annotation.feeds
    assume(held(world.decide(needed), feeds) != [expected])  # else the value changes nothing

    decision = world.decide({annotation.key: raw, **needed})

    assert decision.invalid == ()
    assert decision.blocked is None
    assert decision.refused is None
    assert held(decision, feeds) == [expected]
    if feeds.part in ("service", "pool", "healthcheck"):
        assert sent(decision, feeds) == [expected]


# -- the walkthrough -----------------------------------------------------------------------------

WALKTHROUGH_MODULES = (
    d,
    value_kinds,
    annotations_module,
    desired_module,
    diff_module,
    apply_module,
    models,
)


def test_the_walkthrough_names_what_exists() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Adding an annotation", 1)[1].split("\n## ", 1)[0]
    paths = set(re.findall(r"`((?:exoccm|tests|docs)/[\w/.]+)`", section))
    assert "exoccm/controllers/service/declarations.py" in paths
    assert "tests/unit/service/test_declarations.py" in paths
    for path in paths:
        assert (ROOT / path).exists(), f"the walkthrough names {path}, which does not exist"
    # Every name of code it shows (`ANNOTATIONS`, `Seconds`, `default_text`, `service_spec`, the
    # call `healthcheck("uri")` and the field it names) is one the modules it points to define.
    defined = {field.name for field in fields(Annotation)} | set(Healthcheck.model_fields)
    defined |= set(globals())  # this test's own tables
    for module in WALKTHROUGH_MODULES:
        defined |= set(vars(module))
    for call, argument in re.findall(r'`(\w+)(?:\("([^"]*)"\))?`', section):
        assert call in defined, f"the walkthrough names {call}, which no module defines"
        if call == "healthcheck":
            assert argument in Healthcheck.model_fields, f"no health-check field {argument}"
