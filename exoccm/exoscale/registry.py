"""One API client per zone, created on first use and closed together.

Usage::

    async with ExoscaleClients.from_settings(settings) as clients:
        nlbs = await clients.zone("de-muc-1").list_load_balancers()
        # or clients.zone() for the configured zone

Each zone gets its own connection pool and rate limiter; all zones share the credentials, which
the file watcher (:meth:`ExoscaleClients.credentials_watcher`) may replace at any time.
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import TYPE_CHECKING

import httpx
import structlog

from exoccm import __version__
from exoccm.exoscale.auth import ExoscaleAuth
from exoccm.exoscale.client import ZoneClient
from exoccm.exoscale.credentials import Credentials, CredentialsStore, load_credentials_file
from exoccm.exoscale.endpoints import zone_endpoint
from exoccm.exoscale.operations import WaitPolicy
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.reload import CredentialsFileWatcher
from exoccm.exoscale.session import Guard, ZoneSession

if TYPE_CHECKING:
    from pathlib import Path

    from exoccm.config import Settings

log = structlog.get_logger(__name__)

USER_AGENT = f"exoccm/{__version__}"


class ExoscaleClients:
    """The per-zone clients of one process.

    ``credentials`` may be a fixed pair or a store that a watcher updates. ``endpoint`` and
    ``environment`` follow ``EXOSCALE_API_ENDPOINT`` / ``EXOSCALE_API_ENVIRONMENT``;
    ``transport`` replaces the network (tests pass ``httpx.ASGITransport(app=...)``).
    ``guard`` is checked before every mutation of every zone (see :meth:`set_guard`).
    """

    def __init__(
        self,
        credentials: Credentials | CredentialsStore,
        *,
        zone: str,
        endpoint: str | None = None,
        environment: str = "api",
        options: ClientOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        guard: Guard | None = None,
        credentials_file: Path | None = None,
    ):
        self.credentials = (
            credentials
            if isinstance(credentials, CredentialsStore)
            else CredentialsStore(credentials)
        )
        # Validates the zone too, and fails at startup rather than at the first request if the
        # endpoint cannot serve it.
        zone_endpoint(zone, endpoint=endpoint, environment=environment, configured_zone=zone)
        self.default_zone = zone
        self.endpoint = endpoint
        self.environment = environment
        self.options = options or ClientOptions()
        self.credentials_file = credentials_file
        self._transport = transport
        self._guard = guard
        self._auth = ExoscaleAuth(self.credentials, clock=self.options.wall_clock)
        self._clients: dict[str, ZoneClient] = {}
        self._http: list[httpx.AsyncClient] = []
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        guard: Guard | None = None,
        options: ClientOptions | None = None,
    ) -> ExoscaleClients:
        """Clients configured from :class:`exoccm.config.Settings`.

        Reads the credentials file when no key and secret are set (raising
        :class:`CredentialsFileError` if it is unusable). ``options`` replaces the tunables
        taken from the settings (tests use it to inject clocks).
        """
        if settings.api_key is not None and settings.api_secret is not None:
            credentials = Credentials(key=settings.api_key, secret=settings.api_secret)
            credentials_file = None
        else:
            if settings.api_credentials_file is None:
                raise ValueError("settings have neither API key and secret nor a credentials file")
            credentials_file = settings.api_credentials_file
            credentials = load_credentials_file(credentials_file)
        if options is None:
            options = ClientOptions(
                rate_limit=settings.api_rate_limit,
                burst=settings.api_burst,
                request_timeout=settings.api_timeout,
                wait=WaitPolicy(timeout=settings.operation_timeout),
            )
        if settings.zone is None:
            raise ValueError("settings have no zone (EXOSCALE_API_ZONE)")
        return cls(
            credentials,
            zone=settings.zone,
            endpoint=settings.api_endpoint,
            environment=settings.api_environment,
            options=options,
            transport=transport,
            guard=guard,
            credentials_file=credentials_file,
        )

    def credentials_watcher(self) -> CredentialsFileWatcher | None:
        """A watcher keeping the credentials in step with the credentials file, or ``None``
        when they came from the environment. Run its :meth:`~CredentialsFileWatcher.run`."""
        if self.credentials_file is None:
            return None
        return CredentialsFileWatcher(self.credentials_file, self.credentials)

    def set_guard(self, guard: Guard | None) -> None:
        """Install the leadership check run before every mutation (e.g. ``elector.still_leading``)."""
        self._guard = guard
        for client in self._clients.values():
            client.session.guard = guard

    def zone(self, name: str | None = None) -> ZoneClient:
        """The client of zone ``name`` (default: the configured zone), created on first use."""
        if self._closed:
            raise RuntimeError("the Exoscale clients are closed")
        name = name or self.default_zone
        client = self._clients.get(name)
        if client is None:
            client = self._create(name)
            self._clients[name] = client
        return client

    def _create(self, zone: str) -> ZoneClient:
        base_url = zone_endpoint(
            zone,
            endpoint=self.endpoint,
            environment=self.environment,
            configured_zone=self.default_zone,
        )
        if self._tls is None:
            # One TLS context for every zone: each holds the CA bundle (~0.75 MB of RSS), and
            # the drift pass reaches every zone once.
            self._tls = httpx.create_ssl_context(trust_env=True)
        http = httpx.AsyncClient(
            transport=self._transport,
            verify=self._tls,
            timeout=self.options.httpx_timeout(),
            limits=self.options.httpx_limits(),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            # Honour HTTPS_PROXY/NO_PROXY as the Go CCM does.
            trust_env=True,
        )
        self._http.append(http)
        session = ZoneSession(zone, base_url, http, self._auth, self.options, guard=self._guard)
        log.debug("Created Exoscale client", zone=zone, endpoint=base_url)
        return ZoneClient(session, self.options)

    async def aclose(self) -> None:
        """Close every zone's connection pool."""
        self._closed = True
        clients, self._http = self._http, []
        for http in clients:
            await http.aclose()

    async def __aenter__(self) -> ExoscaleClients:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"ExoscaleClients(zone={self.default_zone!r}, zones={sorted(self._clients)!r}, "
            f"credentials={self.credentials.current!r})"
        )
