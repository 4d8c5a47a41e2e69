"""exoccm's settings: the Go CCM's ``EXOSCALE_*`` variables plus ``EXOCCM_*`` for its own.

Every field carries its environment variable name(s), a description and a kind, so the
configuration reference is generated from this class (:mod:`exoccm.config.reference`). The
environment, the cloud-config file and the Pod's namespace are pydantic-settings sources, in
that order of precedence (:mod:`exoccm.config.sources`). Load with
:meth:`Settings.from_environment`, which reports every problem at once
(:mod:`exoccm.config.loading`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationInfo, field_serializer, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from exoccm.config.cloudconfig import InstancesConfig, LoadBalancerConfig
from exoccm.config.loading import DEFER_CROSS_FIELD_RULES, validated
from exoccm.config.rules import cross_field_problems
from exoccm.config.sources import IN_CLUSTER_NAMESPACE_FILE, settings_sources
from exoccm.config.startup_warnings import startup_warnings
from exoccm.config.types import (
    CLOUD_CONFIG_SWITCHES,
    CONTROLLERS,
    DEFAULT_CONTROLLERS,
    SKS_AGENT_RUNNERS,
    ApiKey,
    ApiSecret,
    ControllerList,
    Duration,
    EndpointUrl,
    EnvironmentName,
    IpAddress,
    LabelValue,
    LeaseName,
    LogFormat,
    LogLevel,
    NamespaceList,
    NamespaceName,
    RunnerList,
    ZoneName,
    controller_name,
    setting,
)
from exoccm.exoscale.credentials import mask_key


class Settings(BaseSettings):
    """Everything exoccm can be configured with. Immutable; secrets are masked in every repr."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        case_sensitive=True,
        validate_by_name=True,
        validate_by_alias=True,
        env_ignore_empty=True,
        # A ValidationError's text would otherwise show every input, secrets included.
        hide_input_in_errors=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments, then the process environment, the cloud-config file and the Pod's
        # namespace (exoccm.config.sources); from_environment uses the same sources.
        flag = None
        if isinstance(init_settings, InitSettingsSource):
            flag = init_settings.init_kwargs.get("cloud_config")
        return (
            init_settings,
            *settings_sources(settings_cls, os.environ, Path(flag) if flag else None),
        )

    # -- Exoscale API access (the Go CCM's variables) --------------------------------------------
    api_key: ApiKey | None = setting(
        None,
        env="EXOSCALE_API_KEY",
        cloud_config="global.apiKey",
        kind="string",
        secret=True,
        description="Exoscale API key (EXO...). Together with EXOSCALE_API_SECRET it takes "
        "precedence over a credentials file.",
    )
    api_secret: ApiSecret | None = setting(
        None,
        env="EXOSCALE_API_SECRET",
        cloud_config="global.apiSecret",
        kind="secret string",
        secret=True,
        description="Exoscale API secret of EXOSCALE_API_KEY. Never logged.",
    )
    api_credentials_file: Path | None = setting(
        None,
        env="EXOSCALE_API_CREDENTIALS_FILE",
        cloud_config="global.apiCredentialsFile",
        kind="path",
        description='JSON file {"api_key": ..., "api_secret": ..., "name": ...}, used when '
        "EXOSCALE_API_KEY/EXOSCALE_API_SECRET are not both set. Watched: a rotated Secret "
        "takes effect without a restart.",
    )
    api_endpoint: EndpointUrl | None = setting(
        None,
        env="EXOSCALE_API_ENDPOINT",
        cloud_config="global.apiEndpoint",
        kind="URL",
        description="API base URL including /v2. A {zone} placeholder makes it serve every zone "
        "(e.g. http://127.0.0.1:8080/{zone}/v2); without one it serves the configured zone only. "
        "Overrides EXOSCALE_API_ENVIRONMENT.",
    )
    api_environment: EnvironmentName = setting(
        "api",
        env="EXOSCALE_API_ENVIRONMENT",
        kind="string",
        description="API environment: the endpoint is https://<environment>-<zone>.exoscale.com/v2 "
        "(ppapi for pre-production).",
    )
    zone: ZoneName | None = setting(
        None,
        env=("EXOSCALE_API_ZONE", "EXOSCALE_ZONE"),
        kind="zone name",
        default_text="required",
        description="Zone of the cluster's instances and load balancers, e.g. ch-gva-2. "
        "EXOSCALE_ZONE is the legacy name.",
    )
    sks_agent_runners: RunnerList = setting(
        (),
        env="EXOSCALE_SKS_AGENT_RUNNERS",
        kind="comma list",
        description="Extra SKS agent tasks, as in the Go CCM: "
        + "; ".join(
            f"{runner} turns the {name} controller on (same as adding {name} to EXOCCM_CONTROLLERS)"
            for runner, name in SKS_AGENT_RUNNERS.items()
        )
        + ".",
    )

    # -- exoccm ----------------------------------------------------------------------------------
    cluster_id: LabelValue | None = setting(
        None,
        env="EXOCCM_CLUSTER_ID",
        kind="string",
        description="Identifies this cluster in the ownership labels of the NLBs it creates; "
        "set it when several clusters share a zone and an organization.",
    )
    service_workers: int = setting(
        10,
        env="EXOCCM_SERVICE_WORKERS",
        kind="integer",
        ge=1,
        le=1000,
        description="Services reconciled in parallel (never two workers on one Service).",
    )
    node_workers: int = setting(
        4,
        env="EXOCCM_NODE_WORKERS",
        kind="integer",
        ge=1,
        le=1000,
        description="Nodes initialized in parallel.",
    )
    resync_period: Duration = setting(
        600.0,
        env="EXOCCM_RESYNC_PERIOD",
        kind="duration",
        description="How often every cached object is queued again (from the cache, no API call).",
    )
    drift_period: Duration = setting(
        60.0,
        env="EXOCCM_DRIFT_PERIOD",
        kind="duration",
        description="How often NLBs are compared with their Services and hand edits repaired.",
    )
    existing_nlb_namespaces: NamespaceList = setting(
        ("*",),
        env="EXOCCM_EXISTING_NLB_NAMESPACES",
        kind="comma list",
        description="Namespaces whose Services may use NLBs exoccm did not create for them: an "
        'id annotation naming an existing NLB (adopted) or external: "true" (shared). * '
        "(the default, as the Go CCM) allows every namespace; list the trusted ones in a "
        "cluster shared by several tenants. A Service's own NLB is always its to manage.",
    )
    orphan_delete_limit: int = setting(
        10,
        env="EXOCCM_ORPHAN_DELETE_LIMIT",
        kind="integer",
        ge=1,
        le=1000,
        description="NLBs the orphan collector deletes per drift pass at most.",
    )
    orphan_max_share: float = setting(
        0.5,
        env="EXOCCM_ORPHAN_MAX_SHARE",
        kind="number",
        gt=0,
        le=1,
        description="A drift pass that would delete more than this share of exoccm's NLBs "
        "(and at least 2) deletes none: it logs them, records a Warning Event on the leader "
        "Lease and sets exoccm_orphan_collection_blocked.",
    )
    node_refresh_period: Duration = setting(
        300.0,
        env="EXOCCM_NODE_REFRESH_PERIOD",
        kind="duration",
        description="How often Node addresses and instance states (shutdown, deleted) are refreshed.",
    )
    node_monitor_period: Duration = setting(
        5.0,
        env="EXOCCM_NODE_MONITOR_PERIOD",
        kind="duration",
        description=(
            "While a zone has NotReady Nodes, how often its instances are listed to find the "
            "stopped (shutdown taint) and deleted ones; the Go CCM's --node-monitor-period."
        ),
    )
    api_rate_limit: float = setting(
        10.0,
        env="EXOCCM_API_RATE_LIMIT",
        kind="number",
        gt=0,
        description="Exoscale API requests per second per zone (operation polls included).",
    )
    api_burst: int = setting(
        20,
        env="EXOCCM_API_BURST",
        kind="integer",
        ge=1,
        description="Exoscale API requests allowed at once per zone before EXOCCM_API_RATE_LIMIT applies.",
    )
    api_timeout: Duration = setting(
        30.0,
        env="EXOCCM_API_TIMEOUT",
        kind="duration",
        description="Time limit of one Exoscale API request.",
    )
    operation_timeout: Duration = setting(
        600.0,
        env="EXOCCM_OPERATION_TIMEOUT",
        kind="duration",
        description="How long to wait for an asynchronous Exoscale operation before giving up "
        "(it is re-checked on the next reconcile).",
    )
    leader_elect: bool = setting(
        True,
        env="EXOCCM_LEADER_ELECT",
        kind="boolean",
        description="Elect a leader through a Lease; only the leader changes anything.",
    )
    leader_election_namespace: NamespaceName = setting(
        "kube-system",
        env="EXOCCM_LEADER_ELECTION_NAMESPACE",
        kind="string",
        default_text="POD_NAMESPACE, else the in-cluster namespace, else kube-system",
        description="Namespace of the leader election Lease.",
    )
    leader_election_name: LeaseName = setting(
        "exoccm",
        env="EXOCCM_LEADER_ELECTION_NAME",
        kind="string",
        description="Name of the leader election Lease.",
    )
    lease_duration: Duration = setting(
        15.0,
        env="EXOCCM_LEASE_DURATION",
        kind="duration",
        description="How long a Lease holds after the leader's last renewal.",
    )
    renew_deadline: Duration = setting(
        10.0,
        env="EXOCCM_RENEW_DEADLINE",
        kind="duration",
        description="How long the leader keeps trying to renew before it stops acting.",
    )
    retry_period: Duration = setting(
        2.0,
        env="EXOCCM_RETRY_PERIOD",
        kind="duration",
        description="Interval between leader election attempts and renewals.",
    )
    metrics_bind_address: IpAddress = setting(
        "0.0.0.0",  # noqa: S104 - serves /metrics and probes to the kubelet and Prometheus
        env="EXOCCM_METRICS_BIND_ADDRESS",
        kind="IP address",
        description="Address of the /metrics, /healthz and /readyz server.",
    )
    metrics_port: int = setting(
        10258,
        env="EXOCCM_METRICS_PORT",
        kind="port",
        ge=1,
        le=65535,
        description="Port of the /metrics, /healthz and /readyz server.",
    )
    log_format: LogFormat = setting(
        "json",
        env="EXOCCM_LOG_FORMAT",
        kind="json or text",
        description="Log format: JSON lines (Kubernetes structured logging) or text for humans.",
    )
    log_level: LogLevel = setting(
        "info",
        env="EXOCCM_LOG_LEVEL",
        kind="debug, info, warning or error",
        description="Minimum level of log lines.",
    )
    controllers: ControllerList = setting(
        ("*",),
        env="EXOCCM_CONTROLLERS",
        kind="comma list",
        description="Controllers to run, like the Go CCM's --controllers: names from "
        f"{', '.join(CONTROLLERS)} (see Controllers below); * = every controller on by default "
        f"({', '.join(c for c in CONTROLLERS if c in DEFAULT_CONTROLLERS)}); -name turns one off "
        "(e.g. *,-service).",
    )
    cloud_config: Path | None = setting(
        None,
        env="EXOCCM_CLOUD_CONFIG",
        kind="path",
        description="The Go CCM's cloud-config YAML (global, instances, loadBalancer sections). "
        "Environment variables override its global section.",
    )

    # -- from the cloud-config file only ---------------------------------------------------------
    instances: InstancesConfig = Field(
        default_factory=InstancesConfig,
        validation_alias=AliasChoices("instances"),
        description="cloud-config instances section: disabled, externalOnly, overrides.",
    )
    load_balancer: LoadBalancerConfig = Field(
        default_factory=LoadBalancerConfig,
        validation_alias=AliasChoices("load_balancer"),
        description="cloud-config loadBalancer section: disabled.",
    )
    cloud_config_unknown_keys: tuple[str, ...] = Field(
        default=(),
        validation_alias=AliasChoices("cloud_config_unknown_keys"),
        exclude=True,
        description="A note per cloud-config key exoccm does not read (a start-up warning).",
    )

    @field_serializer("api_key")
    def _masked_key(self, value: str | None) -> str | None:
        # Dumps are for logs and diagnostics: show which key, not the key (like SecretStr).
        return None if value is None else mask_key(value)

    @model_validator(mode="after")
    def _cross_field_rules(self, info: ValidationInfo) -> Settings:
        if info.context == DEFER_CROSS_FIELD_RULES:
            return self  # the caller reports them, together with the field errors
        problems = self.cross_field_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- derived -----------------------------------------------------------------------------------

    @property
    def existing_nlb_namespace_set(self) -> frozenset[str] | None:
        """The namespaces allowed to use existing NLBs; None when all are."""
        if "*" in self.existing_nlb_namespaces:
            return None
        return frozenset(self.existing_nlb_namespaces)

    def cross_field_problems(self, skip: frozenset[str] = frozenset()) -> list[str]:
        """Rules spanning several settings; ``skip`` names fields already reported as invalid."""
        return cross_field_problems(self, skip)

    def warnings(self) -> list[str]:
        """Valid but noteworthy configuration (log these once logging is set up)."""
        return startup_warnings(self)

    @property
    def has_static_credentials(self) -> bool:
        """Whether key and secret are both set (they beat a credentials file)."""
        return self.api_key is not None and self.api_secret is not None

    @property
    def enabled_controllers(self) -> frozenset[str]:
        """The controllers to run, after EXOCCM_CONTROLLERS, the SKS runners and cloud-config."""
        items = {controller_name(item) for item in self.controllers if not item.startswith("-")}
        disabled = {controller_name(item[1:]) for item in self.controllers if item.startswith("-")}
        enabled = set(items - {"*"})
        if "*" in items:
            enabled |= DEFAULT_CONTROLLERS
        enabled |= {SKS_AGENT_RUNNERS[runner] for runner in self.sks_agent_runners}
        sections_off = {
            "loadBalancer": self.load_balancer.disabled,
            "instances": self.instances.disabled,
        }
        disabled |= {
            name for name, section in CLOUD_CONFIG_SWITCHES.items() if sections_off[section]
        }
        return frozenset(enabled - disabled)

    @classmethod
    def from_environment(
        cls,
        environ: dict[str, str] | None = None,
        cloud_config_path: Path | None = None,
        *,
        namespace_file: Path = IN_CLUSTER_NAMESPACE_FILE,
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``) and the cloud-config file.

        The file is ``cloud_config_path`` or ``EXOCCM_CLOUD_CONFIG``; environment variables win
        over its ``global`` section. Raises :class:`~exoccm.config.loading.ConfigError` listing
        every problem, each with the variable's name.
        """
        environ = dict(os.environ) if environ is None else dict(environ)
        return validated(cls, settings_sources(cls, environ, cloud_config_path, namespace_file))
