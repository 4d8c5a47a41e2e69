"""Every annotation at once, through the whole pure pipeline: accepted values make valid API bodies.

``test_annotations.py`` checks that any values parse into settings or named problems. This goes
further: with all eighteen annotations set together (each to a plausible value, a boundary value
or arbitrary text, up to longer than any limit), whatever the parser accepts must build a desired
NLB whose every NLB service becomes a request body the API's ranges allow. A value accepted by
the parser but refused by ``LoadBalancerServiceSpec`` would surface as an untyped
``ValidationError`` in the middle of a reconcile instead of a Warning Event before any call.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from exoccm.controllers.service.annotations import ANNOTATIONS, PREFIX, parse_annotations
from exoccm.controllers.service.apply import service_spec
from exoccm.controllers.service.desired import desired_load_balancer, spec_problems
from exoccm.exoscale.endpoints import KNOWN_ZONES

POOL = "a1b2c3d4-0000-4000-8000-000000000001"
UID = "0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"


# Printable text: every character but the control characters (Unicode category Cc).
_PRINTABLE = st.characters(exclude_categories=["Cc", "Cs"])
_NO_SPACE = st.characters(exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"])


def _text(
    low: int, high: int, alphabet: st.SearchStrategy[str] = _PRINTABLE
) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def _name(high: int, alphabet: st.SearchStrategy[str] = _PRINTABLE) -> st.SearchStrategy[str]:
    return _text(1, high, alphabet).filter(str.strip)


def _seconds(low: int, high: int) -> st.SearchStrategy[str]:
    seconds = st.integers(low, high)
    millis = seconds.map(lambda n: f"{n * 1000}ms")
    return seconds.map(lambda n: f"{n}s") | seconds.map(_go_minutes) | millis


def _go_minutes(n: int) -> str:
    return f"{n // 60}m{n % 60}s" if n >= 60 else f"{n}s"


# A value each annotation accepts (at every boundary of its range)...
VALID: dict[str, st.SearchStrategy[str]] = {
    "zone": st.sampled_from(sorted(KNOWN_ZONES)),
    "id": st.uuids().map(str),
    "name": _name(255),
    "description": _text(0, 255),
    "external": st.sampled_from(["true", "false", "TRUE", "False", ""]),
    "service-name": _name(255),
    "service-description": _text(0, 255),
    "service-instancepool-id": st.uuids().map(str),
    "service-sks-nodepool-name": _name(255),
    "sks-cluster-name": _name(255),
    "service-strategy": st.sampled_from(["round-robin", "source-hash", "maglev-hash"]),
    # tls-sni is valid with https only: with every annotation set, https must come up often.
    "service-healthcheck-mode": st.sampled_from(["tcp", "http", "https", "https", "https"]),
    "service-healthcheck-port": st.integers(1, 65535).map(str),
    "service-healthcheck-interval": _seconds(5, 300),
    "service-healthcheck-timeout": _seconds(2, 60),
    "service-healthcheck-retries": st.integers(1, 20).map(str),
    "service-healthcheck-uri": _text(0, 254, _NO_SPACE).map(lambda t: "/" + t),
    "service-healthcheck-tls-sni": _name(255, _NO_SPACE),
}
# ...or, now and then, anything at all: out of range, too long, not a number, empty, with
# control characters, digits of other scripts, separators or exponents.
JUNK = (
    st.text(max_size=300)
    | st.integers(-(10**6), 10**6).map(str)
    | st.sampled_from(["1_0", "\u0661\u0660", "1e1", "1e1s", "10", " true ", "/x\r\ny", "\x00"])
)


def _value(suffix: str) -> st.SearchStrategy[str]:
    valid = VALID.get(suffix, JUNK)
    return st.integers(0, 29).flatmap(lambda roll: JUNK if roll == 0 else valid)


ALL_AT_ONCE = st.fixed_dictionaries({spec.key: _value(spec.suffix) for spec in ANNOTATIONS})
SOME = st.lists(st.sampled_from(ANNOTATIONS), unique_by=lambda spec: spec.key).flatmap(
    lambda specs: st.fixed_dictionaries({spec.key: _value(spec.suffix) for spec in specs})
)


def test_every_annotation_has_a_valid_value_strategy() -> None:
    assert {spec.suffix for spec in ANNOTATIONS} == set(VALID)


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 3))
    numbers_ = draw(st.lists(st.integers(1, 65535), min_size=count, max_size=count, unique=True))
    ports = [
        {
            "name": f"p{n}",
            "port": n,
            "protocol": draw(st.sampled_from(["TCP", "UDP"])),
            "nodePort": draw(st.integers(30000, 32767)),
        }
        for n in numbers_
    ]
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {"type": "LoadBalancer", "ports": ports},
    }


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(annotations=ALL_AT_ONCE | SOME, service=services())
def test_accepted_annotations_always_make_valid_api_bodies(
    annotations: dict[str, str], service: dict[str, Any]
) -> None:
    parsed, problems = parse_annotations(annotations, known_zones=KNOWN_ZONES)
    for problem in problems:
        assert problem.key.startswith(PREFIX)
        assert problem.message
    if problems or spec_problems(service):
        event("refused with named problems")
        return  # the controller stops here with a Warning Event, before any cloud call
    event("accepted, every annotation set" if len(annotations) == len(ANNOTATIONS) else "accepted")
    desired = desired_load_balancer(
        service,
        parsed,
        zone=parsed.zone or "ch-gva-2",
        instance_pool_id=parsed.instance_pool_id or POOL,
        cluster_id="cluster",
    )
    assert 1 <= len(desired.name) <= 255
    assert len(desired.description) <= 255
    for svc in desired.services:
        for with_pool in (True, False):
            body = service_spec(svc, with_pool=with_pool).to_api()  # raises if out of range
            assert 1 <= len(str(body["name"])) <= 255
            healthcheck = body["healthcheck"]
            assert isinstance(healthcheck, dict)
            assert healthcheck["timeout"] <= healthcheck["interval"]
            if healthcheck["mode"] in ("http", "https"):
                assert str(healthcheck["uri"]).startswith("/")
                assert len(str(healthcheck["uri"])) <= 255
