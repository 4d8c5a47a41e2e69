"""The Go CCM's cloud-config YAML: keys, overrides, precedence of the environment, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from exoccm.config import ConfigError, Settings
from exoccm.config.cloudconfig import parse_cloud_config

KEY = "EXO0123456789abcdef01234567"
SECRET = "Zz9-verysecret_0123456789abcdefghijklmnopqr"

FULL = f"""
global:
  apiKey: {KEY}
  apiSecret: {SECRET}
  apiEndpoint: https://ppapi-ch-gva-2.exoscale.com/v2
  zone: ignored-like-the-go-ccm
instances:
  disabled: false
  externalOnly: true
  overrides:
    - name: edge-1
      external: true
      externalID: edge-id
      type: bare-metal
      region: on-prem
      addresses:
        - {{type: InternalIP, address: 10.0.0.5}}
        - {{type: Hostname, address: edge-1.lan}}
    - name: /^gpu-[0-9]+$/
      type: gpu
    - name: /^gpu-1$/
      type: never-chosen
    - name: gpu-7
      type: exact-wins
loadBalancer:
  disabled: true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cloud-config.yaml"
    path.write_text(text)
    return path


def load(env: dict[str, str], path: Path) -> Settings:
    return Settings.from_environment(env, path, namespace_file=path.parent / "none")


def test_reads_every_key(tmp_path: Path) -> None:
    settings = load({"EXOSCALE_API_ZONE": "ch-gva-2"}, write(tmp_path, FULL))
    assert settings.api_key == KEY
    assert settings.api_secret is not None
    assert settings.api_secret.get_secret_value() == SECRET
    assert settings.api_endpoint == "https://ppapi-ch-gva-2.exoscale.com/v2"
    assert settings.instances.external_only
    assert settings.load_balancer.disabled
    assert settings.enabled_controllers == {"node", "lifecycle"}
    edge = settings.instances.override_for("edge-1")
    assert edge is not None
    assert edge.external
    assert edge.external_id == "edge-id"
    assert edge.region == "on-prem"
    assert edge.type == "bare-metal"
    assert [(a.type, a.address) for a in edge.addresses] == [
        ("InternalIP", "10.0.0.5"),
        ("Hostname", "edge-1.lan"),
    ]
    assert len(settings.instances.overrides) == 4


def test_override_lookup_exact_name_first_then_first_regex(tmp_path: Path) -> None:
    instances = load({"EXOSCALE_API_ZONE": "ch-gva-2"}, write(tmp_path, FULL)).instances
    exact = instances.override_for("gpu-7")
    first_regex = instances.override_for("gpu-1")
    assert exact is not None
    assert exact.type == "exact-wins"
    assert first_regex is not None
    assert first_regex.type == "gpu"
    assert instances.override_for("cpu-1") is None


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    env = {
        "EXOSCALE_API_ZONE": "ch-gva-2",
        "EXOSCALE_API_KEY": "EXOfromenvfromenvfromenv123",
        "EXOSCALE_API_ENDPOINT": "http://127.0.0.1:8080/{zone}/v2",
    }
    settings = load(env, write(tmp_path, FULL))
    assert settings.api_key == "EXOfromenvfromenvfromenv123"
    assert settings.api_endpoint == "http://127.0.0.1:8080/{zone}/v2"
    # Not overridden: still from the file.
    assert settings.api_secret is not None
    assert settings.api_secret.get_secret_value() == SECRET


