"""One websocket peer (a cabin, a doctor's console or an agent's alert page), with its own
writer.

Messages to a peer go through a bounded queue drained by the peer's writer task, so that one
slow or stuck peer never holds up the others: whoever sends never waits. A peer whose queue
overflows, or that takes longer than `SEND_TIMEOUT_S` to take a message, is disconnected; it
will reconnect and be brought up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging

from aiohttp import web

import wire
from hub.cancellation import cancel_and_wait
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
QUEUE_SIZE = 256


class PeerKind(enum.StrEnum):
    CABIN = "cabin"
    CONSOLE = "console"
    AGENT = "agent"


class CloseCode(enum.IntEnum):
    """Websocket close codes the hub uses (4000-4999 are the application's)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012
    """RFC 6455's "Service Restart": this replica is going away (a rolling restart); reconnect
    at once, through the proxy, to another one."""
    PROTOCOL = 4400
    UNAUTHORIZED = 4401
    SESSION_ENDED = 4403
    HELLO_TIMEOUT = 4408
    REPLACED = 4409
    TOO_SLOW = 4429


class Peer:
    """A connected cabin or console, known by who it is (`identity`)."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        kind: PeerKind,
        identity: str,
        client_address: str,
        session_sha256: str | None = None,
    ) -> None:
        self.kind = kind
        self.identity = identity
        """The cabin id, or the doctor's or the agent's username."""
        self.client_address = client_address
        self.session_sha256 = session_sha256
        self._ws = ws
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def label(self) -> str:
        """How log lines name this peer."""
        return log_safe(f"{self.kind.value}:{self.identity}")

    @property
    def closed(self) -> bool:
        return self._closing or self._ws.closed

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name=f"hub-writer-{self.label}"
            )

    def send(self, message: wire.Message) -> None:
        """Queue a message for this peer; never waits."""
        self.send_encoded(wire.encode(message).decode("utf-8"))

    def send_encoded(self, text: str) -> None:
        if self._closing:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("hub.peer_too_slow peer=%s", self.label)
            self.close_soon(CloseCode.TOO_SLOW, "too slow")

    def close_soon(self, code: int, reason: str) -> None:
        """Close the connection from outside its handler (replaced, logged out, too slow)."""
        if not self._closing:
            self._closing = True
            self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close the connection and wait until it is closed (or `CLOSE_TIMEOUT_S` has passed)."""
        self.close_soon(code, reason)
        if self._closer is not None:
            await self._closer

    async def close_after_sending(self, code: int, reason: str) -> None:
        """Send what is already queued (within `CLOSE_TIMEOUT_S`), then close: a replica that
        drains its sockets loses nothing it had taken to send. Nothing more is queued meanwhile.
        """
        if self._closing:
            await self.close(code, reason)
            return
        self._closing = True
        writer = self._writer
        if writer is not None and not writer.done():
            with contextlib.suppress(asyncio.QueueFull):  # full: too slow, close as it is
                self._queue.put_nowait(None)  # the writer stops after the queued messages
                await asyncio.wait({writer}, timeout=CLOSE_TIMEOUT_S)
        self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))
        await self._closer

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._ws.close(code=code, message=reason.encode("utf-8"))

    async def _write(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self._ws.send_str(text)
            except TimeoutError:
                log.warning("hub.peer_too_slow peer=%s", self.label)
                self.close_soon(CloseCode.TOO_SLOW, "too slow")
                return
            except (ConnectionError, RuntimeError):
                return

    async def stop_writer(self) -> None:
        """Stop the writer once the connection is over (messages not yet sent are dropped)."""
        self._closing = True
        if self._writer is not None:
            await cancel_and_wait(self._writer)


def refuse(peer: Peer, code: wire.ErrorCode, in_reply_to: str | None, text: str = "") -> None:
    """Tell the peer its message was refused, and why."""
    peer.send(wire.ErrorMessage(msg_id=new_msg_id(), code=code, text=text, in_reply_to=in_reply_to))


def acknowledge(peer: Peer, message: wire.Message) -> None:
    peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=message.msg_id))
