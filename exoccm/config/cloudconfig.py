"""The Go CCM's cloud-config YAML (``--cloud-config``, here ``EXOCCM_CLOUD_CONFIG``).

Same keys and meaning as the Go CCM::

    global:
      apiKey: EXO...            # environment variables override these four
      apiSecret: ...
      apiCredentialsFile: /etc/exoscale/credentials.json
      apiEndpoint: https://api-ch-gva-2.exoscale.com/v2
    instances:
      disabled: false           # no node initialization or lifecycle
      externalOnly: false       # only nodes matched by an override are known
      overrides:
        - name: edge-1          # an exact node name, or "/regex/"
          external: true        # not an Exoscale instance
          externalID: edge-1    # providerID exoscale://<externalID>
          type: bare-metal
          region: on-prem
          addresses: [{type: InternalIP, address: 10.0.0.5}]
    loadBalancer:
      disabled: false           # no service controller

Unknown keys are ignored, as in the Go CCM, but named in a warning (a typo such as
``loadbalancer:`` would otherwise silently leave the default in force).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

AddressType = Literal["Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS"]


class _YamlModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True)


class NodeAddress(_YamlModel):
    """A Node address to report instead of the instance's."""

    type: AddressType
    address: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ip_for_ip_types(self) -> NodeAddress:
        if self.type.endswith("IP"):
            try:
                ipaddress.ip_address(self.address)
            except ValueError:
                raise ValueError(
                    f"{self.type} address {self.address!r} is not an IP address"
                ) from None
        return self


class InstanceOverride(_YamlModel):
    """Node metadata overriding (or replacing) what the API says, for nodes matching ``name``."""

    name: str = Field(min_length=1, description='An exact node name or "/regex/".')
    external: bool = False
    external_id: str | None = Field(default=None, alias="externalID")
    type: str | None = None
    addresses: tuple[NodeAddress, ...] = ()
    region: str | None = None

    @field_validator("name")
    @classmethod
    def _valid_regex(cls, name: str) -> str:
        if _is_regex(name):
            try:
                re.compile(name[1:-1])
            except re.error as exc:
                raise ValueError(f"invalid regular expression {name!r}: {exc}") from None
        return name

    @property
    def is_regex(self) -> bool:
        """Whether ``name`` is a ``/regex/`` pattern."""
        return _is_regex(self.name)

    def matches(self, node_name: str) -> bool:
        """Whether this override applies to the node ``node_name``."""
        if self.is_regex:
            return re.search(self.name[1:-1], node_name) is not None
        return self.name == node_name


def _is_regex(name: str) -> bool:
    return len(name) >= 2 and name.startswith("/") and name.endswith("/")


class InstancesConfig(_YamlModel):
    """The ``instances`` section."""

    disabled: bool = False
    external_only: bool = Field(default=False, alias="externalOnly")
    overrides: tuple[InstanceOverride, ...] = ()

    def override_for(self, node_name: str) -> InstanceOverride | None:
        """The override of ``node_name``: an exact name first, else the first matching regex."""
        for override in self.overrides:
            if not override.is_regex and override.name == node_name:
                return override
        return next((o for o in self.overrides if o.is_regex and o.matches(node_name)), None)


class LoadBalancerConfig(_YamlModel):
    """The ``loadBalancer`` section."""

    disabled: bool = False


class GlobalConfig(_YamlModel):
    """The ``global`` section (API access); environment variables take precedence."""

    api_key: str | None = Field(default=None, alias="apiKey", repr=False)
    api_secret: SecretStr | None = Field(default=None, alias="apiSecret")
    api_credentials_file: str | None = Field(default=None, alias="apiCredentialsFile")
    api_endpoint: str | None = Field(default=None, alias="apiEndpoint")