def test_path_from_exoccm_cloud_config(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    settings = Settings.from_environment(
        {"EXOSCALE_API_ZONE": "ch-gva-2", "EXOCCM_CLOUD_CONFIG": str(path)},
        namespace_file=tmp_path / "none",
    )
    assert settings.cloud_config == path
    assert settings.load_balancer.disabled


def test_invalid_regex_and_addresses_are_named_with_other_problems(tmp_path: Path) -> None:
    text = """
instances:
  overrides:
    - name: /[unclosed/
    - name: ok
      addresses: [{type: ExternalIP, address: not-an-ip}, {type: Public, address: 1.2.3.4}]
"""
    with pytest.raises(ConfigError) as info:
        load({"EXOCCM_SERVICE_WORKERS": "-1"}, write(tmp_path, text))
    found = "\n".join(info.value.problems)
    assert (
        "instances.overrides[0].name: Value error, invalid regular expression '/[unclosed/'"
        in found
    )
    assert (
        "instances.overrides[1].addresses[0]: Value error, ExternalIP address 'not-an-ip' is not an IP address"
        in found
    )
    assert "instances.overrides[1].addresses[1].type: Input should be" in found
    assert "EXOCCM_SERVICE_WORKERS: Input should be greater than or equal to 1" in found
    assert "EXOSCALE_API_ZONE: not set" in found


def test_yaml_errors_do_not_echo_the_file(tmp_path: Path) -> None:
    text = f"global:\n  apiSecret: {SECRET}\n  apiKey: [unclosed\n"
    with pytest.raises(ConfigError) as info:
        load({"EXOSCALE_API_ZONE": "ch-gva-2"}, write(tmp_path, text))
    assert "invalid YAML at line" in str(info.value)
    assert SECRET not in str(info.value)


def test_wrongly_typed_secret_is_not_echoed() -> None:
    loaded = parse_cloud_config("global:\n  apiSecret: [1, 2]\n  apiKey: {a: b}\n")
    assert loaded.config is None
    assert any("global.apiSecret" in problem for problem in loaded.problems)
    assert not any("(got" in problem for problem in loaded.problems)


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EXOCCM_CLOUD_CONFIG: cannot read cloud-config"):
        load({"EXOSCALE_API_ZONE": "ch-gva-2"}, tmp_path / "absent.yaml")


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    env = {"EXOSCALE_API_ZONE": "ch-gva-2", "EXOSCALE_API_KEY": KEY, "EXOSCALE_API_SECRET": SECRET}
    settings = load(env, write(tmp_path, ""))
    assert not settings.instances.disabled
    assert settings.instances.overrides == ()


def test_unknown_keys_are_warnings_naming_the_key_its_path_and_the_likely_one(
    tmp_path: Path,
) -> None:
    text = f"""
global:
  apiKey: {KEY}
  apiSecret: {SECRET}
  apiSecert: {SECRET}-typo
  zone: ignored-like-the-go-ccm
loadbalancer:
  disabled: true
instances:
  overrides:
    - name: edge-1
      externalId: edge-id
"""
    path = write(tmp_path, text)
    settings = load({"EXOSCALE_API_ZONE": "ch-gva-2"}, path)
    # The typo leaves the default in force, as the Go CCM does ...
    assert settings.load_balancer.disabled is False
    assert settings.instances.overrides[0].external_id is None
    # ... but it is said at start-up.
    source = f"cloud-config {str(path)!r}"
    assert settings.warnings() == [
        f"{source}: unknown key global.apiSecert is ignored; did you mean global.apiSecret?",
        f"{source}: unknown key global.zone is ignored",
        f"{source}: unknown key loadbalancer is ignored; did you mean loadBalancer?",
        f"{source}: unknown key instances.overrides[0].externalId is ignored; did you mean "
        "instances.overrides[0].externalID?",
    ]
    assert not any(SECRET in warning for warning in settings.warnings())


def test_unknown_keys_are_named_even_when_the_file_is_invalid(tmp_path: Path) -> None:
    loaded = parse_cloud_config("instances:\n  disabled: maybe\n  externalonly: true\n")
    assert loaded.config is None
    assert loaded.problems
    assert loaded.unknown_keys == (
        "cloud-config: unknown key instances.externalonly is ignored; did you mean "
        "instances.externalOnly?",
    )


def test_the_cloud_config_flag_wins_over_the_variable(tmp_path: Path) -> None:
    flag = write(tmp_path, "loadBalancer:\n  disabled: true\n")
    variable = tmp_path / "other.yaml"
    variable.write_text("loadBalancer:\n  disabled: false\n")
    env = {"EXOSCALE_API_ZONE": "ch-gva-2", "EXOCCM_CLOUD_CONFIG": str(variable)}
    settings = load({**env, "EXOSCALE_API_KEY": KEY, "EXOSCALE_API_SECRET": SECRET}, flag)
    assert settings.cloud_config == flag
    assert settings.load_balancer.disabled


def test_direct_construction_reads_the_same_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings() is pydantic-settings' own path: arguments, the process environment, the
    # cloud-config file, the Pod's namespace, the defaults.
    path = write(
        tmp_path,
        f"global:\n  apiKey: {KEY}\n  apiSecret: {SECRET}\nloadBalancer:\n  disabled: true\n",
    )
    monkeypatch.setenv("EXOSCALE_API_ZONE", "de-fra-1")
    monkeypatch.setenv("EXOCCM_CLOUD_CONFIG", str(path))
    monkeypatch.setenv("POD_NAMESPACE", "ccm")
    monkeypatch.setenv("EXOCCM_NODE_WORKERS", "7")
    settings = Settings(EXOCCM_NODE_WORKERS=9)
    assert settings.zone == "de-fra-1"
    assert settings.api_key == KEY
    assert settings.load_balancer.disabled
    assert settings.leader_election_namespace == "ccm"
    assert settings.node_workers == 9
