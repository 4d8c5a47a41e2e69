"""Prometheus metrics of the controllers' safety nets (default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ORPHANS_DELETED = Counter(
    "exoccm_orphan_nlbs_deleted_total",
    "NLBs the orphan collector deleted after two passes and a get-load-balancer agreed that no "
    "Service accounts for them.",
    ["zone"],
)

ORPHAN_COLLECTION_BLOCKED = Gauge(
    "exoccm_orphan_collection_blocked",
    "1 while the orphan collector refuses to delete: its last pass would have deleted more than "
    "EXOCCM_ORPHAN_MAX_SHARE of exoccm's NLBs (see the Warning Event and the log); 0 otherwise.",
)

LISTING_OMISSIONS = Counter(
    "exoccm_nlb_listing_omissions_total",
    "NLBs a list-load-balancers answer left out although exoccm knew them; they stay cached "
    "until a get-load-balancer answers 404 (a listing is no proof of absence).",
    ["zone"],
)
