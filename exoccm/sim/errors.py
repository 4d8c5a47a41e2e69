"""Errors the simulator turns into HTTP answers, and errors of its control surface."""

from __future__ import annotations


class ApiError(Exception):
    """An API call fails with ``status`` and the body ``{"message": message}``, as Exoscale's do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


class SimulatorLookupError(LookupError):
    """A control-surface call named a zone or resource the simulator does not have."""

    def __str__(self) -> str:
        # LookupError's str() would quote the message like a dict key.
        return str(self.args[0]) if self.args else ""
