"""HTTP and websocket clients that send exactly the bytes a test gives, as an attacker would:
request lines aiohttp's client would refuse to write, frames that are not valid UTF-8."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.hub.hub_rig import TIMEOUT_S

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@dataclass(frozen=True)
class RawResponse:
    status: int
    head: bytes
    body: bytes


async def raw_request(url: str, request: bytes, within_s: float = TIMEOUT_S) -> RawResponse:
    """Send `request` as is on a new connection; the answer, read until the hub closes."""
    reader, writer = await asyncio.open_connection(*host_port(url))
    try:
        async with asyncio.timeout(within_s):
            writer.write(request)
            await writer.drain()
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    assert len(status_line) >= 2 and status_line[0].startswith(b"HTTP/1."), data[:200]
    return RawResponse(int(status_line[1]), head, body)


def http_request(
    method: str,
    target: bytes,
    *,
    headers: dict[str, str | bytes] | None = None,
    body: bytes = b"",
) -> bytes:
    """A request to send with `raw_request`: `target` as given, ``Connection: close``."""
    lines = [method.encode("latin-1") + b" " + target + b" HTTP/1.1", b"Host: hub"]
    for name, value in (headers or {}).items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name.encode("latin-1") + b": " + raw)
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class RawWebSocket:
    """A websocket client that frames whatever it is given (masked, as a client must)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(
        cls, url: str, path: str, headers: dict[str, str] | None = None
    ) -> RawWebSocket:
        reader, writer = await asyncio.open_connection(*host_port(url))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: hub",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        async with asyncio.timeout(TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode("latin-1"))
        return cls(reader, writer)

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        mask = os.urandom(4)
        first = (0x80 if fin else 0) | opcode
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", first, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, size)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self._writer.write(header + mask + masked)

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(TEXT, text.encode("utf-8") if isinstance(text, str) else text)

    async def receive(self, within_s: float = TIMEOUT_S) -> tuple[int, bytes]:
        """The next frame from the hub: (opcode, payload); pings are answered and skipped.
        EOF raises `asyncio.IncompleteReadError`."""
        async with asyncio.timeout(within_s):
            while True:
                first, second = await self._reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await self._reader.readexactly(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await self._reader.readexactly(8))
                payload = await self._reader.readexactly(size)
                opcode = first & 0x0F
                if opcode == PING:
                    self.send_frame(PONG, payload)
                    continue
                return opcode, payload

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


def close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
