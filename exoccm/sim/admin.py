"""The admin HTTP API under ``/_sim/``: the Simulator's control methods, over JSON.

``POST /_sim/<method>`` with a JSON object of the method's keyword arguments calls
``Simulator.<method>`` and answers ``{"result": ...}``. Read-only methods (``load_balancers``,
``requests``, ``count``, ``zones``) also answer ``GET`` with the arguments as query parameters.
No Exoscale signature is needed; bad arguments give 400 and unknown resources 404, both as
``{"message": ...}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exoccm.sim.faults import Fault

if TYPE_CHECKING:
    from exoccm.sim.simulator import Simulator

Action = Callable[["Simulator", dict[str, Any]], Any]


def _edit_load_balancer(sim: Simulator, args: dict[str, Any]) -> None:
    fields = args.pop("fields", {})
    sim.edit_load_balancer(**args, **fields)


def _edit_service(sim: Simulator, args: dict[str, Any]) -> None:
    fields = args.pop("fields", {})
    sim.edit_load_balancer_service(**args, **fields)


def _inject(sim: Simulator, args: dict[str, Any]) -> None:
    args["fault"] = Fault.from_json(args.get("fault"))
    sim.inject(**args)


def _add_api_key(sim: Simulator, args: dict[str, Any]) -> dict[str, str]:
    key, secret = sim.add_api_key(**args)
    return {"key": key, "secret": secret}


def _set_latency(sim: Simulator, args: dict[str, Any]) -> None:
    latency = args.get("latency")
    if isinstance(latency, list):
        args["latency"] = tuple(latency)
    sim.set_operation_latency(**args)


def _no_arguments(name: str, args: dict[str, Any]) -> None:
    if args:
        raise TypeError(f"{name} takes no arguments, got {sorted(args)}")


def _zones(sim: Simulator, args: dict[str, Any]) -> list[str]:
    _no_arguments("zones", args)
    return list(sim.zones)


def _requests(sim: Simulator, args: dict[str, Any]) -> list[dict[str, Any]]:
    _no_arguments("requests", args)
    return [dataclasses.asdict(record) for record in sim.requests]


def _count(sim: Simulator, args: dict[str, Any]) -> int:
    if isinstance(args.get("status"), str):
        args["status"] = int(args["status"])
    return sim.count(**args)


ACTIONS: dict[str, Action] = {
    "add_api_key": _add_api_key,
    "add_instance_type": lambda sim, args: sim.add_instance_type(**args),
    "add_instance_pool": lambda sim, args: sim.add_instance_pool(**args),
    "add_instance": lambda sim, args: sim.add_instance(**args),
    "add_sks_cluster": lambda sim, args: sim.add_sks_cluster(**args),
    "set_instance_state": lambda sim, args: sim.set_instance_state(**args),
    "delete_instance": lambda sim, args: sim.delete_instance(**args),
    "set_instance_health": lambda sim, args: sim.set_instance_health(**args),
    "edit_load_balancer": _edit_load_balancer,
    "edit_load_balancer_service": _edit_service,
    "delete_load_balancer_out_of_band": lambda sim, args: sim.delete_load_balancer_out_of_band(
        **args
    ),
    "load_balancers": lambda sim, args: sim.load_balancers(**args),
    "inject": _inject,
    "clear_faults": lambda sim, args: sim.clear_faults(**args),
    "set_operation_latency": _set_latency,
    "advance": lambda sim, args: sim.advance(**args),
    "reset": lambda sim, args: sim.reset(**args),
    "requests": _requests,
    "count": _count,
    "zones": _zones,
}
READ_ONLY_ACTIONS = frozenset({"load_balancers", "requests", "count", "zones"})


def admin_routes(simulator: Simulator) -> list[Route]:
    async def call(request: Request) -> Response:
        name = request.path_params["action"]
        action = ACTIONS.get(name)
        if action is None:
            return _message(404, f"no admin action {name!r}; actions: {', '.join(ACTIONS)}")
        if request.method == "GET":
            if name not in READ_ONLY_ACTIONS:
                return _message(405, f"{name} changes state: use POST")
            args: Any = dict(request.query_params)
        else:
            raw = await request.body()
            try:
                args = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError as error:
                return _message(400, f"malformed JSON: {error}")
            if not isinstance(args, dict):
                return _message(400, "send the keyword arguments as a JSON object")
        try:
            result = action(simulator, args)
        except LookupError as error:
            return _message(404, str(error))
        except (ValueError, TypeError) as error:
            return _message(400, f"{name}: {error}")
        return Response(orjson.dumps({"result": result}), media_type="application/json")

    return [Route("/{action}", call, methods=["GET", "POST"])]


def _message(status: int, message: str) -> Response:
    return Response(
        orjson.dumps({"message": message}), status_code=status, media_type="application/json"
    )
