"""Faults tests inject into the simulator, and the book that decides which call gets which.

Three families of faults exist. *HTTP faults* replace or delay a call's answer (an error status,
429 with ``Retry-After``, a hang, a 200 whose body is corrupted). *Operation faults* let a write
succeed at the HTTP level but end its Operation badly (``failure``, ``timeout``) or late (stuck
``pending``, for ever or for a while). *Listing faults* make a list operation answer wrongly with
a well-formed body, as an eventually consistent read replica would: no items, some left out, or
the zone as it was a while ago.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

from exoccm.sim.constants import OPERATION_REASONS
from exoccm.sim.validation import is_uuid

FaultKind = Literal[
    "http",
    "rate-limited",
    "hang",
    "operation-failure",
    "operation-timeout",
    "operation-stuck",
    "malformed",
    "listing-empty",
    "listing-partial",
    "listing-lagging",
]
OPERATION_FAULT_KINDS = frozenset({"operation-failure", "operation-timeout", "operation-stuck"})
LISTING_FAULT_KINDS = frozenset({"listing-empty", "listing-partial", "listing-lagging"})

FaultFamily = Literal["http", "operation", "listing"]

# A hang longer than this would outlive any sensible client timeout and stall test teardown.
MAX_HANG_SECONDS = 300.0

# How far back a lagging listing may look; the simulator keeps this much history.
MAX_LAG_SECONDS = 600.0
DEFAULT_PARTIAL_SHARE = 0.5

MalformedVariant = Literal["broken-json", "missing-field", "wrong-type"]
MALFORMED_VARIANTS: tuple[str, ...] = get_args(MalformedVariant)

# Answers a fault corrupted on purpose carry this header, so spec-conformance checks skip them.
FAULT_HEADER = "X-Simulator-Fault"


@dataclass(frozen=True, slots=True)
class Fault:
    """One kind of misbehaviour; build it with the class methods, e.g. ``Fault.http(503)``."""

    kind: FaultKind
    status: int = 0
    message: str = ""
    retry_after: float = 0.0
    seconds: float = 0.0
    applied: bool = False
    reason: str = ""
    variant: str = ""
    ids: tuple[str, ...] = ()
    share: float = 0.0

    @classmethod
    def http(cls, status: int, message: str | None = None) -> Fault:
        """Answer with ``status`` and ``{"message": message}`` instead of serving the call."""
        if not 400 <= status <= 599:
            raise ValueError(f"Fault.http needs an error status 400..599, not {status!r}")
        return cls("http", status=status, message=message or f"injected fault: HTTP {status}")

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> Fault:
        """Answer 429 with a ``Retry-After`` header of ``retry_after`` seconds (rounded up)."""
        if not math.isfinite(retry_after) or retry_after < 0:
            raise ValueError(f"retry_after must be a finite number >= 0, not {retry_after!r}")
        return cls("rate-limited", status=429, retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float, *, applied: bool = False) -> Fault:
        """Hold the response for ``seconds`` of real time (or until the client disconnects).

        With ``applied=False`` the call has no effect and ends with 504; with ``applied=True``
        the call takes effect first and only its answer is late, the case where a client's
        timeout fires although the cloud did the work.
        """
        if not 0 < seconds <= MAX_HANG_SECONDS:
            raise ValueError(f"Fault.hang needs 0 < seconds <= {MAX_HANG_SECONDS}, not {seconds!r}")
        return cls("hang", seconds=seconds, applied=applied)

    @classmethod
    def operation_failure(
        cls, reason: str = "fault", message: str = "injected operation failure"
    ) -> Fault:
        """The write's Operation ends in ``failure`` with ``reason`` and ``message``."""
        if reason not in OPERATION_REASONS:
            raise ValueError(
                f"unknown operation failure reason {reason!r}; use one of "
                + ", ".join(sorted(OPERATION_REASONS))
            )
        return cls("operation-failure", reason=reason, message=message)

    @classmethod
    def operation_timeout(cls) -> Fault:
        """The write's Operation ends in ``timeout``, although the change was made."""
        return cls("operation-timeout", reason="unavailable", message="operation timed out")

    @classmethod
    def operation_stuck(cls, seconds: float | None = None) -> Fault:
        """The write's Operation stays ``pending`` for ever (the change never happens), or, with
        ``seconds``, for that long on the simulator's clock before it succeeds as usual: an
        operation that outlives a client's deadline and completes after all."""
        if seconds is None:
            return cls("operation-stuck")
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"operation-stuck seconds must be finite and > 0, not {seconds!r}")
        return cls("operation-stuck", seconds=float(seconds))

    @classmethod
    def malformed(cls, variant: str = "broken-json") -> Fault:
        """Serve the call, then replace its 200 answer's body with an unusable one.

        ``broken-json`` truncates the JSON; ``missing-field`` drops a required field (``id``, or
        a list's wrapping key); ``wrong-type`` gives that field a value of another JSON type.
        A write still takes effect: only its answer is lost. Error answers are left alone.
        """
        if variant not in MALFORMED_VARIANTS:
            raise ValueError(
                f"unknown malformed variant {variant!r}; use one of {', '.join(MALFORMED_VARIANTS)}"
            )
        return cls("malformed", variant=variant)

    @classmethod
    def listing_empty(cls) -> Fault:
        """The list answer holds no items: ``{"load-balancers": []}``."""
        return cls("listing-empty")

    @classmethod
    def listing_partial(cls, ids: Iterable[str] | None = None, share: float | None = None) -> Fault:
        """The list answer leaves out the objects whose id is in ``ids``, or, without ``ids``,
        ``ceil(share * n)`` of its ``n`` items, chosen at random from the simulator's seed."""
        if ids is not None and share is not None:
            raise ValueError("listing-partial takes ids or share, not both")
        if ids is not None:
            return cls("listing-partial", ids=_object_ids(ids))
        share = DEFAULT_PARTIAL_SHARE if share is None else share
        if not _is_number(share) or not 0 < share <= 1:
            raise ValueError(f"listing-partial share must be a number in (0, 1], not {share!r}")
        return cls("listing-partial", share=float(share))

    @classmethod
    def listing_lagging(cls, seconds: float) -> Fault:
        """The list answer shows the zone as it was ``seconds`` ago on the simulator's clock:
        younger objects are left out, changed ones shown as they were, deleted ones still shown."""
        if not _is_number(seconds) or not 0 < seconds <= MAX_LAG_SECONDS:
            raise ValueError(
                f"listing-lagging needs 0 < seconds <= {MAX_LAG_SECONDS:g}, not {seconds!r}"
            )
        return cls("listing-lagging", seconds=float(seconds))

    @property
    def name(self) -> str:
        """Short name recorded in the request log, e.g. ``http-503``, ``operation-stuck`` or
        ``malformed-wrong-type``."""
        if self.kind == "http":
            return f"http-{self.status}"
        if self.kind == "malformed":
            return f"malformed-{self.variant}"
        return self.kind

    @property
    def family(self) -> FaultFamily:
        """Which point of a call consults the fault (see the module's docstring)."""
        if self.kind in OPERATION_FAULT_KINDS:
            return "operation"
        if self.kind in LISTING_FAULT_KINDS:
            return "listing"
        return "http"

    def to_json(self) -> dict[str, Any]:
        """The admin API's representation (see :meth:`from_json`)."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind == "http":
            data |= {"status": self.status, "message": self.message}
        elif self.kind == "rate-limited":
            data["retry_after"] = self.retry_after
        elif self.kind == "hang":
            data |= {"seconds": self.seconds, "applied": self.applied}
        elif self.kind == "operation-failure":
            data |= {"reason": self.reason, "message": self.message}
        elif self.kind == "operation-stuck" and self.seconds:
            data["seconds"] = self.seconds
        elif self.kind == "malformed":
            data["variant"] = self.variant
        elif self.kind == "listing-partial":
            data |= {"ids": list(self.ids)} if self.ids else {"share": self.share}
        elif self.kind == "listing-lagging":
            data["seconds"] = self.seconds
        return data

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Build a fault from ``{"kind": ..., <arguments of the class method>}``."""
        if not isinstance(data, dict) or data.get("kind") not in get_args(FaultKind):
            raise ValueError(
                'a fault is an object {"kind": ...} with kind one of '
                + ", ".join(get_args(FaultKind))
            )
        args = {key: value for key, value in data.items() if key != "kind"}
        builders: dict[str, Callable[..., Fault]] = {
            "http": cls.http,
            "rate-limited": cls.rate_limited,
            "hang": cls.hang,
            "operation-failure": cls.operation_failure,
            "operation-timeout": cls.operation_timeout,
            "operation-stuck": cls.operation_stuck,
            "malformed": cls.malformed,
            "listing-empty": cls.listing_empty,
            "listing-partial": cls.listing_partial,
            "listing-lagging": cls.listing_lagging,
        }
        try:
            fault = builders[data["kind"]](**args)
        except TypeError as error:
            raise ValueError(f"bad arguments for a {data['kind']!r} fault: {error}") from None
        return fault


