"""Turning HTTP responses into models or typed errors.

A 2xx body is validated against a model; anything unusable becomes a
:class:`MalformedResponseError` naming the operation and what was wrong, never a ``KeyError``.
An error status becomes the matching :class:`ApiError` subclass carrying the API's message.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from exoccm.exoscale.errors import (
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

# The API's messages are short; a proxy's HTML error page is not, and is no use in a log line.
_MAX_MESSAGE = 300


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns ``None`` when absent or unparseable, and never a negative number.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP dates are GMT by definition
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def api_message(body: bytes) -> str:
    """The API's explanation in an error body, whatever shape it has.

    The compute API sends ``{"message": ...}``; other services use ``error``, ``title``/``detail``
    or ``errors``. Falls back to the raw text, shortened.
    """
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _shorten(body.decode("utf-8", errors="replace").strip())
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "title"):
            if isinstance(data.get(key), str) and data[key]:
                return _shorten(data[key])
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            parts = [e if isinstance(e, str) else str(e.get("detail", e)) for e in errors if e]
            return _shorten("; ".join(parts))
    if isinstance(data, str):
        return _shorten(data)
    return _shorten(body.decode("utf-8", errors="replace").strip())


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def error_for_status(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    operation: str,
    zone: str,
    now: float | None = None,
    scrub: Callable[[str], str] | None = None,
) -> ApiError:
    """The typed error for an HTTP error response (``status`` >= 400).

    ``scrub`` cleans the API's message (it may quote the API key) before it is kept.
    """
    message = api_message(body)
    if scrub is not None:
        message = scrub(message)
    retry_after = parse_retry_after(headers.get("retry-after"), now=now)
    if status == 429:
        return RateLimitedError(
            status, message, retry_after=retry_after, operation=operation, zone=zone
        )
    if status >= 500:
        return ServerError(status, message, retry_after=retry_after, operation=operation, zone=zone)
    kinds: dict[int, type[ApiError]] = {
        401: ForbiddenError,
        403: ForbiddenError,
        404: NotFoundError,
        409: ConflictError,
    }
    return kinds.get(status, InvalidRequestError)(status, message, operation=operation, zone=zone)


# Every NLB service lists the health of each member of its Instance Pool: a zone with 1,000 NLBs on
# pools of 500 instances answers list-load-balancers with ~26 MB of it, and no controller reads it.
# It is emptied in the raw bytes, before decoding. The items are flat objects (a "[" or "]" can
# only occur inside their strings, which the pattern skips whole), and an unescaped
# "healthcheck-status" cannot occur inside a JSON string, so nothing else is touched.
_HEALTHCHECK_STATUS = re.compile(
    # key, then "[", then runs of non-quote non-"]" bytes and whole strings, possessively: ~6 ns
    # per byte (25 MB in ~0.16 s)
    rb'"healthcheck-status"\s*:\s*\[[^\]"]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"[^\]"]*+)*+\]'
)
HEALTHCHECK_STATUS_OPERATIONS = frozenset(
    {"list-load-balancers", "get-load-balancer", "get-load-balancer-service"}
)


_KEY = b'"healthcheck-status"'


def drop_healthcheck_status(body: bytes) -> bytes:
    """``body`` with every ``healthcheck-status`` array emptied."""
    if _KEY not in body:
        return body
    return _HEALTHCHECK_STATUS.sub(b'"healthcheck-status":[]', body)


async def read_without_healthcheck_status(chunks: AsyncIterator[bytes]) -> bytes:
    """A streamed body, its ``healthcheck-status`` arrays emptied as it arrives.

    Only what follows the last key seen (an array perhaps still arriving) is held back: every
    array before it is complete, since these arrays do not nest.
    """
    out = bytearray()
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        last = pending.rfind(_KEY)
        # Without a key, keep a tail that could be the start of one split across chunks.
        safe = last if last >= 0 else len(pending) - len(_KEY)
        if safe > 0:
            out += drop_healthcheck_status(bytes(pending[:safe]))
            del pending[:safe]
    out += drop_healthcheck_status(bytes(pending))
    return bytes(out)


def parse_model(model: type[ModelT], body: bytes, *, operation: str, zone: str) -> ModelT:
    """Validate the success body ``body`` as ``model``; problems become one
    :class:`MalformedResponseError`.

    Validated from the bytes, not from decoded JSON: a listing's refresh never holds the dicts
    of thousands of objects next to the models built from them."""
    if not body.strip():
        raise MalformedResponseError(
            f"response body is empty, expected {model.__name__} JSON",
            operation=operation,
            zone=zone,
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        broken = [
            error["msg"].removeprefix("Invalid JSON: ")
            for error in exc.errors(include_input=False, include_url=False)
            if error["type"] == "json_invalid"
        ]
        problem = (
            f"response body is not valid JSON ({broken[0]})"
            if broken
            else f"unexpected {model.__name__} in the response: {describe_validation_error(exc)}"
        )
        raise MalformedResponseError(problem, operation=operation, zone=zone) from None


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """``field.path: problem`` for the first few errors, without echoing the input values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
