"""Typed views of the Exoscale API objects exoccm reads and writes.

Field names are snake_case; on the wire they are kebab-case (``target-port``). Models ignore
fields they do not know (the API grows), are frozen, and require only what exoccm relies on:
an ID and a name where a controller matches on them, an operation's ``id`` and ``state``. Enum-like
strings stay plain ``str`` so a new value from the API (a new instance family, say) does not break
a whole list; the operation state is the exception, because waiting depends on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from exoccm.exoscale.shared import shared_model, shared_text


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class ApiModel(BaseModel):
    """Base: kebab-case aliases, unknown fields ignored, instances immutable."""

    model_config = ConfigDict(
        alias_generator=_kebab,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        frozen=True,
    )

    def to_api(self) -> dict[str, object]:
        """The JSON body for this object: kebab-case keys, unset (``None``) fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Ref(ApiModel):
    """A reference to another resource by ID (instance pool, instance type, template, ...)."""

    id: str


OperationState = Literal["failure", "pending", "success", "timeout"]


class OperationReference(ApiModel):
    """The resource an operation acts on; for NLB operations ``id`` is the NLB's ID."""

    id: str | None = None
    link: str | None = None
    command: str | None = None


class Operation(ApiModel):
    """An asynchronous API operation, returned by every NLB mutation."""

    id: str
    state: OperationState
    reason: str | None = None
    message: str | None = None
    reference: OperationReference | None = None

    @property
    def done(self) -> bool:
        """Whether the operation reached a final state."""
        return self.state != "pending"


# Ranges the API enforces on requests (spec); checked before sending so a bug fails loudly here.
Port = Annotated[int, Field(ge=1, le=65535)]


class Healthcheck(ApiModel):
    """An NLB service health check. All fields optional, as in the API; ``None`` means unset."""

    mode: str | None = None
    port: int | None = None
    interval: int | None = None
    timeout: int | None = None
    retries: int | None = None
    uri: str | None = None
    tls_sni: str | None = None


class HealthcheckStatus(ApiModel):
    """One backend's health as the NLB sees it."""

    public_ip: str | None = None
    status: str | None = None


class LoadBalancerService(ApiModel):
    """One listener of an NLB: ``port`` on the NLB forwards to ``target_port`` on a pool."""

    id: str
    name: str
    description: str | None = None
    protocol: str
    strategy: str | None = None
    port: int
    target_port: int
    instance_pool: Ref | None = None
    healthcheck: Healthcheck | None = None
    #: Empty in what the client returns: it drops this per-pool-member list before decoding
    #: (see :func:`exoccm.exoscale.responses.drop_healthcheck_status`).
    healthcheck_status: tuple[HealthcheckStatus, ...] = ()
    state: str | None = None

    # A zone's listing holds an NLB service per Service port, most on the same pool.
    _share_references = field_validator("instance_pool")(shared_model)
    _share_texts = field_validator("protocol", "strategy", "state")(shared_text)

    @property
    def instance_pool_id(self) -> str | None:
        """The targeted Instance Pool's ID."""
        return self.instance_pool.id if self.instance_pool else None


class LoadBalancer(ApiModel):
    """A Network Load Balancer and its services."""

    id: str
    name: str
    description: str | None = None
    state: str | None = None
    created_at: datetime | None = None
    ip: str | None = None
    services: tuple[LoadBalancerService, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)

    def service_named(self, name: str) -> LoadBalancerService | None:
        """The service called ``name``, if any (names are how a new service is found)."""
        return next((svc for svc in self.services if svc.name == name), None)

    def service_by_id(self, service_id: str) -> LoadBalancerService | None:
        """The service with ID ``service_id``, if any."""
        return next((svc for svc in self.services if svc.id == service_id), None)


