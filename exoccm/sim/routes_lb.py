"""Handlers of the Network Load Balancer endpoints (NLBs and their services).

Writes follow one pattern: check the request against the current state (400/404/409 now),
mark the target as in progress, and start an Operation whose success makes the change and
whose failure leaves the target in state ``error`` with the change not made (documented in
``docs/simulator.md``). Every change to an NLB or its services is announced to the zone's
history first (``zone.will_change``), for lagging listings.
"""

from __future__ import annotations

from collections.abc import Callable

from exoccm.sim import render
from exoccm.sim.call import Call
from exoccm.sim.constants import (
    LOAD_BALANCER_RESET_FIELDS,
    MAX_SERVICES_PER_LOAD_BALANCER,
    SERVICE_RESET_FIELDS,
)
from exoccm.sim.errors import bad_request, conflict
from exoccm.sim.state import Fields, LoadBalancer, Zone
from exoccm.sim.validation import (
    apply_service_update,
    merge_service_update,
    validate_add_service,
    validate_create_load_balancer,
    validate_update_load_balancer,
    validate_update_service,
)


def list_load_balancers(call: Call) -> Fields:
    zone = call.zone
    listed = call.listed("load_balancers", zone.load_balancers)
    return {"load-balancers": [render.load_balancer(zone, lb) for lb in listed]}


def get_load_balancer(call: Call) -> Fields:
    return render.load_balancer(call.zone, call.zone.load_balancer(call.params["id"]))


def get_load_balancer_service(call: Call) -> Fields:
    lb = call.zone.load_balancer(call.params["id"])
    return render.service(call.zone, call.zone.service(lb, call.params["service-id"]))


def create_load_balancer(call: Call) -> Fields:
    request = validate_create_load_balancer(call.body)
    zone = call.zone
    lb_id = call.cloud.ids.uuid()
    fields: Fields = {
        "id": lb_id,
        "name": request["name"],
        "state": "creating",
        "ip": call.cloud.load_balancer_addresses.allocate(),
        "created-at": call.cloud.timestamp(),
    }
    for optional in ("description", "labels"):
        if optional in request:
            fields[optional] = request[optional]
    zone.will_change("load_balancers", lb_id)
    zone.load_balancers[lb_id] = LoadBalancer(fields)

    def succeed() -> None:
        lb = zone.load_balancers.get(lb_id)
        if lb is not None and lb.state == "creating":
            zone.will_change("load_balancers", lb_id)
            lb.fields["state"] = "running"

    return call.start_operation(lb_id, succeed, _fail_load_balancer(zone, lb_id))


def update_load_balancer(call: Call) -> Fields:
    lb = _writable_load_balancer(call)
    patch = validate_update_load_balancer(call.body)

    def succeed() -> None:
        current = call.zone.load_balancers.get(lb.id)
        if current is not None:
            call.zone.will_change("load_balancers", lb.id)
            current.fields.update(patch)
            _recover(current.fields)

    return call.start_operation(lb.id, succeed, _fail_load_balancer(call.zone, lb.id))


def reset_load_balancer_field(call: Call) -> Fields:
    lb = _writable_load_balancer(call)
    field = _reset_field(call, LOAD_BALANCER_RESET_FIELDS)

    def succeed() -> None:
        current = call.zone.load_balancers.get(lb.id)
        if current is not None:
            call.zone.will_change("load_balancers", lb.id)
            current.fields.pop(field, None)
            _recover(current.fields)

    return call.start_operation(lb.id, succeed, _fail_load_balancer(call.zone, lb.id))


def delete_load_balancer(call: Call) -> Fields:
    lb = _writable_load_balancer(call)
    zone, cloud = call.zone, call.cloud
    zone.will_change("load_balancers", lb.id)
    lb.fields["state"] = "deleting"

    def succeed() -> None:
        if lb.id in zone.load_balancers:
            zone.will_change("load_balancers", lb.id)
            removed = zone.load_balancers.pop(lb.id)
            cloud.load_balancer_addresses.release(removed.fields["ip"])

    return call.start_operation(lb.id, succeed, _fail_load_balancer(zone, lb.id))