def _is_number(value: object) -> bool:
    # Arguments also arrive untyped, from the admin API.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _object_ids(ids: Iterable[str]) -> tuple[str, ...]:
    if isinstance(ids, str):
        raise TypeError(f"listing-partial ids is a list of object ids, not {ids!r}")
    given: tuple[object, ...] = tuple(ids)  # untyped when it comes from the admin API
    if not given:
        raise ValueError(
            "listing-partial ids is empty; name the objects to leave out, or give no ids "
            "to leave out a random share"
        )
    checked = []
    for object_id in given:
        if not isinstance(object_id, str) or not is_uuid(object_id):
            raise ValueError(f"listing-partial ids must be UUIDs, not {object_id!r}")
        checked.append(object_id.lower())
    return tuple(checked)


def corrupt(result: Any, variant: str) -> bytes:
    """The body of a 200 answer whose JSON value was ``result``, broken as ``variant`` says.

    Every variant makes the answer unusable for a client that relies on the spec's required
    fields: the JSON does not parse, the ``id`` (or a list answer's wrapping key) is missing,
    or that field holds a value of another JSON type.
    """
    if variant == "broken-json":
        return orjson.dumps(result)[:-1] + b",}"  # cut short, then a dangling comma
    if not isinstance(result, dict) or not result:
        # No field to break: a value of the wrong top-level type instead.
        return orjson.dumps([result] if variant == "wrong-type" else None)
    key = "id" if "id" in result else next(iter(result))
    broken = dict(result)
    if variant == "missing-field":
        del broken[key]
    else:
        broken[key] = _other_type(result[key])
    return orjson.dumps(broken)


