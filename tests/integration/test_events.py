from __future__ import annotations

import pytest

from exoccm.kube.client import KubeClient
from exoccm.kube.events import BURST, DEDUP_WINDOW, REFILL_SECONDS, EventRecorder
from exoccm.kube.resources import CONFIG_MAPS, EVENTS

pytestmark = pytest.mark.anyio


async def _events_for(kube: KubeClient, namespace: str, name: str) -> list[dict[str, object]]:
    result = await kube.list(
        EVENTS.path(namespace), params={"fieldSelector": f"involvedObject.name={name}"}
    )
    return result.items


async def test_identical_events_are_counted_not_repeated(kube: KubeClient, namespace: str) -> None:
    obj = await kube.create(CONFIG_MAPS.path(namespace), {"metadata": {"name": "subject"}})
    recorder = EventRecorder(kube, "exoccm-test", host="probe")
    await recorder.event(
        obj, "Warning", "SyncLoadBalancerFailed", "bad annotation", kind="ConfigMap"
    )
    await recorder.event(
        obj, "Warning", "SyncLoadBalancerFailed", "bad annotation", kind="ConfigMap"
    )
    await recorder.event(
        obj, "Normal", "EnsuredLoadBalancer", "Ensured load balancer", kind="ConfigMap"
    )
    events = await _events_for(kube, namespace, "subject")
    by_reason = {e["reason"]: e for e in events}
    assert len(events) == 2
    warning = by_reason["SyncLoadBalancerFailed"]
    assert warning["count"] == 2
    assert warning["type"] == "Warning"
    assert warning["involvedObject"]["uid"] == obj["metadata"]["uid"]  # type: ignore[index]
    assert warning["source"] == {"component": "exoccm-test", "host": "probe"}


async def test_a_flood_is_capped_per_object(kube: KubeClient, namespace: str) -> None:
    obj = await kube.create(CONFIG_MAPS.path(namespace), {"metadata": {"name": "noisy"}})
    recorder = EventRecorder(kube, "exoccm-test", clock=lambda: 1_000_000.0)
    for i in range(BURST + 5):
        await recorder.event(obj, "Warning", "Flood", f"message {i}", kind="ConfigMap")
    assert len(await _events_for(kube, namespace, "noisy")) == BURST


async def test_a_failure_to_record_does_not_raise(kube: KubeClient) -> None:
    recorder = EventRecorder(kube, "exoccm-test")
    ghost = {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "no-such-ns", "uid": "u"}}
    await recorder.event(ghost, "Normal", "Anything", "goes nowhere")  # 404 namespace: logged only


async def test_what_can_no_longer_matter_is_forgotten(kube: KubeClient, namespace: str) -> None:
    """Events older than the dedup window and buckets that have refilled are dropped from the
    recorder's memory; an event after the window is recorded anew, as before."""
    now = [1_000_000.0]
    recorder = EventRecorder(kube, "exoccm-test", clock=lambda: now[0])
    first = await kube.create(CONFIG_MAPS.path(namespace), {"metadata": {"name": "first"}})
    second = await kube.create(CONFIG_MAPS.path(namespace), {"metadata": {"name": "second"}})
    await recorder.event(first, "Normal", "Synced", "done", kind="ConfigMap")
    now[0] += DEDUP_WINDOW - 1
    await recorder.event(second, "Normal", "Synced", "done", kind="ConfigMap")
    assert recorder.remembered() == (2, 2)
    now[0] += 1  # the first event's window is over
    await recorder.event(second, "Normal", "Synced", "done", kind="ConfigMap")
    assert recorder.remembered() == (1, 2)
    await recorder.event(first, "Normal", "Synced", "done", kind="ConfigMap")
    assert [e["count"] for e in await _events_for(kube, namespace, "first")] == [1, 1]
    assert recorder.remembered() == (2, 2)
    now[0] += BURST * REFILL_SECONDS
    await recorder.event(second, "Normal", "Other", "later", kind="ConfigMap")
    assert recorder.remembered() == (1, 1)