def add_service_to_load_balancer(call: Call) -> Fields:
    lb = _writable_load_balancer(call)
    request = validate_add_service(call.body)
    zone = call.zone
    pool_id = request["instance-pool"]["id"]
    if pool_id not in zone.instance_pools:
        raise bad_request(
            f"instance-pool: instance pool {pool_id} does not exist in zone {zone.name}; "
            "a service can only target a pool in its load balancer's zone"
        )
    if len(lb.services) >= MAX_SERVICES_PER_LOAD_BALANCER:
        raise bad_request(
            f"load balancer {lb.id} already has {len(lb.services)} services, the maximum is "
            f"{MAX_SERVICES_PER_LOAD_BALANCER}; delete one or use another load balancer"
        )
    _check_port_free(lb, request["port"], request["protocol"], exclude=None)
    service_id = call.cloud.ids.uuid()
    zone.will_change("load_balancers", lb.id)
    lb.services[service_id] = {"id": service_id, **request, "state": "creating"}

    def succeed() -> None:
        service = _current_service(zone, lb.id, service_id)
        if service is not None and service["state"] == "creating":
            zone.will_change("load_balancers", lb.id)
            service["state"] = "running"

    return call.start_operation(lb.id, succeed, _fail_service(zone, lb.id, service_id))


def update_load_balancer_service(call: Call) -> Fields:
    lb, service = _writable_service(call)
    patch = validate_update_service(call.body)
    merged = merge_service_update(service, patch)
    if merged["port"] != service["port"] or merged["protocol"] != service["protocol"]:
        _check_port_free(lb, merged["port"], merged["protocol"], exclude=service["id"])
    return _update_service(
        call, lb, service, lambda current: current.update(apply_service_update(current, patch))
    )


def reset_load_balancer_service_field(call: Call) -> Fields:
    lb, service = _writable_service(call)
    field = _reset_field(call, SERVICE_RESET_FIELDS)
    return _update_service(call, lb, service, lambda current: current.pop(field, None))


def _update_service(
    call: Call, lb: LoadBalancer, service: Fields, change: Callable[[Fields], object]
) -> Fields:
    """Mark ``service`` updating and start the operation that applies ``change`` to it."""
    zone, service_id = call.zone, service["id"]
    zone.will_change("load_balancers", lb.id)
    service["state"] = "updating"

    def succeed() -> None:
        current = _current_service(zone, lb.id, service_id)
        if current is not None:
            zone.will_change("load_balancers", lb.id)
            change(current)
            current["state"] = "running"

    return call.start_operation(lb.id, succeed, _fail_service(zone, lb.id, service_id))


def delete_load_balancer_service(call: Call) -> Fields:
    lb, service = _writable_service(call)
    zone, service_id = call.zone, service["id"]
    zone.will_change("load_balancers", lb.id)
    service["state"] = "deleting"

    def succeed() -> None:
        current = zone.load_balancers.get(lb.id)
        if current is not None and service_id in current.services:
            zone.will_change("load_balancers", lb.id)
            current.services.pop(service_id)

    return call.start_operation(lb.id, succeed, _fail_service(zone, lb.id, service_id))


def _writable_load_balancer(call: Call) -> LoadBalancer:
    lb = call.zone.load_balancer(call.params["id"])
    if lb.state == "deleting":
        raise conflict(f"load balancer {lb.id} is being deleted")
    return lb


def _writable_service(call: Call) -> tuple[LoadBalancer, Fields]:
    lb = _writable_load_balancer(call)
    service = call.zone.service(lb, call.params["service-id"])
    if service["state"] == "deleting":
        raise conflict(f"service {service['id']} of load balancer {lb.id} is being deleted")
    return lb, service


def _reset_field(call: Call, allowed: tuple[str, ...]) -> str:
    field = call.params["field"]
    if field not in allowed:
        raise bad_request(f"field {field!r} cannot be reset; resettable: {', '.join(allowed)}")
    return field


def _check_port_free(lb: LoadBalancer, port: int, protocol: str, exclude: str | None) -> None:
    for other in lb.services.values():
        if other["id"] != exclude and other["port"] == port and other["protocol"] == protocol:
            raise bad_request(
                f"port {port}/{protocol} is already used by service {other['id']} "
                f"({other['name']!r}) of load balancer {lb.id}"
            )


def _current_service(zone: Zone, lb_id: str, service_id: str) -> Fields | None:
    lb = zone.load_balancers.get(lb_id)
    return None if lb is None else lb.services.get(service_id)


def _recover(fields: Fields) -> None:
    """A successful write returns a failed resource to service."""
    if fields["state"] == "error":
        fields["state"] = "running"


def _fail_load_balancer(zone: Zone, lb_id: str) -> Callable[[], None]:
    def fail() -> None:
        lb = zone.load_balancers.get(lb_id)
        if lb is not None:
            zone.will_change("load_balancers", lb_id)
            lb.fields["state"] = "error"

    return fail


def _fail_service(zone: Zone, lb_id: str, service_id: str) -> Callable[[], None]:
    def fail() -> None:
        service = _current_service(zone, lb_id, service_id)
        if service is not None:
            zone.will_change("load_balancers", lb_id)
            service["state"] = "error"

    return fail
