"""What the kubelet gives the chart's exoccm container, for running the image without a kubelet.

From an installed release of charts/exoccm: the container's arguments, its user and group, its
environment (the chart's, with Secret and downward-API references resolved, plus the
``KUBERNETES_SERVICE_*`` variables every container gets), its volumes as host directories (the
Secret's files with the volume's mode and the Pod's ``fsGroup``, a writable ``/tmp``) and the
ServiceAccount's token, CA and namespace at the in-cluster path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exoccm.testing.controlplane import ControlPlane
from tests.image.container import Volume
from tests.integration.chart.helpers import InstalledChart, service_account_token
from tests.unit.chart.test_settings import DOWNWARD_API, pod_environment

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# The namespace pod_environment's downward API reports: install the chart there.
NAMESPACE = DOWNWARD_API["POD_NAMESPACE"]
POD_NAME = DOWNWARD_API["POD_NAME"]


@dataclass(frozen=True)
class PodContainer:
    args: tuple[str, ...]
    hostname: str  # the Pod's name, as the kubelet sets it
    user: str  # "uid:gid"
    env: dict[str, str]
    volumes: tuple[Volume, ...]


def _user(chart: InstalledChart) -> tuple[int, int]:
    pod: dict[str, Any] = chart.manifest.pod_spec.get("securityContext") or {}
    own: dict[str, Any] = chart.manifest.container.get("securityContext") or {}
    context = {**pod, **own}
    return int(context["runAsUser"]), int(context["runAsGroup"])


def _own(path: Path, gid: int, file_mode: int, dir_mode: int) -> None:
    """Like the kubelet's volume ownership: group ``gid``, the volume's modes."""
    for root, _, files in os.walk(path):
        os.chown(root, 0, gid)
        Path(root).chmod(dir_mode)
        for name in files:
            os.chown(Path(root, name), 0, gid)
            Path(root, name).chmod(file_mode)


def _volumes(chart: InstalledChart, root: Path) -> list[Volume]:
    """The chart's volume mounts, from the directories pod_environment filled under ``root``."""
    fs_group = int(chart.manifest.pod_spec["securityContext"]["fsGroup"])
    volumes = {v["name"]: v for v in chart.manifest.pod_spec["volumes"]}
    mounts = []
    for mount in chart.manifest.container["volumeMounts"]:
        volume = volumes[mount["name"]]
        source = root / mount["mountPath"].lstrip("/")
        if "emptyDir" in volume:
            _own(source, fs_group, 0o664, 0o2777)
        else:
            files = volume.get("secret") or volume.get("configMap") or {}
            _own(source, fs_group, int(files.get("defaultMode", 0o644)), 0o2755)
        mounts.append(Volume(source, mount["mountPath"], bool(mount.get("readOnly", False))))
    return mounts


def _service_account(plane: ControlPlane, chart: InstalledChart, directory: Path) -> Volume:
    directory.mkdir(parents=True)
    (directory / "token").write_text(service_account_token(plane, chart))
    (directory / "ca.crt").write_bytes(plane.pki.ca_pem)
    (directory / "namespace").write_text(chart.namespace)
    _own(directory, 0, 0o644, 0o755)
    return Volume(directory, IN_CLUSTER_DIR)


def pod_container(plane: ControlPlane, chart: InstalledChart, workdir: Path) -> PodContainer:
    """The chart's container as the kubelet would run it, its files under ``workdir``."""
    if chart.namespace != NAMESPACE:
        raise ValueError(f"install the chart into {NAMESPACE}, the downward API's namespace")
    root = workdir / "volumes"
    env = pod_environment(chart.manifest, root)
    # pod_environment points file settings at the host copies; in the container the chart's
    # own paths are right.
    for name, entry in chart.manifest.env.items():
        if "value" in entry:
            env[name] = entry["value"]
    env["KUBERNETES_SERVICE_HOST"] = "127.0.0.1"
    env["KUBERNETES_SERVICE_PORT"] = str(plane.port)
    uid, gid = _user(chart)
    volumes = [*_volumes(chart, root), _service_account(plane, chart, workdir / "serviceaccount")]
    return PodContainer(
        args=tuple(chart.manifest.container["args"]),
        hostname=env["POD_NAME"],
        user=f"{uid}:{gid}",
        env=env,
        volumes=tuple(volumes),
    )
