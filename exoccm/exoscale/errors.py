"""Typed errors of the Exoscale API client.

Every failure the client reports is an :class:`ExoscaleError`, so callers can catch one type and
still branch on the precise kind (``except NotFoundError``). Messages name the API operation and
zone, say what went wrong and, where there is one, what to do. They never contain credentials:
the only text taken from the wire is the API's own ``message``.
"""

from __future__ import annotations


class ExoscaleError(Exception):
    """Base class of every error raised by :mod:`exoccm.exoscale`.

    ``operation`` is the API operation id (e.g. ``get-load-balancer``) and ``zone`` the zone the
    request went to, when known.
    """

    def __init__(self, message: str, *, operation: str | None = None, zone: str | None = None):
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.zone = zone

    def __str__(self) -> str:
        where = _where(self.operation, self.zone)
        return f"{where}: {self.message}" if where else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    @property
    def retryable(self) -> bool:
        """Whether trying the same idempotent request again may succeed."""
        return False


def _where(operation: str | None, zone: str | None) -> str:
    if operation and zone:
        return f"{operation} in {zone}"
    return operation or zone or ""


class TransportError(ExoscaleError):
    """The request could not be completed: connection refused, timeout, broken connection.

    ``sent`` is False when the request certainly never reached the server (connection refused,
    connect timeout, no pooled connection available), which makes even a create safe to retry.
    """

    def __init__(
        self,
        message: str,
        *,
        sent: bool,
        operation: str | None = None,
        zone: str | None = None,
    ):
        super().__init__(message, operation=operation, zone=zone)
        self.sent = sent

    @property
    def retryable(self) -> bool:
        return True


class MalformedResponseError(ExoscaleError):
    """The API answered 2xx with a body exoccm cannot use (broken JSON, missing or mistyped field)."""


class ApiError(ExoscaleError):
    """The API answered with an HTTP error status; ``api_message`` is its own explanation."""

    def __init__(
        self,
        status: int,
        api_message: str,
        *,
        operation: str | None = None,
        zone: str | None = None,
    ):
        self.status = status
        self.api_message = api_message
        detail = f"HTTP {status}"
        if api_message:
            detail += f": {api_message}"
        super().__init__(
            f"{self._summary} ({detail}){self._advice}", operation=operation, zone=zone
        )

    _summary = "API error"
    _advice = ""


class InvalidRequestError(ApiError):
    """The API rejected the request as invalid (400 and other unclassified 4xx)."""

    _summary = "request rejected as invalid"


class ForbiddenError(ApiError):
    """Authentication or authorization failed (401, 403): bad signature, expired or restricted key."""

    _summary = "access denied"
    _advice = (
        "; check that the API key and secret are valid and that the key's IAM role allows this "
        "operation"
    )


class NotFoundError(ApiError):
    """The resource does not exist (404)."""

    _summary = "not found"


class ConflictError(ApiError):
    """The request conflicts with the resource's current state (409)."""

    _summary = "conflict"


class _RetryHintError(ApiError):
    """An API error that may carry a ``Retry-After`` hint (seconds)."""

    def __init__(
        self,
        status: int,
        api_message: str,
        *,
        retry_after: float | None = None,
        operation: str | None = None,
        zone: str | None = None,
    ):
        self.retry_after = retry_after
        super().__init__(status, api_message, operation=operation, zone=zone)


class RateLimitedError(_RetryHintError):
    """The API asked us to slow down (429). ``retry_after`` is its hint in seconds, if any."""

    _summary = "rate limited"

    @property
    def retryable(self) -> bool:
        return True


class ServerError(_RetryHintError):
    """The API failed on its side (5xx). ``retry_after`` is set when a 503 carried one."""

    _summary = "server error"

    @property
    def retryable(self) -> bool:
        # 501 Not Implemented will not start working on a second try.
        return self.status != 501


class OperationFailedError(ExoscaleError):
    """An asynchronous operation ended in ``failure`` or ``timeout`` (the API's own timeout)."""

    def __init__(
        self,
        operation_id: str,
        state: str,
        reason: str | None,
        api_message: str | None,
        *,
        operation: str | None = None,
        zone: str | None = None,
    ):
        self.operation_id = operation_id
        self.state = state
        self.reason = reason
        self.api_message = api_message
        text = f"operation {operation_id} ended in state {state!r}"
        if reason:
            text += f", reason {reason!r}"
        if api_message:
            text += f": {api_message}"
        super().__init__(text, operation=operation, zone=zone)


class OperationTimeoutError(ExoscaleError):
    """exoccm stopped waiting for an operation that was still pending at our deadline."""

    def __init__(
        self,
        operation_id: str,
        waited: float,
        *,
        operation: str | None = None,
        zone: str | None = None,
    ):
        self.operation_id = operation_id
        self.waited = waited
        super().__init__(
            f"operation {operation_id} still pending after {waited:.0f}s; it may still complete: "
            "re-read the resource before retrying (EXOCCM_OPERATION_TIMEOUT sets the deadline)",
            operation=operation,
            zone=zone,
        )


class NotLeaderError(ExoscaleError):
    """A mutation was refused without being sent because this replica no longer leads."""


class InvalidArgumentError(ExoscaleError):
    """The caller passed a value the client refuses to send (e.g. an ID that is not a UUID)."""
