"""Scale: exoccm's memory (RSS) and initial sync time with 5,000 Nodes and 10,000 Services.

Usage::

    .venv/bin/python bench/scale.py --nodes 5000 --services 10000 --load-balancers 1000

The apiserver is filled first, with realistic objects:

* ``--nodes`` Nodes built from ``realistic_nodes`` (16 labels, 6 annotations, 5 conditions, 46
  images, nodeInfo, capacity), written by four server-side applies each, as kubelet (object,
  then status) and a CCM (labels and providerID, then addresses) write them, so each carries four
  managedFields entries; about 17 KB of JSON each. They are initialized already: providerID,
  addresses and labels are what exoccm itself would set, on instances of one Instance Pool that
  the simulator holds;
* ``--services`` Services in 20 namespaces, created by server-side apply (field manager
  ``helm``, so each carries managedFields), with Helm labels and annotations, a selector and one
  or two ports; ``--load-balancers`` of them are of type LoadBalancer, the rest ClusterIP.

Then exoccm starts with every controller (service, node, lifecycle) and leader election, at rate
limit 100/s, burst 100 and 50 service workers, so that it also converges the cloud side (one NLB
per LoadBalancer Service) within a few minutes. Its RSS is sampled from outside with psutil every
100 ms. Prints one JSON document:

* ``initial_sync_seconds``: process start → ``/readyz`` 200 (all informers listed and cached),
  and each informer's own list time from exoccm's log;
* ``rss_mib``: peak during the initial sync, RSS right after it, peak while converging the NLBs,
  RSS once converged, peak over the whole run;
* ``import_baseline``: RSS and module count of a process that only imports what ``exoccm run``
  imports, and whether ``kubernetes_asyncio`` is among them.

Target: at most 150 MB RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import orjson

from exoccm.kube.objects import Obj

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    ZONE,
    Kube,
    RssSampler,
    World,
    calls_by_operation,
    instance_id,
    instance_ip,
    log,
    machine,
    mib,
    pool_id,
    run_and_print,
    service_key,
    wait_for_leader,
)
from realistic_nodes import node as realistic_node

from exoccm.kube.resources import NAMESPACES, NODES, SERVICES

TARGET_MIB = 150 * 10**6 / 2**20  # 150 MB
POOL_ANNOTATION = "service.beta.kubernetes.io/exoscale-loadbalancer-service-instancepool-id"
NAMESPACES_COUNT = 20
INSTANCE_TYPE = "standard.medium"

IMPORT_PROBE = """
import gc, json, sys
import exoccm.app, exoccm.cli
gc.collect()
with open("/proc/self/statm") as f:
    rss = int(f.read().split()[1]) * 4096
