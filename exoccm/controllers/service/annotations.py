"""The ``service.beta.kubernetes.io/exoscale-loadbalancer-*`` annotations: registry and parser.

Pure: a Service's annotations in, typed settings (or every problem found) out. The registry is
also the source of the annotation reference in the docs. Values, defaults and meaning match the
Go CCM; ``zone``, ``service-healthcheck-tls-sni``, ``maglev-hash`` and ``https`` are additions.
Unlike the Go CCM, every value is checked against the API's enums and ranges before any call.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from exoccm.config.durations import format_go_duration as format_duration
from exoccm.config.durations import parse_go_duration as parse_duration

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
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


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
        "string",
        "",
        "SKS node pool whose Instance Pool is targeted (case-insensitive); needs `sks-cluster-name`.",
    ),
    AnnotationSpec(
        "sks-cluster-name",
        "string",
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
        "Path requested by http and https health checks.",
    ),
    AnnotationSpec(
        "service-healthcheck-interval",
        "duration (5s-300s)",
        "`10s`",
        "Time between two checks: a Go duration (`10s`, `1m`) or whole seconds (`10`).",
    ),
    AnnotationSpec(
        "service-healthcheck-timeout",
        "duration (2s-60s, <= interval)",
        "`5s`",
        "Time a check may take: a Go duration or whole seconds.",
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
        "SNI server name sent by `https` health checks.",
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
        return f'annotation {self.key}="{self.value}": {self.message}'


@dataclass(frozen=True)
class HealthCheckSettings:
    mode: str = "tcp"
    port: int | None = None  # None: each port's NodePort (or healthCheckNodePort)
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
    """Collects problems while reading values, so every problem is reported at once."""

    def __init__(self, annotations: Mapping[str, str]):
        self.annotations = annotations
        self.problems: list[AnnotationProblem] = []

    def raw(self, suffix: str) -> str | None:
        value = self.annotations.get(PREFIX + suffix)
        return None if value is None else str(value)

    def problem(self, suffix: str, value: str, message: str) -> None:
        self.problems.append(AnnotationProblem(PREFIX + suffix, value, message))

    def text(self, suffix: str, min_length: int = 0, max_length: int = 255) -> str | None:
        value = self.raw(suffix)
        if value is None:
            return None
        if not min_length <= len(value) <= max_length:
            self.problem(suffix, value, f"must be {min_length} to {max_length} characters long")
            return None
        return value

    def choice(self, suffix: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.raw(suffix)
        if value is None:
            return default
        if value not in allowed:
            self.problem(suffix, value, f"must be one of {', '.join(allowed)}")
            return default
        return value

    def integer(self, suffix: str, bounds: tuple[int, int]) -> int | None:
        value = self.raw(suffix)
        if value is None:
            return None
        try:
            number = int(value.strip())
        except ValueError:
            self.problem(suffix, value, f"must be an integer from {bounds[0]} to {bounds[1]}")
            return None
        if not bounds[0] <= number <= bounds[1]:
            self.problem(suffix, value, f"must be from {bounds[0]} to {bounds[1]}")
            return None
        return number

    def seconds(self, suffix: str, bounds: tuple[int, int]) -> int | None:
        value = self.raw(suffix)
        if value is None:
            return None
        allowed = f"{format_duration(bounds[0])} to {format_duration(bounds[1])}"
        try:
            seconds = parse_duration(value)
        except ValueError:
            self.problem(
                suffix, value, f"must be a duration such as 10s or 1m, or whole seconds ({allowed})"
            )
            return None
        if seconds != int(seconds):
            self.problem(suffix, value, f"must be a whole number of seconds ({allowed})")
            return None
        if not bounds[0] <= seconds <= bounds[1]:
            self.problem(suffix, value, f"must be from {allowed}")
            return None
        return int(seconds)

    def uuid(self, suffix: str) -> str | None:
        value = self.raw(suffix)
        if value is None or value == "":
            return None
        if not _UUID.match(value):
            self.problem(
                suffix, value, "must be a UUID such as 5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
            )
            return None
        return value.lower()

    def boolean(self, suffix: str) -> bool:
        value = self.raw(suffix)
        if value is None or value == "":
            return False
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            self.problem(suffix, value, 'must be "true" or "false"')
            return False
        return lowered == "true"


def _healthcheck(reader: _Reader) -> HealthCheckSettings:
    mode = reader.choice("service-healthcheck-mode", HEALTHCHECK_MODES, "tcp")
    port = reader.integer("service-healthcheck-port", PORT_RANGE)
    interval = reader.seconds("service-healthcheck-interval", INTERVAL_RANGE)
    timeout = reader.seconds("service-healthcheck-timeout", TIMEOUT_RANGE)
    retries = reader.integer("service-healthcheck-retries", RETRIES_RANGE)
    uri = reader.text("service-healthcheck-uri", min_length=1)
    tls_sni = reader.text("service-healthcheck-tls-sni", min_length=1)
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
    if uri is not None and not uri.startswith("/"):
        reader.problem("service-healthcheck-uri", uri, 'must be a path starting with "/"')
        uri = None
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
    external = reader.boolean("external")
    settings = LoadBalancerSettings(
        zone=zone or None,
        load_balancer_id=reader.uuid("id"),
        name=reader.text("name", min_length=1),
        description=reader.text("description") or "",
        external=external,
        service_name=reader.text("service-name", min_length=1),
        service_description=reader.text("service-description"),
        instance_pool_id=reader.uuid("service-instancepool-id"),
        sks_nodepool_name=reader.text("service-sks-nodepool-name", min_length=1),
        sks_cluster_name=reader.text("sks-cluster-name", min_length=1),
        strategy=reader.choice("service-strategy", STRATEGIES, "round-robin"),
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
