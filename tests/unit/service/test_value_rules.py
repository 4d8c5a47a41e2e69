"""The annotation value rules alone: what each accepts, what it refuses and why.

Python's ``int()`` takes ``1_0``, ``+5``, `` 5 `` and Arabic-Indic digits; ``float()`` takes ``1e1`` and
``inf``; a ``$``-anchored regex takes a trailing newline. Each table below holds such values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.controllers.service import value_rules as rules

UUID = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
RETRIES = partial(rules.integer, low=1, high=20)
PORT = partial(rules.integer, low=1, high=65535)
INTERVAL = partial(rules.whole_seconds, low=5, high=300)
NAME = partial(rules.name, max_length=255)
TEXT = partial(rules.text, max_length=255)
PATH = partial(rules.http_path, max_length=255)
SNI = partial(rules.server_name, max_length=255)
TEXT_RULES: dict[str, Callable[[str], str]] = {
    "name": NAME,
    "text": TEXT,
    "path": PATH,
    "server name": SNI,
}
# Every character Unicode puts in category Cc, from the Unicode database, not from the rule.
CONTROL = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"]


def refusal(rule: Callable[[str], object], value: str) -> str:
    with pytest.raises(rules.RefusedValueError) as caught:
        rule(value)
    return str(caught.value)


# -- integers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "number"), [("1", 1), ("20", 20), ("007", 7), ("0020", 20)])
def test_integers_in_ascii_digits_are_read(value: str, number: int) -> None:
    assert RETRIES(value) == number


@pytest.mark.parametrize(
    "value",
    [
        *("", "1_0", "+5", "-5", " 5", "5 ", "5\n", "\t5", "1e1", "1.0", "0x5", "five"),
        *("\u0661\u0660", "\uff11\uff10", "\u0967", "\U0001d7d9", "5\x00", "\u00b2"),
    ],
)
def test_integers_refuse_everything_but_ascii_digits(value: str) -> None:
    assert refusal(RETRIES, value) == (
        "must be an integer from 1 to 20, written with the digits 0-9 only "
        "(no sign, spaces, separators or exponent)"
    )


@pytest.mark.parametrize("value", ["0", "21", "00000", "9" * 5000, "1" + "0" * 5000])
def test_integers_out_of_range_are_refused_even_when_huge(value: str) -> None:
    assert refusal(RETRIES, value) == "must be from 1 to 20"


@given(st.text(max_size=12) | st.integers(-100, 70000).map(str))
def test_every_accepted_integer_is_ascii_digits(value: str) -> None:
    try:
        number = PORT(value)
    except rules.RefusedValueError:
        return
    assert re.fullmatch("[0-9]+", value)
    assert 1 <= number <= 65535
    assert number == int(value, 10)


# -- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5s", 5),
        ("10s", 10),
        ("1m", 60),
        ("1m30s", 90),
        ("1.5m", 90),
        (".5m", 30),
        ("90000ms", 90),
        ("5m", 300),
        ("+10s", 10),
        ("0h1m0s", 60),
        ("10000000000ns", 10),
    ],
)
def test_go_durations_of_whole_seconds_are_read(value: str, seconds: int) -> None:
    assert INTERVAL(value) == seconds


@pytest.mark.parametrize(("value", "unit"), [("10", "10s"), ("300", "300s"), ("0010", "0010s")])
def test_a_bare_number_needs_a_unit_and_the_message_says_which(value: str, unit: str) -> None:
    assert refusal(INTERVAL, value) == (
        f'needs a unit, as every Go duration does: use "{unit}" for seconds (5s to 5m)'
    )


@pytest.mark.parametrize(
    "value",
    [
        *("", "1e1", "1e1s", "1E1s", "inf", "nan", "Infinity", "1_0s", "10 s", " 10s", "10s "),
        *("10s\n", "10s\x00", "\u0661\u0660s", "\uff11\uff10s", "10\u00b5s", "10sec", "10S"),
        *("1d", "s", ".s", "1m-3s", "--1s", "ten seconds"),
    ],
)
def test_durations_refuse_all_but_ascii_go_syntax(value: str) -> None:
    assert refusal(INTERVAL, value) == (
        "must be a Go duration such as 10s, 1m or 1m30s (5s to 5m), in ASCII without spaces "
        "or exponent"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.5s", "must be a whole number of seconds (5s to 5m)"),
        ("10500ms", "must be a whole number of seconds (5s to 5m)"),
        ("4s", "must be from 5s to 5m"),
        ("0", "must be from 5s to 5m"),
        ("-10s", "must be from 5s to 5m"),
        ("301s", "must be from 5s to 5m"),
        ("2562047h", "must be from 5s to 5m"),
    ],
)
def test_durations_must_be_whole_seconds_in_range(value: str, message: str) -> None:
    assert refusal(INTERVAL, value) == message


@given(st.text(alphabet="0123456789.+-nsumh \u0661\u00b5e_\n", max_size=10))
def test_every_accepted_duration_is_ascii_go_syntax_with_a_unit(value: str) -> None:
    try:
        seconds = INTERVAL(value)
    except rules.RefusedValueError:
        return
    assert set(value) <= set("0123456789.+-nsumh")
    assert re.search("[a-z]", value)
    assert 5 <= seconds <= 300


# -- UUIDs and booleans --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [UUID, UUID.upper()])
def test_uuids_in_any_case_are_read_in_lower_case(value: str) -> None:
    assert rules.uuid(value) == UUID


@pytest.mark.parametrize(
    "value",
    [
        *(UUID + "\n", "\n" + UUID, UUID + " ", " " + UUID, UUID + "0", UUID[:-1], UUID + "\x00"),
        *(UUID.replace("-", ""), "{" + UUID + "}", "urn:uuid:" + UUID, " ", "nlb-1"),
        UUID.replace("5", "\uff15"),  # fullwidth digit five
        UUID.replace("f", "\uff46"),  # fullwidth letter f
    ],
)
def test_uuids_must_match_whole(value: str) -> None:
    assert refusal(rules.uuid, value) == f"must be a UUID such as {rules.UUID_EXAMPLE}"


@given(st.uuids().map(str), st.text(min_size=1, max_size=3))
def test_nothing_may_come_before_or_after_a_uuid(value: str, extra: str) -> None:
    for candidate in (value + extra, extra + value):
        with pytest.raises(rules.RefusedValueError):
            rules.uuid(candidate)


@pytest.mark.parametrize(
    ("value", "flag"),
    [("true", True), ("TRUE", True), ("True", True), ("false", False), ("FaLsE", False)],
)
def test_booleans_in_any_case(value: str, flag: bool) -> None:
    assert rules.boolean(value) is flag


@pytest.mark.parametrize(
    "value",
    [" TRUE ", "true\n", "\ttrue", "yes", "1", "on", "t", "", "\uff54rue", "tru\u0435", "true\x00"],
)
def test_booleans_refuse_anything_around_or_instead(value: str) -> None:
    assert refusal(rules.boolean, value) == (
        'must be "true" or "false" (any letter case, without spaces)'
    )


@given(st.text(max_size=6))
def test_an_accepted_boolean_is_true_or_false_in_some_case(value: str) -> None:
    try:
        flag = rules.boolean(value)
    except rules.RefusedValueError:
        assert value.lower() not in ("true", "false") or not value.isascii()
        return
    assert value.isascii()
    assert value.lower() == str(flag).lower()


# -- text, names, paths --------------------------------------------------------------------------


def test_the_control_characters_are_exactly_unicode_category_cc() -> None:
    assert len(CONTROL) == 65
    assert [c for c in map(chr, range(0x110000)) if rules.CONTROL_CHARACTER.match(c)] == CONTROL


@pytest.mark.parametrize("kind", TEXT_RULES)
@pytest.mark.parametrize("character", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85"])
def test_text_values_refuse_control_characters(kind: str, character: str) -> None:
    message = refusal(TEXT_RULES[kind], f"/web{character}x")
    assert message == (
        "must not contain control characters such as line breaks, tabs or NUL; found "
        f"U+{ord(character):04X} at character 5"
    )


@given(
    st.sampled_from(sorted(TEXT_RULES)),
    st.text(max_size=20),
    st.sampled_from(CONTROL),
    st.text(max_size=20),
)
def test_any_value_with_a_control_character_is_refused(
    kind: str, before: str, control: str, after: str
) -> None:
    message = refusal(TEXT_RULES[kind], "/" + before + control + after)
    assert "control characters" in message


@pytest.mark.parametrize("value", ["web", " web ", "caf\u00e9 \u2615", "n" * 255, "a b"])
def test_names_may_hold_any_printable_text(value: str) -> None:
    assert NAME(value) == value


@pytest.mark.parametrize("value", ["", " ", "   ", "\u3000", "\u00a0\u2003"])
def test_names_must_not_be_blank(value: str) -> None:
    assert refusal(NAME, value) == (
        "must not be blank: give 1 to 255 characters, not only whitespace"
    )


@given(st.text(max_size=300))
def test_an_accepted_name_is_not_blank_and_fits(value: str) -> None:
    try:
        NAME(value)
    except rules.RefusedValueError:
        return
    assert value.strip()
    assert 1 <= len(value) <= 255
    assert not any(unicodedata.category(c) == "Cc" for c in value)


def test_lengths_are_the_apis() -> None:
    assert refusal(NAME, "n" * 256) == "must be 1 to 255 characters long, not 256"
    assert refusal(TEXT, "d" * 256) == "must be 0 to 255 characters long, not 256"
    assert TEXT("") == ""
    assert TEXT("d" * 255) == "d" * 255
    assert PATH("/" + "p" * 254) == "/" + "p" * 254
    assert refusal(PATH, "/" + "p" * 255) == "must be 1 to 255 characters long, not 256"


@pytest.mark.parametrize("value", ["/", "/healthz", "/a%20b?x=1&y=2", "/caf\u00e9"])
def test_paths_start_with_a_slash(value: str) -> None:
    assert PATH(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", 'must be a path starting with "/"'),
        ("healthz", 'must be a path starting with "/"'),
        (" /healthz", 'must be a path starting with "/"'),
        (
            "/health z",
            'must not contain whitespace: a path starting with "/"; write a space as %20',
        ),
        ("/health\u00a0z", "must not contain whitespace"),
        ("/health\u2028z", "must not contain whitespace"),
    ],
)
def test_paths_refuse_a_missing_slash_and_whitespace(value: str, message: str) -> None:
    assert refusal(PATH, value).startswith(message)


@given(st.text(max_size=40))
def test_an_accepted_path_starts_with_a_slash_and_holds_no_whitespace(value: str) -> None:
    try:
        PATH(value)
    except rules.RefusedValueError:
        return
    assert value.startswith("/")
    assert not any(c.isspace() or unicodedata.category(c) == "Cc" for c in value)


def test_server_names_are_names_without_whitespace() -> None:
    assert SNI("shop.example.com") == "shop.example.com"
    assert refusal(SNI, "shop example.com").startswith("must not contain whitespace")
    assert refusal(SNI, " ").startswith("must not be blank")
    assert refusal(SNI, "shop\r\n").startswith("must not contain control characters")


def test_choices_are_exact() -> None:
    allowed = ("tcp", "http", "https")
    assert rules.choice("http", allowed) == "http"
    for value in ("HTTP", "http ", "http\n", ""):
        assert refusal(partial(rules.choice, allowed=allowed), value) == (
            "must be one of tcp, http, https"
        )


@given(st.text(max_size=8))
def test_no_rule_fails_on_any_text_but_with_a_refusal_that_says_why(value: str) -> None:
    for rule in (RETRIES, INTERVAL, NAME, TEXT, PATH, SNI, rules.uuid, rules.boolean):
        message = "accepted"
        try:
            rule(value)
        except rules.RefusedValueError as refused:
            message = str(refused)
        assert message
