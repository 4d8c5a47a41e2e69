"""Every limit the official spec states for NLB and NLB-service request fields, refused over HTTP.

The cases are derived from the spec's request schemas, not written by hand: for each field, a
value just outside each bound (lengths, ranges, enums) and a value of the wrong JSON type. The
simulator must answer each with the API's 400 ``{"message": ...}`` naming the field, and accept
the values on the bounds. A spec update that adds a kind of constraint these tests do not derive
(a ``pattern``, say) fails :func:`test_every_constraint_keyword_is_derived` until it is covered.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from exoccm.sim.errors import ApiError
from exoccm.sim.validation import (
    validate_add_service,
    validate_create_load_balancer,
    validate_update_load_balancer,
    validate_update_service,
)
from tests.sim.helpers import MISSING, add_service, create_nlb, service_body, spec_document

pytestmark = pytest.mark.anyio

# operation id -> (method, spec path), the NLB writes that take a request body.
WRITES = {
    "create-load-balancer": ("post", "/load-balancer"),
    "update-load-balancer": ("put", "/load-balancer/{id}"),
    "add-service-to-load-balancer": ("post", "/load-balancer/{id}/service"),
    "update-load-balancer-service": ("put", "/load-balancer/{id}/service/{service-id}"),
}
VALIDATORS = {
    "create-load-balancer": validate_create_load_balancer,
    "update-load-balancer": validate_update_load_balancer,
    "add-service-to-load-balancer": validate_add_service,
    "update-load-balancer-service": validate_update_service,
}
# Keywords a derived case covers, and keywords that constrain nothing.
DERIVED = {
    *("type", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum"),
    *("exclusiveMaximum", "enum", "additionalProperties"),
}
NEUTRAL = {"description", "format", "readOnly", "$ref"}
# (`nullable` is not among them: a nullable field would need other cases.)
# `instance-pool` is the whole instance-pool schema in the spec, of which a request can only
# carry the id (every other field is the pool's own, most of them read-only).
POOL_REFERENCE = "instance-pool"


@dataclass(frozen=True)
class Case:
    path: tuple[str, ...]  # field, or healthcheck and its field
    value: Any
    why: str

    @property
    def field(self) -> str:
        return ".".join(self.path)


def request_schema(operation: str) -> dict[str, Any]:
    method, path = WRITES[operation]
    operation_spec = spec_document()["paths"][path][method]
    schema: dict[str, Any] = operation_spec["requestBody"]["content"]["application/json"]["schema"]
    return schema


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec_document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def fields(operation: str) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(path, resolved schema) of every field of the request, nested objects included."""
    for name, schema in request_schema(operation)["properties"].items():
        if name == POOL_REFERENCE:
            continue
        resolved = resolve(schema)
        if resolved.get("type") == "object" and "properties" in resolved:
            for inner, inner_schema in resolved["properties"].items():
                yield (name, inner), resolve(inner_schema)
        else:
            yield (name,), resolved


def refused_cases(path: tuple[str, ...], schema: dict[str, Any]) -> Iterator[Case]:
    kind = schema.get("type")
    assert not schema.get("nullable"), f"{path}: derive the cases of a nullable field"
    yield Case(path, None, "null for a field that is not nullable")
    if kind == "string":
        yield Case(path, 5, "a number for a string")
        if "enum" in schema:
            yield Case(path, "not-" + schema["enum"][0], "outside the enum")
            yield Case(path, schema["enum"][0].upper(), "another letter case")
        if "minLength" in schema and schema["minLength"] > 0:
            yield Case(path, "x" * (schema["minLength"] - 1), "shorter than minLength")
        if "maxLength" in schema:
            yield Case(path, "x" * (schema["maxLength"] + 1), "longer than maxLength")
    elif kind == "integer":
        yield Case(path, "1", "a string for an integer")
        yield Case(path, 1.5, "a fraction for an integer")
        yield Case(path, True, "a boolean for an integer")
        low, high = integer_bounds(schema)
        yield Case(path, low - 1, "below the minimum")
        yield Case(path, high + 1, "above the maximum")
    elif kind == "object":
        yield Case(path, ["a"], "an array for an object")
        if schema.get("additionalProperties", {}).get("type") == "string":
            yield Case(path, {"key": 1}, "a non-string value")
    else:
        raise AssertionError(f"no cases derived for {path} of type {kind!r}")


def integer_bounds(schema: dict[str, Any]) -> tuple[int, int]:
    """The smallest and largest integer allowed (OpenAPI 3.0: exclusive bounds are booleans)."""
    low = schema["minimum"] + (1 if schema.get("exclusiveMinimum") else 0)
    high = schema["maximum"] - (1 if schema.get("exclusiveMaximum") else 0)
    return low, high


