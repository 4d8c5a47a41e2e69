"""Zone names and endpoint URLs, as the Go CCM resolves them."""

from __future__ import annotations

import pytest

from exoccm.exoscale.endpoints import endpoint_problem, zone_endpoint, zone_problem


def test_default_endpoint_per_zone() -> None:
    assert zone_endpoint("de-muc-1") == "https://api-de-muc-1.exoscale.com/v2"
    assert (
        zone_endpoint("ch-gva-2", environment="ppapi") == "https://ppapi-ch-gva-2.exoscale.com/v2"
    )


def test_placeholder_endpoint_serves_every_zone() -> None:
    template = "http://127.0.0.1:8080/{zone}/v2/"
    assert zone_endpoint("at-vie-1", endpoint=template) == "http://127.0.0.1:8080/at-vie-1/v2"
    assert zone_endpoint("hr-zag-1", endpoint=template, configured_zone="at-vie-1") == (
        "http://127.0.0.1:8080/hr-zag-1/v2"
    )


def test_fixed_endpoint_serves_only_the_configured_zone() -> None:
    fixed = "https://api-ch-gva-2.exoscale.com/v2"
    assert zone_endpoint("ch-gva-2", endpoint=fixed, configured_zone="ch-gva-2") == fixed
    with pytest.raises(ValueError, match=r"has no \{zone\} placeholder"):
        zone_endpoint("de-fra-1", endpoint=fixed, configured_zone="ch-gva-2")


def test_unknown_but_well_formed_zone_is_allowed() -> None:
    assert zone_problem("xx-new-9") is None
    assert zone_endpoint("xx-new-9") == "https://api-xx-new-9.exoscale.com/v2"


@pytest.mark.parametrize("zone", ["", "CH-GVA-2", "ch_gva_2", "ch-gva-2/../x", "gva"])
def test_malformed_zone_is_rejected(zone: str) -> None:
    assert zone_problem(zone) is not None
    with pytest.raises(ValueError, match="not a zone name"):
        zone_endpoint(zone)


def test_bad_environment_is_rejected() -> None:
    with pytest.raises(ValueError, match="EXOSCALE_API_ENVIRONMENT"):
        zone_endpoint("ch-gva-2", environment="api.evil.com/x?")


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("https://api-ch-gva-2.exoscale.com/v2", True),
        ("http://127.0.0.1:8080/{zone}/v2", True),
        ("ftp://host/v2", False),
        ("api-ch-gva-2.exoscale.com", False),
        ("https://host/v2?x=1", False),
        ("https://host/{region}/v2", False),
    ],
)
def test_endpoint_shape(endpoint: str, ok: bool) -> None:
    assert (endpoint_problem(endpoint) is None) is ok
