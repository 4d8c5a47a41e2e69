"""Assembling :class:`Settings` from the environment and the cloud-config file.

Precedence per setting: environment variable, then the cloud-config ``global`` section, then the
default. Every problem is collected before anything is raised, so one start shows them all.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from exoccm.config.cloudconfig import GLOBAL_KEYS, load_cloud_config

if TYPE_CHECKING:
    from exoccm.config.settings import Settings


# Set while load_settings validates: it checks the cross-field rules itself, after the fields.
SKIP_CROSS_FIELD_RULES: ContextVar[bool] = ContextVar("SKIP_CROSS_FIELD_RULES", default=False)

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace(
    environ: dict[str, str] | None = None, namespace_file: Path = IN_CLUSTER_NAMESPACE_FILE
) -> str:
    """The Pod's namespace: ``POD_NAMESPACE``, else the in-cluster namespace file, else kube-system."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"].strip()
    try:
        namespace = namespace_file.read_text().strip()
    except OSError:
        namespace = ""
    return namespace or "kube-system"


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` lists each problem with its variable's name."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([heading, *(f"  - {p}" for p in self.problems)]))


def env_names(settings_cls: type[Settings], field: str) -> list[str]:
    """The environment variable names of ``field``, preferred first (empty if none)."""
    extra = settings_cls.model_fields[field].json_schema_extra
    names = extra.get("env", []) if isinstance(extra, dict) else []
    return [str(name) for name in names] if isinstance(names, list) else []


def is_secret(settings_cls: type[Settings], field: str) -> bool:
    """Whether ``field`` must never be echoed."""
    extra = settings_cls.model_fields[field].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def load_settings(
    settings_cls: type[Settings],
    environ: dict[str, str],
    cloud_config_path: Path | None,
    namespace_file: Path,
) -> Settings:
    """See :meth:`Settings.from_environment`."""
    problems: list[str] = []
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}

    config_path = cloud_config_path or (
        Path(environ["EXOCCM_CLOUD_CONFIG"]) if environ.get("EXOCCM_CLOUD_CONFIG") else None
    )
    if config_path is not None:
        config, config_problems = load_cloud_config(config_path)
        problems += config_problems
        if config is not None:
            for field, key in GLOBAL_KEYS.items():
                value = getattr(config.global_, field)
                if value is not None:
                    raw[field] = value
                    origin[field] = f"cloud-config {key}"
            raw["instances"] = config.instances
            raw["load_balancer"] = config.load_balancer

    for field in settings_cls.model_fields:
        for name in env_names(settings_cls, field):
            # As in the Go CCM, an empty variable counts as unset.
            if environ.get(name):
                raw[field] = environ[name]
                origin[field] = name
                break
    if config_path is not None:
        raw["cloud_config"] = config_path
    if "leader_election_namespace" not in raw:
        raw["leader_election_namespace"] = default_namespace(environ, namespace_file)
        origin["leader_election_namespace"] = (
            "POD_NAMESPACE" if environ.get("POD_NAMESPACE") else f"namespace file {namespace_file}"
        )

    invalid: set[str] = set()
    settings: Settings | None = None
    token = SKIP_CROSS_FIELD_RULES.set(True)
    try:
        try:
            settings = settings_cls.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                field = str(error["loc"][0]) if error["loc"] else ""
                # Errors may name a field by its alias (the variable's name).
                invalid.add(_field_of(settings_cls, field))
                problems.append(_describe(settings_cls, error, origin))
            # Every field has a default: without the invalid ones, the rest validates, and the
            # cross-field rules can still be checked on it.
            valid = {k: v for k, v in raw.items() if k not in invalid}
            settings = settings_cls.model_validate(valid)
    finally:
        SKIP_CROSS_FIELD_RULES.reset(token)
    if settings is not None:
        problems += settings.cross_field_problems(frozenset(invalid))
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


def _field_of(settings_cls: type[Settings], name: str) -> str:
    if name in settings_cls.model_fields:
        return name
    return next(
        (field for field in settings_cls.model_fields if name in env_names(settings_cls, field)),
        name,
    )


def _describe(settings_cls: type[Settings], error: Any, origin: dict[str, str]) -> str:
    loc = error["loc"]
    field = str(loc[0]) if loc else ""
    names = env_names(settings_cls, field) if field in settings_cls.model_fields else []
    label = origin.get(field) or (names[0] if names else field or "settings")
    message = str(error["msg"])
    custom = error.get("type") == "value_error"
    if custom:
        message = message.removeprefix("Value error, ")
    text = f"{label}: {message}"
    value = error.get("input")
    if (
        not custom
        and field in settings_cls.model_fields
        and not is_secret(settings_cls, field)
        and isinstance(value, str | int | float)
    ):
        text += f" (got {value!r})"
    return text
