"""Reads of one zone's API: the plumbing every call shares, compute and SKS.

:class:`exoccm.exoscale.client.ZoneClient` builds on it with operations and NLBs.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel

from exoccm.exoscale.models import (
    Instance,
    InstanceList,
    InstancePool,
    InstancePoolList,
    InstanceType,
    InstanceTypeList,
    SksCluster,
    SksClusterList,
    Zone,
    ZoneList,
)
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.responses import parse_model
from exoccm.exoscale.session import ZoneSession, path_segment

ModelT = TypeVar("ModelT", bound=BaseModel)


class ZoneReads:
    """Typed reads of one zone's compute and SKS resources."""

    def __init__(self, session: ZoneSession, options: ClientOptions):
        self.session = session
        self.zone = session.zone
        self._options = options
        self._instance_types: dict[str, InstanceType] = {}

    # -- plumbing ------------------------------------------------------------------------------

    def _seg(self, value: str, what: str, operation: str) -> str:
        return path_segment(value, what=what, operation=operation, zone=self.zone)

    async def _get(
        self,
        model: type[ModelT],
        operation: str,
        path: str,
        *,
        params: dict[str, str | None] | None = None,
        signed: bool = True,
        prepaid: bool = False,
    ) -> ModelT:
        body = await self.session.request(
            operation, "GET", path, params=params, signed=signed, prepaid=prepaid
        )
        return parse_model(model, body, operation=operation, zone=self.zone)

    # -- compute -------------------------------------------------------------------------------

    async def list_instances(
        self,
        *,
        ip_address: str | None = None,
        manager_id: str | None = None,
        manager_type: Literal["instance-pool"] | None = None,
    ) -> tuple[Instance, ...]:
        """Instances of the zone, optionally filtered by the API (public IP, managing pool)."""
        params = {"ip-address": ip_address, "manager-id": manager_id, "manager-type": manager_type}
        result = await self._get(InstanceList, "list-instances", "/instance", params=params)
        return result.instances

    async def get_instance(self, instance_id: str) -> Instance:
        """One instance; :class:`NotFoundError` when it is gone."""
        seg = self._seg(instance_id, "instance ID", "get-instance")
        return await self._get(Instance, "get-instance", f"/instance/{seg}")

    async def list_instance_pools(self) -> tuple[InstancePool, ...]:
        """Every Instance Pool of the zone."""
        result = await self._get(InstancePoolList, "list-instance-pools", "/instance-pool")
        return result.instance_pools

    async def get_instance_pool(self, pool_id: str) -> InstancePool:
        """One Instance Pool."""
        seg = self._seg(pool_id, "instance pool ID", "get-instance-pool")
        return await self._get(InstancePool, "get-instance-pool", f"/instance-pool/{seg}")

    async def list_instance_types(self) -> tuple[InstanceType, ...]:
        """Every instance type (also fills the instance-type cache)."""
        result = await self._get(InstanceTypeList, "list-instance-types", "/instance-type")
        for instance_type in result.instance_types:
            self._instance_types[instance_type.id] = instance_type
        return result.instance_types

    async def get_instance_type(self, type_id: str) -> InstanceType:
        """One instance type, fetched once and cached for the life of the client (types never
        change)."""
        cached = self._instance_types.get(type_id)
        if cached is not None:
            return cached
        seg = self._seg(type_id, "instance type ID", "get-instance-type")
        instance_type = await self._get(InstanceType, "get-instance-type", f"/instance-type/{seg}")
        self._instance_types[type_id] = instance_type
        return instance_type

    async def list_zones(self) -> tuple[Zone, ...]:
        """Every zone and its endpoint. Sent unsigned: restricted IAM keys get 403 on it."""
        result = await self._get(ZoneList, "list-zones", "/zone", signed=False)
        return result.zones

    # -- SKS -----------------------------------------------------------------------------------

    async def list_sks_clusters(self) -> tuple[SksCluster, ...]:
        """Every SKS cluster of the zone, with their nodepools."""
        result = await self._get(SksClusterList, "list-sks-clusters", "/sks-cluster")
        return result.sks_clusters

    async def get_sks_cluster(self, cluster_id: str) -> SksCluster:
        """One SKS cluster."""
        seg = self._seg(cluster_id, "SKS cluster ID", "get-sks-cluster")
        return await self._get(SksCluster, "get-sks-cluster", f"/sks-cluster/{seg}")
