"""What exoccm keeps per cached object, and what its imports cost: the memory figures behind the
heartbeat benchmark's section of docs/performance.md.

Usage::

    .venv/bin/python bench/footprint.py

tracemalloc counts the bytes each kind of object keeps alive once decoded (orjson, as exoccm
decodes) and cached (projected, or validated into the Exoscale client's models), per object over
1,000 of them: a realistic Node (``realistic_nodes``, 15.5 KB of JSON) and a Service as the apiserver returns
them, each with and without the projections' string sharing; an inventory Instance; an NLB with
one service. The time to decode and project a Node, with and without the sharing. Then the RSS of a fresh interpreter that imports ``exoccm run``'s modules.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import timeit
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realistic_nodes

from exoccm.controllers import projections
from exoccm.exoscale.models import Instance, LoadBalancer

COUNT = 1000
POOLS = [str(uuid.UUID(int=i + 1)) for i in range(10)]
INSTANCE_TYPE = str(uuid.UUID(int=99))


def service(i: int) -> dict[str, Any]:
    lb = i % 10 == 0
    ip = f"10.96.{i // 250}.{i % 250}"
    port: dict[str, Any] = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}
    spec: dict[str, Any] = {
        "type": "LoadBalancer" if lb else "ClusterIP",
        "clusterIP": ip,
        "clusterIPs": [ip],
        "ports": [port],
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    }
    status: dict[str, Any] = {"loadBalancer": {}}
    annotations = {}
    if lb:
        port["nodePort"] = 30000 + i % 2000
        spec |= {"externalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True}
        status["loadBalancer"] = {"ingress": [{"ip": f"198.51.{i // 250}.{i % 250}"}]}
        annotations["service.beta.kubernetes.io/exoscale-loadbalancer-zone"] = "de-muc-1"
    meta = {
        "name": f"svc-{i:05d}",
        "namespace": f"team-{i % 20:02d}",
        "uid": str(uuid.uuid4()),
        "resourceVersion": str(1000 + i),
        "creationTimestamp": f"2026-12-05T14:07:{i // 400:02d}Z",
        "annotations": annotations,
    }
    return {"kind": "Service", "apiVersion": "v1", "metadata": meta, "spec": spec, "status": status}


def instance(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": f"pool-abc-{i:05d}",
        "state": "running",
        "public-ip": f"10.0.{i // 250}.{i % 250}",
        "public-ip-assignment": "inet4",
        "private-networks": [],
        "manager": {"id": POOLS[i % 10], "type": "instance-pool"},
        "instance-type": {"id": INSTANCE_TYPE},
        "labels": {},
        "created-at": "2026-12-05T10:00:00Z",
        "disk-size": 50,
    }


def load_balancer(i: int) -> dict[str, Any]:
    healthcheck = {"mode": "tcp", "port": 30080, "interval": 10, "timeout": 5, "retries": 1}
    listener = {
        "id": str(uuid.uuid4()),
        "name": f"team-00/svc-{i:05d}/http",
        "protocol": "tcp",
        "strategy": "round-robin",
        "port": 80,
        "target-port": 30080,
        "instance-pool": {"id": POOLS[i % 10]},
        "healthcheck": healthcheck,
        "state": "running",
    }
    return {
        "id": str(uuid.uuid4()),
        "name": f"k8s-{uuid.uuid4()}",
        "description": f"kubernetes Service team-00/svc-{i:05d}",
        "state": "running",
        "created-at": "2026-12-05T14:09:10Z",
        "ip": f"198.51.{i // 250}.{i % 250}",
        "services": [listener],
    }


def bytes_per_object(lines: list[bytes], keep: Callable[[Any], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    kept = [keep(orjson.loads(line)) for line in lines]
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return round(size / len(lines))


def microseconds_per_node(lines: list[bytes], project: Callable[[Any], Any]) -> float:
    """Decoding and projecting one Node, best of 5 rounds over the 1,000."""

    def run() -> None:
        for line in lines:
            project(orjson.loads(line))

    return round(min(timeit.repeat(run, number=1, repeat=5)) / len(lines) * 1e6, 1)


IMPORTS = """
import gc, json, exoccm.app, exoccm.cli
gc.collect()
print(json.dumps({l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status")
                  if l.startswith(("VmRSS", "RssAnon"))}))
"""


def main() -> None:
    nodes = [orjson.dumps(realistic_nodes.node(i, 100 + i)) for i in range(COUNT)]
    services = [orjson.dumps(service(i)) for i in range(COUNT)]
    instances = [orjson.dumps(instance(i)) for i in range(COUNT)]
    nlbs = [orjson.dumps(load_balancer(i)) for i in range(COUNT)]
    rss = json.loads(
        subprocess.run(
            [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True
        ).stdout
    )
    result = {
        "benchmark": "footprint",
        "bytes_per_object": {
            "node_projected": bytes_per_object(nodes, projections.project_node),
            "node_projected_without_sharing": bytes_per_object(nodes, projections._project_node),
            "service_projected": bytes_per_object(services, projections.project_service),
            "service_projected_without_sharing": bytes_per_object(
                services, projections._project_service
            ),
            "instance_model": bytes_per_object(instances, Instance.model_validate),
            "load_balancer_model_one_service": bytes_per_object(nlbs, LoadBalancer.model_validate),
        },
        "node_decode_and_project_microseconds": {
            "with_sharing": microseconds_per_node(nodes, projections.project_node),
            "without_sharing": microseconds_per_node(nodes, projections._project_node),
        },
        "sample_node_json_bytes": len(nodes[0]),
        "services_one_in": 10,
        "after_imports_kib": rss,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
