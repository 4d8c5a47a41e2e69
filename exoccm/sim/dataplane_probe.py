"""One health-check probe of one member, as an NLB runs it.

- ``tcp``: the connection to the health-check port is accepted;
- ``http``: ``GET <uri>`` answers status 200 (any other status, or no answer, fails);
- ``https``: the same over TLS, sending ``tls-sni`` as the server name (none without it) and,
  as load balancers' probes do, not verifying the member's certificate.

The whole probe, connection included, must finish within ``timeout`` seconds.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import anyio
from anyio.abc import ByteStream
from anyio.streams.tls import TLSStream

from exoccm.sim.dataplane_net import connect

_STATUS_LINE_MAX_BYTES = 8192
USER_AGENT = "exoccm-sim-nlb-healthcheck"


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """An NLB service's ``healthcheck``, with the API's defaults already filled in."""

    mode: str
    port: int
    interval: int
    timeout: int
    retries: int
    uri: str | None = None
    tls_sni: str | None = None


async def probe(member_ip: str, check: Healthcheck, *, source: str) -> bool:
    """Whether ``member_ip`` passes ``check`` now; never raises for network trouble."""
    with anyio.move_on_after(check.timeout):
        try:
            stream: ByteStream = await connect(
                member_ip, check.port, source=source, purpose=f"a {check.mode} health check"
            )
        except OSError:
            return False
        try:
            if check.mode == "tcp":
                return True
            if check.mode == "https":
                stream = await TLSStream.wrap(
                    stream,
                    server_side=False,
                    hostname=check.tls_sni,
                    ssl_context=_probe_tls_context(),
                    standard_compatible=False,
                )
            return await _http_status(stream, member_ip, check) == 200
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream):
            return False
        finally:
            await stream.aclose()
    return False  # timed out


def _probe_tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a probe checks liveness, not identity
    return context


async def _http_status(stream: ByteStream, member_ip: str, check: Healthcheck) -> int | None:
    request = (
        f"GET {check.uri or '/'} HTTP/1.1\r\n"
        f"Host: {check.tls_sni or member_ip}:{check.port}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Connection: close\r\n\r\n"
    )
    await stream.send(request.encode("latin-1"))
    received = b""
    while b"\r\n" not in received and len(received) < _STATUS_LINE_MAX_BYTES:
        received += await stream.receive()
    parts = received.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return None
    return int(parts[1])
