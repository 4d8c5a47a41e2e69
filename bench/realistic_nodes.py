"""Realistic Node objects and watch streams for benchmarks.

A Node as a kubelet + controller manager + CCM leave it: ~20 labels, the usual annotations,
managedFields of nine managers (~4 KB), five conditions, three addresses, nodeInfo, capacity and
~46 container images with digests (~8 KB). About 15-16 KB of JSON each, in line with the
reference's 16.7 KB synthetic Node and NVSentinel's 13.7 KB KWOK Node (without managedFields).
"""

from __future__ import annotations

import hashlib
import random

import orjson

from exoccm.kube.objects import Obj

_REPOS = [
    "docker.io/library/nginx",
    "registry.k8s.io/kube-proxy",
    "quay.io/cilium/cilium",
    "quay.io/cilium/operator-generic",
    "registry.k8s.io/coredns/coredns",
    "docker.io/bitnami/postgresql",
    "docker.io/bitnami/redis",
    "ghcr.io/prometheus/node-exporter",
    "quay.io/prometheus/prometheus",
    "docker.io/grafana/grafana",
    "docker.io/grafana/loki",
    "docker.io/grafana/promtail",
    "registry.k8s.io/ingress-nginx/controller",
    "quay.io/jetstack/cert-manager-controller",
    "quay.io/jetstack/cert-manager-webhook",
    "quay.io/jetstack/cert-manager-cainjector",
    "docker.io/library/busybox",
    "docker.io/library/python",
    "docker.io/library/redis",
    "ghcr.io/example/api-server",
    "ghcr.io/example/frontend",
    "ghcr.io/example/worker",
    "registry.k8s.io/metrics-server/metrics-server",
    "docker.io/exoscale/csi-driver",
    "docker.io/exoscale/cloud-controller-manager",
    "registry.k8s.io/sig-storage/csi-provisioner",
    "registry.k8s.io/sig-storage/csi-attacher",
    "registry.k8s.io/sig-storage/csi-resizer",
    "registry.k8s.io/sig-storage/livenessprobe",
    "registry.k8s.io/sig-storage/csi-node-driver-registrar",
    "docker.io/fluent/fluent-bit",
    "docker.io/library/postgres",
    "docker.io/library/memcached",
    "docker.io/library/rabbitmq",
    "docker.io/library/mongo",
    "quay.io/argoproj/argocd",
    "ghcr.io/dexidp/dex",
    "docker.io/library/traefik",
    "registry.k8s.io/pause",
    "docker.io/library/alpine",
    "docker.io/library/haproxy",
    "docker.io/library/mariadb",
    "docker.io/library/node",
    "docker.io/library/golang",
    "quay.io/kiwigrid/k8s-sidecar",
    "ghcr.io/external-secrets/external-secrets",
    "docker.io/velero/velero",
    "docker.io/velero/velero-plugin-for-aws",
]


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _managed_fields() -> list[Obj]:
    def fields(*paths: str) -> Obj:
        root: Obj = {}
        for path in paths:
            node = root
            for part in path.split("/"):
                node = node.setdefault(part, {})
        return root

    condition_fields: Obj = {
        f'k:{{"type":"{kind}"}}': {
            ".": {},
            "f:lastHeartbeatTime": {},
            "f:lastTransitionTime": {},
            "f:message": {},
            "f:reason": {},
            "f:status": {},
            "f:type": {},
        }
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready", "NetworkUnavailable")
    }
    kubelet_status = fields(
        "f:status/f:allocatable/f:cpu",
        "f:status/f:allocatable/f:ephemeral-storage",
        "f:status/f:allocatable/f:memory",
        "f:status/f:allocatable/f:pods",
        "f:status/f:capacity/f:cpu",
        "f:status/f:capacity/f:ephemeral-storage",
        "f:status/f:capacity/f:memory",
        "f:status/f:capacity/f:pods",
        "f:status/f:daemonEndpoints/f:kubeletEndpoint/f:Port",
        "f:status/f:images",
        "f:status/f:nodeInfo/f:architecture",
        "f:status/f:nodeInfo/f:bootID",
        "f:status/f:nodeInfo/f:containerRuntimeVersion",
        "f:status/f:nodeInfo/f:kernelVersion",
        "f:status/f:nodeInfo/f:kubeProxyVersion",
        "f:status/f:nodeInfo/f:kubeletVersion",
        "f:status/f:nodeInfo/f:machineID",
        "f:status/f:nodeInfo/f:operatingSystem",
        "f:status/f:nodeInfo/f:osImage",
        "f:status/f:nodeInfo/f:systemUUID",
    )
    kubelet_status["f:status"]["f:conditions"] = condition_fields
    kubelet_labels = fields(
        "f:metadata/f:annotations/f:volumes.kubernetes.io/controller-managed-attach-detach",
        "f:metadata/f:labels/f:beta.kubernetes.io/arch",
        "f:metadata/f:labels/f:beta.kubernetes.io/os",
        "f:metadata/f:labels/f:kubernetes.io/arch",
        "f:metadata/f:labels/f:kubernetes.io/hostname",
        "f:metadata/f:labels/f:kubernetes.io/os",
    )
    kcm = fields(
        "f:metadata/f:annotations/f:node.alpha.kubernetes.io/ttl",
        "f:spec/f:podCIDR",
        "f:spec/f:podCIDRs",
    )
    ccm = fields(
        "f:metadata/f:labels/f:node.kubernetes.io/instance-type",
        "f:metadata/f:labels/f:topology.kubernetes.io/region",
        "f:metadata/f:labels/f:topology.kubernetes.io/zone",
        "f:spec/f:providerID",
        "f:status/f:addresses",
    )

    def entry(manager: str, fields_v1: Obj, subresource: str = "") -> Obj:
        item: Obj = {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-06-01T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1,
        }
        if subresource:
            item["subresource"] = subresource
        return item

    ccm_status: Obj = {
        "f:status": {
            "f:addresses": {
                ".": {},
                **{
                    f'k:{{"type":"{kind}"}}': {".": {}, "f:address": {}, "f:type": {}}
                    for kind in ("InternalIP", "ExternalIP", "Hostname")
                },
            }
        }
    }
    cilium = fields(
        "f:metadata/f:annotations/f:io.cilium.network.ipv4-cilium-host",
        "f:metadata/f:annotations/f:io.cilium.network.ipv4-pod-cidr",
        'f:status/f:conditions/k:{"type":"NetworkUnavailable"}/f:lastHeartbeatTime',
        'f:status/f:conditions/k:{"type":"NetworkUnavailable"}/f:message',
        'f:status/f:conditions/k:{"type":"NetworkUnavailable"}/f:reason',
        'f:status/f:conditions/k:{"type":"NetworkUnavailable"}/f:status',
    )
    kubectl = fields(
        "f:metadata/f:annotations/f:kubectl.kubernetes.io/last-applied-configuration",
        "f:metadata/f:labels/f:team",
        "f:metadata/f:labels/f:workload-class",
    )
    csi = fields("f:metadata/f:annotations/f:csi.volume.kubernetes.io/nodeid")
    exoscale = fields(
        "f:metadata/f:labels/f:node.exoscale.net/nodepool-id",
        "f:metadata/f:labels/f:node.exoscale.net/instance-pool-id",
        "f:metadata/f:labels/f:topology.csi.exoscale.com/zone",
    )
    return [
        entry("kubelet", kubelet_labels),
        entry("kube-controller-manager", kcm),
        entry("exoscale-cloud-controller-manager", ccm),
        entry("exoscale-cloud-controller-manager", ccm_status, "status"),
        entry("kubelet", kubelet_status, "status"),
        entry("cilium-agent", cilium),
        entry("kubectl-client-side-apply", kubectl),
        entry("csi-node-driver-registrar", csi),
        entry("exoscale-nodepool", exoscale),
    ]


