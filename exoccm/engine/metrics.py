"""Prometheus metrics of the engine, with client-go's and controller-runtime's names.

All objects live in the default registry, labelled by queue/controller/lease ``name`` so the
dashboards written for client-go components work unchanged.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# client-go (component-base) uses ExponentialBuckets(10e-9, 10, 10): 1e-8 s … 10 s.
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
WORKQUEUE_ADDS = Counter(
    "workqueue_adds_total", "Total number of adds handled by workqueue", ["name"]
)
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name"],
    buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    ["name"],
    buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads.",
    ["name"],
)
WORKQUEUE_LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running",
    ["name"],
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", ["name"]
)

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60),
)
RECONCILE_PANICS = Counter(
    "controller_runtime_reconcile_panics_total",
    "Total number of reconciliation panics per controller",
    ["controller"],
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
)

LEADER_STATUS = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
    "1 indicates master. 'name' is the string used to identify the lease.",
    ["name"],
)
LEADER_SLOWPATH = Counter(
    "leader_election_slowpath_total",
    "Total number of slow path exercised in renewing leader leases. 'name' is the string used "
    "to identify the lease.",
    ["name"],
)

INFORMER_EVENTS = Counter(
    "exoccm_informer_events_total",
    "Watch events applied to an informer's cache, by informer and event type",
    ["informer", "type"],
)
INFORMER_LISTS = Counter(
    "exoccm_informer_lists_total",
    "Full lists (initial, relist after 410 or error) per informer and the resourceVersion used",
    ["informer", "kind"],
)
INFORMER_WATCH_RESTARTS = Counter(
    "exoccm_informer_watch_restarts_total",
    "Watch connections ended per informer, by reason",
    ["informer", "reason"],
)
INFORMER_OBJECTS = Gauge(
    "exoccm_informer_objects", "Objects held in an informer's cache", ["informer"]
)
