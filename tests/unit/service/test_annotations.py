from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exoccm.controllers.service.annotations import (
    ANNOTATIONS,
    PREFIX,
    HealthCheckSettings,
    LoadBalancerSettings,
    parse_annotations,
)

ZONES = ("ch-gva-2", "de-muc-1")
POOL = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"


def parse(**values: str) -> tuple[LoadBalancerSettings, list[str]]:
    settings, problems = parse_annotations(
        {PREFIX + k.replace("_", "-"): v for k, v in values.items()}, known_zones=ZONES
    )
    return settings, [str(p) for p in problems]


def test_defaults_match_the_go_ccm() -> None:
    settings, problems = parse()
    assert problems == []
    assert settings == LoadBalancerSettings()
    assert settings.strategy == "round-robin"
    assert settings.healthcheck == HealthCheckSettings(
        mode="tcp", port=None, interval=10, timeout=5, retries=1
    )


def test_every_value_is_read() -> None:
    settings, problems = parse(
        zone="de-muc-1",
        id=POOL.upper(),
        name="web",
        description="the web",
        external="TRUE",
        service_name="web-80",
        service_description="http",
        service_instancepool_id=POOL,
        service_sks_nodepool_name="workers",
        sks_cluster_name="prod",
        service_strategy="maglev-hash",
        service_healthcheck_mode="https",
        service_healthcheck_port="31000",
        service_healthcheck_uri="/healthz",
        service_healthcheck_interval="1m",
        service_healthcheck_timeout="3",
        service_healthcheck_retries="3",
        service_healthcheck_tls_sni="web.example.com",
    )
    assert problems == []
    assert settings.zone == "de-muc-1"
    assert settings.load_balancer_id == POOL  # normalised to lower case
    assert settings.external is True
    assert (settings.name, settings.description) == ("web", "the web")
    assert (settings.service_name, settings.service_description) == ("web-80", "http")
    assert settings.instance_pool_id == POOL
    assert (settings.sks_nodepool_name, settings.sks_cluster_name) == ("workers", "prod")
    assert settings.strategy == "maglev-hash"
    assert settings.healthcheck == HealthCheckSettings(
        mode="https",
        port=31000,
        interval=60,
        timeout=3,
        retries=3,
        uri="/healthz",
        tls_sni="web.example.com",
    )


def test_go_durations_and_plain_integers() -> None:
    assert parse(service_healthcheck_interval="10s")[0].healthcheck.interval == 10
    assert parse(service_healthcheck_interval="1m30s")[0].healthcheck.interval == 90
    assert parse(service_healthcheck_interval="15")[0].healthcheck.interval == 15
    assert parse(service_healthcheck_timeout="2000ms")[0].healthcheck.timeout == 2


def test_http_mode_defaults_the_uri() -> None:
    assert parse(service_healthcheck_mode="http")[0].healthcheck.uri == "/"
    assert parse(service_healthcheck_uri="/x")[0].healthcheck.uri is None  # tcp ignores it


def test_bad_values_are_all_reported_with_the_allowed_range() -> None:
    _, problems = parse(
        zone="mars-1",
        service_strategy="random",
        service_healthcheck_mode="icmp",
        service_healthcheck_port="0",
        service_healthcheck_interval="4s",
        service_healthcheck_timeout="abc",
        service_healthcheck_retries="21",
        service_instancepool_id="not-a-uuid",
        external="yes",
    )
    assert len(problems) == 9
    joined = "\n".join(problems)
    assert (
        f'annotation {PREFIX}zone="mars-1": unknown zone; must be one of ch-gva-2, de-muc-1'
        in joined
    )
    assert "must be one of round-robin, source-hash, maglev-hash" in joined
    assert "must be one of tcp, http, https" in joined
    assert f'{PREFIX}service-healthcheck-port="0": must be from 1 to 65535' in joined
    assert f'{PREFIX}service-healthcheck-interval="4s": must be from 5s to 5m' in joined
    assert f'{PREFIX}service-healthcheck-timeout="abc": must be a duration' in joined
    assert "must be from 1 to 20" in joined
    assert "must be a UUID" in joined
    assert 'must be "true" or "false"' in joined


def test_timeout_above_interval_is_refused() -> None:
    _, problems = parse(service_healthcheck_interval="5s", service_healthcheck_timeout="6s")
    assert problems == [
        f'annotation {PREFIX}service-healthcheck-timeout="6s": the health-check timeout (6s) '
        "must not exceed the interval (5s)"
    ]


def test_fractional_seconds_are_refused() -> None:
    _, problems = parse(service_healthcheck_interval="10.5s")
    assert "whole number of seconds" in problems[0]


def test_nodepool_needs_cluster_and_external_needs_a_name() -> None:
    _, problems = parse(service_sks_nodepool_name="workers", external="true")
    assert any("needs the SKS cluster name too" in p for p in problems)
    assert any("an external NLB must be named" in p for p in problems)


def test_tls_sni_only_with_https() -> None:
    _, problems = parse(service_healthcheck_tls_sni="x.example.com")
    assert "only applies to https health checks" in problems[0]


def test_the_registry_documents_every_parsed_annotation() -> None:
    documented = {spec.key for spec in ANNOTATIONS}
    assert len(documented) == 18
    assert PREFIX + "service-healthcheck-retries" in documented
    assert all(spec.description for spec in ANNOTATIONS)


@given(st.dictionaries(st.sampled_from([s.key for s in ANNOTATIONS]), st.text(max_size=40)))
def test_any_values_give_settings_or_named_problems_never_a_crash(values: dict[str, str]) -> None:
    settings, problems = parse_annotations(values, known_zones=ZONES)
    assert isinstance(settings, LoadBalancerSettings)
    for problem in problems:
        assert problem.key in values or problem.key.startswith(PREFIX)
        assert problem.message
    hc = settings.healthcheck
    assert 5 <= hc.interval <= 300
    assert 2 <= hc.timeout <= min(60, hc.interval) or problems
    assert 1 <= hc.retries <= 20
