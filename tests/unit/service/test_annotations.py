from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exoccm.config import parse_go_duration
from exoccm.controllers.service import declarations as d
from exoccm.controllers.service.annotations import (
    PREFIX,
    AnnotationProblem,
    LoadBalancerSettings,
    parse_annotations,
    shown_value,
)
from exoccm.controllers.service.declarations import ANNOTATIONS, HEALTH_CHECK

ZONES = ("ch-gva-2", "de-muc-1")
POOL = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"


def parse(**values: str) -> tuple[LoadBalancerSettings, list[str]]:
    settings, problems = parse_annotations(
        {PREFIX + k.replace("_", "-"): v for k, v in values.items()}, known_zones=ZONES
    )
    return settings, [str(p) for p in problems]


def health(settings: LoadBalancerSettings) -> dict[str, object]:
    """The health-check values in effect, by field (None: unset)."""
    return {a.feeds.field: settings[a] for a in HEALTH_CHECK}


HEALTH_DEFAULTS = {
    "mode": "tcp",
    "port": None,
    "uri": None,
    "interval": 10,
    "timeout": 5,
    "retries": 1,
    "tls_sni": None,
}


def test_defaults_match_the_go_ccm() -> None:
    settings, problems = parse()
    assert problems == []
    assert settings == LoadBalancerSettings()
    assert settings[d.STRATEGY] == "round-robin"
    assert health(settings) == HEALTH_DEFAULTS


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
        service_healthcheck_timeout="3s",
        service_healthcheck_retries="3",
        service_healthcheck_tls_sni="web.example.com",
    )
    assert problems == []
    assert settings.zone == "de-muc-1"
    assert settings.load_balancer_id == POOL  # normalised to lower case
    assert settings.external is True
    assert (settings.name, settings[d.DESCRIPTION]) == ("web", "the web")
    assert (settings[d.SERVICE_NAME], settings[d.SERVICE_DESCRIPTION]) == ("web-80", "http")
    assert settings.instance_pool_id == POOL
    assert (settings.sks_nodepool_name, settings.sks_cluster_name) == ("workers", "prod")
    assert settings[d.STRATEGY] == "maglev-hash"
    assert health(settings) == {
        "mode": "https",
        "port": 31000,
        "interval": 60,
        "timeout": 3,
        "retries": 3,
        "uri": "/healthz",
        "tls_sni": "web.example.com",
    }
    assert all(settings.is_given(a) for a in ANNOTATIONS)


def test_go_durations() -> None:
    assert parse(service_healthcheck_interval="10s")[0][d.HEALTHCHECK_INTERVAL] == 10
    assert parse(service_healthcheck_interval="1m30s")[0][d.HEALTHCHECK_INTERVAL] == 90
    assert parse(service_healthcheck_timeout="2000ms")[0][d.HEALTHCHECK_TIMEOUT] == 2


def test_a_bare_integer_is_no_duration_as_in_the_go_ccm() -> None:
    settings, problems = parse(service_healthcheck_interval="15")
    assert problems == [
        f'annotation {PREFIX}service-healthcheck-interval="15": needs a unit, as every Go '
        'duration does: use "15s" for seconds (5s to 5m)'
    ]
    assert settings[d.HEALTHCHECK_INTERVAL] == 10


def test_http_mode_defaults_the_uri() -> None:
    assert parse(service_healthcheck_mode="http")[0][d.HEALTHCHECK_URI] == "/"
    assert parse(service_healthcheck_mode="https")[0][d.HEALTHCHECK_URI] == "/"
    assert parse(service_healthcheck_uri="/x")[0][d.HEALTHCHECK_URI] is None  # tcp ignores it


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
    assert f'{PREFIX}service-healthcheck-timeout="abc": must be a Go duration' in joined
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
    interval, timeout = settings[d.HEALTHCHECK_INTERVAL], settings[d.HEALTHCHECK_TIMEOUT]
    assert 5 <= interval <= 300
    assert 2 <= timeout <= min(60, interval) or problems
    assert 1 <= settings[d.HEALTHCHECK_RETRIES] <= 20


# -- strict parsing, annotation by annotation --------------------------------------------------

