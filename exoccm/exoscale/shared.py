"""One object for equal values repeated across a listing.

The 5,000 instances of one Instance Pool name the same pool and the same instance type: decoded
as they come, that is 10,000 small frozen models (about 500 bytes each with their strings and
field sets) for two distinct values, kept in the zone's instance listing and built again on
every refresh. Sharing them (and interning the states) takes a cached instance from 2,902 to
1,609 bytes (``bench/footprint.py``). The table holds its values weakly, so a value no listing
refers to any more is forgotten with its last user."""

from __future__ import annotations

import sys
import weakref
from typing import TypeVar, cast

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)

_shared: weakref.WeakValueDictionary[tuple[object, ...], BaseModel] = weakref.WeakValueDictionary()


def shared_model(value: ModelT | None) -> ModelT | None:
    """The first live model equal to ``value`` (same class, same field values), else ``value``.

    Only for frozen models whose fields are hashable (IDs, types): they can never diverge."""
    if value is None:
        return None
    key = (type(value), *value.__dict__.values())
    return cast("ModelT", _shared.setdefault(key, value))


def shared_text(value: str | None) -> str | None:
    """``value`` interned: states and assignment kinds repeat on every instance."""
    return None if value is None else sys.intern(value)
