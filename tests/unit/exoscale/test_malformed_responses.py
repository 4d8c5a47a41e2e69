"""Fuzzing the client with malformed API answers: every method fails with a typed error.

A scripted transport answers each call of a client method with a valid body, except one call
(chosen by hypothesis) whose answer is broken: not JSON, empty, the wrong top-level shape, a
required field missing or of the wrong type, numbers out of any range, or a random mutation of a
valid body. Whatever the answer, the method either returns its typed result (a mutation the
models tolerate) or raises an :class:`ExoscaleError` whose message names the API operation
that answered badly; a ``KeyError``, ``TypeError`` or pydantic ``ValidationError`` never leaks.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exoccm.exoscale import errors
from exoccm.exoscale.client import ZoneClient
from exoccm.exoscale.credentials import Credentials
from exoccm.exoscale.models import LoadBalancerServiceSpec, Operation
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.registry import ExoscaleClients
from exoccm.exoscale.retry import RetryPolicy
from exoccm.testing.services import NLB_WRITE_OPERATIONS
from tests.unit.exoscale.faketime import FakeTime

pytestmark = pytest.mark.anyio

KEY = "EXO0123456789abcdef01234567"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstu"
ZONE = "ch-gva-2"
LB = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
SVC = "9a8b7c6d-0000-4111-8222-333344445555"
POOL = "a1b2c3d4-0000-4000-8000-000000000001"
INSTANCE = "c0ffee00-0000-4000-8000-000000000002"
TYPE = "b0b0b0b0-0000-4000-8000-000000000003"
CLUSTER = "d1d1d1d1-0000-4000-8000-000000000004"
OP = "e2e2e2e2-0000-4000-8000-000000000005"

Json = Any

SERVICE: Json = {
    "id": SVC,
    "name": "svc-80",
    "protocol": "tcp",
    "strategy": "round-robin",
    "port": 80,
    "target-port": 30080,
    "instance-pool": {"id": POOL},
    "healthcheck": {"mode": "tcp", "port": 30080, "interval": 10, "timeout": 5, "retries": 1},
    "healthcheck-status": [{"public-ip": "203.0.113.1", "status": "success"}],
    "state": "running",
}
NLB: Json = {
    "id": LB,
    "name": "nlb",
    "state": "running",
    "ip": "194.182.160.1",
    "created-at": "2024-01-01T12:00:00Z",
    "labels": {"k8s-service-uid": "u1"},
    "services": [SERVICE],
}
INSTANCE_BODY: Json = {
    "id": INSTANCE,
    "name": "node-1",
    "state": "running",
    "public-ip": "159.100.224.1",
    "manager": {"id": POOL, "type": "instance-pool"},
    "instance-type": {"id": TYPE},
    "labels": {},
}
POOL_BODY: Json = {"id": POOL, "name": "nodes", "size": 1, "instances": [{"id": INSTANCE}]}
TYPE_BODY: Json = {"id": TYPE, "family": "standard", "size": "medium", "cpus": 2}
CLUSTER_BODY: Json = {
    "id": CLUSTER,
    "name": "prod",
    "nodepools": [{"id": OP, "name": "workers", "instance-pool": {"id": POOL}}],
}
PENDING: Json = {"id": OP, "state": "pending", "reference": {"id": LB}}
SUCCESS: Json = {"id": OP, "state": "success", "reference": {"id": LB}}

# A valid answer per API operation.
VALID: dict[str, Json] = {
    "list-load-balancers": {"load-balancers": [NLB]},
    "get-load-balancer": NLB,
    "get-load-balancer-service": SERVICE,
    "get-operation": SUCCESS,
    "list-instances": {"instances": [INSTANCE_BODY]},
    "get-instance": INSTANCE_BODY,
    "list-instance-pools": {"instance-pools": [POOL_BODY]},
    "get-instance-pool": POOL_BODY,
    "list-instance-types": {"instance-types": [TYPE_BODY]},
    "get-instance-type": TYPE_BODY,
    "list-zones": {"zones": [{"name": ZONE, "api-endpoint": "https://api-ch-gva-2.exoscale.com"}]},
    "list-sks-clusters": {"sks-clusters": [CLUSTER_BODY]},
    "get-sks-cluster": CLUSTER_BODY,
}
WRITES = sorted(NLB_WRITE_OPERATIONS)
VALID |= dict.fromkeys(WRITES, PENDING)

# Fields a body cannot do without (the models require them), per answer.
REQUIRED: dict[str, tuple[str, ...]] = {
    "list-load-balancers": ("load-balancers",),
    "list-instances": ("instances",),
    "list-instance-pools": ("instance-pools",),
    "list-instance-types": ("instance-types",),
    "list-zones": ("zones",),
    "list-sks-clusters": ("sks-clusters",),
    "get-load-balancer": ("id", "name"),
    "get-load-balancer-service": ("id", "name", "protocol", "port", "target-port"),
    "get-instance": ("id", "name"),
    "get-instance-pool": ("id", "name"),
    "get-instance-type": ("id", "family", "size"),
    "get-sks-cluster": ("id", "name"),
    "get-operation": ("id", "state"),
    **dict.fromkeys(WRITES, ("id", "state")),
}


def operation_of(method: str, path: str) -> str:
    """The API operation a request of the client is (the routes the client uses)."""
    parts = path.split("/")[3:]  # drop "", zone, "v2"
    head, rest = parts[0], parts[1:]
    if head == "load-balancer":
        if not rest:
            return {"GET": "list-load-balancers", "POST": "create-load-balancer"}[method]
        if len(rest) == 1:
            return {
                "GET": "get-load-balancer",
                "PUT": "update-load-balancer",
                "DELETE": "delete-load-balancer",
            }[method]
        if len(rest) == 2 and rest[1] != "service":
            return "reset-load-balancer-field"
        if len(rest) == 2:
            return "add-service-to-load-balancer"
        if len(rest) == 3:
            return {
                "GET": "get-load-balancer-service",
                "PUT": "update-load-balancer-service",
                "DELETE": "delete-load-balancer-service",
            }[method]
        return "reset-load-balancer-service-field"
    singular = {
        "operation": "operation",
        "instance": "instance",
        "instance-pool": "instance-pool",
        "instance-type": "instance-type",
        "sks-cluster": "sks-cluster",
    }
    if head == "zone":
        return "list-zones"
    return f"get-{singular[head]}" if rest else f"list-{singular[head]}s"


# -- the client methods and the calls each makes ------------------------------------------------

SPEC = LoadBalancerServiceSpec.model_validate(
    {
        "name": "svc-80",
        "instance_pool_id": POOL,
        "protocol": "tcp",
        "strategy": "round-robin",
        "port": 80,
        "target_port": 30080,
        "healthcheck": {"mode": "tcp", "port": 30080, "interval": 10, "timeout": 5, "retries": 1},
    }
)


@dataclass(frozen=True)
class Method:
    name: str
    call: Callable[[ZoneClient], Awaitable[object]]
    operations: tuple[str, ...]  # the API calls it makes, in order, when all goes well
    started_by: str | None = None  # for ``wait``: the write whose operation it waits for


def _write(name: str, op: str, call: Callable[[ZoneClient], Awaitable[object]]) -> Method:
    return Method(name, call, (op, "get-operation", "get-load-balancer"))


METHODS = (
    Method("get_operation", lambda c: c.get_operation(OP), ("get-operation",)),
    Method(
        "wait",
        lambda c: c.wait(Operation(id=OP, state="pending"), name="create-load-balancer"),
        ("get-operation",),
        started_by="create-load-balancer",
    ),
    Method("list_load_balancers", lambda c: c.list_load_balancers(), ("list-load-balancers",)),
    Method("get_load_balancer", lambda c: c.get_load_balancer(LB), ("get-load-balancer",)),
    _write(
        "create_load_balancer",
        "create-load-balancer",
        lambda c: c.create_load_balancer("nlb", "d", {"k": "v"}),
    ),
    _write(
        "update_load_balancer",
        "update-load-balancer",
        lambda c: c.update_load_balancer(LB, name="renamed"),
    ),
    Method(
        "delete_load_balancer",
        lambda c: c.delete_load_balancer(LB),
        ("delete-load-balancer", "get-operation"),
    ),
    _write(
        "reset_load_balancer_field",
        "reset-load-balancer-field",
        lambda c: c.reset_load_balancer_field(LB, "description"),
    ),
    Method(
        "get_load_balancer_service",
        lambda c: c.get_load_balancer_service(LB, SVC),
        ("get-load-balancer-service",),
    ),
    _write(
        "add_load_balancer_service",
        "add-service-to-load-balancer",
        lambda c: c.add_load_balancer_service(LB, SPEC),
    ),
    _write(
        "update_load_balancer_service",
        "update-load-balancer-service",
        lambda c: c.update_load_balancer_service(LB, SVC, SPEC),
    ),
    _write(
        "delete_load_balancer_service",
        "delete-load-balancer-service",
        lambda c: c.delete_load_balancer_service(LB, SVC),
    ),
    _write(
        "reset_load_balancer_service_field",
        "reset-load-balancer-service-field",
        lambda c: c.reset_load_balancer_service_field(LB, SVC, "description"),
    ),
    Method("list_instances", lambda c: c.list_instances(manager_id=POOL), ("list-instances",)),
    Method("get_instance", lambda c: c.get_instance(INSTANCE), ("get-instance",)),
    Method("list_instance_pools", lambda c: c.list_instance_pools(), ("list-instance-pools",)),
    Method("get_instance_pool", lambda c: c.get_instance_pool(POOL), ("get-instance-pool",)),
    Method("list_instance_types", lambda c: c.list_instance_types(), ("list-instance-types",)),
    Method("get_instance_type", lambda c: c.get_instance_type(TYPE), ("get-instance-type",)),
    Method("list_zones", lambda c: c.list_zones(), ("list-zones",)),
    Method("list_sks_clusters", lambda c: c.list_sks_clusters(), ("list-sks-clusters",)),
    Method("get_sks_cluster", lambda c: c.get_sks_cluster(CLUSTER), ("get-sks-cluster",)),
)


def test_every_public_client_method_is_fuzzed() -> None:
    public = {
        name
        for name, member in inspect.getmembers(ZoneClient, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert public == {method.name for method in METHODS}


# -- broken bodies ---------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _not_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return True
    return False


@st.composite
def surely_broken(draw: st.DrawFn, operation: str) -> bytes:
    """A body no client can use for ``operation``."""
    valid = VALID[operation]
    encoded = orjson.dumps(valid)
    kind = draw(
        st.sampled_from(
            ["truncated", "garbage", "empty", "shape", "missing", "wrong-type", "huge", "deep"]
        )
    )
    if kind == "truncated":
        return encoded[: draw(st.integers(1, len(encoded) - 1))]
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=64).filter(_not_json))
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"\n"]))
    if kind == "shape":
        value = draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
        return orjson.dumps(value)
    field = draw(st.sampled_from(REQUIRED[operation]))
    body = dict(valid)
    if kind == "missing":
        del body[field]
    elif kind == "wrong-type":
        body[field] = draw(_wrong_type_for(valid[field]))
    elif kind == "huge":
        # Beyond a double, where the client needs a value (spliced in: orjson refuses to dump it).
        body[field] = "__huge__"
        return orjson.dumps(body).replace(b'"__huge__"', b"1e999")
    else:
        # Nested deeper than any encoder would write (orjson refuses to dump it): spliced in.
        depth = draw(st.integers(300, 5000))
        body[field] = "__deep__"
        return orjson.dumps(body).replace(b'"__deep__"', b"[" * depth + b"]" * depth)
    return orjson.dumps(body)


def _wrong_type_for(value: Json) -> st.SearchStrategy[Json]:
    """JSON values that no lenient conversion turns into something of ``value``'s type."""
    if isinstance(value, str):
        return (
            st.none()
            | st.booleans()
            | st.integers(min_value=-(2**63), max_value=2**63 - 1)
            | st.floats(allow_nan=False)
            | st.lists(st.text(), max_size=2)
            | st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2)
        )
    if isinstance(value, int):
        return (
            st.none()
            | st.text(alphabet="abcxyz", min_size=1)
            | st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1))
        )
    # lists (of objects)
    return (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**63 - 1)
        | st.text(min_size=1)
    )