NAMES = ("name", "service-name", "sks-cluster-name", "service-sks-nodepool-name")
TEXTS = (*NAMES, "description", "service-description", "service-healthcheck-uri")
# What else a value needs to be judged on its own (tls-sni only goes with https).
CONTEXT = {
    "service-healthcheck-tls-sni": {PREFIX + "service-healthcheck-mode": "https"},
    "service-healthcheck-uri": {PREFIX + "service-healthcheck-mode": "http"},
    "service-healthcheck-timeout": {PREFIX + "service-healthcheck-interval": "5m"},
}
CONTROL = "must not contain control characters such as line breaks, tabs or NUL; found"
INTEGER = "written with the digits 0-9 only (no sign, spaces, separators or exponent)"
DURATION = "in ASCII without spaces or exponent"
BLANK = "must not be blank: give 1 to 255 characters, not only whitespace"

# (annotation, value, the message after `annotation <key>="<shown value>": `)
REFUSED = [
    ("service-healthcheck-uri", "/healthz\r\nX-Injected: 1", f"{CONTROL} U+000D at character 9"),
    ("service-healthcheck-uri", "/health z", "must not contain whitespace: a path starting"),
    ("service-healthcheck-uri", "healthz", 'must be a path starting with "/"'),
    ("name", "web\x00", f"{CONTROL} U+0000 at character 4"),
    ("name", "   ", BLANK),
    ("name", "", BLANK),
    ("service-name", "\t", f"{CONTROL} U+0009 at character 1"),
    ("service-name", " ", BLANK),
    ("sks-cluster-name", "", BLANK),
    ("service-sks-nodepool-name", "\u3000", BLANK),
    ("description", "line\nbreak", f"{CONTROL} U+000A at character 5"),
    ("service-description", "del\x7f", f"{CONTROL} U+007F at character 4"),
    ("service-healthcheck-tls-sni", " ", BLANK),
    ("service-healthcheck-tls-sni", "shop example.com", "must not contain whitespace"),
    ("service-healthcheck-retries", "1_0", f"must be an integer from 1 to 20, {INTEGER}"),
    ("service-healthcheck-retries", "\u0661\u0660", f"must be an integer from 1 to 20, {INTEGER}"),
    ("service-healthcheck-retries", "+5", f"must be an integer from 1 to 20, {INTEGER}"),
    ("service-healthcheck-retries", " 5", f"must be an integer from 1 to 20, {INTEGER}"),
    ("service-healthcheck-port", "\uff18\uff10", f"must be an integer from 1 to 65535, {INTEGER}"),
    ("service-healthcheck-port", "8e1", f"must be an integer from 1 to 65535, {INTEGER}"),
    ("service-healthcheck-interval", "1e1", "must be a Go duration such as 10s, 1m or 1m30s"),
    ("service-healthcheck-interval", "1_0s", "must be a Go duration such as 10s, 1m or 1m30s"),
    ("service-healthcheck-interval", "10s\n", DURATION),
    ("service-healthcheck-interval", "inf", DURATION),
    ("service-healthcheck-interval", "10", 'needs a unit, as every Go duration does: use "10s"'),
    ("service-healthcheck-timeout", "\u0665s", DURATION),
    ("service-healthcheck-timeout", "5", 'needs a unit, as every Go duration does: use "5s"'),
    ("id", "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab\n", "must be a UUID such as"),
    ("id", " ", "must be a UUID such as"),
    ("service-instancepool-id", "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab ", "must be a UUID"),
    ("external", " TRUE ", 'must be "true" or "false" (any letter case, without spaces)'),
    ("external", "true\n", 'must be "true" or "false"'),
    ("service-strategy", "round-robin\n", "must be one of round-robin, source-hash, maglev-hash"),
    ("service-healthcheck-mode", "tcp ", "must be one of tcp, http, https"),
]


@pytest.mark.parametrize(("suffix", "value", "message"), REFUSED)
def test_strict_refusals_name_the_annotation_and_what_is_allowed(
    suffix: str, value: str, message: str
) -> None:
    annotations = {PREFIX + suffix: value, **CONTEXT.get(suffix, {})}
    _, problems = parse_annotations(annotations, known_zones=ZONES)
    assert [p.key for p in problems] == [PREFIX + suffix]
    assert problems[0].value == value
    assert str(problems[0]).startswith(f"annotation {PREFIX}{suffix}={shown_value(value)}: ")
    assert message in problems[0].message


