"""What the chart renders is a configuration exoccm accepts: the environment, the cloud-config
ConfigMap and the credentials file go through exoccm's own settings loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from exoccm.config.reference import settings_reference
from exoccm.config.settings import Settings
from tests.unit.chart.helm import CI_VALUES, ZONE, Helm, Rendered

# Read by exoccm outside Settings' fields: the lease namespace default, the leader identity.
DOWNWARD_API = {"POD_NAMESPACE": "kube-system", "POD_NAME": "exoccm-5d9c7b-x2x4q"}
EXISTING_SECRET = {"key": "EXO0000existing0000key", "secret": "existing-secret-value"}


def pod_environment(rendered: Rendered, tmp_path: Path) -> dict[str, str]:
    """The container's environment as the kubelet would build it, with files under tmp_path."""
    secrets = {s["metadata"]["name"]: s["stringData"] for s in rendered.of_kind("Secret")}
    environ: dict[str, str] = {}
    for name, entry in rendered.env.items():
        if "value" in entry:
            environ[name] = entry["value"]
        elif "fieldRef" in entry["valueFrom"]:
            environ[name] = DOWNWARD_API[name]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            data = secrets.get(ref["name"])
            if data is None:  # an existing Secret: any well-formed pair
                environ[name] = EXISTING_SECRET["secret" if "SECRET" in name else "key"]
            else:
                environ[name] = data[ref["key"]]
    # Mounted files: the credentials Secret and the cloud-config ConfigMap, at their paths.
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    for mount in rendered.container["volumeMounts"]:
        volume = volumes[mount["name"]]
        target = tmp_path / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        if "secret" in volume:
            data = secrets.get(volume["secret"]["secretName"], {})
            for item in volume["secret"]["items"]:
                content = data.get(item["key"], '{"api_key": "EXOx", "api_secret": "y"}')
                (target / item["path"]).write_text(content)
        elif "configMap" in volume:
            (config_map,) = rendered.of_kind("ConfigMap")
            for key, content in config_map["data"].items():
                (target / key).write_text(content)
    for name in ("EXOSCALE_API_CREDENTIALS_FILE", "EXOCCM_CLOUD_CONFIG"):
        if name in environ:
            environ[name] = str(tmp_path / environ[name].lstrip("/"))
    return environ


def load(rendered: Rendered, tmp_path: Path) -> Settings:
    return Settings.from_environment(
        pod_environment(rendered, tmp_path), namespace_file=tmp_path / "no-namespace-file"
    )


def test_every_variable_the_chart_sets_is_one_exoccm_reads(helm: Helm) -> None:
    known = {name for info in settings_reference() for name in info.env} | set(DOWNWARD_API)
    names: set[str] = set()
    for path in CI_VALUES:
        names |= set(helm.template(files=[path]).env)
    # User-supplied `env` entries are the user's business; the chart's own must all be real.
    names -= {"EXOCCM_SERVICE_WORKERS", "EXOCCM_DRIFT_PERIOD"}
    assert names <= known, names - known


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name)
def test_each_ci_configuration_loads(helm: Helm, path: Path, tmp_path: Path) -> None:
    settings = load(helm.template(files=[path]), tmp_path)
    assert settings.zone
    assert settings.leader_elect is True
    assert settings.leader_election_namespace == "kube-system"


def test_default_settings(helm: Helm, tmp_path: Path) -> None:
    settings = load(helm.template(ZONE, release="ccm"), tmp_path)
    assert settings.zone == "ch-gva-2"
    assert settings.api_key == EXISTING_SECRET["key"]
    assert settings.leader_election_name == "ccm-exoccm"
    assert settings.lease_duration == 15.0
    assert settings.renew_deadline == 10.0
    assert settings.retry_period == 2.0
    assert settings.metrics_port == 10258
    assert settings.enabled_controllers == frozenset({"service", "node", "lifecycle"})


def test_csr_values_turn_the_csr_controller_on(helm: Helm, tmp_path: Path) -> None:
    path = next(p for p in CI_VALUES if p.name == "csr-values.yaml")
    settings = load(helm.template(files=[path]), tmp_path)
    assert "csr" in settings.enabled_controllers


def test_file_credentials_are_read_from_the_rendered_secret(helm: Helm, tmp_path: Path) -> None:
    path = next(p for p in CI_VALUES if p.name == "file-credentials-values.yaml")
    settings = load(helm.template(files=[path]), tmp_path)
    assert not settings.has_static_credentials
    assert settings.api_credentials_file is not None
    assert settings.api_credentials_file.name == "credentials.json"
    assert settings.api_credentials_file.is_file()


def test_cloud_config_is_read_from_the_rendered_config_map(helm: Helm, tmp_path: Path) -> None:
    path = next(p for p in CI_VALUES if p.name == "hostnetwork-values.yaml")
    settings = load(helm.template(files=[path]), tmp_path)
    assert settings.cloud_config is not None
    assert len(settings.instances.overrides) == 1
    assert settings.load_balancer.disabled is False
    assert settings.metrics_port == 10260
    assert settings.cluster_id == "production-1"
    assert settings.log_format == "text"


def test_cloud_config_can_disable_the_service_controller(helm: Helm, tmp_path: Path) -> None:
    rendered = helm.template({**ZONE, "cloudConfig": {"loadBalancer": {"disabled": True}}})
    settings = load(rendered, tmp_path)
    assert "service" not in settings.enabled_controllers
