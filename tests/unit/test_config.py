"""Settings: Go CCM variable names, defaults, every problem reported at once, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exoccm.config import ConfigError, Settings, render_markdown, settings_reference

KEY = "EXO0123456789abcdef01234567"
SECRET = "Zz9-verysecret_0123456789abcdefghijklmnopqr"
BASE = {"EXOSCALE_API_KEY": KEY, "EXOSCALE_API_SECRET": SECRET, "EXOSCALE_API_ZONE": "ch-gva-2"}


def load(env: dict[str, str], tmp_path: Path | None = None) -> Settings:
    namespace_file = (tmp_path or Path("/nonexistent")) / "namespace"
    return Settings.from_environment(env, namespace_file=namespace_file)


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(env)
    return info.value.problems


def test_defaults() -> None:
    settings = load(BASE)
    assert settings.zone == "ch-gva-2"
    assert settings.api_environment == "api"
    assert settings.service_workers == 10
    assert settings.node_workers == 4
    assert settings.resync_period == 600.0
    assert settings.drift_period == 60.0
    assert settings.node_refresh_period == 300.0
    assert settings.api_rate_limit == 10.0
    assert settings.api_burst == 20
    assert settings.api_timeout == 30.0
    assert settings.operation_timeout == 600.0
    assert settings.leader_elect is True
    assert settings.leader_election_namespace == "kube-system"
    assert settings.leader_election_name == "exoccm"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (
        15.0,
        10.0,
        2.0,
    )
    assert (settings.metrics_bind_address, settings.metrics_port) == ("0.0.0.0", 10258)
    assert (settings.log_format, settings.log_level) == ("json", "info")
    assert settings.enabled_controllers == {"service", "node", "lifecycle"}
    assert settings.api_secret is not None
    assert settings.api_secret.get_secret_value() == SECRET


def test_every_variable_is_read() -> None:
    env = BASE | {
        "EXOSCALE_API_ENDPOINT": "http://127.0.0.1:8080/{zone}/v2",
        "EXOSCALE_API_ENVIRONMENT": "ppapi",
        "EXOSCALE_SKS_AGENT_RUNNERS": "node-csr-validation",
        "EXOCCM_CLUSTER_ID": "prod-1",
        "EXOCCM_SERVICE_WORKERS": "3",
        "EXOCCM_NODE_WORKERS": "2",
        "EXOCCM_RESYNC_PERIOD": "1m30s",
        "EXOCCM_DRIFT_PERIOD": "45",
        "EXOCCM_NODE_REFRESH_PERIOD": "2m",
        "EXOCCM_API_RATE_LIMIT": "2.5",
        "EXOCCM_API_BURST": "5",
        "EXOCCM_API_TIMEOUT": "10s",
        "EXOCCM_OPERATION_TIMEOUT": "15m",
        "EXOCCM_LEADER_ELECT": "false",
        "EXOCCM_LEADER_ELECTION_NAMESPACE": "ccm",
        "EXOCCM_LEADER_ELECTION_NAME": "exoccm-lock",
        "EXOCCM_LEASE_DURATION": "30s",
        "EXOCCM_RENEW_DEADLINE": "20s",
        "EXOCCM_RETRY_PERIOD": "4s",
        "EXOCCM_METRICS_BIND_ADDRESS": "::",
        "EXOCCM_METRICS_PORT": "9100",
        "EXOCCM_LOG_FORMAT": "TEXT",
        "EXOCCM_LOG_LEVEL": "warn",
        "EXOCCM_CONTROLLERS": "*,-service",
    }
    s = load(env)
    assert s.api_endpoint == "http://127.0.0.1:8080/{zone}/v2"
    assert s.api_environment == "ppapi"
    assert s.cluster_id == "prod-1"
    assert (s.service_workers, s.node_workers) == (3, 2)
    assert (s.resync_period, s.drift_period, s.node_refresh_period) == (90.0, 45.0, 120.0)
    assert (s.api_rate_limit, s.api_burst, s.api_timeout, s.operation_timeout) == (
        2.5,
        5,
        10.0,
        900.0,
    )
    assert s.leader_elect is False
    assert (s.leader_election_namespace, s.leader_election_name) == ("ccm", "exoccm-lock")
    assert (s.lease_duration, s.renew_deadline, s.retry_period) == (30.0, 20.0, 4.0)
    assert (s.metrics_bind_address, s.metrics_port) == ("::", 9100)
    assert (s.log_format, s.log_level) == ("text", "warning")
    assert s.enabled_controllers == {"node", "lifecycle", "csr"}


def test_zone_from_legacy_variable_and_precedence() -> None:
    env = {k: v for k, v in BASE.items() if k != "EXOSCALE_API_ZONE"}
    assert load(env | {"EXOSCALE_ZONE": "de-muc-1"}).zone == "de-muc-1"
    assert load(BASE | {"EXOSCALE_ZONE": "de-muc-1"}).zone == "ch-gva-2"


def test_empty_variables_count_as_unset() -> None:
    settings = load(BASE | {"EXOCCM_SERVICE_WORKERS": "", "EXOSCALE_API_ENDPOINT": ""})
    assert settings.service_workers == 10
    assert settings.api_endpoint is None


def test_all_problems_are_reported_at_once_with_variable_names() -> None:
    found = problems(
        {
            "EXOSCALE_API_KEY": KEY,
            "EXOCCM_SERVICE_WORKERS": "zero",
            "EXOCCM_NODE_WORKERS": "0",
            "EXOCCM_RESYNC_PERIOD": "10 minutes",
            "EXOCCM_LOG_FORMAT": "yaml",
            "EXOCCM_METRICS_PORT": "70000",
            "EXOCCM_METRICS_BIND_ADDRESS": "localhost",
            "EXOCCM_CONTROLLERS": "*,-servce",
            "EXOSCALE_SKS_AGENT_RUNNERS": "node-csr-validation,other",
            "EXOSCALE_API_ENDPOINT": "ftp://example.com/v2",
            "EXOCCM_LEASE_DURATION": "5s",
        }
    )
    text = "\n".join(found)
    expected = [
        "EXOCCM_SERVICE_WORKERS: Input should be a valid integer",
        "EXOCCM_NODE_WORKERS: Input should be greater than or equal to 1 (got '0')",
        "EXOCCM_RESYNC_PERIOD: '10 minutes' is not a duration",
        "EXOCCM_LOG_FORMAT: Input should be 'json' or 'text' (got 'yaml')",
        "EXOCCM_METRICS_PORT: Input should be less than or equal to 65535",
        "EXOCCM_METRICS_BIND_ADDRESS: 'localhost' is not an IP address",
        "EXOCCM_CONTROLLERS: unknown controller(s) '-servce'",
        "EXOSCALE_SKS_AGENT_RUNNERS: unknown runner(s) 'other'",
        "EXOSCALE_API_ENDPOINT: 'ftp://example.com/v2' is not an http(s) URL",
        "EXOSCALE_API_KEY/EXOSCALE_API_SECRET: incomplete or missing Exoscale API credentials "
        "(EXOSCALE_API_KEY is set but EXOSCALE_API_SECRET is not)",
        "EXOSCALE_API_ZONE: not set",
        "EXOCCM_LEASE_DURATION (5s) must be longer than EXOCCM_RENEW_DEADLINE (10s)",
    ]
    for line in expected:
        assert line in text, f"missing {line!r} in:\n{text}"
    assert len(found) == len(expected)


def test_error_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        load({})
    message = str(info.value)
    assert message.startswith("invalid configuration (2 problems):")
    assert "\n  - EXOSCALE_API_KEY/EXOSCALE_API_SECRET: incomplete or missing" in message
    assert "\n  - EXOSCALE_API_ZONE: not set" in message


def test_secrets_are_never_echoed() -> None:
    bad_secret = "has a space-" + SECRET
    found = problems(BASE | {"EXOSCALE_API_SECRET": bad_secret, "EXOSCALE_API_KEY": "EXO key"})
    text = "\n".join(found)
    assert "EXOSCALE_API_SECRET: must be non-empty and without spaces" in text
    assert "EXOSCALE_API_KEY: must be non-empty and without spaces" in text
    assert SECRET not in text
    assert "EXO key" not in text


def test_settings_repr_and_dumps_mask_credentials() -> None:
    settings = load(BASE)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert KEY not in repr(settings)
    assert "api_key" not in repr(settings)


def test_direct_construction_checks_rules_without_echoing_inputs() -> None:
    with pytest.raises(ValueError, match="incomplete or missing Exoscale API credentials") as info:
        Settings(EXOSCALE_API_SECRET=SECRET)
    assert SECRET not in str(info.value)


def test_leader_election_timing_rules() -> None:
    assert (
        "EXOCCM_RENEW_DEADLINE (10s) must be longer than 1.2 x EXOCCM_RETRY_PERIOD (9s)"
        in problems(BASE | {"EXOCCM_RETRY_PERIOD": "9s"})
    )
    # Not checked without leader election.
    assert (
        load(BASE | {"EXOCCM_RETRY_PERIOD": "9s", "EXOCCM_LEADER_ELECT": "false"}).retry_period
        == 9.0
    )
    # An invalid value is reported once, not again by the rule that uses it.
    assert problems(BASE | {"EXOCCM_LEASE_DURATION": "x"}) == [
        "EXOCCM_LEASE_DURATION: 'x' is not a duration; use a number of seconds or Go syntax such as "
        "'30s', '1m30s', '500ms' or '2h' (units: ns, us, ms, s, m, h; ASCII digits, no exponent)"
    ]


def test_credentials_file_is_used_without_key_and_secret(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"api_key": KEY, "api_secret": SECRET, "name": "ccm"}))
    settings = load({"EXOSCALE_API_ZONE": "ch-gva-2", "EXOSCALE_API_CREDENTIALS_FILE": str(path)})
    assert settings.api_credentials_file == path
    assert not settings.has_static_credentials
    assert settings.warnings() == []


def test_missing_or_invalid_credentials_file_is_a_startup_error(tmp_path: Path) -> None:
    env = {
        "EXOSCALE_API_ZONE": "ch-gva-2",
        "EXOSCALE_API_CREDENTIALS_FILE": str(tmp_path / "x.json"),
    }
    assert problems(env)[0].startswith(
        "EXOSCALE_API_CREDENTIALS_FILE: cannot read the credentials file"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"api_key": "' + KEY + '", "api_secret": "' + SECRET)
    found = problems(env | {"EXOSCALE_API_CREDENTIALS_FILE": str(bad)})
    assert "is not valid JSON" in found[0]
    assert SECRET not in found[0]


def test_key_and_secret_beat_the_credentials_file(tmp_path: Path) -> None:
    settings = load(BASE | {"EXOSCALE_API_CREDENTIALS_FILE": str(tmp_path / "absent.json")})
    assert settings.has_static_credentials
    assert settings.warnings() == [
        "EXOSCALE_API_KEY and EXOSCALE_API_SECRET are set, so EXOSCALE_API_CREDENTIALS_FILE is ignored"
    ]


def test_unknown_zone_is_a_warning_malformed_zone_an_error() -> None:
    settings = load(BASE | {"EXOSCALE_API_ZONE": "xx-new-1"})
    assert "'xx-new-1' is not one of the zones known" in settings.warnings()[0]
    assert problems(BASE | {"EXOSCALE_API_ZONE": "Geneva"})[0].startswith(
        "EXOSCALE_API_ZONE: 'Geneva' is not a zone name"
    )


def test_namespace_default_comes_from_the_pod(tmp_path: Path) -> None:
    assert (
        load(BASE | {"POD_NAMESPACE": "ccm-system"}, tmp_path).leader_election_namespace
        == "ccm-system"
    )
    (tmp_path / "namespace").write_text("from-file\n")
    assert load(BASE, tmp_path).leader_election_namespace == "from-file"
    assert (
        load(
            BASE | {"EXOCCM_LEADER_ELECTION_NAMESPACE": "explicit"}, tmp_path
        ).leader_election_namespace
        == "explicit"
    )


@pytest.mark.parametrize(
    ("controllers", "runners", "enabled"),
    [
        ("*", "", {"service", "node", "lifecycle"}),
        ("*,-service", "", {"node", "lifecycle"}),
        ("service", "", {"service"}),
        ("*,csr", "", {"service", "node", "lifecycle", "csr"}),
        ("*", "node-csr-validation", {"service", "node", "lifecycle", "csr"}),
        ("*,-csr", "node-csr-validation", {"service", "node", "lifecycle"}),
        ("cloud-node,cloud-node-lifecycle", "", {"node", "lifecycle"}),
        ("-node,node", "", set()),
    ],
)
def test_enabled_controllers(controllers: str, runners: str, enabled: set[str]) -> None:
    env = BASE | {"EXOCCM_CONTROLLERS": controllers, "EXOSCALE_SKS_AGENT_RUNNERS": runners}
    assert load(env).enabled_controllers == enabled


def test_reference_lists_every_environment_variable() -> None:
    names = {name for info in settings_reference() for name in info.env}
    required = {
        "EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "EXOSCALE_API_CREDENTIALS_FILE",
        "EXOSCALE_API_ENDPOINT", "EXOSCALE_API_ENVIRONMENT", "EXOSCALE_API_ZONE", "EXOSCALE_ZONE",
        "EXOSCALE_SKS_AGENT_RUNNERS", "EXOCCM_CLUSTER_ID", "EXOCCM_SERVICE_WORKERS",
        "EXOCCM_NODE_WORKERS", "EXOCCM_RESYNC_PERIOD", "EXOCCM_DRIFT_PERIOD",
        "EXOCCM_NODE_REFRESH_PERIOD", "EXOCCM_NODE_MONITOR_PERIOD", "EXOCCM_API_RATE_LIMIT",
        "EXOCCM_API_BURST", "EXOCCM_API_TIMEOUT", "EXOCCM_OPERATION_TIMEOUT", "EXOCCM_LEADER_ELECT",
        "EXOCCM_LEADER_ELECTION_NAMESPACE", "EXOCCM_LEADER_ELECTION_NAME", "EXOCCM_LEASE_DURATION",
        "EXOCCM_RENEW_DEADLINE", "EXOCCM_RETRY_PERIOD", "EXOCCM_METRICS_BIND_ADDRESS",
        "EXOCCM_METRICS_PORT", "EXOCCM_LOG_FORMAT", "EXOCCM_LOG_LEVEL", "EXOCCM_CONTROLLERS",
        "EXOCCM_CLOUD_CONFIG", "EXOCCM_EXISTING_NLB_NAMESPACES", "EXOCCM_ORPHAN_DELETE_LIMIT",
        "EXOCCM_ORPHAN_MAX_SHARE",
    }  # fmt: skip
    assert names == required
    for info in settings_reference():
        assert info.description, info.field
        assert info.kind
        assert info.default
    by_field = {info.field: info for info in settings_reference()}
    assert by_field["resync_period"].default == "10m"
    assert by_field["api_secret"].secret
    assert by_field["api_key"].cloud_config == "global.apiKey"


def test_configuration_page_is_up_to_date() -> None:
    page = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert page.read_text(encoding="utf-8") == render_markdown(), (
        "docs/configuration.md is stale: run `python -m exoccm.config`"
    )


def test_only_the_given_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # A broken variable in the process environment must not leak into from_environment(environ).
    monkeypatch.setenv("EXOCCM_SERVICE_WORKERS", "many")
    settings = Settings.from_environment(dict(BASE))
    assert settings.service_workers == 10


def test_an_invalid_value_is_reported_even_when_the_process_has_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXOCCM_SERVICE_WORKERS", "many")
    with pytest.raises(ConfigError) as caught:
        Settings.from_environment({**BASE, "EXOCCM_SERVICE_WORKERS": "many"})
    assert any(p.startswith("EXOCCM_SERVICE_WORKERS:") for p in caught.value.problems)


def _written(path: Path, key: str, mode: int) -> Path:
    path.write_text(json.dumps({"api_key": key, "api_secret": SECRET}))
    path.chmod(mode)
    return path


def test_a_credentials_file_everyone_may_write_is_a_warning(tmp_path: Path) -> None:
    path = _written(tmp_path / "credentials.json", KEY, 0o666)
    env = {"EXOSCALE_API_ZONE": "ch-gva-2", "EXOSCALE_API_CREDENTIALS_FILE": str(path)}
    (warning,) = load(env).warnings()
    assert warning.startswith(
        f"EXOSCALE_API_CREDENTIALS_FILE {str(path)!r} is writable by every user (mode 0666)"
    )
    path.chmod(0o660)  # a group may write: the Secret volume's fsGroup, not everyone
    assert load(env).warnings() == []
    # Ignored when key and secret are set: then the file is not used.
    path.chmod(0o666)
    assert len(load(BASE | {"EXOSCALE_API_CREDENTIALS_FILE": str(path)}).warnings()) == 1


@pytest.mark.parametrize(
    ("key", "found"),
    [
        ("EXO0123456789abcdef0123456", "it has 26 characters; check for a copying mistake"),
        ("EXO0123456789ABCDEF01234567", "it has 27 characters; check for a copying mistake"),
        ("exo0123456789abcdef01234567", "and does not start with EXO; check for a copying"),
        (
            SECRET,
            "it has 43 characters and does not start with EXO; the key and the secret may be swapped",
        ),
    ],
)
def test_a_malformed_api_key_is_a_warning_that_never_quotes_it(key: str, found: str) -> None:
    (warning,) = load(BASE | {"EXOSCALE_API_KEY": key}).warnings()
    assert warning.startswith(
        "EXOSCALE_API_KEY does not look like an Exoscale API key (EXO and 24 lowercase letters "
        "or digits, 27 characters): "
    )
    assert found in warning
    assert key not in warning
    assert key[3:10] not in warning


def test_a_malformed_key_in_the_credentials_file_is_a_warning(tmp_path: Path) -> None:
    path = _written(tmp_path / "credentials.json", "EXO-short", 0o600)
    env = {"EXOSCALE_API_ZONE": "ch-gva-2", "EXOSCALE_API_CREDENTIALS_FILE": str(path)}
    (warning,) = load(env).warnings()
    assert warning.startswith(
        f"the api_key in EXOSCALE_API_CREDENTIALS_FILE {str(path)!r} does not look like an "
        "Exoscale API key"
    )
    assert "EXO-short" not in warning
