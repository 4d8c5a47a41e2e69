"""The little HTTP/1.1 the stand-ins speak: read one request head, write one response, close."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
from anyio.abc import ByteStream

_HEAD_MAX_BYTES = 16384
_REASONS = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed", 503: "Service Unavailable"}
READ_TIMEOUT_SECONDS = 10.0


async def read_request(stream: ByteStream) -> tuple[str, str] | None:
    """``(method, target)`` of the request on ``stream``; None if it is not HTTP or never
    arrives. The body, if any, is not read: every answer closes the connection."""
    received = b""
    with anyio.move_on_after(READ_TIMEOUT_SECONDS):
        try:
            while b"\r\n\r\n" not in received and len(received) < _HEAD_MAX_BYTES:
                received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return None
    parts = received.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return None
    return parts[0].decode("latin-1"), parts[1].decode("latin-1")


def response(
    status: int, body: bytes, headers: Mapping[str, str], *, head_only: bool = False
) -> bytes:
    """A complete ``Connection: close`` response (without the body for HEAD requests)."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + (b"" if head_only else body)
