"""What the data plane should be doing, read from the simulated cloud's state.

One :class:`ListenerSpec` per NLB service that carries traffic: its NLB is neither being
created nor deleted, and the service is ``running`` or ``updating`` (an update takes effect when
its Operation succeeds; until then the old settings keep serving, as on a real NLB). Its members
are the target pool's running instances with a public IPv4, the same ones ``healthcheck-status``
lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from exoccm.sim.cloud import Cloud
from exoccm.sim.dataplane_probe import Healthcheck
from exoccm.sim.render import serving_members
from exoccm.sim.state import Fields

SERVING_SERVICE_STATES = frozenset({"running", "updating"})
NON_SERVING_LOAD_BALANCER_STATES = frozenset({"creating", "deleting"})

ListenerKey = tuple[str, str, str]
"""(zone, NLB id, NLB service id)."""


@dataclass(frozen=True, slots=True)
class Member:
    instance_id: str
    ip: str
    marked_unhealthy: bool = False  # by the test (``set_instance_health``): never gets traffic


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    zone: str
    load_balancer_id: str
    service_id: str
    address: str
    port: int
    protocol: str
    strategy: str
    target_port: int
    healthcheck: Healthcheck
    members: tuple[Member, ...]

    @property
    def key(self) -> ListenerKey:
        return (self.zone, self.load_balancer_id, self.service_id)

    @property
    def binding(self) -> tuple[str, int, str]:
        """What the listening socket depends on: a change means closing it and opening anew."""
        return (self.address, self.port, self.protocol)

    def describe(self) -> str:
        return f"{self.protocol} {self.address}:{self.port} (NLB service {self.service_id})"


def desired_listeners(cloud: Cloud) -> dict[ListenerKey, ListenerSpec]:
    """Every NLB service that should carry traffic now. Call with ``cloud.lock`` held."""
    wanted: dict[ListenerKey, ListenerSpec] = {}
    for zone in cloud.zones.values():
        for lb in zone.load_balancers.values():
            if lb.state in NON_SERVING_LOAD_BALANCER_STATES:
                continue
            for service in lb.services.values():
                if service["state"] not in SERVING_SERVICE_STATES:
                    continue
                members = tuple(
                    Member(instance.id, str(instance.fields["public-ip"]), not instance.healthy)
                    for instance in serving_members(zone, service["instance-pool"]["id"])
                )
                spec = ListenerSpec(
                    zone=zone.name,
                    load_balancer_id=lb.id,
                    service_id=str(service["id"]),
                    address=str(lb.fields["ip"]),
                    port=int(service["port"]),
                    protocol=str(service["protocol"]),
                    strategy=str(service["strategy"]),
                    target_port=int(service["target-port"]),
                    healthcheck=_healthcheck(service["healthcheck"]),
                    members=members,
                )
                wanted[spec.key] = spec
    return wanted


def _healthcheck(fields: Fields) -> Healthcheck:
    return Healthcheck(
        mode=str(fields["mode"]),
        port=int(fields["port"]),
        interval=int(fields["interval"]),
        timeout=int(fields["timeout"]),
        retries=int(fields["retries"]),
        uri=fields.get("uri"),
        tls_sni=fields.get("tls-sni"),
    )
