"""KWOK as the kubelets of the fuller test control plane: its configuration and its stages.

KWOK (``sigs.k8s.io/kwok``) plays the kubelets of the Nodes that carry the label
:data:`MANAGED_LABEL`: it renews their Lease in ``kube-node-lease`` (every quarter of the lease
duration, as a kubelet does), reports them Ready, and runs the Pods bound to them, giving each a
Pod IP from the Pod network (:mod:`exoccm.testing.podnet`). Removing the label stops that kubelet:
KWOK's label-selected watch reports the Node gone and KWOK stops renewing its Lease, so the
controller manager marks it NotReady, as it would a Node whose machine vanished.

What KWOK writes is data, its *stages*. The standalone binary ships none, so these are ours, and
they are deliberately narrow:

- a Node stage writes conditions and, when missing, capacity and allocatable, and never the
  addresses: exoccm, the Nodes' cloud provider, owns them (KWOK's own node stages rewrite
  ``status.addresses`` from their cache on each status heartbeat, which would race with it);
  another reports the status again, with a new heartbeat time on each condition, as often as
  :class:`StatusReports` says;
- a Pod stage makes a pending Pod Running and Ready with its host IPs (the Node's addresses) and a
  Pod IP; another deletes Pods marked for deletion, as a kubelet confirms a graceful deletion.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exoccm.kube.objects import Obj
from exoccm.testing import nodes

MANAGED_LABEL = ("kwok.x-k8s.io/node", "fake")
# A kubelet's default (nodeLeaseDurationSeconds); KWOK, like a kubelet, renews the Lease every
# quarter of it (every 10 s, give or take 4%).
NODE_LEASE_SECONDS = 40


@dataclass(frozen=True)
class StatusReports:
    """How often KWOK reports a Ready Node's status: ``every_ms`` after the Node last changed
    (KWOK schedules the report anew on each change, anyone's), plus a random delay below
    ``jitter_ms``."""

    every_ms: int
    jitter_ms: int

    def __post_init__(self) -> None:
        if self.every_ms <= 0 or self.jitter_ms < 0:
            raise ValueError(
                f"status reports need every_ms > 0 and jitter_ms >= 0 (got {self.every_ms}, "
                f"{self.jitter_ms})"
            )


#: The tests' default: a report every 10-15 s, as kubelets did before node Leases, so that a KWOK
#: status write soon follows anyone else's and tests see that it leaves their fields alone.
FREQUENT_REPORTS = StatusReports(every_ms=10_000, jitter_ms=5_000)
#: What a kubelet does since node Leases (Kubernetes 1.17): it computes the status every
#: ``nodeStatusUpdateFrequency`` (10 s) and, when nothing changed, posts it once
#: ``nodeStatusReportFrequency`` (5 min) has passed since the last post; so 5 min to 5 min 10 s.
#: The Lease renewals every 10 s are the frequent heartbeat. (Defaults from the
#: KubeletConfiguration reference on kubernetes.io. KWOK v0.8.0's own stage for this,
#: ``kustomize/stage/node/heartbeat-with-lease``, reports every 10 min to 10 min 10 s.)
KUBELET_REPORTS = StatusReports(every_ms=300_000, jitter_ms=10_000)


_READY_IS_NOT_TRUE = {
    "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
    "operator": "NotIn",
    "values": ["True"],
}
_READY_IS_TRUE = {**_READY_IS_NOT_TRUE, "operator": "In"}

_CONDITIONS = """\
{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ or $.metadata.creationTimestamp $now | Quote }}
{{ end }}
"""

_NODE_RESOURCES = """\
{{ if not .status.capacity }}
capacity: {cpu: "64", memory: 256Gi, pods: "250"}
{{ end }}
{{ if not .status.allocatable }}
allocatable: {cpu: "64", memory: 256Gi, pods: "250"}
{{ end }}
"""

_POD_RUNNING = """\
{{ $now := Now }}
phase: Running
startTime: {{ $now | Quote }}
conditions:
{{ range list "Initialized" "ContainersReady" "Ready" }}
- type: {{ . }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $ips := PodIPsWith .spec.nodeName (or .spec.hostNetwork false) (or .metadata.uid "") \
(or .metadata.name "") (or .metadata.namespace "") }}
{{ with $ips }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
"""


def _stage(name: str, kind: str, selector: list[Obj], next_: Obj, delay: Obj | None = None) -> Obj:
    spec: Obj = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": selector},
        "next": next_,
    }
    if delay:
        spec["delay"] = delay
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": spec,
    }


def stages(reports: StatusReports = FREQUENT_REPORTS) -> list[Obj]:
    """The Stage documents KWOK plays (see the module docstring for what each writes)."""
    not_deleted = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
    return [
        _stage(
            "exoccm-node-ready",
            "Node",
            [_READY_IS_NOT_TRUE],
            {"statusTemplate": _CONDITIONS + _NODE_RESOURCES},
        ),
        _stage(
            "exoccm-node-status-refresh",
            "Node",
            [_READY_IS_TRUE],
            {"statusTemplate": _CONDITIONS},
            delay={
                "durationMilliseconds": reports.every_ms,
                # KWOK waits a random time between the duration and this bound.
                "jitterDurationMilliseconds": reports.every_ms + reports.jitter_ms,
            },
        ),
        _stage(
            "exoccm-pod-running",
            "Pod",
            [
                not_deleted,
                {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                _READY_IS_NOT_TRUE,
            ],
            {"statusTemplate": _POD_RUNNING},
        ),
        _stage(
            "exoccm-pod-deleted",
            "Pod",
            [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
            {"delete": True},
        ),
    ]


def kubelet_labels() -> dict[str, str]:
    """The labels that put a Node in KWOK's care."""
    key, value = MANAGED_LABEL
    return {key: value}


def node_manifest(name: str, **kwargs: Any) -> Obj:
    """A Node as a kubelet registers it (see :func:`exoccm.testing.nodes.node_manifest` for the
    arguments) but in KWOK's care and without conditions yet: KWOK reports them."""
    labels = {**(kwargs.pop("labels", None) or {}), **kubelet_labels()}
    manifest = nodes.node_manifest(name, labels=labels, **kwargs)
    manifest["status"].pop("conditions")
    return manifest


def write_config(path: Path, reports: StatusReports = FREQUENT_REPORTS) -> Path:
    """KWOK's configuration file: the stages, one YAML document each."""
    path.write_text(yaml.safe_dump_all(stages(reports), sort_keys=False))
    return path


def arguments(
    binary: Path,
    kubeconfig: Path,
    config: Path,
    pod_cidr: ipaddress.IPv4Network,
    server_port: int,
) -> list[str]:
    """KWOK's command line: only labelled Nodes, Pod IPs from ``pod_cidr``, health on loopback."""
    key, value = MANAGED_LABEL
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--config={config}",
        f"--manage-nodes-with-label-selector={key}={value}",
        f"--cidr={pod_cidr}",
        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        f"--server-address=127.0.0.1:{server_port}",
    ]
