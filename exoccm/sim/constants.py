"""Enumerations and limits of the Exoscale API v2 that the simulator enforces.

Copied by hand from the official OpenAPI document (`exoscale/openapi.json`); a test checks that
every value here still equals the spec, so a spec update cannot drift past us silently.
"""

from __future__ import annotations

from typing import Final

ZONES: Final[tuple[str, ...]] = (
    "at-vie-1",
    "at-vie-2",
    "bg-sof-1",
    "ch-dk-2",
    "ch-gva-2",
    "de-fra-1",
    "de-muc-1",
    "hr-zag-1",
)

LOAD_BALANCER_STATES: Final = frozenset(
    {"creating", "deleting", "error", "migrated", "migrating", "running"}
)
SERVICE_STATES: Final = frozenset({"creating", "deleting", "error", "running", "updating"})
SERVICE_PROTOCOLS: Final = ("tcp", "udp")
SERVICE_STRATEGIES: Final = ("maglev-hash", "round-robin", "source-hash")
HEALTHCHECK_MODES: Final = ("http", "https", "tcp")
LOAD_BALANCER_RESET_FIELDS: Final = ("description", "labels")
SERVICE_RESET_FIELDS: Final = ("description",)

INSTANCE_STATES: Final = frozenset(
    {
        "destroyed",
        "destroying",
        "error",
        "expunging",
        "migrating",
        "running",
        "starting",
        "stopped",
        "stopping",
    }
)
MANAGER_TYPES: Final = ("instance-pool", "sks-nodepool")
# list-instances accepts only this value for its `manager-type` filter.
LIST_INSTANCES_MANAGER_TYPES: Final = ("instance-pool",)

INSTANCE_TYPE_FAMILIES: Final = frozenset(
    {
        "colossus",
        "cpu",
        "gpu",
        "gpu2",
        "gpu3",
        "gpu3080ti",
        "gpua30",
        "gpua5000",
        "gpub300",
        "gpurtx6000pro",
        "memory",
        "standard",
        "storage",
    }
)
INSTANCE_TYPE_SIZES: Final = frozenset(
    {
        "colossus",
        "extra-large",
        "huge",
        "jumbo",
        "large",
        "medium",
        "mega",
        "micro",
        "small",
        "tiny",
        "titan",
        "titan48c",
    }
)

OPERATION_STATES: Final = frozenset({"failure", "pending", "success", "timeout"})
OPERATION_REASONS: Final = frozenset(
    {
        "busy",
        "conflict",
        "fault",
        "forbidden",
        "incorrect",
        "interrupted",
        "not-found",
        "partial",
        "unavailable",
        "unknown",
        "unsupported",
    }
)

# Not in the spec: "Each NLB is composed of up to 10 services" (community.exoscale.com).
MAX_SERVICES_PER_LOAD_BALANCER: Final = 10

# Healthcheck values the API fills in when the request leaves them out (spec descriptions and
# the exo CLI); the healthcheck port defaults to the service's target port.
HEALTHCHECK_DEFAULTS: Final = {"mode": "tcp", "interval": 10, "timeout": 2, "retries": 1}
