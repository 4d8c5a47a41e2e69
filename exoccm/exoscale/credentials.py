"""Exoscale API credentials: the key/secret pair, the credentials file, and the current pair.

The secret is a :class:`pydantic.SecretStr` and every text form of these objects masks it; the
key is shown only as :func:`mask_key` (``EXO…4567``), enough to tell two keys apart in logs.
:class:`CredentialsStore` holds the pair in use; the signer reads it per request, and the file
watcher (:mod:`exoccm.exoscale.reload`) replaces it in one assignment, so a request signs with
either the old or the new pair, never a mix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from exoccm.exoscale.errors import ExoscaleError


def mask_key(key: str) -> str:
    """A log-safe form of an API key: its ``EXO`` prefix and last four characters."""
    if len(key) <= 8:
        return "****"
    return f"{key[:3]}…{key[-4:]}"


@dataclass(frozen=True, slots=True)
class Credentials:
    """One API key and its secret; ``name`` is the optional label from the credentials file."""

    key: str = field(repr=False)
    secret: SecretStr = field(repr=False)
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.key or not self.secret.get_secret_value():
            raise ValueError("API key and secret must both be non-empty")

    @classmethod
    def of(cls, key: str, secret: str, name: str | None = None) -> Credentials:
        """Build from plain strings (the secret is wrapped at once)."""
        return cls(key=key, secret=SecretStr(secret), name=name)

    @property
    def masked_key(self) -> str:
        """The key in log-safe form."""
        return mask_key(self.key)

    def __repr__(self) -> str:
        return f"Credentials(key={self.masked_key!r}, secret='**********', name={self.name!r})"

    __str__ = __repr__


class CredentialsFileError(ExoscaleError):
    """The credentials file is missing, unreadable or does not hold a usable key and secret."""


def load_credentials_file(path: Path) -> Credentials:
    """Read a credentials file: JSON ``{"api_key": ..., "api_secret": ..., "name": ...}``.

    Raises :class:`CredentialsFileError` naming the file and the problem; the message never
    contains the file's content.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CredentialsFileError(
            f"cannot read the credentials file {str(path)!r} ({exc.strerror or type(exc).__name__}); "
            "check EXOSCALE_API_CREDENTIALS_FILE and the mounted Secret"
        ) from None
    return parse_credentials(raw, source=str(path))


def parse_credentials(raw: bytes, *, source: str) -> Credentials:
    """Parse the content of a credentials file; ``source`` names it in errors."""
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # Only the position, never the text: the text is the secret.
        where = (
            f" at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise CredentialsFileError(
            f"the credentials file {source!r} is not valid JSON{where}; expected "
            '{"api_key": "EXO...", "api_secret": "...", "name": "..."}'
        ) from None
    if not isinstance(data, dict):
        raise CredentialsFileError(
            f"the credentials file {source!r} must hold a JSON object with api_key and api_secret"
        )
    problems = [
        f"{name!r} is missing or not a non-empty string"
        for name in ("api_key", "api_secret")
        if not isinstance(data.get(name), str) or not data[name].strip()
    ]
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        problems.append("'name' must be a string")
    if problems:
        raise CredentialsFileError(
            f"the credentials file {source!r} is invalid: {'; '.join(problems)}"
        )
    return Credentials.of(data["api_key"].strip(), data["api_secret"].strip(), name)


class CredentialsStore:
    """The credentials currently in use; read per request, replaced atomically on rotation."""

    __slots__ = ("_current",)

    def __init__(self, credentials: Credentials):
        self._current = credentials

    @property
    def current(self) -> Credentials:
        """The pair to sign the next request with."""
        return self._current

    def replace(self, credentials: Credentials) -> bool:
        """Switch to ``credentials``; return whether they differ from the current ones."""
        changed = credentials != self._current
        self._current = credentials
        return changed

    def __repr__(self) -> str:
        return f"CredentialsStore({self._current!r})"
