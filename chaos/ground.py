"""What a campaign acts on and reads back: the zones, the Services, the NLBs, the observations.

:func:`seed_zones` gives each zone an Instance Pool whose instances are registered as Nodes.
A :class:`Ground` bundles the apiserver connection, the simulator, the ordinary workload, the
hostile tenant and the ingress watch, and reads the state they are judged on: one sample for
the watch, or the whole end state for the checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from chaos import checks, tenancy
from chaos.hostile import HostileTenant
from chaos.ingress import IngressWatch
from chaos.workload import Workload
from exoccm.kube.objects import Obj
from exoccm.kube.resources import EVENTS
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.scenario import register_nodes
from exoccm.testing.simprocess import SimProcess, SimulatorError


def seed_zones(sim: SimProcess, plane: ControlPlane, nodes: Mapping[str, int]) -> dict[str, str]:
    """An Instance Pool of ``nodes[zone]`` instances per zone, each a Node; the pools' IDs."""
    pools = {}
    for zone, count in nodes.items():
        pool = sim.call("add_instance_pool", zone=zone, name=f"chaos-{zone}")
        instances = [
            sim.call("add_instance", zone=zone, name=f"chaos-{zone}-{i}", pool_id=pool["id"])
            for i in range(count)
        ]
        register_nodes(plane, instances, uninitialized=False)
        pools[zone] = str(pool["id"])
    return pools


@dataclass
class State:
    """The end state as the checks judged it."""

    result: checks.CheckResult
    hostile_failures: list[str]

    @property
    def failures(self) -> list[str]:
        return self.result.failures + self.hostile_failures

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        return {
            **self.result.as_json(),
            "passed": self.passed,
            "failures": self.failures,
            "hostile_failures": self.hostile_failures,
        }


@dataclass
class Ground:
    http: httpx.Client
    sim: SimProcess
    cloud: checks.Cloud
    workload: Workload
    hostile: HostileTenant
    watch: IngressWatch

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (*self.workload.namespaces, *self.hostile.namespaces)

    def nlbs(self) -> dict[str, list[Obj]]:
        """Every zone's NLBs, as the simulator has them now (no fault reaches this reading)."""
        return {zone: self.sim.load_balancers(zone) for zone in self.cloud.pools}

    def sample(self, now: float) -> None:
        """One reading for the ingress watch; skipped while the apiserver is away."""
        try:
            before = self.nlbs()
            services = checks.read_services(self.http, self.namespaces)
            after = self.nlbs()
        except (httpx.HTTPError, SimulatorError):
            self.watch.unreadable += 1
            return
        self.watch.sample(now, services, (before, after), self.workload, self.hostile.refused())

    def refusals(self) -> dict[str, list[str]]:
        events: list[Obj] = []
        for namespace in self.namespaces:
            response = self.http.get(EVENTS.path(namespace))
            response.raise_for_status()
            events += response.json()["items"]
        return tenancy.refusal_messages(events)

    def refusals_or_empty(self) -> dict[str, list[str]]:
        try:
            return self.refusals()
        except httpx.HTTPError:
            return {}

    def evaluate(self) -> State:
        """The end-state checks, on a fresh reading of everything."""
        try:
            nlbs = self.nlbs()
            services = checks.read_services(self.http, self.namespaces)
            refusals = self.refusals()
        except (httpx.HTTPError, SimulatorError) as exc:
            return State(checks.CheckResult(failures=[f"cannot read the state: {exc!r}"]), [])
        result = checks.check(
            services,
            nlbs,
            deleted=self.workload.deleted | self.hostile.deleted,
            cloud=self.cloud,
            judged_elsewhere=self.hostile.refused(),
        )
        return State(result, tenancy.judge_state(self.hostile, services, nlbs, refusals))
