"""Validating what the settings sources found, with every problem reported at once.

The fields are validated first, with the rules that span several fields deferred (a validation
context tells the model so); the rules then run on the valid fields, skipping those touching an
invalid one, so one start shows every problem, each named by the variable (or cloud-config key)
that holds it. Secrets are never echoed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from exoccm.config.sources import LabelledSource, env_names

if TYPE_CHECKING:
    from exoccm.config.settings import Settings

#: The validation context under which :class:`Settings` leaves its cross-field rules to the
#: caller, who reports them with the field errors.
DEFER_CROSS_FIELD_RULES = {"cross_field_rules": "deferred"}


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` lists each problem with its variable's name."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([heading, *(f"  - {p}" for p in self.problems)]))


def validated(settings_cls: type[Settings], sources: Sequence[LabelledSource]) -> Settings:
    """Settings from ``sources`` (highest precedence first), or :class:`ConfigError`."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[str] = []
    for source in sources:
        found = source()
        values = {**found, **values}
        origins = {**source.origins, **origins}
        problems += source.problems
    invalid: set[str] = set()
    try:
        settings = _fields_validated(settings_cls, values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = _field_of(settings_cls, str(error["loc"][0]) if error["loc"] else "")
            invalid.add(field)
            problems.append(_describe(settings_cls, field, error, origins))
        # Every field has a default: without the invalid ones the rest validates, and the
        # cross-field rules can still be checked on it.
        valid = {k: v for k, v in values.items() if k not in invalid}
        settings = _fields_validated(settings_cls, valid)
    problems += settings.cross_field_problems(frozenset(invalid))
    if problems:
        raise ConfigError(problems)
    return settings


def _fields_validated(settings_cls: type[Settings], values: dict[str, Any]) -> Settings:
    """``values`` alone, validated, with the cross-field rules deferred.

    Through the model's validator itself, as ``BaseModel.__init__`` does: ``model_validate``
    would call ``BaseSettings.__init__``, which consults the settings sources again (the process
    environment, not the one given) and validates without the context.
    """
    settings = settings_cls.__new__(settings_cls)
    settings_cls.__pydantic_validator__.validate_python(
        values, self_instance=settings, context=DEFER_CROSS_FIELD_RULES
    )
    return settings


def _field_of(settings_cls: type[Settings], name: str) -> str:
    """The field an error names, by its own name or by one of its variables."""
    if name in settings_cls.model_fields:
        return name
    return next(
        (field for field in settings_cls.model_fields if name in env_names(settings_cls, field)),
        name,
    )


def _is_secret(settings_cls: type[Settings], field: str) -> bool:
    extra = settings_cls.model_fields[field].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def _describe(settings_cls: type[Settings], field: str, error: Any, origins: dict[str, str]) -> str:
    known = field in settings_cls.model_fields
    names = env_names(settings_cls, field) if known else []
    label = origins.get(field) or (names[0] if names else field or "settings")
    message = str(error["msg"])
    custom = error.get("type") == "value_error"
    if custom:
        message = message.removeprefix("Value error, ")
    text = f"{label}: {message}"
    value = error.get("input")
    if (
        not custom
        and known
        and not _is_secret(settings_cls, field)
        and isinstance(value, str | int | float)
    ):
        text += f" (got {value!r})"
    return text
