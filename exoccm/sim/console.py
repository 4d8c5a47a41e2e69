"""Out-of-band changes to load balancers, as a user in the web console would make them.

They take effect at once (no Operation) and obey the API's rules, except that ``state`` may be
set too (to simulate e.g. an NLB in ``error`` or ``migrating``). A field set to ``None`` is
removed, as the reset-field endpoints would. Keys may be given in kebab-case or snake_case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exoccm.sim.cloud import Cloud
from exoccm.sim.constants import LOAD_BALANCER_STATES, SERVICE_STATES
from exoccm.sim.errors import ApiError, SimulatorLookupError
from exoccm.sim.state import Fields, LoadBalancer, Zone
from exoccm.sim.validation import (
    LOAD_BALANCER_FIELDS,
    SERVICE_UPDATE_FIELDS,
    check_object,
    enum,
    merge_service_update,
)

_REMOVABLE_LOAD_BALANCER_FIELDS = ("description", "labels")
_REMOVABLE_SERVICE_FIELDS = ("description",)
_LOAD_BALANCER_EDIT_FIELDS = {
    **LOAD_BALANCER_FIELDS,
    "state": enum(tuple(sorted(LOAD_BALANCER_STATES))),
}
_SERVICE_EDIT_FIELDS = {**SERVICE_UPDATE_FIELDS, "state": enum(tuple(sorted(SERVICE_STATES)))}


def edit_load_balancer(zone: Zone, lb_id: str, fields: Mapping[str, Any]) -> None:
    lb = find_load_balancer(zone, lb_id)
    changes, removals = _split(fields, _REMOVABLE_LOAD_BALANCER_FIELDS)
    checked = _check(changes, _LOAD_BALANCER_EDIT_FIELDS)
    zone.will_change("load_balancers", lb.id)
    lb.fields.update(checked)
    for name in removals:
        lb.fields.pop(name, None)


def edit_load_balancer_service(
    zone: Zone, lb_id: str, service_id: str, fields: Mapping[str, Any]
) -> None:
    lb = find_load_balancer(zone, lb_id)
    service = lb.services.get(service_id.lower())
    if service is None:
        raise SimulatorLookupError(f"load balancer {lb_id} has no service {service_id}")
    changes, removals = _split(fields, _REMOVABLE_SERVICE_FIELDS)
    checked = _check(changes, _SERVICE_EDIT_FIELDS)
    try:
        merged = merge_service_update(service, checked)
    except ApiError as error:
        raise ValueError(error.message) from None
    for other in lb.services.values():
        if other is not service and (other["port"], other["protocol"]) == (
            merged["port"],
            merged["protocol"],
        ):
            raise ValueError(
                f"port {merged['port']}/{merged['protocol']} is already used by service "
                f"{other['id']} of load balancer {lb.id}"
            )
    zone.will_change("load_balancers", lb.id)
    service.update(merged)
    for name in removals:
        service.pop(name, None)


def delete_load_balancer(cloud: Cloud, zone: Zone, lb_id: str) -> None:
    lb = find_load_balancer(zone, lb_id)
    zone.will_change("load_balancers", lb.id)
    del zone.load_balancers[lb.id]
    cloud.load_balancer_addresses.release(lb.fields["ip"])


def find_load_balancer(zone: Zone, lb_id: str) -> LoadBalancer:
    lb = zone.load_balancers.get(lb_id.lower())
    if lb is None:
        raise SimulatorLookupError(f"load balancer {lb_id} does not exist in zone {zone.name}")
    return lb


def _split(fields: Mapping[str, Any], removable: tuple[str, ...]) -> tuple[Fields, list[str]]:
    changes: Fields = {}
    removals = []
    for key, value in fields.items():
        name = key.replace("_", "-")
        if value is None:
            if name not in removable:
                raise ValueError(f"{name} cannot be removed; removable: {', '.join(removable)}")
            removals.append(name)
        else:
            changes[name] = value
    return changes, removals


def _check(changes: Fields, allowed: Mapping[str, Any]) -> Fields:
    try:
        return check_object(changes, allowed, (), "request body")
    except ApiError as error:
        raise ValueError(error.message.replace("request body: ", "")) from None
