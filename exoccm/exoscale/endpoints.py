"""Zone names and the API base URL of each zone.

By default a zone's API lives at ``https://<environment>-<zone>.exoscale.com/v2`` (environment
``api``, or ``ppapi`` for pre-production). ``EXOSCALE_API_ENDPOINT`` overrides it: with a
``{zone}`` placeholder it serves every zone (``http://127.0.0.1:8080/{zone}/v2`` for the
simulator); without one it is the endpoint of the configured zone only, as in the Go CCM.

Zone names are checked against the shape of Exoscale zone names. Zones outside the OpenAPI spec's
list are allowed with a warning, because Exoscale opens zones faster than clients are released.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger(__name__)

# The spec's ``zone-name`` enum (exoscale 0.16.4).
KNOWN_ZONES = frozenset(
    {"at-vie-1", "at-vie-2", "bg-sof-1", "ch-dk-2", "ch-gva-2", "de-fra-1", "de-muc-1", "hr-zag-1"}
)
ZONE_PATTERN = re.compile(r"^[a-z]{2}-[a-z]{2,4}-[0-9]{1,2}$")
ENVIRONMENT_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
ZONE_PLACEHOLDER = "{zone}"


def zone_problem(zone: str) -> str | None:
    """Why ``zone`` is not a valid zone name, or ``None`` if it is."""
    if not ZONE_PATTERN.match(zone):
        return (
            f"{zone!r} is not a zone name; expected a name like 'ch-gva-2' "
            f"(known zones: {', '.join(sorted(KNOWN_ZONES))})"
        )
    return None


def check_zone(zone: str) -> str:
    """Return ``zone`` if it is a valid zone name, warn if it is not a known one, else raise."""
    problem = zone_problem(zone)
    if problem:
        raise ValueError(problem)
    if zone not in KNOWN_ZONES:
        log.warning("Unknown Exoscale zone", zone=zone, known_zones=sorted(KNOWN_ZONES))
    return zone


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not a usable API endpoint URL, or ``None``."""
    parts = urlsplit(endpoint.replace(ZONE_PLACEHOLDER, "zone"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{endpoint!r} is not an http(s) URL such as 'https://api-ch-gva-2.exoscale.com/v2'"
    if parts.query or parts.fragment:
        return f"{endpoint!r} must not have a query string or fragment"
    if "{" in endpoint.replace(ZONE_PLACEHOLDER, ""):
        return f"{endpoint!r} has a placeholder other than {ZONE_PLACEHOLDER}"
    return None


def zone_endpoint(
    zone: str,
    *,
    endpoint: str | None = None,
    environment: str = "api",
    configured_zone: str | None = None,
) -> str:
    """The API base URL for ``zone`` (without a trailing slash).

    ``endpoint`` without ``{zone}`` applies to ``configured_zone`` only; asking for another zone
    then raises :class:`ValueError`.
    """
    check_zone(zone)
    if endpoint:
        if ZONE_PLACEHOLDER in endpoint:
            return endpoint.replace(ZONE_PLACEHOLDER, zone).rstrip("/")
        if configured_zone is not None and zone != configured_zone:
            raise ValueError(
                f"EXOSCALE_API_ENDPOINT {endpoint!r} has no {ZONE_PLACEHOLDER} placeholder, so it "
                f"serves only the configured zone {configured_zone!r}, not {zone!r}; add the "
                "placeholder to reach other zones"
            )
        return endpoint.rstrip("/")
    if not ENVIRONMENT_PATTERN.match(environment):
        raise ValueError(
            f"EXOSCALE_API_ENVIRONMENT {environment!r} is not valid; use 'api' or 'ppapi'"
        )
    return f"https://{environment}-{zone}.exoscale.com/v2"


def reachable_zones(configured_zone: str, endpoint: str | None) -> frozenset[str]:
    """The zones a client can address: every known zone (and the configured one), or only the
    configured zone when ``EXOSCALE_API_ENDPOINT`` has no ``{zone}`` placeholder."""
    if endpoint and ZONE_PLACEHOLDER not in endpoint:
        return frozenset({configured_zone})
    return KNOWN_ZONES | {configured_zone}
