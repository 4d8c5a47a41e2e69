"""Async client of the Exoscale API v2: signed requests, typed models and errors, retries,
per-zone rate limiting, operation waiting and credentials hot reload.

    async with ExoscaleClients.from_settings(settings) as clients:
        lb = await clients.zone().get_load_balancer(lb_id)
"""

from exoccm.exoscale.client import ZoneClient
from exoccm.exoscale.credentials import (
    Credentials,
    CredentialsFileError,
    CredentialsStore,
    load_credentials_file,
)
from exoccm.exoscale.errors import (
    ApiError,
    ConflictError,
    ExoscaleError,
    ForbiddenError,
    InvalidArgumentError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    NotLeaderError,
    OperationFailedError,
    OperationTimeoutError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from exoccm.exoscale.models import (
    Healthcheck,
    HealthcheckStatus,
    Instance,
    InstancePool,
    InstanceType,
    LoadBalancer,
    LoadBalancerService,
    LoadBalancerServiceSpec,
    Operation,
    SksCluster,
    SksNodepool,
    Zone,
)
from exoccm.exoscale.operations import WaitPolicy
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.registry import ExoscaleClients
from exoccm.exoscale.reload import CredentialsFileWatcher
from exoccm.exoscale.retry import RetryPolicy
from exoccm.exoscale.session import Guard

__all__ = [
    "ApiError",
    "ClientOptions",
    "ConflictError",
    "Credentials",
    "CredentialsFileError",
    "CredentialsFileWatcher",
    "CredentialsStore",
    "ExoscaleClients",
    "ExoscaleError",
    "ForbiddenError",
    "Guard",
    "Healthcheck",
    "HealthcheckStatus",
    "Instance",
    "InstancePool",
    "InstanceType",
    "InvalidArgumentError",
    "InvalidRequestError",
    "LoadBalancer",
    "LoadBalancerService",
    "LoadBalancerServiceSpec",
    "MalformedResponseError",
    "NotFoundError",
    "NotLeaderError",
    "Operation",
    "OperationFailedError",
    "OperationTimeoutError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "SksCluster",
    "SksNodepool",
    "TransportError",
    "WaitPolicy",
    "Zone",
    "ZoneClient",
    "load_credentials_file",
]
