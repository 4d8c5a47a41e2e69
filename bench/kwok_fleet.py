"""A fleet of KWOK Nodes on the simulator's Instance Pools, and the Services of a busy cluster.

Each Node is registered the way a kubelet started with ``--cloud-provider=external`` registers
it: in one POST with its status (46 images, nodeInfo, capacity), tainted
``node.cloudprovider.kubernetes.io/uninitialized``, with its InternalIP and Hostname, and with
``status.nodeInfo.systemUUID`` naming its instance, which exoccm then finds in the zone's
instance listing to initialize the Node. It carries the label that puts it in KWOK's care, and
no conditions: KWOK reports them (and renews its Lease) from then on.

The Services are those of :func:`scale.service_object`: Helm-made, in 20 namespaces, one or two
ports, every ``services / load_balancers``-th one of type LoadBalancer, naming its Instance Pool
when there are several.
"""

from __future__ import annotations

from typing import Any

import orjson
from harness import Kube, instance_id, instance_ip, log, service_key
from realistic_nodes import node as realistic_node
from scale import NAMESPACES_COUNT, service_object

from exoccm.kube.resources import NAMESPACES, NODES, SERVICES
from exoccm.testing import kwok
from exoccm.testing.nodes import UNINITIALIZED_TAINT

Obj = dict[str, Any]

# The labels a kubelet sets on its own Node; the cloud provider's come from exoccm.
_KUBELET_LABELS = (
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "kubernetes.io/arch",
    "kubernetes.io/os",
)
_USER_LABELS = ("team", "workload-class")


def node_name(index: int) -> str:
    return f"worker-{index}"


def kwok_node(index: int) -> Obj:
    """Node ``index`` as its kubelet registers it on instance ``index``."""
    obj = realistic_node(index, resource_version=1)
    name = node_name(index)
    meta = obj["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
        meta.pop(key)  # the apiserver's to set
    labels = {k: v for k, v in meta["labels"].items() if k in _KUBELET_LABELS + _USER_LABELS}
    meta.update(
        name=name, labels={**labels, "kubernetes.io/hostname": name, **kwok.kubelet_labels()}
    )
    spec = obj["spec"]
    del spec["providerID"]
    spec["taints"] = [dict(UNINITIALIZED_TAINT)]
    status = obj["status"]
    del status["conditions"]
    status["addresses"] = [
        {"type": "InternalIP", "address": instance_ip(index)},
        {"type": "Hostname", "address": name},
    ]
    status["nodeInfo"]["systemUUID"] = instance_id(index)
    return obj


async def fill(kube: Kube, nodes: int, services: int, load_balancers: int, pools: int) -> Obj:
    """Register the Nodes, then create the Services; timings, sizes and the load-balancer keys."""
    for i in range(NAMESPACES_COUNT):
        await kube.create(NAMESPACES.path(), {"metadata": {"name": f"team-{i:02d}"}})
    log(f"registering {nodes} KWOK Nodes ({kube.concurrency} requests in flight)")
    nodes_seconds = await kube.create_nodes([kwok_node(i) for i in range(nodes)])
    lb_every = max(1, services // max(1, load_balancers))
    objects = [
        service_object(i, i % lb_every == 0 and i // lb_every < load_balancers, pools)
        for i in range(services)
    ]
    log(f"creating {services} Services, {load_balancers} of them LoadBalancers")

    async def create(service: Obj) -> None:
        path = SERVICES.path(service["metadata"]["namespace"])
        await kube.create(path, service, params={"fieldManager": "helm"})

    services_seconds = await kube.map_bounded(create, objects)
    sample = await kube.get(NODES.path(name=node_name(0)))
    return {
        "nodes_register_seconds": round(nodes_seconds, 1),
        "services_create_seconds": round(services_seconds, 1),
        "sample_node_json_bytes": len(orjson.dumps(sample)),
        "sample_node_images": len(sample["status"].get("images") or []),
        "load_balancer_keys": [
            service_key(s) for s in objects if s["spec"]["type"] == "LoadBalancer"
        ],
    }
