"""The chart's ClusterRole and Role grant exactly what exoccm's controller registry says the
controllers it enables need (the permissions `exoccm doctor` checks): one rule too few or too
many fails. Which controllers run is read back from what the chart renders, through exoccm's own
settings loader."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from exoccm.controllers import registry
from exoccm.kube.objects import Obj
from exoccm.kube.permissions import Permission
from exoccm.rbac import required
from tests.unit.chart.helm import (
    CHART,
    CI_VALUES,
    ZONE,
    Helm,
    Rendered,
)
from tests.unit.chart.test_settings import load

NAMES = [spec.name for spec in registry.CONTROLLERS]

VALUES: dict[str, dict[str, Any]] = {
    "default": ZONE,
    "csr approval": {**ZONE, "csrApproval": {"enabled": True}},
    "no service": {**ZONE, "controllers": ["*", "-service"]},
    "nodes only": {**ZONE, "controllers": ["node", "lifecycle"]},
    "go ccm names": {**ZONE, "controllers": ["cloud-node", "-cloud-node-lifecycle"]},
    "none": {**ZONE, "controllers": ["-service", "-node", "-lifecycle"]},
    "csr alone": {**ZONE, "controllers": ["-service", "-node"], "csrApproval": {"enabled": True}},
    "cloud-config without load balancers": {
        **ZONE,
        "cloudConfig": {"loadBalancer": {"disabled": True}},
    },
    "cloud-config without instances": {
        **ZONE,
        "cloudConfig": {"instances": {"disabled": True}},
        "csrApproval": {"enabled": True},
    },
    "no leader election": {**ZONE, "replicaCount": 1, "leaderElection": {"enabled": False}},
}
# Each controller alone, by each of its names (csr is asked for with csrApproval.enabled).
for spec in registry.CONTROLLERS:
    for name in (spec.name, *spec.aliases):
        alone: dict[str, Any] = {**ZONE, "controllers": [name]}
        if spec.sks_agent_runner:
            alone = {**ZONE, "controllers": ["-service", "-node", "-lifecycle"]}
            alone["csrApproval"] = {"enabled": True}
        VALUES[f"{name} alone"] = alone


def granted(rendered: Rendered) -> set[Permission]:
    """Every (verb, resource, name, namespace) the rendered ClusterRole and Role allow."""
    found: set[Permission] = set()
    for role in rendered.of_kind("ClusterRole") + rendered.of_kind("Role"):
        namespace = role["metadata"].get("namespace", "") if role["kind"] == "Role" else ""
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    plural, _, subresource = resource.partition("/")
                    for name in rule.get("resourceNames") or [""]:
                        for verb in rule["verbs"]:
                            found.add(Permission(verb, plural, group, subresource, namespace, name))
    return found


def needed(rendered: Rendered, tmp_path: Path) -> set[Permission]:
    settings = load(rendered, tmp_path)
    lease = (
        (settings.leader_election_namespace, settings.leader_election_name)
        if settings.leader_elect
        else None
    )
    return set(required(settings.enabled_controllers, lease))


def assert_exact(rendered: Rendered, tmp_path: Path) -> None:
    have, want = granted(rendered), needed(rendered, tmp_path)
    assert have == want, (
        f"the chart grants more: {sorted(map(str, have - want))}; "
        f"less: {sorted(map(str, want - have))}"
    )


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_the_chart_grants_what_the_enabled_controllers_need(
    helm: Helm, values: Obj, tmp_path: Path
) -> None:
    assert_exact(helm.template(values, namespace="ops"), tmp_path)


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name)
def test_every_ci_configuration_grants_what_it_needs(
    helm: Helm, path: Path, tmp_path: Path
) -> None:
    assert_exact(helm.template(files=[path]), tmp_path)


def test_the_values_schema_accepts_exactly_the_registered_names() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    pattern = schema["properties"]["controllers"]["items"]["pattern"]
    match = re.fullmatch(r"\^\(\\\*\|-\?\((?P<names>[a-z|-]+)\)\)\$", pattern)
    assert match, f"unexpected shape of the controllers pattern: {pattern}"
    aliases = {alias for spec in registry.CONTROLLERS for alias in spec.aliases}
    assert set(match.group("names").split("|")) == set(NAMES) | aliases
