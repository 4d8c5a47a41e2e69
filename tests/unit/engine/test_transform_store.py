"""Ingest transforms and the indexed store."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exoccm.engine.store import Store
from exoccm.engine.transform import (
    DEFAULT_TRANSFORM,
    LAST_APPLIED_ANNOTATION,
    NODE_TRANSFORM,
    compose,
    project,
)


def _node() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "n1",
            "uid": "u1",
            "resourceVersion": "7",
            "labels": {"zone": "ch-gva-2"},
            "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "keep": "me"},
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"providerID": "exoscale://abc", "taints": [{"key": "t"}]},
        "status": {"images": [{"names": ["img"]}], "addresses": [{"type": "InternalIP"}]},
    }


def test_default_transform_strips_bookkeeping_only() -> None:
    node = DEFAULT_TRANSFORM(_node())
    assert "managedFields" not in node["metadata"]
    assert node["metadata"]["annotations"] == {"keep": "me"}
    assert node["status"]["images"] == [{"names": ["img"]}]


def test_node_transform_also_strips_images_and_is_idempotent() -> None:
    once = NODE_TRANSFORM(_node())
    assert "images" not in once["status"]
    assert NODE_TRANSFORM(copy.deepcopy(once)) == once


def test_transforms_tolerate_missing_fields() -> None:
    assert NODE_TRANSFORM({"metadata": {"name": "bare"}}) == {"metadata": {"name": "bare"}}
    assert NODE_TRANSFORM({}) == {}


def test_projection_keeps_identity_and_requested_paths() -> None:
    projected = compose(DEFAULT_TRANSFORM, project("spec.providerID", "status.addresses"))(_node())
    assert projected == {
        "metadata": {"name": "n1", "uid": "u1", "resourceVersion": "7"},
        "spec": {"providerID": "exoscale://abc"},
        "status": {"addresses": [{"type": "InternalIP"}]},
    }


def test_projection_of_a_whole_subtree_wins_over_deeper_paths() -> None:
    projected = project("metadata", "metadata.labels")(_node())
    assert projected["metadata"]["annotations"]["keep"] == "me"


def _obj(name: str, zone: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"zone": zone}}}


def _zone(obj: dict[str, Any]) -> list[str]:
    return [obj["metadata"]["labels"]["zone"]]


def test_index_follows_updates_and_deletes() -> None:
    store = Store()
    store.add_index("zone", _zone)
    store.put("a", _obj("a", "gva"))
    store.put("b", _obj("b", "gva"))
    assert {o["metadata"]["name"] for o in store.by_index("zone", "gva")} == {"a", "b"}
    store.put("a", _obj("a", "zrh"))
    assert store.index_keys("zone", "gva") == {"b"}
    assert store.index_keys("zone", "zrh") == {"a"}
    store.delete("b")
    assert store.index_keys("zone", "gva") == set()
    assert store.index_values("zone") == ["zrh"]


def test_an_index_added_late_covers_existing_objects() -> None:
    store = Store()
    store.put("a", _obj("a", "gva"))
    store.add_index("zone", _zone)
    assert store.index_keys("zone", "gva") == {"a"}


@given(
    ops=st.lists(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from(["gva", "zrh", "vie", None])),
        max_size=60,
    )
)
def test_index_always_equals_a_scan(ops: list[tuple[str, str | None]]) -> None:
    store = Store()
    store.add_index("zone", _zone)
    for key, zone in ops:
        if zone is None:
            store.delete(key)
        else:
            store.put(key, _obj(key, zone))
    for zone in ("gva", "zrh", "vie"):
        scanned = {k for k, o in store.items() if _zone(o) == [zone]}
        assert store.index_keys("zone", zone) == scanned
