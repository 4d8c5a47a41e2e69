"""The controller registry: each controller declared once, and what is derived from it (the
settings' controller list, `exoccm run`'s informers and controllers, the permissions doctor
checks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exoccm.app import Application, RunOptions
from exoccm.config import Settings
from exoccm.controllers import registry
from exoccm.controllers.inventory import Inventories
from exoccm.controllers.node.runner import NODE_CONTROLLERS, NodeControllers
from exoccm.controllers.service.runner import ServiceController
from exoccm.exoscale import ExoscaleClients
from exoccm.kube.client import KubeClient
from exoccm.kube.config import KubeConfig
from exoccm.kube.resources import NODES
from exoccm.rbac import required

KEY = "EXO0123456789abcdef01234567"
SECRET = "Zz9-verysecret_0123456789abcdefghijklmnopqr"
BASE = {"EXOSCALE_API_KEY": KEY, "EXOSCALE_API_SECRET": SECRET, "EXOSCALE_API_ZONE": "ch-gva-2"}
NAMES = [spec.name for spec in registry.CONTROLLERS]


def load(env: dict[str, str], cloud_config: Path | None = None) -> Settings:
    return Settings.from_environment(BASE | env, cloud_config, namespace_file=Path("/nonexistent"))


def test_each_controller_is_complete_and_named_once() -> None:
    aliases = [alias for spec in registry.CONTROLLERS for alias in spec.aliases]
    assert len(set(NAMES)) == len(NAMES)
    assert len(set(aliases)) == len(aliases)
    assert not set(NAMES) & set(aliases)
    for spec in registry.CONTROLLERS:
        assert spec.summary.endswith("."), spec.name
        assert spec.informers, spec.name
        assert spec.permissions, spec.name
        assert registry.controller(spec.name) is spec


@pytest.mark.parametrize("spec", registry.CONTROLLERS, ids=lambda s: s.name)
def test_every_controller_can_be_chosen_alone_by_each_of_its_names(
    spec: registry.ControllerSpec,
) -> None:
    for name in (spec.name, *spec.aliases):
        assert load({"EXOCCM_CONTROLLERS": name}).enabled_controllers == {spec.name}
        assert (
            spec.name not in load({"EXOCCM_CONTROLLERS": f"*,{name},-{name}"}).enabled_controllers
        )


def test_star_means_the_controllers_on_by_default() -> None:
    on = {spec.name for spec in registry.CONTROLLERS if spec.on_by_default}
    assert on == {"service", "node", "lifecycle"}
    assert load({"EXOCCM_CONTROLLERS": "*"}).enabled_controllers == on


def test_sks_agent_runners_and_cloud_config_switches_come_from_the_registry(
    tmp_path: Path,
) -> None:
    for spec in registry.CONTROLLERS:
        if spec.sks_agent_runner:
            env = {"EXOCCM_CONTROLLERS": "-csr,service", "EXOSCALE_SKS_AGENT_RUNNERS": ""}
            runner = {
                "EXOCCM_CONTROLLERS": "service",
                "EXOSCALE_SKS_AGENT_RUNNERS": spec.sks_agent_runner,
            }
            assert spec.name in load(runner).enabled_controllers
            assert spec.name not in load(env).enabled_controllers
        if spec.cloud_config_section:
            path = tmp_path / f"{spec.name}.yaml"
            path.write_text(f"{spec.cloud_config_section}:\n  disabled: true\n")
            every = {"EXOCCM_CONTROLLERS": ",".join(NAMES)}
            assert spec.name not in load(every, path).enabled_controllers


def test_the_node_runner_builds_exactly_the_controllers_that_share_its_factory() -> None:
    shared = {
        spec.name
        for spec in registry.CONTROLLERS
        if spec.factory is registry.build_node_controllers
    }
    assert shared == NODE_CONTROLLERS


def test_informers_and_factories_follow_the_registry_order_each_once() -> None:
    assert [i.name for i in registry.informers_of(NAMES)] == ["nodes", "services", "csrs"]
    assert [i.name for i in registry.informers_of({"csr", "node"})] == ["nodes", "csrs"]
    assert registry.factories_of({"csr", "lifecycle", "service"}) == [
        (registry.build_service_controller, frozenset({"service"})),
        (registry.build_node_controllers, frozenset({"lifecycle", "csr"})),
    ]
    assert registry.informers_of(()) == ()
    assert registry.factories_of(()) == []


def test_informers_need_list_and_watch_of_their_resource() -> None:
    for spec in registry.CONTROLLERS:
        for informer in spec.informers:
            for verb in ("list", "watch"):
                assert any(
                    p.verb == verb and p.resource == informer.resource.plural and not p.name
                    for p in spec.all_permissions
                ), (spec.name, informer.name, verb)


def test_doctor_checks_the_process_lease_and_enabled_controllers_permissions() -> None:
    default = {str(p) for p in required({"service", "node", "lifecycle"}, ("ops", "ccm"))}
    assert len(default) == 17
    assert "get namespaces named kube-system" in default
    assert "update leases.coordination.k8s.io named ccm in namespace ops" in default
    assert "delete nodes" in default
    assert not any("certificatesigningrequests" in p for p in default)
    with_csr = {str(p) for p in required(set(NAMES), None)}
    assert "approve signers.certificates.k8s.io named kubernetes.io/kubelet-serving" in with_csr
    assert not any("leases" in p for p in with_csr)
    node_only = {str(p) for p in required({"node"}, None)}
    assert "delete nodes" not in node_only
    assert "patch services" not in node_only


# -- exoccm run's wiring ---------------------------------------------------------------------------


@pytest.fixture
async def kube() -> AsyncIterator[KubeClient]:
    # Building makes no request: nothing listens here.
    async with KubeClient(KubeConfig(server="https://127.0.0.1:9")) as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("controllers", "informers", "built"),
    [
        ("*", ["nodes", "services"], 2),
        ("*,csr", ["nodes", "services", "csrs"], 2),
        ("service", ["nodes", "services"], 1),
        ("cloud-node,csr", ["nodes", "csrs"], 1),
        ("*,-service,-node,-lifecycle", [], 0),
    ],
)
async def test_run_builds_the_informers_and_controllers_of_the_enabled_controllers(
    kube: KubeClient, controllers: str, informers: list[str], built: int
) -> None:
    settings = load({"EXOCCM_CONTROLLERS": controllers})
    app = Application(settings, RunOptions(identity="replica-1", install_signal_handlers=False))
    async with ExoscaleClients.from_settings(settings) as clients:
        work = app._build(kube, clients, "cluster-1")
    assert [i.name for i in app.informers] == informers
    assert len(work) == built
    for informer in app.informers:
        spec = next(s for s in registry.informers_of(NAMES) if s.name == informer.name)
        assert informer.resource == spec.resource
        assert informer.transform is spec.projection
    nodes = [i for i in app.informers if i.resource == NODES]
    if nodes:
        assert nodes[0].reflector.options.page_size == registry.NODE_LIST_PAGE_SIZE


@pytest.mark.anyio
async def test_factories_build_their_controllers_with_the_enabled_names(kube: KubeClient) -> None:
    settings = load({"EXOCCM_CONTROLLERS": ",".join(NAMES)})
    app = Application(settings, RunOptions(identity="replica-1", install_signal_handlers=False))
    async with ExoscaleClients.from_settings(settings) as clients:
        wiring = registry.Wiring(
            settings=settings,
            kube=kube,
            inventories=Inventories(clients.zone),
            informers={s: app._informer(kube, s) for s in registry.informers_of(NAMES)},
            cluster_id="cluster-1",
            identity="replica-1",
        )
        service = registry.build_service_controller(wiring, frozenset({"service"}))
        assert isinstance(service, ServiceController)
        assert service.reconciler.config.cluster_id == "cluster-1"
        assert service.reconciler.services is wiring.informers[registry.SERVICES_INFORMER]
        nodes = registry.build_node_controllers(wiring, frozenset({"lifecycle", "csr"}))
        assert isinstance(nodes, NodeControllers)
        assert nodes.enabled == {"lifecycle", "csr"}
        assert nodes.initializer is None
        assert nodes.csr is not None
