"""Seed files: a simulator's keys, zones and compute inventory in YAML or JSON.

See ``docs/simulator.md`` for the format. Pools and nodepools may be referred to by name
(``pool:``, ``instance_pool:``) instead of by id, and an instance with ``count: N`` stands for
N instances named ``<name>-0`` .. ``<name>-<N-1>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.sim.simulator import Simulator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKeySeed(_Strict):
    key: str | None = None
    secret: str | None = None
    operations: list[str] | None = None


class InstanceTypeSeed(_Strict):
    family: str = "standard"
    size: str = "medium"
    cpus: int = 2
    memory: int = 4294967296
    id: str | None = None


class InstancePoolSeed(_Strict):
    name: str
    id: str | None = None
    instance_type: tuple[str, str] = ("standard", "medium")
    size: int | None = None


class InstanceSeed(_Strict):
    name: str
    count: int | None = Field(default=None, ge=1)
    pool: str | None = None
    pool_id: str | None = None
    manager_type: str = "instance-pool"
    state: str = "running"
    public_ip: str | None = "auto"
    ipv6: str | None = None
    private_networks: int = 0
    instance_type: tuple[str, str] = ("standard", "medium")
    id: str | None = None
    labels: dict[str, str] | None = None


class NodepoolSeed(_Strict):
    name: str
    instance_pool: str | None = None
    instance_pool_id: str | None = None
    id: str | None = None


class SksClusterSeed(_Strict):
    name: str
    id: str | None = None
    nodepools: list[NodepoolSeed] = []


class ZoneSeed(_Strict):
    instance_types: list[InstanceTypeSeed] = []
    instance_pools: list[InstancePoolSeed] = []
    instances: list[InstanceSeed] = []
    sks_clusters: list[SksClusterSeed] = []


class SeedFile(_Strict):
    seed: int = 0
    operation_latency: float | tuple[float, float] = 0.0
    zones: list[str] | None = None
    api_keys: list[ApiKeySeed] = []
    resources: dict[str, ZoneSeed] = {}


def load_seed_file(path: Path) -> SeedFile:
    """Read and check a seed file; errors name the file and the offending key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"seed file {path}: cannot read it: {error}") from None
    try:
        return SeedFile.model_validate(data or {})
    except ValidationError as error:
        raise ValueError(f"seed file {path}: {error}") from None


def build_simulator(
    seed: SeedFile,
    *,
    operation_latency: float | None = None,
    clock: str = "real",
    data_plane: bool = False,
    networks: LoopbackNetworks | None = None,
) -> tuple[Simulator, list[tuple[str, str]]]:
    """A simulator filled from ``seed``, and its API credentials (one generated if none given).

    ``data_plane`` and ``networks`` are passed on to :class:`Simulator`.
    """
    latency = seed.operation_latency if operation_latency is None else operation_latency
    sim = Simulator(
        seed=seed.seed,
        operation_latency=latency,
        zones=seed.zones,
        clock=clock,
        data_plane=data_plane,
        networks=networks,
    )
    keys = [sim.add_api_key(k.key, k.secret, operations=k.operations) for k in seed.api_keys]
    if not keys:
        keys.append(sim.add_api_key())
    for zone, resources in seed.resources.items():
        try:
            apply_zone_seed(sim, zone, resources)
        except (ValueError, LookupError) as error:
            raise ValueError(f"seed resources of zone {zone}: {error}") from None
    return sim, keys


def apply_zone_seed(sim: Simulator, zone: str, resources: ZoneSeed) -> None:
    """Add one zone's instance types, pools, instances and SKS clusters, in that order."""
    for itype in resources.instance_types:
        sim.add_instance_type(zone, **itype.model_dump())
    pools: dict[str, str] = {}
    for pool in resources.instance_pools:
        pools[pool.name] = sim.add_instance_pool(zone, **pool.model_dump())["id"]
    for instance in resources.instances:
        args: dict[str, Any] = instance.model_dump(exclude={"count", "pool"})
        if instance.pool is not None:
            args["pool_id"] = _by_name(pools, instance.pool, "instance pool")
        if instance.count is None:
            sim.add_instance(zone, **args)
            continue
        if instance.id is not None:
            raise ValueError(f"instance {instance.name!r}: count and id exclude each other")
        for index in range(instance.count):
            sim.add_instance(zone, **{**args, "name": f"{instance.name}-{index}"})
    for cluster in resources.sks_clusters:
        nodepools = []
        for nodepool in cluster.nodepools:
            pool_id = nodepool.instance_pool_id
            if nodepool.instance_pool is not None:
                pool_id = _by_name(pools, nodepool.instance_pool, "instance pool")
            if pool_id is None:
                raise ValueError(f"nodepool {nodepool.name!r} needs instance_pool or its id")
            spec = {"name": nodepool.name, "instance_pool_id": pool_id}
            if nodepool.id is not None:
                spec["id"] = nodepool.id
            nodepools.append(spec)
        sim.add_sks_cluster(zone, cluster.name, nodepools=nodepools, id=cluster.id)


def _by_name(table: dict[str, str], name: str, what: str) -> str:
    if name not in table:
        raise ValueError(f"no {what} named {name!r} in this zone's seed (have: {sorted(table)})")
    return table[name]
