"""The operations the simulator serves, by spec operation id, and matching paths to them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from exoccm.sim import routes_compute as compute
from exoccm.sim import routes_lb as lb
from exoccm.sim.call import Handler
from exoccm.sim.errors import ApiError


@dataclass(frozen=True, slots=True)
class Route:
    """One spec operation: ``template`` is its path in the spec, relative to ``/v2``."""

    operation_id: str
    method: str
    template: str
    handler: Handler
    query_params: tuple[str, ...] = ()
    public: bool = False  # served without credentials (list-zones)
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.template.strip("/").split("/")))

    @property
    def writes(self) -> bool:
        """Whether the operation changes state (and answers with an Operation)."""
        return self.method != "GET"

    def match(self, segments: list[str]) -> dict[str, str] | None:
        params = {}
        for pattern, segment in zip(self.segments, segments, strict=True):
            if pattern.startswith("{"):
                params[pattern[1:-1]] = segment
            elif pattern != segment:
                return None
        return params


ROUTES: tuple[Route, ...] = (
    Route("list-load-balancers", "GET", "/load-balancer", lb.list_load_balancers),
    Route("create-load-balancer", "POST", "/load-balancer", lb.create_load_balancer),
    Route("get-load-balancer", "GET", "/load-balancer/{id}", lb.get_load_balancer),
    Route("update-load-balancer", "PUT", "/load-balancer/{id}", lb.update_load_balancer),
    Route("delete-load-balancer", "DELETE", "/load-balancer/{id}", lb.delete_load_balancer),
    Route(
        "reset-load-balancer-field",
        "DELETE",
        "/load-balancer/{id}/{field}",
        lb.reset_load_balancer_field,
    ),
    Route(
        "add-service-to-load-balancer",
        "POST",
        "/load-balancer/{id}/service",
        lb.add_service_to_load_balancer,
    ),
    Route(
        "get-load-balancer-service",
        "GET",
        "/load-balancer/{id}/service/{service-id}",
        lb.get_load_balancer_service,
    ),
    Route(
        "update-load-balancer-service",
        "PUT",
        "/load-balancer/{id}/service/{service-id}",
        lb.update_load_balancer_service,
    ),
    Route(
        "delete-load-balancer-service",
        "DELETE",
        "/load-balancer/{id}/service/{service-id}",
        lb.delete_load_balancer_service,
    ),
    Route(
        "reset-load-balancer-service-field",
        "DELETE",
        "/load-balancer/{id}/service/{service-id}/{field}",
        lb.reset_load_balancer_service_field,
    ),
    Route(
        "list-instances",
        "GET",
        "/instance",
        compute.list_instances,
        query_params=("manager-id", "manager-type", "ip-address", "labels"),
    ),
    Route("get-instance", "GET", "/instance/{id}", compute.get_instance),
    Route("list-instance-pools", "GET", "/instance-pool", compute.list_instance_pools),
    Route("get-instance-pool", "GET", "/instance-pool/{id}", compute.get_instance_pool),
    Route("list-instance-types", "GET", "/instance-type", compute.list_instance_types),
    Route("get-instance-type", "GET", "/instance-type/{id}", compute.get_instance_type),
    Route("list-zones", "GET", "/zone", compute.list_zones, public=True),
    Route("get-operation", "GET", "/operation/{id}", compute.get_operation),
    Route("list-sks-clusters", "GET", "/sks-cluster", compute.list_sks_clusters),
    Route("get-sks-cluster", "GET", "/sks-cluster/{id}", compute.get_sks_cluster),
    Route(
        "get-sks-nodepool",
        "GET",
        "/sks-cluster/{id}/nodepool/{sks-nodepool-id}",
        compute.get_sks_nodepool,
    ),
)

OPERATION_IDS = frozenset(route.operation_id for route in ROUTES)
WRITE_OPERATION_IDS = frozenset(route.operation_id for route in ROUTES if route.writes)


class Router:
    """Finds the route of a ``/v2``-relative path; literal segments win over parameters."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._by_length: dict[int, list[Route]] = {}
        # Fewer parameters first: /load-balancer/{id}/service beats /load-balancer/{id}/{field}.
        for route in sorted(routes, key=lambda r: sum(s.startswith("{") for s in r.segments)):
            self._by_length.setdefault(len(route.segments), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and path parameters, or ApiError 404 (no such path) / 405 (wrong method)."""
        segments = [unquote(segment) for segment in path.strip("/").split("/")]
        allowed = []
        for route in self._by_length.get(len(segments), ()):
            params = route.match(segments)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        if allowed:
            methods = " or ".join(sorted(set(allowed)))
            raise ApiError(405, f"method {method} is not allowed on /v2{path}; use {methods}")
        raise ApiError(404, f"no Exoscale API operation at /v2{path}")


ROUTER = Router(ROUTES)
