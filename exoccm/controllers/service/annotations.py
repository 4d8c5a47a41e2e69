"""Reading a Service's ``exoscale-loadbalancer-*`` annotations: settings, or every problem.

Pure: the annotations in, :class:`LoadBalancerSettings` and the problems found out. What each
annotation means, how its value is read and what it defaults to is declared in
:mod:`.declarations`; this module applies the declarations, then the few rules that involve
several annotations. Unlike the Go CCM, every value is checked before any call: against the
API's enums, ranges and lengths, and by the strict rules of :mod:`.value_rules` (ASCII digits,
Go durations, whole UUIDs, no control characters, no blank names).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from exoccm.controllers.service.declarations import (
    ANNOTATIONS,
    EXTERNAL,
    HEALTHCHECK_INTERVAL,
    HEALTHCHECK_MODE,
    HEALTHCHECK_TIMEOUT,
    ID,
    INSTANCE_POOL_ID,
    NAME,
    PREFIX,
    SKS_CLUSTER_NAME,
    SKS_NODEPOOL_NAME,
    ZONE,
    Annotation,
    Defaulted,
)
from exoccm.controllers.service.value_kinds import Context
from exoccm.controllers.service.value_rules import CONTROL_CHARACTER, RefusedValueError

__all__ = [
    "PREFIX",
    "AnnotationProblem",
    "LoadBalancerSettings",
    "parse_annotations",
    "shown_value",
]

T = TypeVar("T")


@dataclass(frozen=True)
class AnnotationProblem:
    """One bad annotation value, phrased for a Warning Event."""

    key: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"annotation {self.key}={shown_value(self.value)}: {self.message}"


SHOWN_VALUE_LIMIT = 64


def shown_value(value: str) -> str:
    """``value`` quoted for a message: control characters escaped, a long value shortened.

    Events and logs are line-oriented and an Event message is cut at 1024 characters: a raw
    CR/LF would forge lines, and one long value would push the other problems out.
    """
    if len(value) <= SHOWN_VALUE_LIMIT:
        return f'"{_escaped(value)}"'
    return f'"{_escaped(value[: SHOWN_VALUE_LIMIT - 16])}..." ({len(value)} characters)'


def _escaped(value: str) -> str:
    return CONTROL_CHARACTER.sub(lambda found: repr(found.group())[1:-1], value)


@dataclass(frozen=True)
class LoadBalancerSettings:
    """What the annotations ask for, validated: ``settings[ANNOTATION]`` is the value in effect.

    ``given`` holds the accepted value of each annotation set, by suffix; any other reads as its
    declared default. A value bound to health-check modes reads as ``None`` in the others.
    """

    given: Mapping[str, Any] = field(default_factory=dict)

    @overload
    def __getitem__(self, annotation: Defaulted[T]) -> T: ...

    @overload
    def __getitem__(self, annotation: Annotation[T]) -> T | None: ...

    def __getitem__(self, annotation: Annotation[Any]) -> Any:
        if annotation.modes is not None and self.mode not in annotation.modes:
            return None
        return self.given.get(annotation.suffix, annotation.default)

    def is_given(self, annotation: Annotation[Any]) -> bool:
        return annotation.suffix in self.given

    @property
    def mode(self) -> str:
        """The health-check mode the annotations ask for (the traffic policy may change it)."""
        return str(self.given.get(HEALTHCHECK_MODE.suffix, HEALTHCHECK_MODE.default))

    # The values the decisions before the desired NLB read: which zone, which NLB, which pool.
    @property
    def zone(self) -> str | None:
        return self[ZONE]

    @property
    def load_balancer_id(self) -> str | None:
        return self[ID]

    @property
    def name(self) -> str | None:
        return self[NAME]

    @property
    def external(self) -> bool:
        return self[EXTERNAL]

    @property
    def instance_pool_id(self) -> str | None:
        return self[INSTANCE_POOL_ID]

    @property
    def sks_nodepool_name(self) -> str | None:
        return self[SKS_NODEPOOL_NAME]

    @property
    def sks_cluster_name(self) -> str | None:
        return self[SKS_CLUSTER_NAME]


# -- rules that involve several annotations ------------------------------------------------------

Rule = Callable[[LoadBalancerSettings, Mapping[str, str]], Iterator[AnnotationProblem]]


def _timeout_within_interval(
    settings: LoadBalancerSettings, raw: Mapping[str, str]
) -> Iterator[AnnotationProblem]:
    interval, timeout = settings[HEALTHCHECK_INTERVAL], settings[HEALTHCHECK_TIMEOUT]
    if timeout > interval:
        given = settings.is_given(HEALTHCHECK_TIMEOUT)
        culprit = HEALTHCHECK_TIMEOUT if given else HEALTHCHECK_INTERVAL
        yield AnnotationProblem(
            culprit.key,
            raw.get(culprit.key, ""),
            f"the health-check timeout ({timeout}s) must not exceed the interval ({interval}s)",
        )


def _only_in_their_modes(
    settings: LoadBalancerSettings, raw: Mapping[str, str]
) -> Iterator[AnnotationProblem]:
    for annotation in ANNOTATIONS:
        modes = annotation.modes
        if (
            modes is not None
            and annotation.refused_in_other_modes
            and settings.is_given(annotation)
            and settings.mode not in modes
        ):
            yield AnnotationProblem(
                annotation.key,
                raw.get(annotation.key, ""),
                f"only applies to {' and '.join(modes)} health checks, but the mode is "
                f'{settings.mode}; set {HEALTHCHECK_MODE.key}: "{modes[0]}" or remove it',
            )


def _nodepool_needs_its_cluster(
    settings: LoadBalancerSettings, raw: Mapping[str, str]
) -> Iterator[AnnotationProblem]:
    if settings.sks_nodepool_name and not settings.sks_cluster_name:
        yield AnnotationProblem(
            SKS_NODEPOOL_NAME.key,
            raw.get(SKS_NODEPOOL_NAME.key, ""),
            f"needs the SKS cluster name too: set {SKS_CLUSTER_NAME.key}",
        )


def _external_needs_a_name(
    settings: LoadBalancerSettings, raw: Mapping[str, str]
) -> Iterator[AnnotationProblem]:
    if settings.external and not (settings.load_balancer_id or settings.name):
        yield AnnotationProblem(
            EXTERNAL.key,
            raw.get(EXTERNAL.key, ""),
            f"an external NLB must be named: set {ID.key} or {NAME.key}",
        )


RULES: tuple[Rule, ...] = (
    _timeout_within_interval,
    _only_in_their_modes,
    _nodepool_needs_its_cluster,
    _external_needs_a_name,
)


def parse_annotations(
    annotations: Mapping[str, str], *, known_zones: Collection[str]
) -> tuple[LoadBalancerSettings, list[AnnotationProblem]]:
    """Read and validate every declared annotation; report all problems at once.

    A refused value reads as its default, so the settings stay usable (for a deletion).
    """
    context = Context(known_zones)
    given: dict[str, Any] = {}
    problems: list[AnnotationProblem] = []
    for annotation in ANNOTATIONS:
        value = annotations.get(annotation.key)
        if value is None or (annotation.empty_is_unset and value == ""):
            continue
        try:
            given[annotation.suffix] = annotation.value.parse(str(value), context)
        except RefusedValueError as refusal:
            problems.append(AnnotationProblem(annotation.key, str(value), str(refusal)))
    settings = LoadBalancerSettings(given)
    for rule in RULES:
        problems.extend(rule(settings, annotations))
    return settings, problems