def _other_type(value: Any) -> Any:
    """A JSON value of a different type than ``value`` (str -> number, list -> string, ...)."""
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return "not-a-list"
    if isinstance(value, dict):
        return ["not-an-object"]
    return "not-a-" + type(value).__name__


@dataclass(slots=True)
class FaultRule:
    """Inject ``fault`` into calls of ``operation_id`` (``"*"``: any) in ``zone`` (None: any)."""

    operation_id: str
    fault: Fault
    zone: str | None = None
    remaining: int | None = None  # None: no limit
    probability: float | None = None  # None: every matching call

    def matches(self, operation_id: str, zone: str) -> bool:
        return (
            self.operation_id in ("*", operation_id)
            and (self.zone is None or self.zone == zone)
            and self.remaining != 0
        )


class FaultBook:
    """The active rules, consulted in the order they were added; the first that fires wins.

    Probabilities are drawn from a generator seeded by the simulator, and only for rules that
    match the call, so the same seed and the same sequence of calls give the same faults.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        if rule.remaining is not None and rule.remaining < 1:
            raise ValueError(f"count must be a positive number of calls, not {rule.remaining!r}")
        if rule.probability is not None and not 0.0 <= rule.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, not {rule.probability!r}")
        self._rules.append(rule)

    def clear(self) -> None:
        self._rules.clear()

    def reseed(self, rng: random.Random) -> None:
        self._rng = rng

    def take(self, operation_id: str, zone: str, family: FaultFamily) -> Fault | None:
        """The fault of ``family`` for this call, if any, counting it against its rule's
        ``count``."""
        for rule in self._rules:
            if rule.fault.family != family:
                continue
            if not rule.matches(operation_id, zone):
                continue
            if rule.probability is not None and self._rng.random() >= rule.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
            return rule.fault
        return None
