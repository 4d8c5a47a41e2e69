"""The list operations that listing faults make lie, and the lies that leave items out.

A lying answer is still a valid one: the same wrapping key, a list of whole items. A lagging
listing is made by the handler itself (it renders the zone as it was, see
:mod:`exoccm.sim.history`); an empty or partial one is the true answer with items removed.
"""

from __future__ import annotations

import math
import random

from exoccm.sim.faults import Fault
from exoccm.sim.state import Fields

# Each list operation listing faults apply to, with the key of its answer's list.
LISTED_KEYS = {
    "list-load-balancers": "load-balancers",
    "list-instances": "instances",
    "list-instance-pools": "instance-pools",
    "list-sks-clusters": "sks-clusters",
}
LISTING_OPERATION_IDS = frozenset(LISTED_KEYS)


def leave_out(result: Fields, operation_id: str, fault: Fault, rng: random.Random) -> Fields:
    """``result``, the true answer of ``operation_id``, with the items ``fault`` hides removed."""
    key = LISTED_KEYS[operation_id]
    items: list[Fields] = result[key]
    if fault.kind == "listing-empty":
        kept: list[Fields] = []
    elif fault.kind == "listing-partial" and fault.ids:
        kept = [item for item in items if item["id"] not in fault.ids]
    elif fault.kind == "listing-partial":
        hidden = set(rng.sample(range(len(items)), math.ceil(fault.share * len(items))))
        kept = [item for index, item in enumerate(items) if index not in hidden]
    else:
        kept = items
    return {**result, key: kept}