class LoadBalancerServiceSpec(ApiModel):
    """What to send to add (or update) an NLB service; validated against the API's ranges.

    For an update, ``instance_pool_id`` must be ``None``: a service's pool cannot change.
    """

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    instance_pool_id: str | None = None
    protocol: Literal["tcp", "udp"]
    strategy: Literal["maglev-hash", "round-robin", "source-hash"]
    port: Port
    target_port: Port
    healthcheck: Healthcheck

    @field_validator("healthcheck")
    @classmethod
    def _healthcheck_in_api_ranges(cls, check: Healthcheck) -> Healthcheck:
        problems = []
        if check.mode not in (None, "tcp", "http", "https"):
            problems.append(f"mode {check.mode!r} is not tcp, http or https")
        for name, low, high in (
            ("port", 1, 65535),
            ("interval", 5, 300),
            ("timeout", 2, 60),
            ("retries", 1, 20),
        ):
            value = getattr(check, name)
            if value is not None and not low <= value <= high:
                problems.append(f"{name} {value} is outside {low}..{high}")
        if (
            check.interval is not None
            and check.timeout is not None
            and check.timeout > check.interval
        ):
            problems.append(f"timeout {check.timeout} exceeds interval {check.interval}")
        if problems:
            raise ValueError("; ".join(problems))
        return check

    def to_api(self) -> dict[str, object]:
        body = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"instance_pool_id"}
        )
        if self.instance_pool_id is not None:
            body["instance-pool"] = {"id": self.instance_pool_id}
        return body


class Manager(ApiModel):
    """What manages an instance: an Instance Pool or an SKS nodepool."""

    id: str
    type: str


class PrivateNetworkAttachment(ApiModel):
    """An instance's attachment to a private network (no IP: the API does not report it)."""

    id: str
    mac_address: str | None = None


class Instance(ApiModel):
    """A compute instance (the full object, or the subset list-instances returns)."""

    id: str
    name: str
    state: str | None = None
    public_ip: str | None = None
    ipv6_address: str | None = None
    public_ip_assignment: str | None = None
    private_networks: tuple[PrivateNetworkAttachment, ...] = ()
    manager: Manager | None = None
    instance_type: Ref | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None

    # A zone's listing holds thousands of instances naming the same few pools and types.
    _share_references = field_validator("manager", "instance_type")(shared_model)
    _share_texts = field_validator("state", "public_ip_assignment")(shared_text)

    @property
    def instance_pool_id(self) -> str | None:
        """The managing Instance Pool's ID, if an Instance Pool manages this instance."""
        if self.manager is not None and self.manager.type == "instance-pool":
            return self.manager.id
        return None


class InstancePool(ApiModel):
    """An Instance Pool: the target of NLB services."""

    id: str
    name: str
    description: str | None = None
    state: str | None = None
    size: int | None = None
    instances: tuple[Ref, ...] = ()
    manager: Manager | None = None
    instance_type: Ref | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class InstanceType(ApiModel):
    """A compute instance type; Kubernetes sees it as ``<family>.<size>``."""

    id: str
    family: str
    size: str
    cpus: int | None = None
    gpus: int | None = None
    memory: int | None = None
    authorized: bool | None = None
    zones: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``<family>.<size>``, e.g. ``standard.medium``."""
        return f"{self.family}.{self.size}"


class Zone(ApiModel):
    """An Exoscale zone and its API endpoint."""

    name: str
    api_endpoint: str | None = None
    sos_endpoint: str | None = None


class SksNodepool(ApiModel):
    """An SKS nodepool; NLB services target its ``instance_pool``."""

    id: str
    name: str
    description: str | None = None
    state: str | None = None
    size: int | None = None
    instance_pool: Ref | None = None
    instance_type: Ref | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class SksCluster(ApiModel):
    """An SKS cluster and its nodepools."""

    id: str
    name: str
    description: str | None = None
    state: str | None = None
    version: str | None = None
    nodepools: tuple[SksNodepool, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)

    def nodepool_named(self, name: str) -> SksNodepool | None:
        """The nodepool called ``name``, compared case-insensitively as the Go CCM does."""
        wanted = name.casefold()
        return next((pool for pool in self.nodepools if pool.name.casefold() == wanted), None)


# The list endpoints wrap their arrays in an object under one key. A missing key is treated as
# malformed rather than as "none": mistaking a broken answer for an empty zone could make a
# controller create duplicates.
class LoadBalancerList(ApiModel):
    load_balancers: tuple[LoadBalancer, ...]


class InstanceList(ApiModel):
    instances: tuple[Instance, ...]


class InstancePoolList(ApiModel):
    instance_pools: tuple[InstancePool, ...]


class InstanceTypeList(ApiModel):
    instance_types: tuple[InstanceType, ...]


class ZoneList(ApiModel):
    zones: tuple[Zone, ...]


class SksClusterList(ApiModel):
    sks_clusters: tuple[SksCluster, ...]
