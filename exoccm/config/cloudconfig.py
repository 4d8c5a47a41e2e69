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

Unknown keys are ignored, as in the Go CCM.
"""

from __future__ import annotations

import ipaddress
import re
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


def load_cloud_config(path: Path) -> tuple[CloudConfig | None, list[str]]:
    """Read and validate a cloud-config file: the config, or ``None`` and every problem found."""
    label = f"cloud-config {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return None, [f"EXOCCM_CLOUD_CONFIG: cannot read {label}: {reason or exc}"]
    return parse_cloud_config(text, source=label)


def parse_cloud_config(
    text: str, *, source: str = "cloud-config"
) -> tuple[CloudConfig | None, list[str]]:
    """Validate cloud-config YAML ``text``; ``source`` names it in problems."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        # The problem text, not the offending line: the file may hold a secret.
        problem = getattr(exc, "problem", None) or "syntax error"
        return None, [f"{source}: invalid YAML{where}: {problem}"]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [f"{source}: expected a mapping with global/instances/loadBalancer sections"]
    try:
        return CloudConfig.model_validate(data), []
    except ValidationError as exc:
        return None, [_describe(error, source) for error in exc.errors(include_url=False)]


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
