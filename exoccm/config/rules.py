"""Rules that span several settings. Each problem starts with the variable(s) to change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exoccm.config.durations import format_go_duration
from exoccm.exoscale.credentials import CredentialsFileError, load_credentials_file

if TYPE_CHECKING:
    from exoccm.config.settings import Settings

# client-go's leader election requires renewDeadline > JitterFactor * retryPeriod.
LEADER_ELECTION_JITTER = 1.2


def cross_field_problems(settings: Settings, skip: frozenset[str] = frozenset()) -> list[str]:
    """Every cross-field problem of ``settings``; rules touching a field in ``skip`` (already
    reported as invalid) are not checked."""
    problems: list[str] = []
    if not skip & {"api_key", "api_secret", "api_credentials_file"}:
        problems += _credentials_problems(settings)
    if "zone" not in skip and settings.zone is None:
        problems.append(
            "EXOSCALE_API_ZONE: not set; set it (or the legacy EXOSCALE_ZONE) to the zone of the "
            "cluster's instances, e.g. ch-gva-2"
        )
    if settings.leader_elect and not skip & {"lease_duration", "renew_deadline", "retry_period"}:
        problems += _leader_election_problems(settings)
    return problems


def _credentials_problems(settings: Settings) -> list[str]:
    if settings.has_static_credentials:
        return []
    if settings.api_credentials_file is not None:
        try:
            load_credentials_file(settings.api_credentials_file)
        except CredentialsFileError as exc:
            return [f"EXOSCALE_API_CREDENTIALS_FILE: {exc.message}"]
        return []
    if settings.api_key is None and settings.api_secret is None:
        missing = "no credentials are set"
    elif settings.api_key is None:
        missing = "EXOSCALE_API_SECRET is set but EXOSCALE_API_KEY is not"
    else:
        missing = "EXOSCALE_API_KEY is set but EXOSCALE_API_SECRET is not"
    return [
        f"EXOSCALE_API_KEY/EXOSCALE_API_SECRET: incomplete or missing Exoscale API credentials "
        f"({missing}); set both, or EXOSCALE_API_CREDENTIALS_FILE"
    ]


def _leader_election_problems(settings: Settings) -> list[str]:
    lease = format_go_duration(settings.lease_duration)
    renew = format_go_duration(settings.renew_deadline)
    retry = format_go_duration(settings.retry_period)
    problems = []
    if settings.lease_duration <= settings.renew_deadline:
        problems.append(
            f"EXOCCM_LEASE_DURATION ({lease}) must be longer than EXOCCM_RENEW_DEADLINE ({renew})"
        )
    if settings.renew_deadline <= LEADER_ELECTION_JITTER * settings.retry_period:
        problems.append(
            f"EXOCCM_RENEW_DEADLINE ({renew}) must be longer than {LEADER_ELECTION_JITTER} x "
            f"EXOCCM_RETRY_PERIOD ({retry})"
        )
    return problems
