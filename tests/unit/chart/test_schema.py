"""values.schema.json and the chart's own checks refuse bad values before anything is applied."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.unit.chart.helm import CHART, ZONE, Helm

SCHEMA_ERROR = "values don't meet the specifications of the schema"


def test_schema_is_valid_json_and_requires_the_zone() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["required"] == ["zone"]
    assert schema["additionalProperties"] is False


def test_every_top_level_value_has_a_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])


def test_missing_zone_is_refused(helm: Helm) -> None:
    error = helm.template_error(None)
    assert SCHEMA_ERROR in error
    assert "/zone" in error


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"zone": 5}, "/zone"),
        ({"zone": "Geneva"}, "/zone"),
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"replicaCount": 0}, "/replicaCount"),
        ({"hostNetwork": "yes"}, "/hostNetwork"),
        ({"dnsPolicy": "Sometimes"}, "/dnsPolicy"),
        ({"logging": {"level": "verbose"}}, "/logging/level"),
        ({"logging": {"format": "xml"}}, "/logging/format"),
        ({"controllers": ["service", "bogus"]}, "/controllers/1"),
        ({"controllers": []}, "/controllers"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"metrics": {"port": "10258"}}, "/metrics/port"),
        ({"credentials": {"create": "true"}}, "/credentials/create"),
        ({"credentials": {"existingSecret": "Not_A_Name"}}, "/credentials/existingSecret"),
        ({"credentials": {"mountPath": "relative/dir"}}, "/credentials/mountPath"),
        ({"credentials": {"apiKey": "EXO with space"}}, "/credentials/apiKey"),
        ({"csrApproval": {"enabled": 1}}, "/csrApproval/enabled"),
        ({"leaderElection": {"leaseDuration": "soon"}}, "/leaderElection/leaseDuration"),
        ({"leaderElection": {"leaseName": "Upper"}}, "/leaderElection/leaseName"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"clusterId": "has spaces"}, "/clusterId"),
        ({"apiEndpoint": "api.exoscale.com"}, "/apiEndpoint"),
        ({"env": {"BAD-NAME": "x"}}, "BAD-NAME"),
        ({"env": {"EXOCCM_SERVICE_WORKERS": [1]}}, "/env/EXOCCM_SERVICE_WORKERS"),
        ({"podDisruptionBudget": {"maxUnavailable": "half"}}, "/podDisruptionBudget"),
        ({"metrics": {"serviceMonitor": {"interval": 30}}}, "/metrics/serviceMonitor/interval"),
        ({"typo": True}, "typo"),
        ({"metrics": {"servicemonitor": {"enabled": True}}}, "servicemonitor"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v),
)
def test_bad_values_are_refused_by_the_schema(
    helm: Helm, values: dict[str, Any], where: str
) -> None:
    error = helm.template_error({**ZONE, **values})
    assert SCHEMA_ERROR in error
    assert where in error


@pytest.mark.parametrize(
    "values",
    [
        {"leaderElection": {"leaseDuration": "1m30s", "renewDeadline": 20, "retryPeriod": "500ms"}},
        {"podDisruptionBudget": {"maxUnavailable": "50%"}},
        {"controllers": ["*", "-service", "cloud-node"]},
        {"apiEndpoint": "http://127.0.0.1:8080/{zone}/v2"},
        {"zone": "at-vie-2", "clusterId": "prod_1.a"},
    ],
    ids=json.dumps,
)
def test_good_values_pass_the_schema(helm: Helm, values: dict[str, Any]) -> None:
    helm.template({**ZONE, **values})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"replicaCount": 3, "leaderElection": {"enabled": False}},
            "replicaCount is 3 but leaderElection.enabled is false",
        ),
        ({"controllers": ["*", "csr"]}, "set csrApproval.enabled=true"),
        (
            {"credentials": {"create": True, "apiKey": "EXOabc"}},
            "credentials.apiKey and credentials.apiSecret",
        ),
        ({"credentials": {"existingSecret": ""}}, "credentials.existingSecret"),
        (
            {"cloudConfig": {"global": {"apiSecret": "oops"}}},
            "cloudConfig.global: apiKey and apiSecret do not belong",
        ),
    ],
    ids=[
        "replicas-without-election",
        "csr-controller",
        "half-credentials",
        "no-secret",
        "secret-in-config",
    ],
)
def test_inconsistent_values_are_refused_with_a_message(
    helm: Helm, values: dict[str, Any], message: str
) -> None:
    error = helm.template_error({**ZONE, **values})
    assert message in error
