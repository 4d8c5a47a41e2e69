"""EXO2-HMAC-SHA256 request verification, written from the API's published description.

The client signs five lines joined by ``\\n``: ``"<METHOD> <path>"``, the body bytes, the
values of the query parameters named in ``signed-query-args`` (in that order, no separator),
an empty line for headers, and the expiry as a UNIX timestamp. The signature is the standard
base64 of HMAC-SHA256 keyed with the secret. See ``docs/simulator.md`` for the edge cases.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

SCHEME = "EXO2-HMAC-SHA256"
API_KEY_PATTERN = re.compile(r"EXO[a-z0-9]{24}")
API_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
_PRAGMAS = ("credential", "signed-query-args", "expires", "signature")


class AuthError(Exception):
    """The request is not authenticated; the message says why (and never holds a secret)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key, its secret, and the operation ids it may call (``None``: all of them)."""

    key: str
    secret: str = field(repr=False)
    operations: frozenset[str] | None = None

    def allows(self, operation_id: str) -> bool:
        return self.operations is None or operation_id in self.operations


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed pragmas of an ``Authorization: EXO2-HMAC-SHA256 ...`` header."""

    credential: str
    signed_query_args: tuple[str, ...]
    expires: int
    signature: str


def generate_credentials() -> tuple[str, str]:
    """A fresh key and secret in the formats Exoscale issues (``EXO`` + 24, 43 characters)."""
    key_alphabet = string.ascii_lowercase + string.digits
    secret_alphabet = string.ascii_letters + string.digits + "-_"
    key = "EXO" + "".join(secrets.choice(key_alphabet) for _ in range(24))
    secret = "".join(secrets.choice(secret_alphabet) for _ in range(43))
    return key, secret


def parse_authorization(header: str) -> Authorization:
    """Split the header into its pragmas, rejecting anything a signer would not produce."""
    prefix = SCHEME + " "
    if not header.startswith(prefix):
        raise AuthError(f"malformed Authorization header: it must start with {prefix!r}")
    pragmas: dict[str, str] = {}
    for part in header[len(prefix) :].split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise AuthError(f"malformed Authorization header: {name!r} has no '=value'")
        if name not in _PRAGMAS:
            raise AuthError(f"malformed Authorization header: unknown pragma {name!r}")
        if name in pragmas:
            raise AuthError(f"malformed Authorization header: {name!r} appears twice")
        pragmas[name] = value
    for required in ("credential", "expires", "signature"):
        if not pragmas.get(required):
            raise AuthError(f"malformed Authorization header: {required!r} is missing")
    expires = pragmas["expires"]
    if not expires.isascii() or not expires.isdigit():
        raise AuthError(
            f"malformed Authorization header: expires={expires!r} is not a UNIX timestamp"
        )
    signed = pragmas.get("signed-query-args", "")
    return Authorization(
        credential=pragmas["credential"],
        signed_query_args=tuple(signed.split(";")) if signed else (),
        expires=int(expires),
        signature=pragmas["signature"],
    )


def signed_query_values(query_string: str, signed_names: tuple[str, ...]) -> str:
    """The third line of the message: the values of the signed parameters, concatenated.

    A name given several times contributes no value (as requests-exoscale-auth signs it).
    Parameters the signature does not cover are rejected unless blank, so a filter cannot be
    added to a signed request in transit.
    """
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    parts = []
    for name in signed_names:
        if name not in values:
            raise AuthError(
                f"signed-query-args names {name!r}, which the query string does not contain"
            )
        if len(values[name]) == 1:
            parts.append(values[name][0])
    unsigned = sorted(
        name for name, vals in values.items() if name not in signed_names and any(vals)
    )
    if unsigned:
        raise AuthError(
            f"query parameters {', '.join(unsigned)} are not covered by the signature: "
            "list them in signed-query-args"
        )
    return "".join(parts)


def message_to_sign(method: str, path: str, body: bytes, query_values: str, expires: int) -> bytes:
    """The exact bytes a client signs (five lines, no trailing newline)."""
    return b"\n".join(
        [
            f"{method.upper()} {path}".encode(),
            body,
            query_values.encode(),
            b"",  # signed headers: none are defined
            str(expires).encode(),
        ]
    )


def compute_signature(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.standard_b64encode(digest).decode()


def verify_request(
    *,
    header: str | None,
    method: str,
    path: str,
    query_string: str,
    body: bytes,
    keys: Mapping[str, ApiKey],
    now: float,
) -> ApiKey:
    """Check a request's signature; return the key that signed it or raise :class:`AuthError`.

    ``path`` is the path exactly as sent (percent-encoded, without the query), ``now`` the UNIX
    time the request is received.
    """
    if header is None:
        raise AuthError("missing Authorization header: sign the request with EXO2-HMAC-SHA256")
    auth = parse_authorization(header)
    api_key = keys.get(auth.credential)
    if api_key is None:
        raise AuthError(f"unknown API key {auth.credential!r}")
    values = signed_query_values(query_string, auth.signed_query_args)
    expected = compute_signature(
        api_key.secret, message_to_sign(method, path, body, values, auth.expires)
    )
    if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
        raise AuthError("invalid request signature")
    if auth.expires < now:
        raise AuthError(
            f"request expired: its signature expired at {auth.expires}, "
            f"{int(now - auth.expires)} s ago; sign requests with a future expiry"
        )
    return api_key