print(json.dumps({"modules": len(sys.modules), "rss": rss,
       "kubernetes_asyncio": any(m.startswith("kubernetes_asyncio") for m in sys.modules),
       "packages": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def node_object(index: int) -> Obj:
    """A realistic Node on instance ``index``, as it looks once exoccm has initialized it."""
    obj = realistic_node(index, resource_version=1)
    name = f"worker-{index}"
    meta = obj["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        meta.pop(key, None)
    meta["name"] = name
    labels = meta["labels"]
    labels["kubernetes.io/hostname"] = name
    for key in (
        "node.kubernetes.io/instance-type",
        "beta.kubernetes.io/instance-type",
    ):
        labels[key] = INSTANCE_TYPE
    for key in (
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "topology.csi.exoscale.com/zone",
    ):
        labels[key] = ZONE
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = (
        '{"apiVersion":"v1","kind":"Node","metadata":{"labels":{"team":"platform"},"name":"'
        + name
        + '"}}\n'
    )
    ident = instance_id(index)
    ip = instance_ip(index)
    obj["spec"]["providerID"] = f"exoscale://{ident}"
    status = obj["status"]
    status["nodeInfo"]["systemUUID"] = ident
    status["addresses"] = [
        {"type": "Hostname", "address": name},
        {"type": "ExternalIP", "address": ip},
        {"type": "InternalIP", "address": ip},
    ]
    return obj


CCM_LABELS = (
    "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
)


def node_applies(obj: Obj) -> list[tuple[str, str, Obj]]:
    """The Node as four server-side applies by the managers that write it in a real cluster:
    (subresource, field manager, partial object). Each leaves its managedFields entry."""
    meta, spec, status = obj["metadata"], obj["spec"], obj["status"]
    head = {"apiVersion": "v1", "kind": "Node"}
    name = meta["name"]
    kubelet_labels = {k: v for k, v in meta["labels"].items() if k not in CCM_LABELS}
    ccm_labels = {k: v for k, v in meta["labels"].items() if k in CCM_LABELS}
    kubelet_status = {k: v for k, v in status.items() if k != "addresses"}
    return [
        (
            "",
            "kubelet",
            {
                **head,
                "metadata": {
                    "name": name,
                    "labels": kubelet_labels,
                    "annotations": meta["annotations"],
                },
                "spec": {k: v for k, v in spec.items() if k != "providerID"},
            },
        ),
        ("status", "kubelet", {**head, "metadata": {"name": name}, "status": kubelet_status}),
        (
            "",
            "exoscale-cloud-controller-manager",
            {
                **head,
                "metadata": {"name": name, "labels": ccm_labels},
                "spec": {"providerID": spec["providerID"]},
            },
        ),
        (
            "status",
            "exoscale-cloud-controller-manager",
            {**head, "metadata": {"name": name}, "status": {"addresses": status["addresses"]}},
        ),
    ]


def service_object(index: int, load_balancer: bool, pools: int = 1) -> Obj:
    namespace = f"team-{index % NAMESPACES_COUNT:02d}"
    name = f"svc-{index:05d}"
    release = f"release-{index // 4:05d}"
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/component": "web" if load_balancer else "backend",
        "app.kubernetes.io/part-of": f"product-{index % 37}",
        "helm.sh/chart": f"{name}-1.{index % 9}.{index % 5}",
    }
    ports = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    if not load_balancer and index % 3 == 0:
        ports.append({"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"})
    spec: Obj = {
        "type": "LoadBalancer" if load_balancer else "ClusterIP",
        "selector": {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": release},
        "ports": ports,
    }
    annotations = {
        "meta.helm.sh/release-name": release,
        "meta.helm.sh/release-namespace": namespace,
    }
    if load_balancer:
        annotations["service.beta.kubernetes.io/exoscale-loadbalancer-service-healthcheck-mode"] = (
            "tcp"
        )
        annotations["service.beta.kubernetes.io/exoscale-loadbalancer-description"] = (
            f"{name} of {namespace}"
        )
        if pools > 1:  # several pools: the Go CCM's rule is that the Service names its pool
            annotations[POOL_ANNOTATION] = pool_id(index % pools)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }


def import_baseline() -> Obj:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    probe: Obj = json.loads(out)
    return {
        "modules": probe["modules"],
        "rss_mib": mib(probe["rss"]),
        "kubernetes_asyncio_imported": probe["kubernetes_asyncio"],
        "packages": [
            p
            for p in probe["packages"]
            if p
            in {
                "aiohttp",
                "httpx",
                "pydantic",
                "pydantic_core",
                "pydantic_settings",
                "yaml",
                "cryptography",
                "prometheus_client",
                "structlog",
                "anyio",
                "click",
                "pygments",
                "watchfiles",
                "tenacity",
                "orjson",
            }
        ],
    }


def informer_sync_times(log_path: Path) -> Obj:
    started = None
    synced: Obj = {}
    for raw in log_path.read_bytes().splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if line.get("msg") == "Starting exoccm":
            started = float(line["ts"])
        elif line.get("msg") == "Informer synced" and started is not None:
            synced[line["informer"]] = {
                "objects": line.get("objects"),
                "seconds_after_start_log": round(float(line["ts"]) - started, 2),
            }
    return synced


async def fill(kube: Kube, args: argparse.Namespace) -> Obj:
    for i in range(NAMESPACES_COUNT):
        await kube.create(NAMESPACES.path(), {"metadata": {"name": f"team-{i:02d}"}})
    log(f"creating {args.nodes} realistic Nodes (4 server-side applies each)")

    async def create_node(index: int) -> None:
        for subresource, manager, part in node_applies(node_object(index)):
            path = NODES.path(name=part["metadata"]["name"], subresource=subresource or None)
            await kube.apply(path, part, manager)

    nodes_seconds = await kube.map_bounded(create_node, range(args.nodes))
    lb_every = max(1, args.services // max(1, args.load_balancers))
    services = [
        service_object(i, i % lb_every == 0 and i // lb_every < args.load_balancers, args.pools)
        for i in range(args.services)
    ]
    log(f"creating {args.services} Services by server-side apply")

    async def apply(service: Obj) -> None:
        meta = service["metadata"]
        await kube.apply(SERVICES.path(meta["namespace"], meta["name"]), service, "helm")

    services_seconds = await kube.map_bounded(apply, services)
    sample = await kube.get(NODES.path(name="worker-0"))
    sample_service = await kube.get(SERVICES.path("team-00", "svc-00000"))
    return {
        "nodes_create_seconds": round(nodes_seconds, 1),
        "services_apply_seconds": round(services_seconds, 1),
        "sample_node_json_bytes": len(orjson.dumps(sample)),
        "sample_node_managed_fields": len(sample["metadata"].get("managedFields") or []),
        "sample_node_images": len(sample["status"].get("images") or []),
        "sample_service_json_bytes": len(orjson.dumps(sample_service)),
        "load_balancer_keys": [
            service_key(s) for s in services if s["spec"]["type"] == "LoadBalancer"
        ],
    }


async def measure(args: argparse.Namespace, world: World) -> Obj:
    async with Kube(world.plane) as kube:
        filled = await fill(kube, args)
        lb_keys: list[str] = filled.pop("load_balancer_keys")
        log("starting exoccm")
        env = {
            "EXOCCM_API_RATE_LIMIT": "100",
            "EXOCCM_API_BURST": "100",
            "EXOCCM_SERVICE_WORKERS": "50",
        }
        async with kube.ingress_watch(None) as ingress:
            start_index = len(world.request_log())
            started = time.monotonic()
            process = world.exoccm(env, wait=False)
            sampler = RssSampler(process.pid).start()
            try:
                process.wait_ready(args.timeout)
                ready = time.monotonic()
                rss_at_ready = sampler.last
                await anyio.sleep(5.0)
                rss_after_sync = sampler.last
                await wait_for_leader(kube)
                log(f"ready after {ready - started:.1f}s; converging {len(lb_keys)} NLBs")
                converged = await ingress.wait_for(lb_keys, time.monotonic() + args.timeout)
                converged_at = time.monotonic()
                await anyio.sleep(args.settle)
                rss_converged = sampler.last
            finally:
                sampler.stop()
        failures = await kube.get(
            "/api/v1/events", params={"fieldSelector": "reason=SyncLoadBalancerFailed"}
        )
        records = world.request_log()[start_index:]
    return {
        "benchmark": "scale",
        "machine": machine(),
        "nodes": args.nodes,
        "instance_pools": args.pools,
        "services": args.services,
        "load_balancer_services": len(lb_keys),
        "cluster_fill": filled,
        "exoccm_settings": env,
        "initial_sync_seconds": round(ready - started, 2),
        "informers": informer_sync_times(process.log_path),
        "nlbs_converged": converged,
        "sync_load_balancer_failed_events": len(failures.get("items") or []),
        "nlb_convergence_seconds_after_ready": round(converged_at - ready, 1),
        "exoscale_calls": calls_by_operation(records),
        "rss_mib": {
            "peak_during_initial_sync": mib(sampler.peak_between(started, ready)),
            "at_ready": mib(rss_at_ready),
            "after_sync_5s": mib(rss_after_sync),
            "peak_while_converging": mib(sampler.peak_between(ready, converged_at)),
            f"converged_plus_{args.settle:g}s": mib(rss_converged),
            "peak_overall": mib(sampler.peak),
        },
        "target_mib": round(TARGET_MIB, 1),
        "target_met": mib(sampler.peak) <= TARGET_MIB,
        "import_baseline": import_baseline(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--load-balancers", type=int, default=1000)
    parser.add_argument("--pools", type=int, default=10, help="Instance Pools the Nodes are on")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after convergence")
    parser.add_argument("--timeout", type=float, default=900.0, help="deadline per phase (s)")
    args = parser.parse_args()
    run_and_print(
        World(latency=1.0, nodes=0, extra_instances=args.nodes, pools=args.pools), measure, args
    )


if __name__ == "__main__":
    main()
