"""Valid but suspicious configuration, logged once at start-up (and shown by ``exoccm doctor``).

None of these stops exoccm: each names the setting and what to check. Key material is never
quoted, only its length and whether it starts as a key does.
"""

from __future__ import annotations

import re
import stat
from typing import TYPE_CHECKING

from exoccm.exoscale.credentials import CredentialsFileError, load_credentials_file
from exoccm.exoscale.endpoints import KNOWN_ZONES

if TYPE_CHECKING:
    from pathlib import Path

    from exoccm.config.settings import Settings

# Exoscale issues API keys as "EXO" and 24 lowercase letters or digits, secrets as 43 characters:
# the API's OpenAPI document's example key (EXO29147e9f89102b7ac1e88514) and the request-signing
# test vectors of egoscale, Exoscale's Go client (EXOxxxxxxxxxxxxxxxxxxxxxxxx), have that shape.
API_KEY_SHAPE = re.compile(r"EXO[a-z0-9]{24}")
SECRET_LENGTH = 43


def startup_warnings(settings: Settings) -> list[str]:
    """Every warning about ``settings``."""
    notes = list(settings.cloud_config_unknown_keys)
    if settings.zone is not None and settings.zone not in KNOWN_ZONES:
        notes.append(
            f"EXOSCALE_API_ZONE {settings.zone!r} is not one of the zones known to this release "
            f"({', '.join(sorted(KNOWN_ZONES))}); continuing"
        )
    if settings.has_static_credentials:
        if settings.api_credentials_file is not None:
            notes.append(
                "EXOSCALE_API_KEY and EXOSCALE_API_SECRET are set, so "
                "EXOSCALE_API_CREDENTIALS_FILE is ignored"
            )
        assert settings.api_key is not None
        notes += api_key_warnings(settings.api_key, "EXOSCALE_API_KEY")
    elif settings.api_credentials_file is not None:
        notes += credentials_file_warnings(settings.api_credentials_file)
    return notes


def api_key_warnings(key: str, label: str) -> list[str]:
    """A warning if ``key`` does not have the shape of an Exoscale API key."""
    if API_KEY_SHAPE.fullmatch(key):
        return []
    found = f"it has {len(key)} characters"
    if not key.startswith("EXO"):
        found += " and does not start with EXO"
    hint = (
        "the key and the secret may be swapped"
        if len(key) == SECRET_LENGTH
        else "check for a copying mistake"
    )
    return [
        f"{label} does not look like an Exoscale API key (EXO and 24 lowercase letters or "
        f"digits, 27 characters): {found}; {hint}"
    ]


def credentials_file_warnings(path: Path) -> list[str]:
    """Warnings about a credentials file others may write to, or whose key looks wrong."""
    notes = []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []  # unreadable files are a configuration error, reported already
    if mode & stat.S_IWOTH:
        notes.append(
            f"EXOSCALE_API_CREDENTIALS_FILE {str(path)!r} is writable by every user "
            f"(mode {stat.S_IMODE(mode):04o}): anyone on the machine can replace the API key "
            "exoccm signs with; remove the write permission for others (chmod o-w, or a Secret "
            "volume's defaultMode such as 0440)"
        )
    try:
        key = load_credentials_file(path).key
    except CredentialsFileError:
        return notes
    return notes + api_key_warnings(
        key, f"the api_key in EXOSCALE_API_CREDENTIALS_FILE {str(path)!r}"
    )
