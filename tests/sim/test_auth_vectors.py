"""The simulator's signature verifier against the published EXO2-HMAC-SHA256 test vectors.

Each vector's Authorization header is the published text, not something we compute, and each
must be accepted; a one-byte change in path, body, query, method or expiry must be rejected.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from exoccm.sim.auth import ApiKey, AuthError, parse_authorization, verify_request
from tests.sim.helpers import sign_prepared

EGO_KEY = ApiKey("EXOxxxxxxxxxxxxxxxxxxxxxxxx", "X" * 43)
PROJECT_KEY = ApiKey("EXO0123456789abcdef01234567", "test-secret-0123456789abcdefghijklmnopqrstu")
LB = "/v2/load-balancer/5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
V5_BODY = (
    b'{"name":"k8s-svc-80","instance-pool":{"id":"a1b2c3d4-0000-4000-8000-000000000001"},'
    b'"protocol":"tcp","strategy":"round-robin","port":80,"target-port":30080,'
    b'"healthcheck":{"mode":"tcp","port":30080,"interval":10,"timeout":5,"retries":1}}'
)


@dataclass(frozen=True)
class Vector:
    name: str
    key: ApiKey
    method: str
    path: str
    query: str
    body: bytes
    header: str

    @property
    def expires(self) -> int:
        return parse_authorization(self.header).expires

    def verify(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        body: bytes | None = None,
        header: str | None = None,
        now: float | None = None,
    ) -> ApiKey:
        return verify_request(
            header=self.header if header is None else header,
            method=self.method if method is None else method,
            path=self.path if path is None else path,
            query_string=self.query if query is None else query,
            body=self.body if body is None else body,
            keys={self.key.key: self.key},
            now=self.expires - 1 if now is None else now,
        )


def _project(sig: str, signed: str = "") -> str:
    args = f",signed-query-args={signed}" if signed else ""
    return f"EXO2-HMAC-SHA256 credential={PROJECT_KEY.key}{args},expires=1700000000,signature={sig}"


VECTORS = [
    Vector(
        "egoscale-zone",
        EGO_KEY,
        "GET",
        "/v2/zone",
        "",
        b"",
        "EXO2-HMAC-SHA256 credential=EXOxxxxxxxxxxxxxxxxxxxxxxxx,expires=3376684800,"
        "signature=Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY=",
    ),
    Vector(
        "egoscale-zone-query",
        EGO_KEY,
        "GET",
        "/v2/zone",
        "k1=v1&k2=v2",
        b"",
        "EXO2-HMAC-SHA256 credential=EXOxxxxxxxxxxxxxxxxxxxxxxxx,signed-query-args=k1;k2,"
        "expires=3376684800,signature=iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY=",
    ),
    Vector(
        "V1",
        PROJECT_KEY,
        "GET",
        "/v2/load-balancer",
        "",
        b"",
        _project("kk2G43/LqY411n8LcRi7cOXaFq6kWfnD4pomief8zKA="),
    ),
    Vector(
        "V2",
        PROJECT_KEY,
        "GET",
        "/v2/instance",
        "manager-type=instance-pool&ip-address=203.0.113.10",
        b"",
        _project("XozfDPerAoOM8ygb4Y1C5DNdh/rJPGqzdcHSOGv54Dw=", "ip-address;manager-type"),
    ),
    Vector(
        "V3",
        PROJECT_KEY,
        "POST",
        "/v2/load-balancer",
        "",
        b'{"name":"k8s-nlb","description":"test"}',
        _project("dcSAh2bKKEqMoFcQZrjwBoLwR/eH0RxHtJXRVJpA3mc="),
    ),
    Vector(
        "V4",
        PROJECT_KEY,
        "DELETE",
        f"{LB}/service/9a8b7c6d-0000-4111-8222-333344445555",
        "",
        b"",
        _project("Gls/NXnV2ttPONa+WIKSigUvXckiKsMnKIvP0NaV1OE="),
    ),
    Vector(
        "V5",
        PROJECT_KEY,
        "POST",
        f"{LB}/service",
        "",
        V5_BODY,
        _project("Ywknz7b9IpTa1H+gpvWBA85ihdaQI0dLsDzyhh5I/iA="),
    ),
    Vector(
        "labels",
        PROJECT_KEY,
        "GET",
        "/v2/instance",
        "labels=app%3Dweb",
        b"",
        _project("7Uddt5uBDLHZPSu1k6sobQgBaz+tckB4wuoeS7JJQDQ=", "labels"),
    ),
]
BY_NAME = pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])


def _flip_last(text: str) -> str:
    return text[:-1] + ("a" if text[-1] != "a" else "b")


@BY_NAME
def test_published_vector_is_accepted(vector: Vector) -> None:
    assert vector.verify() == vector.key


@BY_NAME
def test_one_byte_change_in_path_is_rejected(vector: Vector) -> None:
    with pytest.raises(AuthError, match="invalid request signature"):
        vector.verify(path=_flip_last(vector.path))


@BY_NAME
def test_one_byte_change_in_body_is_rejected(vector: Vector) -> None:
    body = vector.body[:-1] + b"!" if vector.body else b"{"
    with pytest.raises(AuthError, match="invalid request signature"):
        vector.verify(body=body)


@BY_NAME
def test_change_in_query_is_rejected(vector: Vector) -> None:
    # With signed parameters: change one byte of the last value. Without: any added
    # parameter is outside the signature.
    query = _flip_last(vector.query) if vector.query else "x=1"
    with pytest.raises(AuthError):
        vector.verify(query=query)


@BY_NAME
def test_one_byte_change_in_expiry_is_rejected(vector: Vector) -> None:
    expires = str(vector.expires)
    tampered = vector.header.replace(f"expires={expires}", f"expires={expires[:-1]}1")
    assert tampered != vector.header
    with pytest.raises(AuthError, match="invalid request signature"):
        vector.verify(header=tampered, now=0)


@BY_NAME
def test_other_method_is_rejected(vector: Vector) -> None:
    with pytest.raises(AuthError, match="invalid request signature"):
        vector.verify(method="PUT")


@BY_NAME
def test_expired_signature_is_rejected(vector: Vector) -> None:
    with pytest.raises(AuthError, match="expired"):
        vector.verify(now=vector.expires + 1)


def test_signature_valid_until_its_expiry_second() -> None:
    vector = VECTORS[2]
    assert vector.verify(now=vector.expires) == vector.key


def test_signed_name_missing_from_query_is_rejected() -> None:
    vector = VECTORS[1]
    with pytest.raises(AuthError, match="does not contain"):
        vector.verify(query="k1=v1")


def test_unknown_key_is_rejected_without_leaking_the_secret() -> None:
    vector = VECTORS[2]
    with pytest.raises(AuthError, match="unknown API key") as caught:
        verify_request(
            header=vector.header,
            method=vector.method,
            path=vector.path,
            query_string="",
            body=b"",
            keys={EGO_KEY.key: EGO_KEY},
            now=0,
        )
    assert PROJECT_KEY.secret not in str(caught.value)
    assert PROJECT_KEY.secret not in repr(PROJECT_KEY)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("Bearer abc", "must start with"),
        ("EXO2-HMAC-SHA256 credential=EXOa,expires=1", "'signature' is missing"),
        ("EXO2-HMAC-SHA256 credential=EXOa,signature=abc", "'expires' is missing"),
        ("EXO2-HMAC-SHA256 credential=EXOa,expires=soon,signature=a", "not a UNIX timestamp"),
        ("EXO2-HMAC-SHA256 credential=EXOa,expires=1,signature=a,nonce=2", "unknown pragma"),
        ("EXO2-HMAC-SHA256 credential=EXOa,expires=1,expires=2,signature=a", "appears twice"),
        ("EXO2-HMAC-SHA256 credential=EXOa,expires,signature=a", "has no '=value'"),
    ],
)
def test_malformed_header_is_rejected(header: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        parse_authorization(header)


_PATH_SEGMENT = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1)
_QUERY = st.dictionaries(
    st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=12),
    st.text(alphabet=string.ascii_letters + string.digits + "=.:-", min_size=1, max_size=20),
    max_size=4,
)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    segments=st.lists(_PATH_SEGMENT, min_size=1, max_size=4),
    query=_QUERY,
    body=st.binary(max_size=64),
    flip=st.integers(min_value=0),
)
def test_requests_signed_by_the_official_signer_verify(
    method: str, segments: list[str], query: dict[str, str], body: bytes, flip: int
) -> None:
    """Any request requests-exoscale-auth signs is accepted, and stops being so when one byte
    of its body changes."""
    path = "/de-muc-1/v2/" + "/".join(segments)
    prepared = requests.Request(
        method, f"https://sim.example{path}", params=query, data=body or None
    ).prepare()
    header = sign_prepared(prepared, PROJECT_KEY.key, PROJECT_KEY.secret, 2_000_000_000)
    sent_body = prepared.body if isinstance(prepared.body, bytes) else b""
    assert prepared.url is not None
    query_string = prepared.url.partition("?")[2]
    keys = {PROJECT_KEY.key: PROJECT_KEY}

    def verify(with_body: bytes) -> ApiKey:
        return verify_request(
            header=header,
            method=method,
            path=path,
            query_string=query_string,
            body=with_body,
            keys=keys,
            now=1_999_999_999,
        )

    assert verify(sent_body) == PROJECT_KEY
    tampered = bytearray(sent_body or b"x")
    tampered[flip % len(tampered)] ^= 0x01
    with pytest.raises(AuthError):
        verify(bytes(tampered))
