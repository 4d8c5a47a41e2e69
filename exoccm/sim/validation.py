"""Request-body validation for the load balancer endpoints, as the API does it.

Hand-written (checking every request against the OpenAPI document would be too slow for the
benchmarks) from the spec's request schemas. Stricter than the spec in one way: unknown fields
are rejected, so a misspelt field (``targetPort``) fails loudly instead of being ignored.
Every message names the field and the allowed values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from exoccm.sim.constants import (
    HEALTHCHECK_DEFAULTS,
    HEALTHCHECK_MODES,
    SERVICE_PROTOCOLS,
    SERVICE_STRATEGIES,
)
from exoccm.sim.errors import bad_request

Checker = Callable[[Any, str], Any]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def string(min_length: int, max_length: int) -> Checker:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise bad_request(f"{where}: must be a string, got {_json_type(value)}")
        if not min_length <= len(value) <= max_length:
            raise bad_request(
                f"{where}: must be {min_length} to {max_length} characters long, got {len(value)}"
            )
        return value

    return check


def integer(minimum: int, maximum: int) -> Checker:
    def check(value: Any, where: str) -> int:
        # bool is an int in Python but not in JSON.
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_request(f"{where}: must be an integer, got {_json_type(value)}")
        if not minimum <= value <= maximum:
            raise bad_request(f"{where}: must be between {minimum} and {maximum}, got {value}")
        return value

    return check


def enum(values: tuple[str, ...]) -> Checker:
    def check(value: Any, where: str) -> str:
        if value not in values:
            raise bad_request(f"{where}: must be one of {', '.join(values)}, got {value!r}")
        assert isinstance(value, str)
        return value

    return check


def labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f"{where}: must be an object mapping strings to strings")
    return dict(value)


def uuid_string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_uuid(value):
        raise bad_request(f"{where}: must be a UUID, got {value!r}")
    return value.lower()


def pool_reference(value: Any, where: str) -> dict[str, str]:
    # The spec allows the whole instance-pool schema here; only its id matters.
    if not isinstance(value, dict) or "id" not in value:
        raise bad_request(f'{where}: must be an object with the pool\'s "id"')
    return {"id": uuid_string(value["id"], f"{where}.id")}


def obj(fields: Mapping[str, Checker], required: tuple[str, ...] = ()) -> Checker:
    def check(value: Any, where: str) -> dict[str, Any]:
        return check_object(value, fields, required, where)

    return check


def check_object(
    value: Any, fields: Mapping[str, Checker], required: tuple[str, ...], where: str
) -> dict[str, Any]:
    """Check a JSON object field by field; return a copy holding the checked values."""
    if not isinstance(value, dict):
        raise bad_request(f"{where}: must be a JSON object, got {_json_type(value)}")
    prefix = "" if where == "request body" else f"{where}."
    missing = [name for name in required if name not in value]
    if missing:
        raise bad_request(f"{where}: missing required field(s) {', '.join(missing)}")
    checked: dict[str, Any] = {}
    for name, item in value.items():
        checker = fields.get(name)
        if checker is None:
            raise bad_request(
                f"{where}: unknown field {name!r}; allowed fields are {', '.join(fields)}"
            )
        checked[name] = checker(item, prefix + name)
    return checked


PORT = integer(1, 65535)
HEALTHCHECK_FIELDS: Mapping[str, Checker] = {
    "mode": enum(HEALTHCHECK_MODES),
    "port": PORT,
    "interval": integer(5, 300),
    "timeout": integer(2, 60),
    "retries": integer(1, 20),
    "uri": string(1, 255),
    "tls-sni": string(1, 255),
}
LOAD_BALANCER_FIELDS: Mapping[str, Checker] = {
    "name": string(1, 255),
    "description": string(0, 255),
    "labels": labels,
}
# Update-service: the spec gives `name` no minimum length here, but a service's name has one
# (the load-balancer-service schema), so an empty name would make the resource itself invalid.
SERVICE_UPDATE_FIELDS: Mapping[str, Checker] = {
    "name": string(1, 255),
    "description": string(0, 255),
    "protocol": enum(SERVICE_PROTOCOLS),
    "strategy": enum(SERVICE_STRATEGIES),
    "port": PORT,
    "target-port": PORT,
    "healthcheck": obj(HEALTHCHECK_FIELDS),
}
SERVICE_ADD_FIELDS: Mapping[str, Checker] = {
    **SERVICE_UPDATE_FIELDS,
    "instance-pool": pool_reference,
}
SERVICE_ADD_REQUIRED = (
    "name",
    "instance-pool",
    "protocol",
    "strategy",
    "port",
    "target-port",
    "healthcheck",
)


def validate_create_load_balancer(body: Any) -> dict[str, Any]:
    return check_object(body, LOAD_BALANCER_FIELDS, ("name",), "request body")


def validate_update_load_balancer(body: Any) -> dict[str, Any]:
    return check_object(body, LOAD_BALANCER_FIELDS, (), "request body")


def validate_add_service(body: Any) -> dict[str, Any]:
    """The checked body with healthcheck defaults filled in, as the API stores it."""
    service = check_object(body, SERVICE_ADD_FIELDS, SERVICE_ADD_REQUIRED, "request body")
    healthcheck = {
        **HEALTHCHECK_DEFAULTS,
        "port": service["target-port"],
        **service["healthcheck"],
    }
    check_healthcheck(healthcheck)
    service["healthcheck"] = healthcheck
    return service


def validate_update_service(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and "instance-pool" in body:
        raise bad_request(
            "instance-pool: a service's instance pool cannot be changed; delete the service "
            "and add it again with the new pool"
        )
    return check_object(body, SERVICE_UPDATE_FIELDS, (), "request body")


def apply_service_update(service: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The service's fields after a partial update: omitted fields (and omitted healthcheck
    fields) keep their values."""
    merged = dict(service)
    for name, value in patch.items():
        merged[name] = {**service["healthcheck"], **value} if name == "healthcheck" else value
    return merged


def merge_service_update(service: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`apply_service_update`, rejecting a result whose healthcheck is inconsistent."""
    merged = apply_service_update(service, patch)
    check_healthcheck(merged["healthcheck"])
    return merged


def check_healthcheck(healthcheck: Mapping[str, Any]) -> None:
    if healthcheck["timeout"] > healthcheck["interval"]:
        raise bad_request(
            f"healthcheck.timeout ({healthcheck['timeout']} s) must be lower than or equal to "
            f"healthcheck.interval ({healthcheck['interval']} s)"
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "an array"
    return "an object"
