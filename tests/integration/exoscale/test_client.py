"""Every client method against the simulator (in-process), and how API errors surface."""

from __future__ import annotations

import orjson
import pytest

from exoccm.exoscale import (
    ConflictError,
    ExoscaleClients,
    ForbiddenError,
    Healthcheck,
    InvalidRequestError,
    LoadBalancerServiceSpec,
    NotFoundError,
)
from exoccm.sim import Simulator
from tests.integration.exoscale.conftest import ZONE, SimTime, sim_clients, sim_options

pytestmark = pytest.mark.anyio

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def spec(
    pool_id: str | None, name: str = "svc-80", port: int = 80, **changes: object
) -> LoadBalancerServiceSpec:
    args: dict[str, object] = {
        "name": name,
        "instance_pool_id": pool_id,
        "protocol": "tcp",
        "strategy": "round-robin",
        "port": port,
        "target_port": 30000 + port,
        "healthcheck": Healthcheck(
            mode="tcp", port=30000 + port, interval=10, timeout=5, retries=1
        ),
    }
    return LoadBalancerServiceSpec.model_validate(args | changes)


async def test_load_balancer_lifecycle(sim: Simulator, clients: ExoscaleClients) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    sim.add_instance(ZONE, "node-1", pool_id=pool["id"])
    client = clients.zone()

    assert await client.list_load_balancers() == ()
    lb = await client.create_load_balancer("k8s-web", "web", {"exoccm/owner": "uid-1"})
    assert (lb.name, lb.description, lb.labels) == ("k8s-web", "web", {"exoccm/owner": "uid-1"})
    assert lb.ip
    assert lb.state == "running"
    assert [x.id for x in await client.list_load_balancers()] == [lb.id]
    assert (await client.get_load_balancer(lb.id)).name == "k8s-web"

    lb = await client.update_load_balancer(
        lb.id, name="k8s-web-2", description="new", labels={"a": "b"}
    )
    assert (lb.name, lb.description, lb.labels) == ("k8s-web-2", "new", {"a": "b"})
    lb = await client.reset_load_balancer_field(lb.id, "description")
    assert not lb.description

    lb = await client.add_load_balancer_service(lb.id, spec(pool["id"], description="http"))
    service = lb.service_named("svc-80")
    assert service is not None
    assert (service.port, service.target_port, service.instance_pool_id) == (80, 30080, pool["id"])
    assert service.description == "http"
    fetched = await client.get_load_balancer_service(lb.id, service.id)
    assert fetched.healthcheck == Healthcheck(
        mode="tcp", port=30080, interval=10, timeout=5, retries=1
    )

    lb = await client.update_load_balancer_service(
        lb.id,
        service.id,
        spec(
            pool["id"],
            strategy="source-hash",
            healthcheck=Healthcheck(
                mode="http", port=30080, uri="/healthz", interval=20, timeout=5, retries=3
            ),
        ),
    )
    updated = lb.service_by_id(service.id)
    assert updated is not None
    assert updated.strategy == "source-hash"
    assert updated.healthcheck is not None
    assert updated.healthcheck.uri == "/healthz"
    lb = await client.reset_load_balancer_service_field(lb.id, service.id, "description")
    cleared = lb.service_by_id(service.id)
    assert cleared is not None
    assert not cleared.description

    lb = await client.delete_load_balancer_service(lb.id, service.id)
    assert lb.services == ()
    await client.delete_load_balancer(lb.id)
    with pytest.raises(NotFoundError):
        await client.get_load_balancer(lb.id)

    # One request per call: nothing was retried, every write waited for its operation.
    writes = [
        "create-load-balancer", "update-load-balancer", "reset-load-balancer-field",
        "add-service-to-load-balancer", "update-load-balancer-service",
        "reset-load-balancer-service-field", "delete-load-balancer-service", "delete-load-balancer",
    ]  # fmt: skip
    for operation in writes:
        assert sim.count(operation) == 1, operation
    assert sim.count("get-operation", status=200) >= len(writes)


async def test_a_create_without_read_back_costs_no_read(
    sim: Simulator, clients: ExoscaleClients
) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    client = clients.zone()
    lb = await client.create_load_balancer("k8s-z", "zed", {"owner": "u"}, read_back=False)
    assert sim.count("get-load-balancer") == 0
    assert (lb.name, lb.description, lb.labels, lb.ip, lb.services) == (
        "k8s-z",
        "zed",
        {"owner": "u"},
        None,
        (),
    )
    stored = sim.load_balancers(ZONE)
    assert [x["id"] for x in stored] == [lb.id], "the ID is the one the operation names"
    lb = await client.add_load_balancer_service(lb.id, spec(pool["id"]))
    assert lb.ip == stored[0]["ip"]
    assert sim.count("get-load-balancer") == 1, "the next write's answer carries the NLB"


async def test_update_without_changes_only_reads(sim: Simulator, clients: ExoscaleClients) -> None:
    client = clients.zone()
    lb = await client.create_load_balancer("k8s-x")
    assert (await client.update_load_balancer(lb.id)).id == lb.id
    assert sim.count("update-load-balancer") == 0


