"""EXO2-HMAC-SHA256: the published test vectors, and agreement with requests-exoscale-auth."""

from __future__ import annotations

import json

import httpx
import pytest
import requests
from exoscale_auth import ExoscaleV2Auth  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from exoccm.exoscale.auth import ExoscaleAuth, signing_message
from exoccm.exoscale.credentials import Credentials, CredentialsStore

EGO_KEY = "EXOxxxxxxxxxxxxxxxxxxxxxxxx"
EGO_SECRET = "X" * 43
EGO_EXPIRES = 3376684800

KEY = "EXO0123456789abcdef01234567"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstu"
EXPIRES = 1700000000
HOST = "https://api-ch-gva-2.exoscale.com"
NLB = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
V5_BODY = (
    '{"name":"k8s-svc-80","instance-pool":{"id":"a1b2c3d4-0000-4000-8000-000000000001"},'
    '"protocol":"tcp","strategy":"round-robin","port":80,"target-port":30080,'
    '"healthcheck":{"mode":"tcp","port":30080,"interval":10,"timeout":5,"retries":1}}'
)


def sign(request: httpx.Request, key: str, secret: str, expires: int) -> str:
    """Run the auth flow with a clock that makes the expiry ``expires``."""
    auth = ExoscaleAuth(CredentialsStore(Credentials.of(key, secret)), clock=lambda: expires - 600)
    flow = auth.auth_flow(request)
    signed = next(flow)
    return signed.headers["Authorization"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://api.exoscale.com/v2/zone",
            f"EXO2-HMAC-SHA256 credential={EGO_KEY},expires={EGO_EXPIRES},"
            "signature=Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY=",
        ),
        (
            "https://api.exoscale.com/v2/zone?k1=v1&k2=v2",
            f"EXO2-HMAC-SHA256 credential={EGO_KEY},signed-query-args=k1;k2,"
            f"expires={EGO_EXPIRES},signature=iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY=",
        ),
    ],
)
def test_egoscale_vectors(url: str, expected: str) -> None:
    assert sign(httpx.Request("GET", url), EGO_KEY, EGO_SECRET, EGO_EXPIRES) == expected


def _plain(signature: str) -> str:
    return f"EXO2-HMAC-SHA256 credential={KEY},expires={EXPIRES},signature={signature}"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/v2/load-balancer", b"", _plain("kk2G43/LqY411n8LcRi7cOXaFq6kWfnD4pomief8zKA=")),
        (
            "GET",
            "/v2/instance?manager-type=instance-pool&ip-address=203.0.113.10",
            b"",
            f"EXO2-HMAC-SHA256 credential={KEY},signed-query-args=ip-address;manager-type,"
            f"expires={EXPIRES},signature=XozfDPerAoOM8ygb4Y1C5DNdh/rJPGqzdcHSOGv54Dw=",
        ),
        (
            "POST",
            "/v2/load-balancer",
            b'{"name":"k8s-nlb","description":"test"}',
            _plain("dcSAh2bKKEqMoFcQZrjwBoLwR/eH0RxHtJXRVJpA3mc="),
        ),
        (
            "DELETE",
            f"/v2/load-balancer/{NLB}/service/9a8b7c6d-0000-4111-8222-333344445555",
            b"",
            _plain("Gls/NXnV2ttPONa+WIKSigUvXckiKsMnKIvP0NaV1OE="),
        ),
        (
            "POST",
            f"/v2/load-balancer/{NLB}/service",
            V5_BODY.encode(),
            _plain("Ywknz7b9IpTa1H+gpvWBA85ihdaQI0dLsDzyhh5I/iA="),
        ),
        (
            "GET",
            "/v2/instance?labels=app%3Dweb",
            b"",
            f"EXO2-HMAC-SHA256 credential={KEY},signed-query-args=labels,expires={EXPIRES},"
            "signature=7Uddt5uBDLHZPSu1k6sobQgBaz+tckB4wuoeS7JJQDQ=",
        ),
    ],
    ids=["V1", "V2", "V3", "V4", "V5", "labels"],
)
def test_project_vectors(method: str, path: str, body: bytes, expected: str) -> None:
    request = httpx.Request(method, HOST + path, content=body)
    assert sign(request, KEY, SECRET, EXPIRES) == expected


