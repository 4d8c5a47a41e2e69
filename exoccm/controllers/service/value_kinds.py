"""Kinds of annotation values: a rule of :mod:`.value_rules` with its bounds, as a declaration
carries it.

A kind parses a raw value (or raises :class:`~.value_rules.RefusedValueError` saying what is
allowed), names its type for the annotation reference (``integer (1-20)``), and writes a typed
value back as a user would (``10s``). Kinds are frozen and compare by their bounds, so tests can
find every kind the declarations use and generate values for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

from exoccm.controllers.service import value_rules as rules

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """What a value is judged against besides itself."""

    known_zones: Collection[str]


class ValueKind(ABC, Generic[T]):
    """How an annotation's value is read, and how the reference names its type."""

    @abstractmethod
    def parse(self, value: str, context: Context) -> T:
        """The typed value; raises ``RefusedValueError`` saying what is allowed."""

    @property
    @abstractmethod
    def shown_type(self) -> str:
        """The type as the annotation reference shows it."""

    def show(self, value: T) -> str:
        """``value`` as it would be written in the annotation."""
        return str(value)


class ContextFree(ValueKind[T]):
    """A kind that judges the value alone."""

    def parse(self, value: str, context: Context) -> T:  # noqa: ARG002 - the value alone
        return self.read(value)

    @abstractmethod
    def read(self, value: str) -> T:
        """The typed value; raises ``RefusedValueError`` saying what is allowed."""


@dataclass(frozen=True)
class Text(ContextFree[str]):
    """Free text, possibly empty: no control characters."""

    max_length: int

    def read(self, value: str) -> str:
        return rules.text(value, max_length=self.max_length)

    @property
    def shown_type(self) -> str:
        return f"string (0-{self.max_length})"


@dataclass(frozen=True)
class Name(ContextFree[str]):
    """A name: not blank, no control characters."""

    max_length: int

    def read(self, value: str) -> str:
        return rules.name(value, max_length=self.max_length)

    @property
    def shown_type(self) -> str:
        return f"string (1-{self.max_length})"


@dataclass(frozen=True)
class ServerName(ContextFree[str]):
    """A TLS server name: a name without whitespace."""

    max_length: int

    def read(self, value: str) -> str:
        return rules.server_name(value, max_length=self.max_length)

    @property
    def shown_type(self) -> str:
        return f"string (1-{self.max_length})"


@dataclass(frozen=True)
class HttpPath(ContextFree[str]):
    """A path starting with ``/``, without whitespace."""

    max_length: int

    def read(self, value: str) -> str:
        return rules.http_path(value, max_length=self.max_length)

    @property
    def shown_type(self) -> str:
        return f"path (1-{self.max_length})"


@dataclass(frozen=True)
class Integer(ContextFree[int]):
    """A whole number in ASCII digits, from ``low`` to ``high``."""

    low: int
    high: int

    def read(self, value: str) -> int:
        return rules.integer(value, low=self.low, high=self.high)

    @property
    def shown_type(self) -> str:
        return f"integer ({self.low}-{self.high})"


@dataclass(frozen=True)
class Seconds(ContextFree[int]):
    """A Go duration of whole seconds, from ``low`` to ``high`` seconds."""

    low: int
    high: int

    def read(self, value: str) -> int:
        return rules.whole_seconds(value, low=self.low, high=self.high)

    @property
    def shown_type(self) -> str:
        return f"duration ({self.low}s-{self.high}s)"

    def show(self, value: int) -> str:
        return f"{value}s"


@dataclass(frozen=True)
class Uuid(ContextFree[str]):
    """A UUID in any letter case, read in lower case."""

    def read(self, value: str) -> str:
        return rules.uuid(value)

    @property
    def shown_type(self) -> str:
        return "UUID"


@dataclass(frozen=True)
class Boolean(ContextFree[bool]):
    """``true`` or ``false``, in any letter case."""

    def read(self, value: str) -> bool:
        return rules.boolean(value)

    @property
    def shown_type(self) -> str:
        return "`true` | `false`"

    def show(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class Choice(ContextFree[str]):
    """One of ``options``, exactly (case-sensitive)."""

    options: tuple[str, ...]

    def read(self, value: str) -> str:
        return rules.choice(value, self.options)

    @property
    def shown_type(self) -> str:
        return " | ".join(f"`{option}`" for option in self.options)


@dataclass(frozen=True)
class Zone(ValueKind[str]):
    """The name of a zone exoccm can reach."""

    def parse(self, value: str, context: Context) -> str:
        if value not in context.known_zones:
            raise rules.RefusedValueError(
                f"unknown zone; must be one of {', '.join(sorted(context.known_zones))}"
            )
        return value

    @property
    def shown_type(self) -> str:
        return "zone name"
