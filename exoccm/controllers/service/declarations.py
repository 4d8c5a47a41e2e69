"""Every ``service.beta.kubernetes.io/exoscale-loadbalancer-*`` annotation, declared once.

A declaration says everything exoccm knows about one annotation: its key, how its value is read
(a :mod:`.value_kinds` kind: the strict rules of :mod:`.value_rules` with their bounds), its
default, what it feeds (a field of the desired NLB, of its NLB services or of their health
check, or the decisions that find the NLB and pick its Instance Pool), how it compares with the
Go CCM's, and the text of the annotation reference. From :data:`ANNOTATIONS` come:

* the parser (:func:`.annotations.parse_annotations`) and the settings it returns;
* the health check of the desired NLB (:mod:`.desired`) and its comparison with the API's
  (:mod:`.diff`): every declaration that feeds a health-check field, field by field;
* the warnings for annotations a Service with several ports ignores;
* the annotation table of docs/annotations.md (:mod:`exoccm.docs_reference`);
* the fuzz tests, which generate values for every declared kind.

Names, values, defaults and meaning match the Go CCM's; where they differ, ``go_ccm`` says how.
The Go CCM passes values to the API unchecked, so values it does not document but the API takes
(``https`` health checks, the ``maglev-hash`` strategy) work there too; only ``zone`` and
``service-healthcheck-tls-sni`` are exoccm's own annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from exoccm.controllers.service.value_kinds import (
    Boolean,
    Choice,
    HttpPath,
    Integer,
    Name,
    Seconds,
    ServerName,
    Text,
    Uuid,
    ValueKind,
    Zone,
)

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"
MAX_TEXT_LENGTH = 255  # names, descriptions, uri and tls-sni, as in the API's spec
HEALTHCHECK_MODES = ("tcp", "http", "https")
HTTP_MODES = ("http", "https")

T = TypeVar("T")


@dataclass(frozen=True)
class GoCcm:
    """How exoccm's reading of an annotation compares with the Go CCM's."""

    understood: bool = True  # False: the Go CCM has no such annotation
    note: str = ""  # what differs, as a sentence of the reference


SAME_AS_GO_CCM = GoCcm()
EXOCCM_ONLY = GoCcm(understood=False)


def unlike_the_go_ccm(note: str) -> GoCcm:
    """The Go CCM reads the annotation, but not quite as exoccm does: ``note`` says how."""
    return GoCcm(note=note)


def exoccm_only(note: str) -> GoCcm:
    """The Go CCM has no such annotation; ``note`` says what it does instead."""
    return GoCcm(understood=False, note=note)


Part = Literal["nlb", "service", "healthcheck", "lookup", "pool"]


@dataclass(frozen=True)
class Feeds:
    """Where a value goes: ``field`` of the desired NLB (``nlb``), of each of its NLB services
    (``service``) or of their health check (``healthcheck``, a field of the API's
    :class:`~exoccm.exoscale.models.Healthcheck`); or a decision made before the desired NLB:
    which existing NLB is the Service's (``lookup``), which Instance Pool its NLB services
    target (``pool``, which sets ``instance_pool_id`` of each NLB service)."""

    part: Part
    field: str = ""


def nlb(field: str) -> Feeds:
    return Feeds("nlb", field)


def service(field: str) -> Feeds:
    return Feeds("service", field)


def healthcheck(field: str) -> Feeds:
    return Feeds("healthcheck", field)


FINDS_THE_NLB = Feeds("lookup")
PICKS_THE_POOL = Feeds("pool", "instance_pool_id")


@dataclass(frozen=True, kw_only=True)
class Annotation(Generic[T]):
    """One annotation; unset, it reads as ``default`` (``None``: nothing, the code decides)."""

    suffix: str  # the key after PREFIX
    value: ValueKind[T]
    feeds: Feeds
    go_ccm: GoCcm
    description: str  # for the reference
    default: T | None = None
    default_text: str = ""  # the default in words, when no constant says it
    type_note: str = ""  # a bound that involves another annotation, for the reference
    # Health-check modes the value applies to; in other modes it is ignored, or refused.
    modes: tuple[str, ...] | None = None
    refused_in_other_modes: bool = False
    empty_is_unset: bool = False  # "" reads as unset (IDs, as the Go CCM writes them, and flags)
    single_port: bool = False  # only read for a Service with exactly one port
    written_back: bool = False  # exoccm writes it onto the Service

    @property
    def key(self) -> str:
        return PREFIX + self.suffix

    def applies_in(self, mode: str) -> bool:
        return self.modes is None or mode in self.modes

    @property
    def shown_type(self) -> str:
        shown = self.value.shown_type
        if not self.type_note:
            return shown
        return f"{shown[:-1]}, {self.type_note})" if shown.endswith(")") else shown

    @property
    def shown_default(self) -> str:
        """The default for the reference; empty when there is none."""
        if self.default_text or self.default is None:
            return self.default_text
        if self.default == "":
            return "empty"
        shown = f"`{self.value.show(self.default)}`"
        return f"{shown} in {' and '.join(self.modes)} modes" if self.modes else shown


@dataclass(frozen=True, kw_only=True)
class Defaulted(Annotation[T]):
    """An annotation that always has a value: ``default`` when unset."""

    default: T

    def __post_init__(self) -> None:
        if self.modes is not None:
            raise ValueError(f"{self.suffix}: a value bound to modes is unset in the others")


ZONE = Annotation(
    suffix="zone",
    value=Zone(),
    feeds=nlb("zone"),
    go_ccm=EXOCCM_ONLY,
    default_text="the configured zone (`EXOSCALE_API_ZONE`)",
    description="Exoscale zone of the NLB; its Instance Pool must be in the same zone.",
)
ID = Annotation(
    suffix="id",
    value=Uuid(),
    feeds=FINDS_THE_NLB,
    go_ccm=SAME_AS_GO_CCM,
    empty_is_unset=True,
    written_back=True,
    description="ID of the NLB. Written by exoccm after creating or finding the NLB; set it "
    'yourself to use an existing NLB (with `external: "true"` to keep exoccm from deleting it).',
)
NAME = Annotation(
    suffix="name",
    value=Name(MAX_TEXT_LENGTH),
    feeds=nlb("name"),
    go_ccm=SAME_AS_GO_CCM,
    default_text="`k8s-<Service UID>`",
    description="Name of the NLB.",
)
DESCRIPTION = Defaulted(
    suffix="description",
    value=Text(MAX_TEXT_LENGTH),
    feeds=nlb("description"),
    go_ccm=unlike_the_go_ccm("The Go CCM never applied a changed description to an existing NLB."),
    default="",
    description="Description of the NLB.",
)
EXTERNAL = Defaulted(
    suffix="external",
    value=Boolean(),
    feeds=nlb("external"),
    go_ccm=SAME_AS_GO_CCM,
    default=False,
    empty_is_unset=True,
    description="The NLB is managed outside Kubernetes: exoccm never creates, renames or deletes "
    "it, and only manages the NLB services of this Service's ports. Needs `id` or `name`.",
)
SERVICE_NAME = Annotation(
    suffix="service-name",
    value=Name(MAX_TEXT_LENGTH),
    feeds=service("name"),
    go_ccm=SAME_AS_GO_CCM,
    single_port=True,
    default_text="`<Service UID>-<port>` (`-udp` appended for UDP)",
    description="Name of the NLB service; only used when the Service has exactly one port.",
)
SERVICE_DESCRIPTION = Defaulted(
    suffix="service-description",
    value=Text(MAX_TEXT_LENGTH),
    feeds=service("description"),
    go_ccm=SAME_AS_GO_CCM,
    single_port=True,
    default="",
    description="Description of the NLB service; only used when the Service has exactly one port.",
)
INSTANCE_POOL_ID = Annotation(
    suffix="service-instancepool-id",
    value=Uuid(),
    feeds=PICKS_THE_POOL,
    go_ccm=SAME_AS_GO_CCM,
    empty_is_unset=True,
    written_back=True,
    default_text="inferred from the Nodes' instances",
    description="Instance Pool the NLB services forward to. Written by exoccm after inference or "
    "a node pool lookup. Changing it re-creates the NLB services (the API cannot change a pool).",
)
SKS_NODEPOOL_NAME = Annotation(
    suffix="service-sks-nodepool-name",
    value=Name(MAX_TEXT_LENGTH),
    feeds=PICKS_THE_POOL,
    go_ccm=SAME_AS_GO_CCM,
    description="SKS node pool whose Instance Pool is targeted (case-insensitive); needs "
    "`sks-cluster-name`.",
)
SKS_CLUSTER_NAME = Annotation(
    suffix="sks-cluster-name",
    value=Name(MAX_TEXT_LENGTH),
    feeds=PICKS_THE_POOL,
    go_ccm=SAME_AS_GO_CCM,
    description="SKS cluster of `service-sks-nodepool-name`.",
)
STRATEGY = Defaulted(
    suffix="service-strategy",
    value=Choice(("round-robin", "source-hash", "maglev-hash")),
    feeds=service("strategy"),
    go_ccm=unlike_the_go_ccm(
        "The Go CCM documents `round-robin` and `source-hash`, and passes any value to the API "
        "unchecked, so `maglev-hash` works there too."
    ),
    default="round-robin",
    description="Load-balancing strategy.",
)
HEALTHCHECK_MODE = Defaulted(
    suffix="service-healthcheck-mode",
    value=Choice(HEALTHCHECK_MODES),
    feeds=healthcheck("mode"),
    go_ccm=unlike_the_go_ccm(
        "The Go CCM documents `tcp` and `http`, and passes any value to the API unchecked, so "
        "`https` works there too (with no server name: `service-healthcheck-tls-sni` is "
        "exoccm's own). It checks Services with `externalTrafficPolicy: Local` over tcp."
    ),
    default="tcp",
    default_text="`tcp`; `http` with `externalTrafficPolicy: Local` and no "
    "`service-healthcheck-port`",
    description="Health-check protocol.",
)
HEALTHCHECK_PORT = Annotation(
    suffix="service-healthcheck-port",
    value=Integer(1, 65535),
    feeds=healthcheck("port"),
    go_ccm=SAME_AS_GO_CCM,
    default_text="the port's NodePort; `healthCheckNodePort` with `externalTrafficPolicy: Local`",
    description="Port the health check probes, for every port of the Service.",
)
HEALTHCHECK_URI = Annotation(
    suffix="service-healthcheck-uri",
    value=HttpPath(MAX_TEXT_LENGTH),
    feeds=healthcheck("uri"),
    go_ccm=unlike_the_go_ccm("The Go CCM sent an empty path when an http check had no URI."),
    default="/",
    modes=HTTP_MODES,
    description="Path requested by http and https health checks: starts with `/`, no whitespace "
    "(write a space as `%20`).",
)
HEALTHCHECK_INTERVAL = Defaulted(
    suffix="service-healthcheck-interval",
    value=Seconds(5, 300),
    feeds=healthcheck("interval"),
    go_ccm=SAME_AS_GO_CCM,
    default=10,
    description="Time between two checks: a Go duration of whole seconds (`10s`, `1m`, `1m30s`).",
)
HEALTHCHECK_TIMEOUT = Defaulted(
    suffix="service-healthcheck-timeout",
    value=Seconds(2, 60),
    feeds=healthcheck("timeout"),
    go_ccm=SAME_AS_GO_CCM,
    default=5,
    type_note="<= interval",
    description="Time a check may take: a Go duration of whole seconds (`5s`).",
)
HEALTHCHECK_RETRIES = Defaulted(
    suffix="service-healthcheck-retries",
    value=Integer(1, 20),
    feeds=healthcheck("retries"),
    go_ccm=SAME_AS_GO_CCM,
    default=1,
    description="Failed checks before a backend is taken out of rotation.",
)
HEALTHCHECK_TLS_SNI = Annotation(
    suffix="service-healthcheck-tls-sni",
    value=ServerName(MAX_TEXT_LENGTH),
    feeds=healthcheck("tls_sni"),
    go_ccm=exoccm_only("The Go CCM's `https` checks send no server name."),
    modes=("https",),
    refused_in_other_modes=True,
    description="SNI server name sent by `https` health checks (no whitespace).",
)

# In the order of the reference.
ANNOTATIONS: tuple[Annotation[Any], ...] = (
    ZONE,
    ID,
    NAME,
    DESCRIPTION,
    EXTERNAL,
    SERVICE_NAME,
    SERVICE_DESCRIPTION,
    INSTANCE_POOL_ID,
    SKS_NODEPOOL_NAME,
    SKS_CLUSTER_NAME,
    STRATEGY,
    HEALTHCHECK_MODE,
    HEALTHCHECK_PORT,
    HEALTHCHECK_URI,
    HEALTHCHECK_INTERVAL,
    HEALTHCHECK_TIMEOUT,
    HEALTHCHECK_RETRIES,
    HEALTHCHECK_TLS_SNI,
)
HEALTH_CHECK = tuple(a for a in ANNOTATIONS if a.feeds.part == "healthcheck")
