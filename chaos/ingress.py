"""Every Service's ingress IP, sampled during the storm: IP stability and NLB continuity.

A public IP is the one thing a user cannot get back (DNS records and firewall rules point at
it), so the campaign does not only judge the end state: about once a second it reads every
Service and every zone's NLBs, as the simulator has them, and judges each Service:

* **No IP change the user did not ask for.** Each zone move and each switch to ClusterIP the
  workload made for a Service allows one change of its IP (a move and a move back may change it
  twice); every other change is a failure naming the Service and both IPs. Allowances a request
  did not use expire once the Service has been settled for :data:`SETTLED_FOR` seconds: its IP
  is that of its only NLB, in the zone it asks for, ``running``.
* **No Service without an NLB.** A LoadBalancer Service that had an IP must never be seen
  without one, nor with an IP no NLB holds (a zone move creates the new NLB and moves the
  status before the old NLB goes). A switch to ClusterIP suspends this until the Service has
  settled again.
* **No second NLB.** A Service may have had, over the whole run, one NLB plus one per zone
  move and per switch to ClusterIP (each makes a new one); more means exoccm made a duplicate,
  e.g. after a listing that lied.
* **Nothing for the hostile tenant.** Services refused by design never show an ingress IP or
  exoccm's cleanup finalizer, and no NLB is ever labelled as theirs.

The NLBs are read before and after the Services, and an IP counts as held if either reading
shows it: a move caught half-way (status already moved, old NLB already gone) is no gap.
Services being deleted are left alone (their status keeps the IP until the finalizer goes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.checks import FINALIZER, UID_LABEL, Cloud
from chaos.workload import Workload
from exoccm.kube.objects import Obj

Key = tuple[str, str]

# How long a Service must look settled before allowances it did not use expire.
SETTLED_FOR = 10.0


@dataclass
class _Track:
    """What the watch knows of one Service (one UID)."""

    last_ip: str | None = None
    armed: bool = False  # it had an IP and no type switch is pending: it must keep one
    moves_seen: int = 0
    switches_seen: int = 0
    allowance: int = 0  # IP changes still allowed by zone moves and type switches
    switch_pending: bool = False
    settled_since: float | None = None


@dataclass
class IngressWatch:
    cloud: Cloud
    tracks: dict[str, _Track] = field(default_factory=dict)
    nlbs_seen: dict[str, set[str]] = field(default_factory=dict)  # Service UID -> NLB IDs
    samples: int = 0
    unreadable: int = 0  # samples skipped: the apiserver or the simulator did not answer
    changes_seen: int = 0
    changes_allowed: int = 0
    allowances_expired: int = 0
    _failures: dict[tuple[str, Key], str] = field(default_factory=dict)
    _repeats: Counter[tuple[str, Key]] = field(default_factory=Counter)

    def sample(
        self,
        now: float,
        services: Mapping[Key, Obj],
        nlbs: Iterable[Mapping[str, list[Obj]]],
        workload: Workload,
        refused: Collection[Key],
    ) -> None:
        """Judge one reading; ``nlbs``: the zones' NLBs read before and after ``services``."""
        readings = list(nlbs)
        held = {nlb.get("ip") for reading in readings for n in reading.values() for nlb in n}
        latest = readings[-1]
        self.samples += 1
        for listed in latest.values():
            for nlb in listed:
                if uid := (nlb.get("labels") or {}).get(UID_LABEL):
                    self.nlbs_seen.setdefault(uid, set()).add(str(nlb["id"]))
        for key, service in sorted(services.items()):
            meta = service["metadata"]
            if key in workload.deleted or meta.get("deletionTimestamp"):
                continue
            if key in refused:
                self._judge_refused(key, service)
                continue
            track = self.tracks.setdefault(meta["uid"], _Track())
            self._note_requests(track, key, workload)
            self._judge(now, key, service, track, held, latest)
            self._count_nlbs(key, meta["uid"], track)

    def _note_requests(self, track: _Track, key: Key, workload: Workload) -> None:
        moves, switches = workload.moves_asked[key], workload.switches_asked[key]
        if moves == track.moves_seen and switches == track.switches_seen:
            return
        track.allowance += moves - track.moves_seen + switches - track.switches_seen
        if switches > track.switches_seen:
            track.switch_pending = True
            track.armed = False
        track.moves_seen, track.switches_seen = moves, switches
        track.settled_since = None

    def _judge(
        self,
        now: float,
        key: Key,
        service: Obj,
        track: _Track,
        held: set[Any],
        nlbs: Mapping[str, list[Obj]],
    ) -> None:
        label = f"{key[0]}/{key[1]}"
        if service["spec"].get("type") != "LoadBalancer":
            track.armed = False
            track.settled_since = None
            return
        ips = _ingress_ips(service)
        ip = ips[0] if ips else None
        if ip is not None and track.last_ip is not None and ip != track.last_ip:
            self.changes_seen += 1
            if track.allowance > 0:
                track.allowance -= 1
                self.changes_allowed += 1
            else:
                self._fail(
                    "ip-change",
                    key,
                    f"{label}: IP changed from {track.last_ip} to {ip} without a zone move or "
                    "type switch",
                )
        if track.armed:
            if ip is None:
                self._fail(
                    "no-nlb", key, f"{label} lost its IP {track.last_ip} while a LoadBalancer"
                )
            elif ip not in held:
                self._fail("no-nlb", key, f"{label} shows IP {ip}, which no NLB holds")
        if ip is not None:
            track.last_ip = ip
            track.armed = track.armed or not track.switch_pending
        self._settle(now, track, self._settled(service, ips, nlbs))

    def _count_nlbs(self, key: Key, uid: str, track: _Track) -> None:
        seen = self.nlbs_seen.get(uid, set())
        if len(seen) > 1 + track.moves_seen + track.switches_seen:
            self._fail(
                "second-nlb",
                key,
                f"{key[0]}/{key[1]} had {len(seen)} NLBs ({', '.join(sorted(seen))}) after "
                f"{track.moves_seen} zone moves and {track.switches_seen} type switches",
            )

    def _settle(self, now: float, track: _Track, settled: bool) -> None:
        if not settled:
            track.settled_since = None
            return
        if not track.allowance and not track.switch_pending:
            return
        if track.settled_since is None:
            track.settled_since = now
        elif now - track.settled_since >= SETTLED_FOR:
            self.allowances_expired += track.allowance
            track.allowance = 0
            track.switch_pending = False
            track.armed = True

    def _settled(self, service: Obj, ips: list[str], nlbs: Mapping[str, list[Obj]]) -> bool:
        uid = service["metadata"]["uid"]
        mine = [
            (zone, nlb)
            for zone, listed in nlbs.items()
            for nlb in listed
            if (nlb.get("labels") or {}).get(UID_LABEL) == uid
        ]
        if len(mine) != 1:
            return False
        zone, nlb = mine[0]
        return (
            zone == self.cloud.zone_of(service)
            and nlb.get("state") == "running"
            and ips == [nlb.get("ip")]
        )

    def _judge_refused(self, key: Key, service: Obj) -> None:
        label = f"{key[0]}/{key[1]}"
        if labelled := self.nlbs_seen.get(service["metadata"]["uid"]):
            self._fail(
                "refused-nlb", key, f"{label} (refused by design) got NLBs {sorted(labelled)}"
            )
        if _ingress_ips(service):
            self._fail(
                "refused-ip", key, f"{label} (refused by design) got {_ingress_ips(service)}"
            )
        if FINALIZER in (service["metadata"].get("finalizers") or []):
            self._fail("refused-finalizer", key, f"{label} (refused by design) got {FINALIZER}")

    def _fail(self, kind: str, key: Key, message: str) -> None:
        self._failures.setdefault((kind, key), message)
        self._repeats[(kind, key)] += 1

    def failures(self) -> list[str]:
        """One line per (kind, Service), the first message seen and how often it was seen."""
        return [
            f"{message} (seen in {self._repeats[fault]} samples)"
            for fault, message in self._failures.items()
        ]

    def as_json(self) -> dict[str, Any]:
        by_kind = Counter(kind for kind, _ in self._failures)
        return {
            "samples": self.samples,
            "samples_unreadable": self.unreadable,
            "services_tracked": len(self.tracks),
            "ip_changes_seen": self.changes_seen,
            "ip_changes_allowed": self.changes_allowed,
            "allowances_expired_unused": self.allowances_expired,
            "failures_by_kind": dict(by_kind),
            "failures": self.failures(),
        }


def _ingress_ips(service: Obj) -> list[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i.get("ip")) for i in ingress]
