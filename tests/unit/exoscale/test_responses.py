"""Error statuses become typed errors with the API's message; Retry-After is understood."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.exoscale import errors
from exoccm.exoscale.responses import api_message, error_for_status, parse_retry_after


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.InvalidRequestError),
        (401, errors.ForbiddenError),
        (403, errors.ForbiddenError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (412, errors.InvalidRequestError),
        (422, errors.InvalidRequestError),
        (429, errors.RateLimitedError),
        (500, errors.ServerError),
        (501, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_status_maps_to_typed_error(status: int, kind: type[errors.ApiError]) -> None:
    error = error_for_status(
        status, b'{"message":"it broke"}', {}, operation="get-instance", zone="at-vie-1"
    )
    assert type(error) is kind
    assert isinstance(error, errors.ExoscaleError)
    assert error.status == status
    assert error.api_message == "it broke"
    assert str(error).startswith("get-instance in at-vie-1: ")
    assert f"HTTP {status}: it broke" in str(error)


def test_retryability() -> None:
    def err(status: int) -> errors.ApiError:
        return error_for_status(status, b"", {}, operation="o", zone="z")

    assert err(503).retryable
    assert err(500).retryable
    assert err(429).retryable
    assert not err(501).retryable
    assert not err(404).retryable
    assert not err(400).retryable
    assert not err(403).retryable


def test_forbidden_says_what_to_check() -> None:
    error = error_for_status(
        403, b'{"message":"Invalid request signature"}', {}, operation="o", zone="z"
    )
    assert "check that the API key and secret are valid" in str(error)


def test_rate_limited_carries_retry_after() -> None:
    error = error_for_status(429, b"{}", {"retry-after": "7"}, operation="o", zone="z")
    assert isinstance(error, errors.RateLimitedError)
    assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"message": "Instance not found"}', "Instance not found"),
        (b'{"error": "slow down", "retry_after": 3}', "slow down"),
        (b'{"title": "Bad", "detail": "field x"}', "field x"),
        (b'{"errors": ["a", {"detail": "b"}]}', "a; b"),
        (b"<html>gateway</html>", "<html>gateway</html>"),
        (b'"just text"', "just text"),
        (b"", ""),
    ],
)
def test_api_message_shapes(body: bytes, message: str) -> None:
    assert api_message(body) == message


def test_api_message_is_shortened() -> None:
    assert len(api_message(b"x" * 5000)) == 300


def test_retry_after_seconds_and_dates() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    for garbage in (None, "", "soon", "nan", "inf", "-5"):
        result = parse_retry_after(garbage, now=now)
        assert result is None or result == 0.0


@given(st.text(max_size=40))
def test_retry_after_never_raises_or_goes_negative(value: str) -> None:
    result = parse_retry_after(value, now=0.0)
    assert result is None or result >= 0.0


def test_operation_failed_and_timeout_errors_describe_themselves() -> None:
    failed = errors.OperationFailedError(
        "op1", "failure", "busy", "try later", operation="create-load-balancer", zone="z"
    )
    assert failed.state == "failure"
    assert failed.reason == "busy"
    assert str(failed) == (
        "create-load-balancer in z: operation op1 ended in state 'failure', reason 'busy': "
        "try later"
    )
    late = errors.OperationTimeoutError("op2", 600.0, operation="delete-load-balancer", zone="z")
    assert "still pending after 600s" in str(late)
    assert "EXOCCM_OPERATION_TIMEOUT" in str(late)
    assert repr(late).startswith("OperationTimeoutError(")