def accepted_values(schema: dict[str, Any]) -> list[Any]:
    """Values on the bounds, which the API takes."""
    if "enum" in schema:
        return list(schema["enum"])
    if schema.get("type") == "string":
        return ["x" * max(schema.get("minLength", 0), 1), "x" * schema["maxLength"]]
    if schema.get("type") == "integer":
        return list(integer_bounds(schema))
    return [{"key": "value"}]


def with_value(base: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    target = body
    for name in path[:-1]:
        target = target.setdefault(name, {})
    target[path[-1]] = value
    return body


def base_body(operation: str) -> dict[str, Any]:
    if operation == "create-load-balancer":
        return {"name": "nlb"}
    if operation == "add-service-to-load-balancer":
        # A healthcheck the boundary values of interval and timeout cannot make inconsistent.
        return service_body(MISSING, healthcheck={"mode": "tcp"})
    return {}


def all_cases(operation: str) -> list[Case]:
    return [case for path, schema in fields(operation) for case in refused_cases(path, schema)]


def test_every_constraint_keyword_is_derived() -> None:
    for operation in WRITES:
        for path, schema in fields(operation):
            unknown = set(schema) - DERIVED - NEUTRAL
            assert unknown == set(), f"{operation} {'.'.join(path)}: derive cases for {unknown}"


def test_the_derived_cases_cover_every_field_and_bound() -> None:
    """The derivation itself can fail: it must yield the limits known from the spec's text."""
    cases = {(case.field, repr(case.value)) for case in all_cases("add-service-to-load-balancer")}
    assert ("name", "''") in cases
    assert ("description", repr("x" * 256)) in cases
    assert ("healthcheck.uri", "''") in cases
    assert ("healthcheck.tls-sni", repr("x" * 256)) in cases
    assert ("healthcheck.interval", "4") in cases
    assert ("healthcheck.timeout", "61") in cases
    assert ("healthcheck.retries", "21") in cases
    assert ("target-port", "65536") in cases
    assert ("strategy", "'not-maglev-hash'") in cases
    assert ("protocol", "'TCP'") in cases
    assert ("labels", "{'key': 1}") in {
        (c.field, repr(c.value)) for c in all_cases("create-load-balancer")
    }


@pytest.mark.parametrize("operation", WRITES)
async def test_every_limit_of_the_spec_is_refused_with_a_message_naming_the_field(
    client: httpx.AsyncClient, pool: dict[str, Any], operation: str
) -> None:
    lb = await create_nlb(client)
    service = await add_service(client, lb, pool["id"])
    url = {
        "create-load-balancer": "/load-balancer",
        "update-load-balancer": f"/load-balancer/{lb}",
        "add-service-to-load-balancer": f"/load-balancer/{lb}/service",
        "update-load-balancer-service": f"/load-balancer/{lb}/service/{service}",
    }[operation]
    method = WRITES[operation][0]
    base = base_body(operation)
    if operation == "add-service-to-load-balancer":
        base = with_value(base, ("instance-pool",), {"id": pool["id"]})
        base["port"] = 8080  # port 80 is taken by the service above
    before = (await client.get(f"/load-balancer/{lb}")).json()
    cases = all_cases(operation)
    assert len(cases) >= 5
    wrong = []
    for case in cases:
        response = await client.request(method, url, json=with_value(base, case.path, case.value))
        message = response.json().get("message", "") if response.status_code == 400 else ""
        if response.status_code != 400 or f"{case.field}:" not in message:
            wrong.append(
                f"{case.field} = {case.value!r} ({case.why}): {response.status_code} "
                f"{response.text[:120]}"
            )
    assert wrong == []
    # Nothing was changed by a refused request.
    assert (await client.get(f"/load-balancer/{lb}")).json() == before


@pytest.mark.parametrize("operation", WRITES)
def test_every_value_on_a_bound_of_the_spec_is_accepted(operation: str) -> None:
    base = base_body(operation)
    for path, schema in fields(operation):
        for value in accepted_values(schema):
            body = with_value(base, path, value)
            if path == ("healthcheck", "timeout"):
                body["healthcheck"]["interval"] = 300  # the timeout may not exceed it
            if path == ("healthcheck", "interval"):
                body["healthcheck"]["timeout"] = 2
            try:
                VALIDATORS[operation](body)
            except ApiError as error:
                pytest.fail(f"{operation}: {'.'.join(path)} = {value!r} refused: {error.message}")
