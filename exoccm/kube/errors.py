"""Typed Kubernetes API errors, built from the apiserver's ``Status`` responses."""

from __future__ import annotations

from typing import Any


class KubeError(Exception):
    """Any failure talking to the Kubernetes API."""


class KubeConnectionError(KubeError):
    """The apiserver could not be reached or the connection broke (retryable)."""


class KubeApiError(KubeError):
    """The apiserver answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, method: str = "", path: str = ""):
        self.status = status
        self.reason = reason
        self.message = message
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: {status} {reason}: {message}".strip())


class KubeNotFoundError(KubeApiError):
    pass


class KubeConflictError(KubeApiError):
    """409: a stale resourceVersion on update, or AlreadyExists on create."""

    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class KubeGoneError(KubeApiError):
    """410: the requested resourceVersion is too old (compacted)."""


class KubeForbiddenError(KubeApiError):
    pass


class KubeUnauthorizedError(KubeApiError):
    pass


class KubeInvalidError(KubeApiError):
    """422 or 400: the object was rejected by validation."""


class KubeTooManyRequestsError(KubeApiError):
    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class KubeServerError(KubeApiError):
    """5xx: the apiserver or etcd had trouble (retryable)."""


_BY_STATUS: dict[int, type[KubeApiError]] = {
    400: KubeInvalidError,
    401: KubeUnauthorizedError,
    403: KubeForbiddenError,
    404: KubeNotFoundError,
    409: KubeConflictError,
    410: KubeGoneError,
    422: KubeInvalidError,
    429: KubeTooManyRequestsError,
}


def from_status(
    status: int,
    body: Any,
    *,
    method: str = "",
    path: str = "",
    retry_after: float | None = None,
) -> KubeApiError:
    """Map an HTTP status and ``Status`` body to the matching error class."""
    reason = ""
    message = ""
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
        # A watch ERROR event carries a Status whose code may differ from the HTTP status.
        code = body.get("code")
        if isinstance(code, int) and code >= 400:
            status = code
    elif isinstance(body, (bytes, str)):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        message = text[:500]
    cls = _BY_STATUS.get(status, KubeServerError if status >= 500 else KubeApiError)
    if cls is KubeTooManyRequestsError:
        return KubeTooManyRequestsError(
            status, reason, message, method, path, retry_after=retry_after
        )
    return cls(status, reason, message, method, path)
