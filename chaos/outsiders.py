"""NLBs made outside exoccm before the storm, as an operator would make them by hand.

With the official Exoscale client, in the default zone: one NLB labelled as another cluster's
(``managed-by=exoccm``, ``k8s-cluster=elsewhere``) with one NLB service ``web`` on port 80
targeting that cluster's own Instance Pool, and hand-made NLBs without labels or NLB services.
The hostile tenant names them; the checks expect them in the cloud and never count them as leaks.
"""

from __future__ import annotations

import random
import time
import uuid

from exoscale.api.v2 import Client

from exoccm.kube.objects import Obj
from exoccm.testing.simprocess import API_KEY, API_SECRET, SimProcess

OTHER_CLUSTER = "elsewhere"
FOREIGN_SERVICE = ("web", 80, 30080)  # the other cluster's NLB service: name, port, target port


class Outsider:
    """Makes NLBs in one zone of the simulator, and waits until they run."""

    def __init__(self, sim: SimProcess, zone: str):
        self.sim = sim
        self.zone = zone
        self.client = Client(API_KEY, API_SECRET, url=f"{sim.url}/{zone}/v2")

    def other_clusters_nlb(self, rng: random.Random) -> Obj:
        """An NLB of cluster ``elsewhere``, serving ``web`` from that cluster's pool."""
        pool = self.sim.call("add_instance_pool", zone=self.zone, name=f"{OTHER_CLUSTER}-nodes")
        self.sim.call("add_instance", zone=self.zone, name=f"{OTHER_CLUSTER}-0", pool_id=pool["id"])
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        labels = {
            "managed-by": "exoccm",
            "k8s-cluster": OTHER_CLUSTER,
            "k8s-service-uid": uid,
            "k8s-service-namespace": "shop",
            "k8s-service-name": "front",
        }
        lb_id = self._create(f"k8s-{uid}", labels)
        name, port, target = FOREIGN_SERVICE
        self.client.add_service_to_load_balancer(
            id=lb_id,
            name=name,
            instance_pool={"id": pool["id"]},
            protocol="tcp",
            strategy="round-robin",
            port=port,
            target_port=target,
            healthcheck={"mode": "tcp", "port": target},
        )
        return self._running(lb_id, services=1)

    def hand_made_nlb(self, name: str) -> Obj:
        """An NLB without labels or NLB services."""
        return self._running(self._create(name, None), services=0)

    def _create(self, name: str, labels: dict[str, str] | None) -> str:
        body: Obj = {"name": name, "description": "made outside this cluster"}
        if labels:
            body["labels"] = labels
        operation = self.client.create_load_balancer(**body)
        lb_id: str = operation["reference"]["id"]
        self._running(lb_id, services=0)
        return lb_id

    def _running(self, lb_id: str, *, services: int, timeout: float = 30.0) -> Obj:
        """The NLB once it and its ``services`` NLB services are running (polled here: the
        official client's own wait polls every few seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            nlb = next((n for n in self.sim.load_balancers(self.zone) if n["id"] == lb_id), None)
            if nlb is not None and _all_running(nlb, services):
                return nlb
            if time.monotonic() > deadline:
                raise RuntimeError(f"NLB {lb_id} not running with {services} services: {nlb}")
            time.sleep(0.1)


def _all_running(nlb: Obj, services: int) -> bool:
    listed = nlb.get("services") or []
    return (
        nlb.get("state") == "running"
        and len(listed) == services
        and all(s.get("state") == "running" for s in listed)
    )
