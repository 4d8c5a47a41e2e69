"""Credentials: the file format, masking in every text form, and atomic replacement."""

from __future__ import annotations

from pathlib import Path

import pytest

from exoccm.exoscale.credentials import (
    Credentials,
    CredentialsFileError,
    CredentialsStore,
    load_credentials_file,
    mask_key,
    parse_credentials,
)
from exoccm.exoscale.reload import CredentialsFileWatcher

KEY = "EXO0123456789abcdef01234567"
SECRET = "Sup3r-Secret_value-0123456789abcdefghijklmno"


def test_reads_the_go_ccm_file_format(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(f'{{"api_key": "{KEY}", "api_secret": "{SECRET}", "name": "ccm"}}')
    credentials = load_credentials_file(path)
    assert credentials.key == KEY
    assert credentials.secret.get_secret_value() == SECRET
    assert credentials.name == "ccm"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f'{{"api_key": "{KEY}", "api_secret": "{SECRET}"', "not valid JSON at line 1"),
        (f'["{KEY}", "{SECRET}"]', "must hold a JSON object"),
        (f'{{"api_key": "{KEY}"}}', "'api_secret' is missing"),
        (f'{{"api_secret": "{SECRET}"}}', "'api_key' is missing"),
        (f'{{"api_key": "{KEY}", "api_secret": 5}}', "'api_secret' is missing or not"),
        (f'{{"api_key": "{KEY}", "api_secret": "{SECRET}", "name": 3}}', "'name' must be"),
        ("\xff\xfe", "not valid JSON"),
    ],
)
def test_invalid_files_are_named_without_their_content(content: str, problem: str) -> None:
    with pytest.raises(CredentialsFileError) as info:
        parse_credentials(content.encode("latin-1"), source="/etc/exoscale/creds.json")
    assert problem in str(info.value)
    assert "/etc/exoscale/creds.json" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET[:10] not in repr(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        CredentialsFileError,
        match=r"cannot read the credentials file .*EXOSCALE_API_CREDENTIALS_FILE",
    ):
        load_credentials_file(tmp_path / "absent.json")


def test_text_forms_mask_the_secret_and_the_key() -> None:
    credentials = Credentials.of(KEY, SECRET, "ccm")
    store = CredentialsStore(credentials)
    for text in (repr(credentials), str(credentials), repr(store), f"{credentials}"):
        assert SECRET not in text
        assert KEY not in text
        assert "EXO…4567" in text
    assert mask_key("short") == "****"


def test_store_replaces_atomically_and_reports_change() -> None:
    first = Credentials.of(KEY, SECRET)
    store = CredentialsStore(first)
    assert not store.replace(Credentials.of(KEY, SECRET))
    second = Credentials.of("EXOabcdefabcdefabcdefabcdef", SECRET)
    assert store.replace(second)
    assert store.current is second


def test_empty_parts_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Credentials.of(KEY, "")


def test_watcher_reload_keeps_old_credentials_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    first = Credentials.of(KEY, SECRET, "first")
    store = CredentialsStore(first)
    watcher = CredentialsFileWatcher(path, store)

    def problem() -> str:
        return watcher.last_problem or ""

    path.write_text("{not json")
    assert not watcher.reload()
    assert store.current is first
    assert "not valid JSON" in problem()
    path.write_text(f'{{"api_key": "EXOabcdefabcdefabcdefabcdef", "api_secret": "{SECRET}"}}')
    assert watcher.reload()
    assert store.current.key == "EXOabcdefabcdefabcdefabcdef"
    assert problem() == ""
    assert not watcher.reload()  # unchanged
