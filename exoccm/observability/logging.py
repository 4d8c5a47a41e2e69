"""Log setup: JSON lines in the Kubernetes structured-logging shape, or text for humans.

JSON lines carry ``ts`` (Unix seconds), ``level``, ``msg`` and the event's key-values; stdlib
loggers (httpx, uvicorn, ...) go through the same pipeline. A last processor removes values that
must never be logged (authorization headers, secrets), whatever a caller passes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, Literal

import orjson
import structlog

LogFormat = Literal["json", "text"]

# Keys whose values are dropped from every log line, whoever logs them.
_SECRET_KEYS = frozenset(
    {"authorization", "api_secret", "secret", "password", "token", "exoscale_api_secret"}
)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


def _kubernetes_shape(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["msg"] = event.pop("event", "")
    event.setdefault("ts", time.time())
    return event


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure(level: str = "info", fmt: LogFormat = "json", stream: Any = None) -> None:
    """Configure structlog and the stdlib root logger once, at process start."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact,
    ]
    renderer: Any
    if fmt == "json":
        shared.append(_kubernetes_shape)
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    else:
        shared.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # httpx logs every request URL at INFO: too chatty for a controller.
    logging.getLogger("httpx").setLevel(max(numeric, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(numeric, logging.WARNING))
