"""Prometheus metrics of the Exoscale API client (default registry).

Labels are bounded: ``operation`` is the API operation id (``list-load-balancers``), never a
resource ID or URL; ``code`` is the HTTP status or ``error`` when no response arrived.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

API_REQUESTS = Counter(
    "exoccm_api_requests_total",
    "Exoscale API requests sent, by API operation, zone and HTTP status code ('error' when the "
    "request failed without a response). Retries count as separate requests.",
    ["operation", "zone", "code"],
)

API_REQUEST_DURATION = Histogram(
    "exoccm_api_request_duration_seconds",
    "Time from sending an Exoscale API request to receiving its full response (or failing), "
    "excluding time spent waiting for the client-side rate limiter.",
    ["operation", "zone"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

API_RATE_LIMIT_WAIT = Histogram(
    "exoccm_api_rate_limit_wait_seconds",
    "Time requests waited for the client-side per-zone rate limiter (EXOCCM_API_RATE_LIMIT).",
    ["zone"],
    buckets=(0.0, 0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

OPERATION_POLLS = Histogram(
    "exoccm_api_operation_polls",
    "get-operation polls it took to see an operation end, by the API operation that started it "
    "and zone (1 when the first poll found it done).",
    ["operation", "zone"],
    buckets=(1, 2, 3, 5, 10, 20, 50),
)

OPERATION_FIRST_POLL = Gauge(
    "exoccm_api_operation_first_poll_seconds",
    "When exoccm polls an operation first, in seconds after its write was answered: learned "
    "per API operation and zone from how long the earlier ones took.",
    ["operation", "zone"],
)

CREDENTIALS_RELOADS = Counter(
    "exoccm_api_credentials_reloads_total",
    "Reloads of the Exoscale API credentials file, by result: 'changed', 'unchanged' or "
    "'invalid' (the previous credentials stay in use).",
    ["result"],
)