class CloudConfig(_YamlModel):
    """A whole cloud-config file."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    instances: InstancesConfig = Field(default_factory=InstancesConfig)
    load_balancer: LoadBalancerConfig = Field(
        default_factory=LoadBalancerConfig, alias="loadBalancer"
    )


# Key paths of the ``global`` section, in error messages and the settings reference.
GLOBAL_KEYS = {
    "api_key": "global.apiKey",
    "api_secret": "global.apiSecret",
    "api_credentials_file": "global.apiCredentialsFile",
    "api_endpoint": "global.apiEndpoint",
}
_SECRET_KEYS = {"apiKey", "apiSecret"}


@dataclass(frozen=True)
class LoadedCloudConfig:
    """A cloud-config file read: the config (None if it is unusable), every problem that makes
    it unusable, and a warning per key exoccm does not read."""

    config: CloudConfig | None
    problems: list[str]
    unknown_keys: tuple[str, ...] = ()


def load_cloud_config(path: Path) -> LoadedCloudConfig:
    """Read and validate a cloud-config file."""
    label = f"cloud-config {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return LoadedCloudConfig(
            None, [f"EXOCCM_CLOUD_CONFIG: cannot read {label}: {reason or exc}"]
        )
    return parse_cloud_config(text, source=label)


def parse_cloud_config(text: str, *, source: str = "cloud-config") -> LoadedCloudConfig:
    """Validate cloud-config YAML ``text``; ``source`` names it in problems and warnings."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        # The problem text, not the offending line: the file may hold a secret.
        problem = getattr(exc, "problem", None) or "syntax error"
        return LoadedCloudConfig(None, [f"{source}: invalid YAML{where}: {problem}"])
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return LoadedCloudConfig(
            None, [f"{source}: expected a mapping with global/instances/loadBalancer sections"]
        )
    unknown = tuple(f"{source}: {note}" for note in unknown_keys(CloudConfig, data))
    try:
        return LoadedCloudConfig(CloudConfig.model_validate(data), [], unknown)
    except ValidationError as exc:
        problems = [_describe(error, source) for error in exc.errors(include_url=False)]
        return LoadedCloudConfig(None, problems, unknown)


def unknown_keys(model: type[BaseModel], data: dict[Any, Any], path: str = "") -> list[str]:
    """A note for every key of ``data`` (YAML read for ``model``) that exoccm does not read,
    naming its path and, when one is close, the key it probably meant. Values are never shown:
    a misspelt key may hold a secret."""
    documented = [field.alias or name for name, field in model.model_fields.items()]
    read = dict(model.model_fields)
    read |= {field.alias: field for field in model.model_fields.values() if field.alias}
    notes = []
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        field = read.get(str(key)) if isinstance(key, str) else None
        if field is None:
            note = f"unknown key {where} is ignored"
            meant = _closest(str(key), documented)
            if meant:
                note += f"; did you mean {f'{path}.{meant}' if path else meant}?"
            notes.append(note)
            continue
        for inner, item, item_path in _nested(field.annotation, value, where):
            notes += unknown_keys(inner, item, item_path)
    return notes


def _closest(key: str, documented: list[str]) -> str | None:
    same = [name for name in documented if name.lower() == key.lower()]
    if same:
        return same[0]
    close = difflib.get_close_matches(key, documented, n=1, cutoff=0.75)
    return close[0] if close else None


def _nested(
    annotation: Any, value: Any, where: str
) -> list[tuple[type[BaseModel], dict[Any, Any], str]]:
    """The mappings inside ``value`` that a model field of type ``annotation`` reads."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, value, where)] if isinstance(value, dict) else []
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and args and isinstance(value, list):
        inner = args[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return [
                (inner, item, f"{where}[{index}]")
                for index, item in enumerate(value)
                if isinstance(item, dict)
            ]
    return []


def _describe(error: Any, source: str) -> str:
    loc = error["loc"]
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = f"{source} {path or 'document'}: {error['msg']}"
    if not (set(map(str, loc)) & _SECRET_KEYS) and error.get("type") != "value_error":
        value = error.get("input")
        if isinstance(value, str | int | float | bool):
            message += f" (got {value!r})"
    return message
