"""The hostile tenant: Services in namespaces of their own that name NLBs which are not theirs.

As a tenant with read access to the cluster would, the attackers read the ID of a victim's NLB
from the victim's ``id`` annotation (and its UID from its metadata), then name it:

* ``steal-by-id``: by ``id`` alone, to take the NLB over;
* ``steal-as-external``: by ``id`` with ``external: "true"`` and a ``service-name`` equal to the
  victim's NLB service on the victim's own port, to point that port at the attacker;
* ``foreign-by-id`` and ``foreign-as-external``: the same against an NLB labelled as another
  cluster's (``managed-by=exoccm``, ``k8s-cluster=elsewhere``), made beforehand
  (:mod:`chaos.outsiders`).

Every one must be refused (a Warning naming the owner, no write). Attackers come and go during
the storm. Victims are Services of the ordinary workload, chosen once converged and *frozen*
(the workload leaves them alone from then on), so any later write to their NLB can only be made
on an attacker's behalf.

Besides, each hostile namespace has a *pair*: two Services naming one hand-made NLB (no labels)
by ``id``, the second created a few seconds after the first. The first adopts the NLB, the
second must be refused. Past the middle of the storm the first is deleted: the NLB must stay
and the second must take it over, IP and all.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field

import httpx

from chaos.checks import Cloud, check_placed
from chaos.outsiders import FOREIGN_SERVICE, OTHER_CLUSTER, Outsider
from chaos.workload import PREFIX, TCP_PORTS, ZONE, Workload
from exoccm.kube.objects import Obj
from exoccm.kube.resources import SERVICES
from exoccm.testing.services import service_port
from exoccm.testing.simprocess import SimProcess

ID = PREFIX + "id"
EXTERNAL = PREFIX + "external"
SERVICE_NAME = PREFIX + "service-name"

ATTACKS = ("steal-by-id", "steal-as-external", "foreign-by-id", "foreign-as-external")

Key = tuple[str, str]


@dataclass
class Victim:
    key: Key
    uid: str
    nlb_id: str
    ip: str
    labels: dict[str, str]
    ports: list[tuple[int, str]]  # (port, protocol), protocol in lower case
    zone: str | None  # its zone annotation, copied by the attackers
    since: int  # request log index: no write to its NLB may come after it


@dataclass
class Attacker:
    key: Key
    uid: str  # "" when the create's answer was lost (the apiserver went away): it may exist
    kind: str
    target: str  # the NLB ID it names
    owner: str  # what the refusal Warning must name


@dataclass
class Pair:
    """Two Services of one namespace naming one hand-made NLB by ``id``."""

    namespace: str
    nlb: Obj
    first: Key | None = None
    second: Key | None = None
    created_at: float = 0.0
    converged_at: int | None = None  # request log index once the first had adopted the NLB
    handover_at: int | None = None  # request log index when the first was deleted

    @property
    def holder(self) -> Key | None:
        return self.second if self.handover_at is not None else self.first

    @property
    def waiting(self) -> Key | None:
        return None if self.handover_at is not None else self.second


@dataclass
class HostileTenant:
    http: httpx.Client
    sim: SimProcess
    rng: random.Random
    namespaces: tuple[str, ...]
    workload: Workload
    cloud: Cloud
    max_attackers: int = 6
    max_victims: int = 3
    handover_after: float = 0.55  # share of the storm
    foreign: Obj = field(default_factory=dict)
    foreign_since: int = 0
    pairs: list[Pair] = field(default_factory=list)
    victims: list[Victim] = field(default_factory=list)
    attackers: list[Attacker] = field(default_factory=list)
    deleted: set[Key] = field(default_factory=set)
    maybe_deleted: set[Key] = field(default_factory=set)  # the delete's answer was lost
    counts: dict[str, int] = field(default_factory=dict)
    _nominee: tuple[Key, str] | None = None  # (Service, its NLB ID), frozen, to confirm
    _serial: int = 0

    # -- before the storm -----------------------------------------------------------------------

    def prepare(self) -> None:
        """Make the other cluster's NLB and one hand-made NLB per hostile namespace."""
        outsider = Outsider(self.sim, self.cloud.default_zone)
        self.foreign = outsider.other_clusters_nlb(self.rng)
        for namespace in self.namespaces:
            self.pairs.append(Pair(namespace, outsider.hand_made_nlb(f"hand-made-{namespace}")))
        self.foreign_since = self.sim.count()

    def not_ours(self) -> frozenset[str]:
        """NLBs made outside exoccm: expected in the cloud, never leaks."""
        return frozenset({self.foreign["id"], *(p.nlb["id"] for p in self.pairs)})

    # -- the storm ------------------------------------------------------------------------------

    def refused(self) -> set[Key]:
        """Services that must never get an NLB: the live attackers and the waiting halves."""
        keys = {a.key for a in self.attackers if a.key not in self.deleted}
        keys |= {p.waiting for p in self.pairs if p.waiting is not None}
        return keys

    def step(self, now: float, storm_share: float) -> list[str]:
        """The pairs' next moves and one attack or retreat; lines for the progress log."""
        notes = [n for p in self.pairs if (n := self._pair_step(p, now, storm_share))]
        roll = self.rng.random()
        live = [a for a in self.attackers if a.key not in self.deleted]
        if self._nominee is not None:
            notes.append(self._confirm_victim())
        elif roll < 0.25 and live:
            notes.append(self._retreat(self.rng.choice(live)))
        elif roll < 0.85 and len(live) < self.max_attackers:
            notes.append(self._attack())
        return notes

    def _pair_step(self, pair: Pair, now: float, storm_share: float) -> str | None:
        if pair.first is None:
            pair.created_at = now
            pair.first = self._ensure(pair.namespace, "claim-first", 80, pair.nlb["id"])
            return f"hostile: {_name(pair.first)} names hand-made NLB {pair.nlb['id']}"
        if pair.second is None:
            if now - pair.created_at < 2.0:  # the first must be the older by creation time
                return None
            pair.second = self._ensure(pair.namespace, "claim-second", 443, pair.nlb["id"])
            return f"hostile: {_name(pair.second)} names it too (must be refused)"
        if pair.converged_at is None:
            if not self._converged(pair.first, pair.nlb["id"]):
                return None
            pair.converged_at = self.sim.count()
            return f"hostile: {_name(pair.first)} adopted hand-made NLB {pair.nlb['id']}"
        if pair.handover_at is not None or storm_share < self.handover_after:
            return None
        before = self.sim.count()  # exoccm may act on the deletion before it is answered
        if not self._delete(pair.first):
            return None
        pair.handover_at = before
        self._count("handovers")
        return f"hostile: deleted {_name(pair.first)}; {_name(pair.second)} must take over"

    # -- victims --------------------------------------------------------------------------------

    def _nominate(self) -> str:
        """Freeze a converged Service of the workload; confirmed as a victim at the next step."""
        candidates = [s for s in self.workload.changeable() if s not in self.workload.cluster_ip]
        self.rng.shuffle(candidates)
        for key in candidates[:5]:
            service = self._get(key)
            if service is None:
                continue
            lb_id = (service["metadata"].get("annotations") or {}).get(ID)
            if lb_id and self._converged(key, lb_id, service):
                self.workload.frozen.add(key)
                self._nominee = (key, lb_id)
                return f"hostile: {_name(key)} nominated as a victim (frozen)"
        return "hostile: no converged Service to victimise yet"

    def _confirm_victim(self) -> str:
        """A nominee still converged on the same NLB becomes a victim, and is attacked."""
        assert self._nominee is not None
        key, lb_id = self._nominee
        self._nominee = None
        service = self._get(key)
        if service is None or not self._converged(key, lb_id, service):
            self.workload.frozen.discard(key)
            return f"hostile: {_name(key)} no longer converged; released"
        nlb = self._find(lb_id)
        assert nlb is not None
        meta = service["metadata"]
        victim = Victim(
            key=key,
            uid=meta["uid"],
            nlb_id=lb_id,
            ip=nlb["ip"],
            labels=dict(nlb.get("labels") or {}),
            ports=[(p["port"], p.get("protocol", "TCP").lower()) for p in service["spec"]["ports"]],
            zone=(meta.get("annotations") or {}).get(ZONE),
            since=self.sim.count(),
        )
        self.victims.append(victim)
        return self._attack_victim(victim)

    def _converged(self, key: Key, lb_id: str, service: Obj | None = None) -> bool:
        service = service or self._get(key)
        if service is None:
            return False
        nlbs = {zone: self.sim.load_balancers(zone) for zone in self.cloud.pools}
        mine = [
            (zone, n)
            for zone, listed in nlbs.items()
            for n in listed
            if (n.get("labels") or {}).get("k8s-service-uid") == service["metadata"]["uid"]
        ]
        placed = check_placed(_name(key), service, mine, self.cloud)
        return not placed and len(mine) == 1 and mine[0][1]["id"] == lb_id

    # -- attacks --------------------------------------------------------------------------------

    def _attack(self) -> str:
        kind = self.rng.choice(ATTACKS)
        if kind.startswith("foreign"):
            return self._attack_foreign(kind)
        if self.victims and (len(self.victims) >= self.max_victims or self.rng.random() < 0.5):
            return self._attack_victim(self.rng.choice(self.victims))
        return self._nominate()

    def _attack_victim(self, victim: Victim) -> str:
        annotations = {ID: victim.nlb_id}
        if victim.zone:
            annotations[ZONE] = victim.zone  # a careful attacker names the zone too
        if self.rng.random() < 0.5:
            kind, ports = "steal-by-id", [(self.rng.choice(TCP_PORTS), "TCP")]
        else:
            port, protocol = self.rng.choice(victim.ports)
            suffix = "" if protocol == "tcp" else f"-{protocol}"
            annotations |= {EXTERNAL: "true", SERVICE_NAME: f"{victim.uid}-{port}{suffix}"}
            kind, ports = "steal-as-external", [(port, protocol.upper())]
        owner = f"Service {victim.key[0]}/{victim.key[1]}"
        return self._launch(kind, ports, annotations, victim.nlb_id, owner)

    def _attack_foreign(self, kind: str) -> str:
        annotations = {ID: self.foreign["id"]}
        ports = [(self.rng.choice(TCP_PORTS), "TCP")]
        if kind == "foreign-as-external":
            name, port, _ = FOREIGN_SERVICE
            annotations |= {EXTERNAL: "true", SERVICE_NAME: name}
            ports = [(port, "TCP")]
        return self._launch(
            kind, ports, annotations, self.foreign["id"], f"cluster '{OTHER_CLUSTER}'"
        )

    def _launch(
        self,
        kind: str,
        ports: list[tuple[int, str]],
        annotations: dict[str, str],
        target: str,
        owner: str,
    ) -> str:
        self._count(f"launched:{kind}")
        namespace = self.rng.choice(self.namespaces)
        self._serial += 1
        key = (namespace, f"attack-{self._serial:03d}")
        try:
            created = self._post(key, ports, annotations)
        except httpx.HTTPError:
            # It may exist: judged if it does, with the UID it turns out to have.
            self.attackers.append(Attacker(key, "", kind, target, owner))
            return f"hostile: {_name(key)} {kind}: the create's answer was lost"
        if created is None:
            return f"hostile: {kind} attack refused by the apiserver"
        self.attackers.append(Attacker(key, created["metadata"]["uid"], kind, target, owner))
        return f"hostile: {_name(key)} {kind} on NLB {target} ({owner})"

    def _retreat(self, attacker: Attacker) -> str:
        if self._delete(attacker.key):
            self._count("retreats")
            return f"hostile: deleted {_name(attacker.key)}"
        return f"hostile: delete {_name(attacker.key)} failed (apiserver)"

    # -- Kubernetes -----------------------------------------------------------------------------

    def _ensure(self, namespace: str, name: str, port: int, lb_id: str) -> Key | None:
        """A pair's Service, created or found already there (an earlier answer was lost)."""
        key = (namespace, name)
        with contextlib.suppress(httpx.HTTPError):
            self._post(key, [(port, "TCP")], {ID: lb_id})
        return key if self._get(key) is not None else None

    def _post(
        self, key: Key, ports: list[tuple[int, str]], annotations: dict[str, str]
    ) -> Obj | None:
        """Create a LoadBalancer Service; None if the apiserver refused it."""
        namespace, name = key
        body = {
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": name},
                "ports": [service_port(number, protocol) for number, protocol in ports],
            },
        }
        response = self.http.post(SERVICES.path(namespace), json=body)
        if response.status_code >= 400:
            return None
        result: Obj = response.json()
        return result

    def _delete(self, key: Key | None) -> bool:
        if key is None:
            return False
        try:
            response = self.http.delete(SERVICES.path(*key))
        except httpx.HTTPError:
            self.maybe_deleted.add(key)
            return False
        if response.status_code >= 400 and response.status_code != 404:
            return False
        self.deleted.add(key)
        return True

    def _get(self, key: Key) -> Obj | None:
        try:
            response = self.http.get(SERVICES.path(*key))
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        result: Obj = response.json()
        return result

    def _find(self, lb_id: str) -> Obj | None:
        for zone in self.cloud.pools:
            for nlb in self.sim.load_balancers(zone):
                if nlb["id"] == lb_id:
                    return nlb
        return None

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def _name(key: Key | None) -> str:
    return "?" if key is None else f"{key[0]}/{key[1]}"