async def test_compute_reads(sim: Simulator, clients: ExoscaleClients) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    member = sim.add_instance(ZONE, "node-1", pool_id=pool["id"], ipv6="auto")
    loner = sim.add_instance(ZONE, "bastion", instance_type=("standard", "small"))
    client = clients.zone()

    instances = await client.list_instances()
    assert {i.name for i in instances} == {"node-1", "bastion"}
    by_ip = await client.list_instances(ip_address=member["public-ip"])
    assert [i.id for i in by_ip] == [member["id"]]
    in_pool = await client.list_instances(manager_id=pool["id"], manager_type="instance-pool")
    assert [i.id for i in in_pool] == [member["id"]]

    instance = await client.get_instance(member["id"])
    assert instance.instance_pool_id == pool["id"]
    assert instance.ipv6_address
    assert instance.public_ip == member["public-ip"]
    assert (await client.get_instance(loner["id"])).instance_pool_id is None
    with pytest.raises(NotFoundError):
        await client.get_instance(UNKNOWN)

    assert [p.id for p in await client.list_instance_pools()] == [pool["id"]]
    fetched_pool = await client.get_instance_pool(pool["id"])
    assert [ref.id for ref in fetched_pool.instances] == [member["id"]]

    assert instance.instance_type is not None
    medium = await client.get_instance_type(instance.instance_type.id)
    assert medium.name == "standard.medium"
    await client.get_instance_type(instance.instance_type.id)
    assert sim.count("get-instance-type") == 1  # cached
    names = {t.name for t in await client.list_instance_types()}
    assert {"standard.medium", "standard.small"} <= names


async def test_zones_and_sks(sim: Simulator, clients: ExoscaleClients) -> None:
    pool = sim.add_instance_pool(ZONE, "pool-a")
    cluster = sim.add_sks_cluster(
        ZONE, "prod", nodepools=[{"name": "Workers", "instance_pool_id": pool["id"]}]
    )
    client = clients.zone()
    zones = await client.list_zones()
    assert ZONE in {z.name for z in zones}
    clusters = await client.list_sks_clusters()
    assert [c.id for c in clusters] == [cluster["id"]]
    nodepool = (await client.get_sks_cluster(cluster["id"])).nodepool_named("workers")
    assert nodepool is not None
    assert nodepool.instance_pool is not None
    assert nodepool.instance_pool.id == pool["id"]


async def test_list_zones_works_for_a_restricted_key(sim: Simulator, sim_time: SimTime) -> None:
    key = sim.add_api_key(operations={"get-instance"})
    async with sim_clients(sim, key, sim_options(sim_time)) as clients:
        assert await clients.zone().list_zones()


async def test_zones_are_separate_clients(sim: Simulator, clients: ExoscaleClients) -> None:
    assert clients.zone() is clients.zone(ZONE)
    other = clients.zone("at-vie-1")
    await other.create_load_balancer("vienna")
    assert await clients.zone().list_load_balancers() == ()
    assert [lb.name for lb in await other.list_load_balancers()] == ["vienna"]
    assert sim.count("create-load-balancer", zone="at-vie-1") == 1


async def test_iam_denial_is_forbidden(sim: Simulator, sim_time: SimTime) -> None:
    key = sim.add_api_key(operations={"list-load-balancers"})
    async with sim_clients(sim, key, sim_options(sim_time)) as clients:
        assert await clients.zone().list_load_balancers() == ()
        with pytest.raises(ForbiddenError) as info:
            await clients.zone().list_instances()
    assert info.value.status == 403
    assert info.value.operation == "list-instances"
    assert sim.count("list-instances") == 1  # not retried


async def test_wrong_secret_is_forbidden(
    sim: Simulator, api_key: tuple[str, str], sim_time: SimTime
) -> None:
    wrong = (api_key[0], "W" * 43)
    async with sim_clients(sim, wrong, sim_options(sim_time)) as clients:
        with pytest.raises(ForbiddenError, match="access denied"):
            await clients.zone().list_load_balancers()


async def test_invalid_request_carries_the_api_message(
    sim: Simulator, clients: ExoscaleClients
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await clients.zone().create_load_balancer("x" * 300)
    assert info.value.status == 400
    assert info.value.api_message
    assert info.value.api_message in str(info.value)
    assert sim.count("create-load-balancer") == 1


async def test_pool_of_another_zone_is_rejected(sim: Simulator, clients: ExoscaleClients) -> None:
    foreign = sim.add_instance_pool("at-vie-1", "elsewhere")
    lb = await clients.zone().create_load_balancer("k8s-y")
    with pytest.raises((InvalidRequestError, NotFoundError)):
        await clients.zone().add_load_balancer_service(lb.id, spec(foreign["id"]))


async def test_conflict_on_an_nlb_being_deleted(sim: Simulator, clients: ExoscaleClients) -> None:
    client = clients.zone()
    sim.set_operation_latency(30.0, "delete-load-balancer")
    lb = await client.create_load_balancer("k8s-z")
    # Start the delete without waiting for its operation.
    await client.session.request("delete-load-balancer", "DELETE", f"/load-balancer/{lb.id}")
    with pytest.raises(ConflictError) as info:
        await client.update_load_balancer(lb.id, name="renamed")
    assert info.value.status == 409
    assert sim.count("update-load-balancer") == 1


async def test_get_operation_and_wait(sim: Simulator, clients: ExoscaleClients) -> None:
    client = clients.zone()
    sim.set_operation_latency(2.0, "create-load-balancer")
    started = await client.session.request(
        "create-load-balancer", "POST", "/load-balancer", body={"name": "k8s-op"}
    )
    operation = await client.get_operation(orjson.loads(started)["id"])
    assert operation.state == "pending"
    done = await client.wait(operation, name="create-load-balancer")
    assert done.state == "success"
    assert done.reference is not None
    assert (await client.get_load_balancer(str(done.reference.id))).name == "k8s-op"
    with pytest.raises(NotFoundError):
        await client.get_operation(UNKNOWN)
