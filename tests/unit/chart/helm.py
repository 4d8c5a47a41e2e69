"""Running the real helm binary on charts/exoccm and reading what it renders.

Helm gets private cache/config/data directories, so tests never touch the user's Helm setup.
Values are passed as YAML files (never ``--set``, whose type guessing would blur schema tests).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exoccm.kube.objects import Obj

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "exoccm"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
ZONE = {"zone": "ch-gva-2"}
HELM_TIMEOUT_SECONDS = 120


class HelmError(RuntimeError):
    """helm exited non-zero; the message holds its output."""

    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]):
        self.stdout = result.stdout
        self.stderr = result.stderr
        super().__init__(
            f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}\n{result.stdout}"
        )


@dataclass(frozen=True)
class Helm:
    """The helm binary with a private home under ``home``."""

    binary: Path
    home: Path

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            # Without a kubeconfig, helm must not fall back to ~/.kube/config.
            "KUBECONFIG": str(kubeconfig) if kubeconfig else str(self.home / "no-kubeconfig"),
        }
        return env

    def run(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env(kubeconfig),
            timeout=HELM_TIMEOUT_SECONDS,
            check=False,
        )
        if check and result.returncode != 0:
            raise HelmError(args, result)
        return result

    def values_file(self, values: Mapping[str, Any], name: str = "values") -> Path:
        """``values`` written to a YAML file in helm's home (unique per content)."""
        text = yaml.safe_dump(dict(values), sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        path = self.home / "values" / f"{name}-{digest}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def value_args(
        self, values: Mapping[str, Any] | None = None, files: Iterable[Path] = ()
    ) -> list[str]:
        args: list[str] = []
        for path in files:
            args += ["--values", str(path)]
        if values is not None:
            args += ["--values", str(self.values_file(values))]
        return args

    def template(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        files: Iterable[Path] = (),
        release: str = "exoccm",
        namespace: str = "kube-system",
        api_versions: Iterable[str] = (),
    ) -> Rendered:
        """``helm template`` of the chart, parsed."""
        args = ["template", release, str(CHART), "--namespace", namespace]
        for api in api_versions:
            args += ["--api-versions", api]
        result = self.run(*args, *self.value_args(values, files))
        return Rendered.parse(result.stdout)

    def template_error(self, values: Mapping[str, Any] | None = None) -> str:
        """The error output of a ``helm template`` that must fail."""
        result = self.run("template", "exoccm", str(CHART), *self.value_args(values), check=False)
        assert result.returncode != 0, f"helm template accepted {values!r}:\n{result.stdout}"
        return result.stderr

    def lint(self, values: Mapping[str, Any] | None = None, *, files: Iterable[Path] = ()) -> str:
        return self.run("lint", "--strict", str(CHART), *self.value_args(values, files)).stdout


@dataclass(frozen=True)
class Rendered:
    """The objects of one render."""

    objects: tuple[Obj, ...]

    @classmethod
    def parse(cls, text: str) -> Rendered:
        return cls(tuple(doc for doc in yaml.safe_load_all(text) if doc))

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.objects)

    def of_kind(self, kind: str) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> Obj:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    def kinds(self) -> list[str]:
        return sorted(obj["kind"] for obj in self.objects)

    @property
    def deployment(self) -> Obj:
        return self.one("Deployment")

    @property
    def pod_spec(self) -> Obj:
        spec: Obj = self.deployment["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> Obj:
        containers: list[Obj] = self.pod_spec["containers"]
        assert len(containers) == 1
        return containers[0]

    @property
    def env(self) -> dict[str, Obj]:
        """The container's environment by name (each entry whole: value or valueFrom)."""
        entries: list[Obj] = self.container["env"]
        names = [entry["name"] for entry in entries]
        assert len(names) == len(set(names)), f"duplicate env names: {names}"
        return {entry["name"]: entry for entry in entries}

    def env_value(self, name: str) -> str:
        value = self.env[name]["value"]
        assert isinstance(value, str), f"{name} is not rendered as a string: {value!r}"
        return value


Rule = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]

# What exoccm needs (the list), written out independently of the templates:
# (apiGroups, resources, resourceNames, verbs).
CLUSTER_RULES: list[Rule] = [
    (("",), ("nodes",), (), ("get", "list", "watch", "patch", "delete")),
    (("",), ("nodes/status",), (), ("patch",)),
    (("",), ("services",), (), ("get", "list", "watch", "patch")),
    (("",), ("services/status",), (), ("patch",)),
    (("",), ("events",), (), ("create", "patch")),
    (("",), ("namespaces",), ("kube-system",), ("get",)),
]
CSR_RULES: list[Rule] = [
    (("certificates.k8s.io",), ("certificatesigningrequests",), (), ("get", "list", "watch")),
    (("certificates.k8s.io",), ("certificatesigningrequests/approval",), (), ("update",)),
    (("certificates.k8s.io",), ("signers",), ("kubernetes.io/kubelet-serving",), ("approve",)),
]


def lease_rules(lease: str) -> list[Rule]:
    return [
        (("coordination.k8s.io",), ("leases",), (), ("create",)),
        (("coordination.k8s.io",), ("leases",), (lease,), ("get", "update")),
    ]


def rules(role: Obj) -> list[Rule]:
    """A Role's rules as sorted (apiGroups, resources, resourceNames, verbs) tuples."""
    return sorted(
        (
            tuple(rule.get("apiGroups", [])),
            tuple(rule.get("resources", [])),
            tuple(rule.get("resourceNames", [])),
            tuple(rule["verbs"]),
        )
        for rule in role["rules"]
    )
