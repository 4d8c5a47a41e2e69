"""Where settings come from, as pydantic-settings sources, highest precedence first:

1. the environment (each setting's variables, in order; an empty variable counts as unset);
2. the cloud-config file (``--cloud-config``, else ``EXOCCM_CLOUD_CONFIG``): its ``global``
   keys, its ``instances`` and ``loadBalancer`` sections;
3. where the Pod runs: ``POD_NAMESPACE``, else the in-cluster namespace file, for the leader
   election namespace;
4. the defaults declared on :class:`~exoccm.config.settings.Settings`.

Each source also records, per setting, where its value came from (``origins``: a variable's
name, a cloud-config key), so that a problem names what to change, and the problems it found
itself (an unreadable or invalid cloud-config file).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from exoccm.config.cloudconfig import GLOBAL_KEYS, load_cloud_config

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
CLOUD_CONFIG_VARIABLE = "EXOCCM_CLOUD_CONFIG"


def variables_of(field: FieldInfo) -> list[str]:
    """The environment variable names of ``field``, preferred first (empty if none)."""
    extra = field.json_schema_extra
    names = extra.get("env", []) if isinstance(extra, dict) else []
    return [str(name) for name in names] if isinstance(names, list) else []


def env_names(settings_cls: type[BaseSettings], field: str) -> list[str]:
    """The environment variable names of the field called ``field``."""
    return variables_of(settings_cls.model_fields[field])


class LabelledSource(PydanticBaseSettingsSource):
    """A source that says where each of its values came from."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        self.origins: dict[str, str] = {}
        self.problems: list[str] = []

    def get_field_value(
        self,
        field: FieldInfo,  # noqa: ARG002 - the base class's signature
        field_name: str,
    ) -> tuple[Any, str, bool]:
        """Nothing by default: most of these sources read a whole file, not one field."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {}


class EnvironmentSource(LabelledSource):
    """The settings' variables in ``environ`` (by default the process environment)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in variables_of(field):
            if self.environ.get(name):  # as in the Go CCM, an empty variable counts as unset
                return self.environ[name], name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            if field_name == "cloud_config":
                continue  # the cloud-config source owns it: a --cloud-config flag wins
            value, name, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[field_name] = value
                self.origins[field_name] = name
        return values


class CloudConfigSource(LabelledSource):
    """The cloud-config file at ``path`` (none: no file, nothing to read)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None):
        super().__init__(settings_cls)
        self.path = path

    @classmethod
    def named_by(
        cls, settings_cls: type[BaseSettings], flag: Path | None, environ: Mapping[str, str]
    ) -> CloudConfigSource:
        """The file of the ``--cloud-config`` flag, else of ``EXOCCM_CLOUD_CONFIG``."""
        variable = environ.get(CLOUD_CONFIG_VARIABLE)
        return cls(settings_cls, flag or (Path(variable) if variable else None))

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        values: dict[str, Any] = {"cloud_config": self.path}
        self.origins["cloud_config"] = CLOUD_CONFIG_VARIABLE
        loaded = load_cloud_config(self.path)
        self.problems += loaded.problems
        if loaded.config is None:
            return values
        for field, key in GLOBAL_KEYS.items():
            value = getattr(loaded.config.global_, field)
            if value is not None:
                values[field] = value
                self.origins[field] = f"cloud-config {key}"
        values["instances"] = loaded.config.instances
        values["load_balancer"] = loaded.config.load_balancer
        values["cloud_config_unknown_keys"] = loaded.unknown_keys
        return values


class PodNamespaceSource(LabelledSource):
    """The namespace exoccm runs in, for the leader election Lease: ``POD_NAMESPACE``, else
    the in-cluster namespace file."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        environ: Mapping[str, str],
        namespace_file: Path = IN_CLUSTER_NAMESPACE_FILE,
    ):
        super().__init__(settings_cls)
        self.environ = environ
        self.namespace_file = namespace_file

    def __call__(self) -> dict[str, Any]:
        namespace = (self.environ.get("POD_NAMESPACE") or "").strip()
        origin = "POD_NAMESPACE"
        if not namespace:
            try:
                namespace = self.namespace_file.read_text().strip()
            except OSError:
                return {}
            origin = f"namespace file {self.namespace_file}"
        if not namespace:
            return {}
        self.origins["leader_election_namespace"] = origin
        return {"leader_election_namespace": namespace}


def settings_sources(
    settings_cls: type[BaseSettings],
    environ: Mapping[str, str],
    cloud_config: Path | None = None,
    namespace_file: Path = IN_CLUSTER_NAMESPACE_FILE,
) -> tuple[LabelledSource, ...]:
    """The sources of :mod:`this module <exoccm.config.sources>`, highest precedence first."""
    return (
        EnvironmentSource(settings_cls, environ),
        CloudConfigSource.named_by(settings_cls, cloud_config, environ),
        PodNamespaceSource(settings_cls, environ, namespace_file),
    )