@st.composite
def mutated(draw: st.DrawFn, operation: str) -> bytes:
    """A valid body with one random change somewhere: may or may not still be usable."""
    body = orjson.loads(orjson.dumps(VALID[operation]))
    node = body
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(JSON_VALUES)
        break
    return orjson.dumps(body)


# -- the property --------------------------------------------------------------------------------


def _scripted(
    bad_index: int, bad_body: bytes, bad_status: int = 200, *, from_then_on: bool = False
) -> httpx.MockTransport:
    """Valid answers, except call number ``bad_index`` (and every later one if
    ``from_then_on``), which gets ``bad_status`` and ``bad_body``."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        operation = operation_of(request.method, request.url.path)
        index, calls = calls, calls + 1
        if index == bad_index or (from_then_on and index > bad_index >= 0):
            return httpx.Response(
                bad_status, content=bad_body, headers={"Content-Type": "application/json"}
            )
        return httpx.Response(200, json=VALID[operation])

    return httpx.MockTransport(handler)


async def _run(method: Method, transport: httpx.MockTransport) -> object:
    time = FakeTime()
    options = ClientOptions(
        clock=time.clock, sleep=time.sleep, retry=RetryPolicy(max_attempts=2, jitter=0.0)
    )
    async with ExoscaleClients(
        Credentials.of(KEY, SECRET),
        zone=ZONE,
        endpoint="http://127.0.0.1:9/{zone}/v2",
        options=options,
        transport=transport,
    ) as clients:
        return await method.call(clients.zone())


def _assert_names(exc: errors.ExoscaleError, operation: str) -> None:
    assert exc.operation == operation, (exc.operation, operation, str(exc))
    assert operation in str(exc)
    assert exc.zone == ZONE


@st.composite
def broken_call(draw: st.DrawFn) -> tuple[Method, int, bytes]:
    method = draw(st.sampled_from(METHODS))
    index = draw(st.integers(0, len(method.operations) - 1))
    return method, index, draw(surely_broken(method.operations[index]))


@st.composite
def mutated_call(draw: st.DrawFn) -> tuple[Method, int, bytes]:
    method = draw(st.sampled_from(METHODS))
    index = draw(st.integers(0, len(method.operations) - 1))
    return method, index, draw(mutated(method.operations[index]))


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
async def test_each_method_succeeds_on_valid_answers(method: Method) -> None:
    """The scripted answers are valid: any failure below comes from the broken one."""
    await _run(method, _scripted(bad_index=-1, bad_body=b""))


@FUZZ
@given(broken_call())
async def test_a_broken_answer_raises_malformed_response_error_naming_the_operation(
    case: tuple[Method, int, bytes],
) -> None:
    method, index, body = case
    with pytest.raises(errors.MalformedResponseError) as caught:
        await _run(method, _scripted(index, body))
    _assert_names(caught.value, method.operations[index])


@FUZZ
@given(mutated_call())
async def test_a_mutated_answer_gives_a_result_or_a_typed_error(
    case: tuple[Method, int, bytes],
) -> None:
    method, index, body = case
    failure: errors.ExoscaleError | None = None
    try:
        await _run(method, _scripted(index, body))
    except errors.ExoscaleError as exc:
        failure = exc
    if failure is not None:
        # A mutation can also make a valid-looking answer point elsewhere (an operation that
        # failed, an NLB without the new service): still typed, still named.
        assert failure.operation in (*method.operations, method.started_by)
        assert str(failure).startswith(f"{failure.operation} in {ZONE}: ")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(METHODS),
    st.integers(400, 599),
    st.binary(max_size=80) | JSON_VALUES.map(orjson.dumps),
)
async def test_an_error_status_with_any_body_raises_an_api_error(
    method: Method, status: int, body: bytes
) -> None:
    with pytest.raises(errors.ExoscaleError) as caught:
        # Every attempt fails alike, so retries and operation polling give up in the end.
        await _run(method, _scripted(0, body, bad_status=status, from_then_on=True))
    assert isinstance(caught.value, errors.ApiError)
    assert caught.value.status == status
    _assert_names(caught.value, method.operations[0])