def node(index: int, resource_version: int, heartbeat: int = 0, seed: int = 7) -> Obj:
    """Node ``index`` at ``resource_version``; ``heartbeat`` moves its condition timestamps."""
    rng = random.Random(seed * 100_003 + index)
    name = f"pool-a1b2c-{index:05d}"
    uid = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
    beat = f"2026-06-01T{10 + heartbeat // 3600 % 12:02d}:{heartbeat // 60 % 60:02d}:{heartbeat % 60:02d}Z"
    images = []
    for repo in rng.sample(_REPOS, 46):
        tag = f"v{rng.randint(0, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        images.append(
            {
                "names": [f"{repo}@{_digest(repo + tag)}", f"{repo}:{tag}"],
                "sizeBytes": rng.randint(700_000, 400_000_000),
            }
        )

    def condition(kind: str, status: str, reason: str, message: str) -> Obj:
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": beat,
            "lastTransitionTime": "2026-05-30T08:12:44Z",
            "reason": reason,
            "message": message,
        }

    zone = rng.choice(["ch-gva-2", "ch-dk-2", "de-fra-1", "at-vie-1"])
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": uid,
            "resourceVersion": str(resource_version),
            "creationTimestamp": "2026-05-30T08:12:40Z",
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/instance-type": "standard.large",
                "beta.kubernetes.io/os": "linux",
                "failure-domain.beta.kubernetes.io/region": zone,
                "failure-domain.beta.kubernetes.io/zone": zone,
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "standard.large",
                "topology.kubernetes.io/region": zone,
                "topology.kubernetes.io/zone": zone,
                "node.exoscale.net/nodepool-id": "3f1e2d4c-5b6a-4789-90ab-cdef01234567",
                "node.exoscale.net/instance-pool-id": "8a7b6c5d-4e3f-4210-9876-543210fedcba",
                "topology.csi.exoscale.com/zone": zone,
                "team": rng.choice(["payments", "search", "platform"]),
                "workload-class": rng.choice(["general", "batch", "latency"]),
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "csi.volume.kubernetes.io/nodeid": f'{{"csi.exoscale.com":"{uid}"}}',
                "io.cilium.network.ipv4-cilium-host": f"10.{index % 250}.{index % 200}.1",
                "io.cilium.network.ipv4-pod-cidr": f"10.{index % 250}.{index % 200}.0/24",
                "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"v1","kind":"Node","metadata":{"labels":{"team":"platform"},"name":"'
                + name
                + '"}}\n',
            },
            "managedFields": _managed_fields(),
        },
        "spec": {
            "podCIDR": f"10.{index % 250}.{index % 200}.0/24",
            "podCIDRs": [f"10.{index % 250}.{index % 200}.0/24"],
            "providerID": f"exoscale://{uid}",
        },
        "status": {
            "capacity": {
                "cpu": "4",
                "ephemeral-storage": "51572172Ki",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "8148256Ki",
                "pods": "110",
            },
            "allocatable": {
                "cpu": "4",
                "ephemeral-storage": "47528913637",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "8045856Ki",
                "pods": "110",
            },
            "conditions": [
                condition(
                    "NetworkUnavailable", "False", "CiliumIsUp", "Cilium is running on this node"
                ),
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"172.16.{index // 250}.{index % 250}"},
                {"type": "ExternalIP", "address": f"194.182.{index // 250}.{index % 250}"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"{rng.getrandbits(128):032x}",
                "systemUUID": uid,
                "bootID": f"{rng.getrandbits(128):032x}",
                "kernelVersion": "6.1.0-21-cloud-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.13",
                "kubeletVersion": "v1.37.2",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": images,
        },
    }


def watch_stream(events: int = 10_000, nodes: int = 1_000) -> list[bytes]:
    """Newline-free watch lines: ADDED for each node, then MODIFIED heartbeats round-robin."""
    lines = []
    for i in range(events):
        index = i % nodes
        kind = "ADDED" if i < nodes else "MODIFIED"
        obj = node(index, resource_version=1000 + i, heartbeat=i // nodes * 10)
        lines.append(orjson.dumps({"type": kind, "object": obj}))
    return lines