def test_v3_message_layout() -> None:
    message = signing_message(
        "POST", "/v2/load-balancer", b'{"name":"k8s-nlb","description":"test"}', {}, EXPIRES
    )
    assert (
        message
        == b'POST /v2/load-balancer\n{"name":"k8s-nlb","description":"test"}\n\n\n1700000000'
    )


def test_signs_the_full_path_as_sent_including_a_base_url_prefix() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:8080/de-muc-1/v2/load-balancer")
    header = sign(request, KEY, SECRET, EXPIRES)
    bare = sign(httpx.Request("GET", HOST + "/v2/load-balancer"), KEY, SECRET, EXPIRES)
    assert header != bare
    expected = _expected_with_reference_library(
        "GET", "http://127.0.0.1:8080/de-muc-1/v2/load-balancer", b""
    )
    assert header == expected


def test_signature_covers_the_exact_bytes_sent() -> None:
    body = json.dumps({"name": "a b", "labels": {"x": "é"}}).encode()
    request = httpx.Request("POST", HOST + "/v2/load-balancer", content=body)
    header = sign(request, KEY, SECRET, EXPIRES)
    assert request.content == body
    assert header == _expected_with_reference_library("POST", HOST + "/v2/load-balancer", body)


@pytest.mark.parametrize("query", ["?a=1&a=2", "?a="])
def test_refuses_repeated_or_empty_query_parameters(query: str) -> None:
    with pytest.raises(ValueError, match="query parameter 'a'"):
        sign(httpx.Request("GET", HOST + "/v2/zone" + query), KEY, SECRET, EXPIRES)


def test_reads_the_current_credentials_for_each_request() -> None:
    store = CredentialsStore(Credentials.of("EXOaaaaaaaaaaaaaaaaaaaaaaaa", "one"))
    auth = ExoscaleAuth(store, clock=lambda: 0)
    first = next(auth.auth_flow(httpx.Request("GET", HOST + "/v2/zone")))
    store.replace(Credentials.of("EXObbbbbbbbbbbbbbbbbbbbbbbb", "two"))
    second = next(auth.auth_flow(httpx.Request("GET", HOST + "/v2/zone")))
    assert "credential=EXOaaaaaaaaaaaaaaaaaaaaaaaa," in first.headers["Authorization"]
    assert "credential=EXObbbbbbbbbbbbbbbbbbbbbbbb," in second.headers["Authorization"]


def test_expiry_is_ten_minutes_ahead() -> None:
    auth = ExoscaleAuth(CredentialsStore(Credentials.of(KEY, SECRET)), clock=lambda: 1000.7)
    signed = next(auth.auth_flow(httpx.Request("GET", HOST + "/v2/zone")))
    assert ",expires=1600," in signed.headers["Authorization"]


def _expected_with_reference_library(method: str, url: str, body: bytes) -> str:
    prepared = requests.Request(method, url, data=body or None).prepare()
    ExoscaleV2Auth(KEY, SECRET)._sign_request(prepared, EXPIRES)
    return str(prepared.headers["Authorization"])


_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    segments=st.lists(_segment, min_size=1, max_size=4),
    query=st.dictionaries(_segment, _value.filter(lambda v: v.strip() == v), max_size=4),
    body=st.binary(max_size=64).map(lambda b: b.hex().encode()),
)
def test_agrees_with_requests_exoscale_auth(
    method: str, segments: list[str], query: dict[str, str], body: bytes
) -> None:
    request = httpx.Request(method, HOST + "/v2/" + "/".join(segments), params=query, content=body)
    ours = sign(request, KEY, SECRET, EXPIRES)
    assert ours == _expected_with_reference_library(method, str(request.url), body)
