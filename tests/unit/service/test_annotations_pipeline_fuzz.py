"""Every annotation at once, through the whole pure pipeline: accepted values make valid API bodies.

``test_annotations.py`` checks that any values parse into settings or named problems. This goes
further: with all eighteen annotations set together (each to a plausible value, a boundary value
or arbitrary text, up to longer than any limit), whatever the parser accepts must build a desired
NLB whose every NLB service becomes a request body the API's ranges allow. The values come from
the declarations: each annotation's kind says what to generate. A value accepted by
the parser but refused by ``LoadBalancerServiceSpec`` would surface as an untyped
``ValidationError`` in the middle of a reconcile instead of a Warning Event before any call.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from exoccm.controllers.service.annotations import PREFIX, parse_annotations
from exoccm.controllers.service.apply import service_spec
from exoccm.controllers.service.declarations import ANNOTATIONS
from exoccm.controllers.service.desired import desired_load_balancer, spec_problems
from exoccm.exoscale.endpoints import KNOWN_ZONES
from tests.unit.service.annotation_values import now_and_then_junk

POOL = "a1b2c3d4-0000-4000-8000-000000000001"
UID = "0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"

# Each declared annotation, to a value its kind accepts (at every boundary of its bounds) or,
# now and then, to anything at all.
ALL_AT_ONCE = st.fixed_dictionaries({a.key: now_and_then_junk(a) for a in ANNOTATIONS})
SOME = st.lists(st.sampled_from(ANNOTATIONS), unique_by=lambda a: a.key).flatmap(
    lambda chosen: st.fixed_dictionaries({a.key: now_and_then_junk(a) for a in chosen})
)


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


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
