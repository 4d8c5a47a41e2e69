"""The controller registry: each controller declared once, and what is derived from it (the
settings' controller list, `exoccm run`'s informers and controllers, the permissions doctor
checks)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exoccm.app import Application, RunOptions
from exoccm.config import Settings, settings_reference
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
REPO = Path(__file__).resolve().parents[2]
CHART_TEMPLATES = REPO / "charts" / "exoccm" / "templates"


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


# -- the "adding a controller" walkthrough (docs/architecture.md) ---------------------------------


def walkthrough() -> str:
    text = (REPO / "docs" / "architecture.md").read_text()
    _, found, rest = text.partition("\n## Adding a controller\n")
    assert found, "docs/architecture.md has no 'Adding a controller' section"
    return rest.split("\n## ", 1)[0]


def test_the_walkthrough_names_files_and_declarations_that_exist() -> None:
    text = walkthrough()
    paths = re.findall(r"`((?:exoccm|charts|tests)/[^`]+)`", text)
    assert len(paths) >= 6
    for path in paths:
        assert (REPO / path).exists(), path
    declared = re.findall(r"`([A-Z][A-Z_]+|[A-Z][a-z][A-Za-z]+)`", text)
    assert {"CONTROLLERS", "ControllerSpec", "InformerSpec", "Wiring"} <= set(declared)
    variables = {name for info in settings_reference() for name in info.env}
    for name in declared:
        if name.startswith(("EXOCCM_", "EXOSCALE_")):
            assert name in variables, name
        else:
            assert hasattr(registry, name), f"the walkthrough names {name}; the registry lacks it"
    fields = re.findall(r"\(`([a-z_]+)`\)|in `([a-z_]+)`\)", text)
    named_fields = {a or b for a, b in fields}
    assert named_fields == {"aliases", "on_by_default"}
    assert named_fields <= set(registry.ControllerSpec.__dataclass_fields__)
    for command in re.findall(r"`(python -m [a-z_.]+)`", text):
        module = command.removeprefix("python -m ")
        assert (REPO / (module.replace(".", "/") + ".py")).exists(), command


@pytest.mark.parametrize("spec", registry.CONTROLLERS, ids=lambda s: s.name)
def test_every_registered_controller_is_documented_settable_and_in_the_chart(
    spec: registry.ControllerSpec,
) -> None:
    # Permissions of its own, besides watching.
    assert {p.verb for p in spec.permissions} - {"list", "watch"}
    # A settings entry: EXOCCM_CONTROLLERS accepts it and its reference names it.
    assert load({"EXOCCM_CONTROLLERS": spec.name}).enabled_controllers == {spec.name}
    page = (REPO / "docs" / "configuration.md").read_text()
    controllers_row = next(
        line for line in page.splitlines() if line.startswith("| `EXOCCM_CONTROLLERS`")
    )
    assert spec.name in controllers_row
    # Documented: a row in the controller table and its permissions.
    assert f"| `{spec.name}` | {'on' if spec.on_by_default else 'off'} |" in page
    assert f"- `{spec.name}`: " in page
    # The chart: its rules, and its name in the chart's controller table.
    assert f'hasKey $on "{spec.name}"' in (CHART_TEMPLATES / "clusterrole.yaml").read_text()
    helpers = (CHART_TEMPLATES / "_helpers.tpl").read_text()
    table = helpers.split('define "exoccm.enabledControllers"', 1)[1].split("{{- end -}}")[0]
    defaults = re.search(r"\$onByDefault := list ([^}]*)", table)
    assert defaults is not None
    assert (f'"{spec.name}"' in defaults.group(1)) == spec.on_by_default
    for alias in spec.aliases:
        assert f'"{alias}" "{spec.name}"' in table
    values = (REPO / "charts" / "exoccm" / "values.yaml").read_text()
    documented = values.split("# -- Controllers to run", 1)[1].split("\ncontrollers:", 1)[0]
    assert spec.name in documented, "charts/exoccm/values.yaml's controllers comment"
