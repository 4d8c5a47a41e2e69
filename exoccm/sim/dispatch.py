"""Serving one API request, independent of the web framework.

Order of checks: zone prefix → route → signature → IAM → injected HTTP fault → query and body
→ listing fault (list operations) → handler → the listing fault removes items, a ``malformed``
fault corrupts the successful answer. Every request is logged, whatever its fate. Everything
runs under the cloud's lock and never blocks; a hang is returned as a delay for the caller to
await.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from exoccm.sim.auth import AuthError, verify_request
from exoccm.sim.call import Call
from exoccm.sim.cloud import Cloud, RequestRecord
from exoccm.sim.errors import ApiError, bad_request, not_found
from exoccm.sim.faults import FAULT_HEADER, Fault, corrupt
from exoccm.sim.listings import LISTED_KEYS, leave_out
from exoccm.sim.routing import ROUTER, Route


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """An HTTP request as the signature sees it.

    ``path`` is the path exactly as sent (percent-encoded, with the ``/<zone>`` prefix, without
    the query); ``base_url`` is ``scheme://host[:port]`` as the client addressed the server.
    """

    method: str
    path: str
    query_string: str
    body: bytes
    authorization: str | None
    base_url: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer, to be sent after ``hang`` seconds (an injected hang)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass(slots=True)
class _Trace:
    """What the log records about a request, filled in as processing gets further."""

    zone: str | None = None
    operation_id: str | None = None
    faults: list[str] = field(default_factory=list)
    hang: float = 0.0


def dispatch(cloud: Cloud, request: ApiRequest) -> Reply:
    trace = _Trace()
    with cloud.lock:
        cloud.operations.settle()
        try:
            status, body, headers = _serve(cloud, request, trace)
        except ApiError as error:
            status, body, headers = error.status, error_body(error.message), {}
        cloud.requests.append(
            RequestRecord(
                zone=trace.zone,
                operation_id=trace.operation_id,
                method=request.method,
                path=request.path,
                status=status,
                fault="+".join(trace.faults) or None,
                at=cloud.clock.monotonic(),
            )
        )
    return Reply(status, body, headers, hang=trace.hang)


def error_body(message: str) -> bytes:
    return orjson.dumps({"message": message})


def _serve(cloud: Cloud, request: ApiRequest, trace: _Trace) -> tuple[int, bytes, dict[str, str]]:
    zone_name, api_path = _split_path(request.path)
    zone = cloud.zones.get(zone_name)
    if zone is None:
        raise not_found(
            f"unknown zone {zone_name!r}: this simulator serves {', '.join(cloud.zone_names)}"
        )
    trace.zone = zone_name
    route, params = ROUTER.match(request.method, api_path)
    operation_id = trace.operation_id = route.operation_id

    if not route.public or request.authorization is not None:
        try:
            key = verify_request(
                header=request.authorization,
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                body=request.body,
                keys=cloud.keys,
                # Real time, whatever the simulator's clock: clients sign with the real time,
                # and a test moving a manual clock by hours must not expire their requests.
                now=time.time(),
            )
        except AuthError as error:
            raise ApiError(403, str(error)) from None
        if not key.allows(operation_id):
            raise ApiError(
                403,
                f"forbidden: the IAM policy of API key {key.key} does not allow operation "
                f"{operation_id!r}",
            )

    fault = cloud.faults.take(operation_id, zone_name, "http")
    malformed: Fault | None = None
    if fault is not None and fault.kind == "malformed":
        malformed = fault  # served normally; the answer is corrupted below
    elif fault is not None:
        trace.faults.append(fault.name)
        if fault.kind == "http":
            return fault.status, error_body(fault.message), {}
        if fault.kind == "rate-limited":
            seconds = math.ceil(fault.retry_after)
            message = f"too many requests: retry after {seconds} s"
            return 429, error_body(message), {"Retry-After": str(seconds)}
        trace.hang = fault.seconds
        if not fault.applied:
            return 504, error_body("gateway timeout: the request was not processed"), {}

    call = Call(
        cloud=cloud,
        zone=zone,
        operation_id=operation_id,
        params=params,
        query=_parse_query(request.query_string, route),
        body=_parse_body(request, route),
        base_url=request.base_url,
    )
    listing = operation_id in LISTED_KEYS
    lie = cloud.faults.take(operation_id, zone_name, "listing") if listing else None
    if lie is not None and lie.kind == "listing-lagging":
        call.as_of = cloud.clock.monotonic() - lie.seconds
    try:
        result = route.handler(call)
    finally:
        if call.fault is not None:
            trace.faults.append(call.fault.name)
    if lie is not None:
        # A valid answer, unmarked: unlike a malformed one, nothing tells the client it lies.
        trace.faults.append(lie.name)
        result = leave_out(result, operation_id, lie, cloud.listing_rng)
    if malformed is not None:
        # Only a successful answer is corrupted (an error answer above used the rule up).
        trace.faults.append(malformed.name)
        return 200, corrupt(result, malformed.variant), {FAULT_HEADER: malformed.name}
    return 200, orjson.dumps(result), {}


def _split_path(path: str) -> tuple[str, str]:
    """``/<zone>/v2/<rest>`` → (zone, ``/<rest>``)."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[0] != "" or parts[2] != "v2":
        raise not_found(f"no endpoint at {path}: API paths look like /<zone>/v2/...")
    return parts[1], "/" + (parts[3] if len(parts) > 3 else "")


def _parse_query(query_string: str, route: Route) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name not in route.query_params:
            accepted = ", ".join(route.query_params) or "none"
            raise bad_request(
                f"unknown query parameter {name!r} for {route.operation_id} (accepted: {accepted})"
            )
        if name in query:
            raise bad_request(f"query parameter {name!r} is given more than once")
        query[name] = value
    return query


def _parse_body(request: ApiRequest, route: Route) -> Any:
    if request.method not in ("POST", "PUT"):
        return None  # GET and DELETE take no body; one sent anyway is ignored
    if not request.body.strip():
        raise bad_request(f"{route.operation_id} needs a JSON object as request body")
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as error:
        raise bad_request(f"malformed JSON in the request body: {error}") from None
