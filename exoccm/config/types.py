"""Value types of the settings: each parses and checks one kind of value, with a message that
says what is expected. :func:`setting` declares a field with its environment names and docs."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import NoDecode

from exoccm.config.durations import parse_go_duration
from exoccm.controllers.registry import CONTROLLERS as REGISTERED
from exoccm.exoscale.endpoints import ENVIRONMENT_PATTERN, endpoint_problem, zone_problem

# From the controller registry: names, what * turns on, the Go CCM's names, the SKS runners.
CONTROLLERS = tuple(spec.name for spec in REGISTERED)
DEFAULT_CONTROLLERS = frozenset(spec.name for spec in REGISTERED if spec.on_by_default)
CONTROLLER_ALIASES = {alias: spec.name for spec in REGISTERED for alias in spec.aliases}
SKS_AGENT_RUNNERS = {
    spec.sks_agent_runner: spec.name for spec in REGISTERED if spec.sks_agent_runner
}
CLOUD_CONFIG_SWITCHES = {
    spec.name: spec.cloud_config_section for spec in REGISTERED if spec.cloud_config_section
}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def setting(
    default: Any = PydanticUndefined,
    *,
    env: str | tuple[str, ...],
    description: str,
    kind: str,
    cloud_config: str | None = None,
    secret: bool = False,
    default_text: str | None = None,
    **constraints: Any,
) -> Any:
    """A settings field with its environment names and documentation.

    ``default`` may be a callable (a default factory). ``kind`` is the human-readable type for
    the reference; ``default_text`` documents a default computed at runtime; ``secret`` keeps
    the value out of reprs and error messages.
    """
    names = (env,) if isinstance(env, str) else env
    extra: dict[str, Any] = {"env": list(names), "kind": kind, "secret": secret}
    if cloud_config:
        extra["cloud_config"] = cloud_config
    if default_text:
        extra["default_text"] = default_text
    common: dict[str, Any] = {
        "validation_alias": AliasChoices(*names),
        "description": description,
        "json_schema_extra": extra,
        "repr": not secret,
        **constraints,
    }
    if callable(default):
        return Field(default_factory=default, **common)
    return Field(default, **common)


def controller_name(item: str) -> str:
    """The canonical controller name of an EXOCCM_CONTROLLERS item (``-x`` → ``x``)."""
    name = item.strip().lstrip("-")
    return CONTROLLER_ALIASES.get(name, name)


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _no_whitespace(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError("must be non-empty and without spaces or line breaks")
    return value


def _secret_no_whitespace(value: SecretStr) -> SecretStr:
    _no_whitespace(value.get_secret_value())
    return value


def _zone(value: str) -> str:
    problem = zone_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _endpoint(value: str) -> str:
    problem = endpoint_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _environment(value: str) -> str:
    if not ENVIRONMENT_PATTERN.match(value):
        raise ValueError(f"{value!r} is not an environment name such as 'api' or 'ppapi'")
    return value


def _runners(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [runner for runner in value if runner not in SKS_AGENT_RUNNERS]
    if unknown:
        raise ValueError(
            f"unknown runner(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(SKS_AGENT_RUNNERS)}"
        )
    return value


def _label_value(value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise ValueError(
            "must be 1-63 letters, digits, '.', '_' or '-', starting and ending with a "
            "letter or digit"
        )
    return value


def _namespace(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes namespace name")
    return value


def _namespaces(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [item for item in value if item != "*" and not _DNS_LABEL.match(item)]
    if bad:
        raise ValueError(
            f"{', '.join(map(repr, bad))} {'is not a' if len(bad) == 1 else 'are not'} Kubernetes "
            "namespace name(s); list namespaces separated by commas, or * for all"
        )
    if "*" in value and len(value) > 1:
        raise ValueError("* already means every namespace: list namespaces or *, not both")
    if not value:
        raise ValueError("list at least one namespace, or * for all")
    return value


def _lease_name(value: str) -> str:
    if not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a valid Lease name (lowercase DNS subdomain)")
    return value


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (e.g. 0.0.0.0 or ::)") from None
    return value


def _lowercase(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().lower()
        return "warning" if value == "warn" else value
    return value


def _controllers(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [item for item in value if controller_name(item) not in (*CONTROLLERS, "*")]
    if bad:
        raise ValueError(
            f"unknown controller(s) {', '.join(map(repr, bad))}; use *, "
            f"{', '.join(CONTROLLERS)}, or -name to disable one"
        )
    return value


Duration = Annotated[float, BeforeValidator(parse_go_duration), Field(gt=0)]
"""Seconds; set as a Go duration (``1m30s``) or plain seconds."""
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]
ApiKey = Annotated[str, AfterValidator(_no_whitespace)]
ApiSecret = Annotated[SecretStr, AfterValidator(_secret_no_whitespace)]
ZoneName = Annotated[str, AfterValidator(_zone)]
EndpointUrl = Annotated[str, AfterValidator(_endpoint)]
EnvironmentName = Annotated[str, AfterValidator(_environment)]
RunnerList = Annotated[CommaList, AfterValidator(_runners)]
ControllerList = Annotated[CommaList, AfterValidator(_controllers)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
NamespaceName = Annotated[str, AfterValidator(_namespace)]
NamespaceList = Annotated[CommaList, AfterValidator(_namespaces)]
LeaseName = Annotated[str, AfterValidator(_lease_name)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
LogFormat = Annotated[Literal["json", "text"], BeforeValidator(_lowercase)]
LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lowercase)]
