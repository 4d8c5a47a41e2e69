"""The ``service.beta.kubernetes.io/exoscale-loadbalancer-*`` annotations: registry and parser.

Pure: a Service's annotations in, typed settings (or every problem found) out. The registry is
also the source of the annotation reference in the docs. Values, defaults and meaning match the
Go CCM; ``zone``, ``service-healthcheck-tls-sni``, ``maglev-hash`` and ``https`` are additions.
Unlike the Go CCM, every value is checked before any call: against the API's enums, ranges and
lengths, and by the strict rules of :mod:`~exoccm.controllers.service.value_rules` (ASCII digits,
Go durations, whole UUIDs, no control characters, no blank names).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from exoccm.controllers.service import value_rules as rules
from exoccm.controllers.service.value_rules import CONTROL_CHARACTER

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"

STRATEGIES = ("round-robin", "source-hash", "maglev-hash")
HEALTHCHECK_MODES = ("tcp", "http", "https")
INTERVAL_RANGE = (5, 300)
TIMEOUT_RANGE = (2, 60)
RETRIES_RANGE = (1, 20)
PORT_RANGE = (1, 65535)
DEFAULT_INTERVAL = 10
DEFAULT_TIMEOUT = 5
DEFAULT_RETRIES = 1
MAX_TEXT_LENGTH = 255  # names, descriptions, uri and tls-sni, as in the API's spec

T = TypeVar("T")


@dataclass(frozen=True)
class AnnotationSpec:
    """One annotation, as documented in the annotation reference."""

    suffix: str
    kind: str
    default: str
    description: str
    written_back: bool = False
    exoccm_only: bool = False

    @property
    def key(self) -> str:
        return PREFIX + self.suffix


ANNOTATIONS: tuple[AnnotationSpec, ...] = (
    AnnotationSpec(
        "zone",
        "zone name",
        "the configured zone (`EXOSCALE_API_ZONE`)",
        "Exoscale zone of the NLB; its Instance Pool must be in the same zone.",
        exoccm_only=True,
    ),
    AnnotationSpec(
        "id",
        "UUID",
        "",
        "ID of the NLB. Written by exoccm after creating or finding the NLB; set it yourself to use "
        'an existing NLB (with `external: "true"` to keep exoccm from deleting it).',
        written_back=True,
    ),
    AnnotationSpec("name", "string (1-255)", "`k8s-<Service UID>`", "Name of the NLB."),
    AnnotationSpec("description", "string (0-255)", "empty", "Description of the NLB."),
    AnnotationSpec(
        "external",
        "`true` | `false`",
        "`false`",
        "The NLB is managed outside Kubernetes: exoccm never creates, renames or deletes it, and "
        "only manages the NLB services of this Service's ports. Needs `id` or `name`.",
    ),
    AnnotationSpec(
        "service-name",
        "string (1-255)",
        "`<Service UID>-<port>` (`-udp` appended for UDP)",
        "Name of the NLB service; only used when the Service has exactly one port.",
    ),
    AnnotationSpec(
        "service-description",
        "string (0-255)",
        "empty",
        "Description of the NLB service; only used when the Service has exactly one port.",
    ),
    AnnotationSpec(
        "service-instancepool-id",
        "UUID",
        "inferred from the Nodes' instances",
        "Instance Pool the NLB services forward to. Written by exoccm after inference or a node "
        "pool lookup. Changing it re-creates the NLB services (the API cannot change a pool).",
        written_back=True,
    ),
    AnnotationSpec(
        "service-sks-nodepool-name",
        "string (1-255)",
        "",
        "SKS node pool whose Instance Pool is targeted (case-insensitive); needs `sks-cluster-name`.",
    ),
    AnnotationSpec(
        "sks-cluster-name",
        "string (1-255)",
        "",
        "SKS cluster of `service-sks-nodepool-name`.",
    ),
    AnnotationSpec(
        "service-strategy",
        " | ".join(f"`{s}`" for s in STRATEGIES),
        "`round-robin`",
        "Load-balancing strategy (`maglev-hash` is an exoccm addition).",
    ),
    AnnotationSpec(
        "service-healthcheck-mode",
        " | ".join(f"`{m}`" for m in HEALTHCHECK_MODES),
        "`tcp`",
        "Health-check protocol (`https` is an exoccm addition).",
    ),
    AnnotationSpec(
        "service-healthcheck-port",
        "integer (1-65535)",
        "the port's NodePort; `healthCheckNodePort` with `externalTrafficPolicy: Local`",
        "Port the health check probes, for every port of the Service.",
    ),
    AnnotationSpec(
        "service-healthcheck-uri",
        "path (1-255)",
        "`/` in http and https modes",
        "Path requested by http and https health checks: starts with `/`, no whitespace (write a "
        "space as `%20`).",
    ),
    AnnotationSpec(
        "service-healthcheck-interval",
        "duration (5s-300s)",
        "`10s`",
        "Time between two checks: a Go duration of whole seconds (`10s`, `1m`, `1m30s`).",
    ),
    AnnotationSpec(
        "service-healthcheck-timeout",
        "duration (2s-60s, <= interval)",
        "`5s`",
        "Time a check may take: a Go duration of whole seconds (`5s`).",
    ),
    AnnotationSpec(
        "service-healthcheck-retries",
        "integer (1-20)",
        "`1`",
        "Failed checks before a backend is taken out of rotation.",
    ),
    AnnotationSpec(
        "service-healthcheck-tls-sni",
        "string (1-255)",
        "",
        "SNI server name sent by `https` health checks (no whitespace).",
        exoccm_only=True,
    ),
)
KNOWN_SUFFIXES = frozenset(spec.suffix for spec in ANNOTATIONS)


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
class HealthCheckSettings:
    mode: str = "tcp"
    port: int | None = None  # None: each port's NodePort (or healthCheckNodePort)
    mode_given: bool = False  # the mode annotation is set (else tcp, or http for Local)
    interval: int = DEFAULT_INTERVAL
    timeout: int = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    uri: str | None = None
    tls_sni: str | None = None


@dataclass(frozen=True)
class LoadBalancerSettings:
    """What the annotations ask for, validated; ``None`` means "not set"."""

    zone: str | None = None
    load_balancer_id: str | None = None
    name: str | None = None
    description: str = ""
    external: bool = False
    service_name: str | None = None
    service_description: str | None = None
    instance_pool_id: str | None = None
    sks_nodepool_name: str | None = None
    sks_cluster_name: str | None = None
    strategy: str = "round-robin"
    healthcheck: HealthCheckSettings = HealthCheckSettings()


class _Reader:
    """Reads values with their rules, collecting problems so every one is reported at once."""

    def __init__(self, annotations: Mapping[str, str]):
        self.annotations = annotations
        self.problems: list[AnnotationProblem] = []

    def raw(self, suffix: str) -> str | None:
        value = self.annotations.get(PREFIX + suffix)
        return None if value is None else str(value)

    def problem(self, suffix: str, value: str, message: str) -> None:
        self.problems.append(AnnotationProblem(PREFIX + suffix, value, message))

    def read(
        self, suffix: str, rule: Callable[[str], T], *, empty_is_unset: bool = False
    ) -> T | None:
        """The value of ``suffix`` through ``rule``; None if unset or refused (then a problem)."""
        value = self.raw(suffix)
        if value is None or (empty_is_unset and value == ""):
            return None
        try:
            return rule(value)
        except rules.RefusedValueError as refusal:
            self.problem(suffix, value, str(refusal))
            return None


def _between(rule: Callable[..., T], bounds: tuple[int, int]) -> Callable[[str], T]:
    return partial(rule, low=bounds[0], high=bounds[1])


def _healthcheck(reader: _Reader) -> HealthCheckSettings:
    modes = partial(rules.choice, allowed=HEALTHCHECK_MODES)
    given = reader.read("service-healthcheck-mode", modes)
    mode = given or "tcp"
    port = reader.read("service-healthcheck-port", _between(rules.integer, PORT_RANGE))
    interval = reader.read(
        "service-healthcheck-interval", _between(rules.whole_seconds, INTERVAL_RANGE)
    )
    timeout = reader.read(
        "service-healthcheck-timeout", _between(rules.whole_seconds, TIMEOUT_RANGE)
    )
    retries = reader.read("service-healthcheck-retries", _between(rules.integer, RETRIES_RANGE))
    uri = reader.read(
        "service-healthcheck-uri", partial(rules.http_path, max_length=MAX_TEXT_LENGTH)
    )
    tls_sni = reader.read(
        "service-healthcheck-tls-sni", partial(rules.server_name, max_length=MAX_TEXT_LENGTH)
    )
    effective_interval = interval if interval is not None else DEFAULT_INTERVAL
    effective_timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
    if effective_timeout > effective_interval:
        culprit = (
            "service-healthcheck-timeout" if timeout is not None else "service-healthcheck-interval"
        )
        shown = reader.raw(culprit) or ""
        reader.problem(
            culprit,
            shown,
            f"the health-check timeout ({effective_timeout}s) must not exceed the interval "
            f"({effective_interval}s)",
        )
    if tls_sni is not None and mode != "https":
        reader.problem(
            "service-healthcheck-tls-sni",
            tls_sni,
            f"only applies to https health checks, but the mode is {mode}; "
            f'set {PREFIX}service-healthcheck-mode: "https" or remove it',
        )
    if mode in ("http", "https") and uri is None:
        uri = "/"
    return HealthCheckSettings(
        mode=mode,
        port=port,
        mode_given=given is not None,
        interval=effective_interval,
        timeout=effective_timeout,
        retries=retries if retries is not None else DEFAULT_RETRIES,
        uri=uri if mode in ("http", "https") else None,
        tls_sni=tls_sni if mode == "https" else None,
    )


def parse_annotations(
    annotations: Mapping[str, str], *, known_zones: Collection[str]
) -> tuple[LoadBalancerSettings, list[AnnotationProblem]]:
    """Read and validate every exoscale-loadbalancer annotation; report all problems at once."""
    reader = _Reader(annotations)
    zone = reader.raw("zone")
    if zone is not None and zone not in known_zones:
        reader.problem(
            "zone", zone, f"unknown zone; must be one of {', '.join(sorted(known_zones))}"
        )
        zone = None
    name = partial(rules.name, max_length=MAX_TEXT_LENGTH)
    text = partial(rules.text, max_length=MAX_TEXT_LENGTH)
    external = reader.read("external", rules.boolean, empty_is_unset=True) or False
    settings = LoadBalancerSettings(
        zone=zone or None,
        load_balancer_id=reader.read("id", rules.uuid, empty_is_unset=True),
        name=reader.read("name", name),
        description=reader.read("description", text) or "",
        external=external,
        service_name=reader.read("service-name", name),
        service_description=reader.read("service-description", text),
        instance_pool_id=reader.read("service-instancepool-id", rules.uuid, empty_is_unset=True),
        sks_nodepool_name=reader.read("service-sks-nodepool-name", name),
        sks_cluster_name=reader.read("sks-cluster-name", name),
        strategy=reader.read("service-strategy", partial(rules.choice, allowed=STRATEGIES))
        or "round-robin",
        healthcheck=_healthcheck(reader),
    )
    if settings.sks_nodepool_name and not settings.sks_cluster_name:
        reader.problem(
            "service-sks-nodepool-name",
            settings.sks_nodepool_name,
            f"needs the SKS cluster name too: set {PREFIX}sks-cluster-name",
        )
    if external and not (settings.load_balancer_id or settings.name):
        reader.problem(
            "external",
            reader.raw("external") or "",
            f"an external NLB must be named: set {PREFIX}id or {PREFIX}name",
        )
    return settings, reader.problems
