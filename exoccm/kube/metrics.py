"""Prometheus metrics of exoccm's Kubernetes client, with client-go's names and labels.

client-go (k8s.io/component-base metrics/prometheus/restclient) labels both by the apiserver's
``host`` (``host:port``), never by URL, so label values stay bounded; ``code`` is the HTTP status
or ``<error>`` when no answer came.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
)
REQUEST_DURATION = Histogram(
    "rest_client_request_duration_seconds",
    "Request latency in seconds. Broken down by verb, and host.",
    ["verb", "host"],
    # client-go's buckets
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