def test_values_refused_for_no_good_reason_before_are_accepted() -> None:
    settings, problems = parse(
        name=" web ",
        service_name="caf\u00e9 \u2615",
        external="False",
        service_healthcheck_mode="http",
        service_healthcheck_retries="007",
        service_healthcheck_interval="+1.5m",
        service_healthcheck_timeout="30000ms",
        service_healthcheck_uri="/ready?probe=lb&x=%20",
    )
    assert problems == []
    assert (settings.name, settings[d.SERVICE_NAME], settings.external) == (
        " web ",
        "caf\u00e9 \u2615",
        False,
    )
    assert health(settings) == {
        "mode": "http",
        "port": None,
        "interval": 90,
        "timeout": 30,
        "retries": 7,
        "uri": "/ready?probe=lb&x=%20",
        "tls_sni": None,
    }


def test_empty_id_pool_and_external_count_as_unset() -> None:
    settings, problems = parse(id="", service_instancepool_id="", external="")
    assert problems == []
    assert (settings.load_balancer_id, settings.instance_pool_id, settings.external) == (
        None,
        None,
        False,
    )


@given(
    st.sampled_from(TEXTS),
    st.text(max_size=10),
    st.characters(categories=["Cc"]),
    st.text(max_size=10),
)
def test_any_text_annotation_with_a_control_character_is_refused(
    suffix: str, before: str, control: str, after: str
) -> None:
    value = "/" + before + control + after
    settings, problems = parse_annotations(
        {PREFIX + suffix: value, **CONTEXT.get(suffix, {})}, known_zones=ZONES
    )
    assert [p.key for p in problems] == [PREFIX + suffix]
    assert "control characters" in problems[0].message
    assert control not in str(problems[0])  # shown escaped: no raw line break in an Event
    assert value not in (settings.name, settings[d.DESCRIPTION], settings[d.SERVICE_NAME])


@given(st.text(max_size=12) | st.integers(-5, 70000).map(str))
def test_every_accepted_port_and_retries_are_ascii_digits(value: str) -> None:
    settings, problems = parse_annotations(
        {PREFIX + "service-healthcheck-port": value, PREFIX + "service-healthcheck-retries": value},
        known_zones=ZONES,
    )
    refused = {p.key.removeprefix(PREFIX) for p in problems}
    if "service-healthcheck-port" not in refused:
        assert value.isascii()
        assert value.isdigit()
        assert settings[d.HEALTHCHECK_PORT] == int(value)
    if "service-healthcheck-retries" not in refused:
        assert value.isascii()
        assert value.isdigit()
        assert settings[d.HEALTHCHECK_RETRIES] == int(value)


@settings(deadline=None)  # how long an example takes is for benchmarks, not a test
@given(st.text(alphabet="0123456789.+-nsumh \u0661e_\n\u00b5", max_size=8))
def test_every_accepted_duration_is_ascii_go_syntax(value: str) -> None:
    settings, problems = parse(service_healthcheck_interval=value)
    if not problems:
        assert set(value) <= set("0123456789.+-nsumh")
        # The settings' parser reads the same Go grammar to the same seconds.
        assert settings[d.HEALTHCHECK_INTERVAL] == parse_go_duration(value)


@given(st.dictionaries(st.sampled_from([s.key for s in ANNOTATIONS]), st.text(max_size=40)))
def test_every_problem_names_its_annotation_on_one_line(values: dict[str, str]) -> None:
    _, problems = parse_annotations(values, known_zones=ZONES)
    for problem in problems:
        assert str(problem).startswith(f"annotation {problem.key}=")
        assert problem.key in values
        assert "\n" not in str(problem)
        assert "\r" not in str(problem)


def test_shown_values_are_escaped_and_short() -> None:
    assert shown_value("web") == '"web"'
    assert shown_value("a\r\nb\x00\t") == '"a\\r\\nb\\x00\\t"'
    shown = shown_value("n" * 256)
    assert shown == '"' + "n" * 48 + '..." (256 characters)'
    problem = AnnotationProblem(PREFIX + "name", "n" * 256, "must be 1 to 255 characters long")
    assert str(problem) == f"annotation {PREFIX}name={shown}: must be 1 to 255 characters long"
