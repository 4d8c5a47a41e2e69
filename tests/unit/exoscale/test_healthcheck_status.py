"""NLB reads drop the per-pool-member ``healthcheck-status`` lists before decoding.

They can hold one entry per member of the targeted Instance Pool (tens of MB for a zone), and
no controller reads them; everything else in the body must come through byte for byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exoccm.exoscale.models import LoadBalancerList
from exoccm.exoscale.responses import drop_healthcheck_status, read_without_healthcheck_status

pytestmark = pytest.mark.anyio

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
health = st.lists(
    st.fixed_dictionaries(
        {"public-ip": st.ip_addresses(v=4).map(str), "status": st.sampled_from(["success", "x]"])}
    ),
    max_size=8,
)
nlb_services = st.lists(
    st.fixed_dictionaries(
        {"id": texts, "name": texts, "port": st.integers(1, 65535), "healthcheck-status": health}
    ),
    max_size=3,
)
nlbs = st.lists(
    st.fixed_dictionaries({"id": texts, "description": texts, "services": nlb_services}),
    max_size=5,
)


def _without_health(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "load-balancers": [
            {**lb, "services": [{**s, "healthcheck-status": []} for s in lb["services"]]}
            for lb in doc["load-balancers"]
        ]
    }


async def _chunks(body: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    position = 0
    for size in [*sizes, len(body)]:
        if position >= len(body):
            return
        yield body[position : position + size]
        position += size


@settings(max_examples=200, deadline=None)
@given(nlbs, st.lists(st.integers(1, 64), max_size=50))
async def test_health_lists_are_emptied_and_nothing_else_changes(
    load_balancers: list[dict[str, Any]], sizes: list[int]
) -> None:
    doc = {"load-balancers": load_balancers}
    body = orjson.dumps(doc)
    expected = _without_health(doc)
    assert orjson.loads(drop_healthcheck_status(body)) == expected
    streamed = await read_without_healthcheck_status(_chunks(body, sizes))
    assert streamed == drop_healthcheck_status(body)


async def test_a_description_quoting_the_key_is_left_alone() -> None:
    description = 'see "healthcheck-status":[{"status":"x"}]'
    body = orjson.dumps(
        {"load-balancers": [{"id": "a", "name": "a", "description": description, "services": []}]}
    )
    (lb,) = LoadBalancerList.model_validate(
        orjson.loads(drop_healthcheck_status(body))
    ).load_balancers
    assert lb.description == description


def test_whitespace_around_the_list_is_allowed() -> None:
    body = b'{"healthcheck-status" : [ {"public-ip": "1.2.3.4", "status": "success"} ], "x": 1}'
    assert orjson.loads(drop_healthcheck_status(body)) == {"healthcheck-status": [], "x": 1}
