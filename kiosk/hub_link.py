"""The cabin's connection to the hub: one websocket, kept open, and the messages on it.

The link connects, proves who the cabin is (``CabinHello``), and reconnects by itself with a
capped backoff whenever the network or the hub goes away. What the cabin sends while the link is
down waits in order and leaves when it is back; a message sent ``reliable`` stays until the hub's
``Ack`` names it, and is sent again after each reconnection (the hub keeps each ``msg_id`` once).
A wrong credential is not retried in a loop: the link says so and waits longer. A hub replica
that restarts (a rolling restart behind the proxy) closes with 1012, "reconnect now": the link
comes back within a few tenths of a second, to another replica, without going offline.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

import aiohttp

import wire
from devices.cancellation import cancel_and_wait, within
from kiosk.errors import HubError

log = logging.getLogger(__name__)

BACKOFF_S: Final = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
RESTART_RETRY_S: Final = (0.1, 0.3)
"""After a 1012 close (the replica restarts): reconnect after this long, jittered within these
bounds so that a replica's cabins do not all arrive at once."""
SERVICE_RESTART: Final = 1012
REFUSED_RETRY_S: Final = 60.0
CONNECT_TIMEOUT_S: Final = 5.0
HEARTBEAT_S: Final = 10.0
MAX_WAITING: Final = 1000  # messages kept while offline, beyond which the oldest unreliable go
MAX_MESSAGE_BYTES: Final = 1024 * 1024


class HubLinkState(enum.Enum):
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"
    REFUSED = "refused"  # the hub refused the cabin's credential
    CLOSED = "closed"


Handler = Callable[[wire.Message], Awaitable[None]]


def websocket_url(hub_url: str) -> str:
    """The cabin's websocket address on the hub at ``hub_url`` (http(s):// or ws(s)://)."""
    base = hub_url.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if base.startswith(plain):
            base = secure + base[len(plain) :]
    return base + "/ws/cabin"


class HubLink:
    def __init__(
        self,
        hub_url: str,
        cabin_id: str,
        token: str,
        *,
        software_version: str,
        handler: Handler,
        on_state: Callable[[HubLinkState], None] = lambda _state: None,
        backoff_s: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        self._url = websocket_url(hub_url)
        self._cabin_id = cabin_id
        self._token = token
        self._version = software_version
        self._handler = handler
        self._on_state = on_state
        self._backoff_s = backoff_s
        self._state = HubLinkState.OFFLINE
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reliable: dict[str, bytes] = {}  # msg_id -> encoded, until acked
        self._waiting: collections.deque[tuple[str, bytes]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._online = asyncio.Event()
        self._was_online = False  # in the current connection attempt
        self._restarted = False  # the last session ended with 1012 (reconnect now)
        self._ids = 0
        self._live: Callable[[], list[str]] = list
        self._asked: dict[str, asyncio.Future[wire.Message]] = {}
        """Questions sent with `ask`, by msg_id, until the hub's answer names them."""
        self._acks: dict[str, asyncio.Future[bool]] = {}
        """Reliable messages whose sender waits for the hub's word (`acknowledgement`)."""

    def say_live(self, live: Callable[[], list[str]]) -> None:
        """Where the hello finds the consultations live on the cabin now (waiting or in a
        call): the hub ends those it still holds that are not (a restart lost their leave)."""
        self._live = live

    @property
    def state(self) -> HubLinkState:
        return self._state

    @property
    def unacknowledged(self) -> int:
        return len(self._reliable)

    def new_id(self, prefix: str = "c") -> str:
        """A message id unique for this cabin's run."""
        self._ids += 1
        return f"{self._cabin_id}.{prefix}{self._ids}.{id(self) % 100000}"

    async def start(self) -> None:
        if self._task is None:
            self._http = aiohttp.ClientSession()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_online(self, timeout_s: float) -> None:
        try:
            await within(self._online.wait(), timeout_s)
        except TimeoutError:
            raise HubError(f"the hub did not answer within {timeout_s:.0f} s") from None

    async def send(self, message: wire.Message, *, reliable: bool = False) -> None:
        """Send now, or as soon as the link is back. ``reliable``: until the hub acks it."""
        data = wire.encode(message)
        if reliable:
            self._reliable[message.msg_id] = data
        if self._ws is not None and self._state is HubLinkState.ONLINE:
            try:
                await self._ws.send_bytes(data)
                return
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                log.warning("hub.send_failed error=%s", type(exc).__name__)
        if not reliable:  # reliable ones are all sent again on reconnection anyway
            self._waiting.append((message.msg_id, data))
            while len(self._waiting) > MAX_WAITING:
                dropped, _ = self._waiting.popleft()
                log.warning("hub.dropped_while_offline msg_id=%s", dropped)

    def acknowledgement(self, msg_id: str) -> asyncio.Future[bool]:
        """Resolved True when the hub acknowledges the reliable message ``msg_id``, False when
        it refuses it for good (a sender that keeps a copy of its own, on disk, waits here)."""
        waiter = self._acks.get(msg_id)
        if waiter is None or waiter.done():
            waiter = asyncio.get_running_loop().create_future()
            self._acks[msg_id] = waiter
        return waiter

    async def ask(self, message: wire.Message, timeout_s: float) -> wire.Message:
        """Send a question now and return the hub's answer (the message whose `in_reply_to`
        names it: an `AppointmentFound`, an `ErrorMessage`...). A question is not kept for
        later: `HubError` at once when the link is down, or when no answer came in time."""
        ws = self._ws
        if ws is None or self._state is not HubLinkState.ONLINE:
            raise HubError("the hub cannot be reached now")
        answer: asyncio.Future[wire.Message] = asyncio.get_running_loop().create_future()
        self._asked[message.msg_id] = answer
        try:
            await ws.send_bytes(wire.encode(message))
            return await within(answer, timeout_s)
        except TimeoutError:
            raise HubError(f"the hub did not answer within {timeout_s:.1f} s") from None
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise HubError(f"the question did not reach the hub: {type(exc).__name__}") from exc
        finally:
            self._asked.pop(message.msg_id, None)

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        self._set_state(HubLinkState.CLOSED)

    # --- the connection loop --------------------------------------------------------------------

    def _set_state(self, state: HubLinkState) -> None:
        if state is not self._state:
            self._state = state
            log.info("hub.link state=%s", state.value)
            if state is HubLinkState.ONLINE:
                self._online.set()
            else:
                self._online.clear()
            self._on_state(state)

    async def _run(self) -> None:
        failures = 0
        while True:
            self._set_state(HubLinkState.CONNECTING)
            try:
                refused = await self._session()
            except (aiohttp.ClientError, OSError, TimeoutError, HubError) as exc:
                log.warning("hub.connection_lost error=%s", _describe(exc))
                refused = False
            self._ws = None
            for answer in self._asked.values():  # the link went down before the answer came
                if not answer.done():
                    answer.set_exception(HubError("the connection to the hub was lost"))
            if refused:
                self._set_state(HubLinkState.REFUSED)
                await asyncio.sleep(REFUSED_RETRY_S)
                continue
            if self._restarted:  # its replica restarts: at once, through the proxy, elsewhere
                log.info("hub.replica_restarting reconnect=now")
                self._set_state(HubLinkState.CONNECTING)
                failures = 0
                await asyncio.sleep(random.uniform(*RESTART_RETRY_S))  # noqa: S311 (jitter)
                continue
            self._set_state(HubLinkState.OFFLINE)
            failures = 0 if self._was_online else failures + 1
            await asyncio.sleep(self._backoff_s[min(failures, len(self._backoff_s) - 1)])

    async def _session(self) -> bool:
        """One websocket session; returns True when the hub refused the credential."""
        assert self._http is not None
        self._was_online = False
        self._restarted = False
        async with self._http.ws_connect(
            self._url,
            timeout=aiohttp.ClientWSTimeout(ws_close=CONNECT_TIMEOUT_S),
            heartbeat=HEARTBEAT_S,
            max_msg_size=MAX_MESSAGE_BYTES,
        ) as ws:
            hello = wire.CabinHello(
                msg_id=self.new_id("hello"),
                cabin_id=self._cabin_id,
                token=self._token,
                software_version=self._version,
                live=self._live()[:2],
            )
            await ws.send_bytes(wire.encode(hello))
            first = await within(ws.receive(), CONNECT_TIMEOUT_S)
            reply = self._decode(first)
            if isinstance(reply, wire.ErrorMessage):
                log.error("hub.refused code=%s", reply.code.value)
                return reply.code is wire.ErrorCode.UNAUTHORIZED
            if not isinstance(reply, wire.Welcome):
                raise HubError("the hub did not welcome the cabin")
            self._ws = ws
            self._was_online = True
            self._set_state(HubLinkState.ONLINE)
            await self._flush(ws)
            while True:
                frame = await ws.receive()
                if frame.type is aiohttp.WSMsgType.CLOSE:
                    # the code the hub sent: `ws.close_code` may say 1006 instead when the hub
                    # has closed the connection before the link's answering close frame
                    self._restarted = frame.data == SERVICE_RESTART
                    log.info("hub.link_closed code=%s", frame.data)
                    break
                if frame.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    log.info("hub.link_closed code=%s", ws.close_code)
                    break
                message = self._decode(frame)
                if message is not None:
                    await self._dispatch(message)
        return False

    async def _flush(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """What waited while offline, then every reliable message not yet acknowledged."""
        sent: set[str] = set()
        while self._waiting:
            msg_id, data = self._waiting[0]
            await ws.send_bytes(data)
            self._waiting.popleft()
            sent.add(msg_id)
        for msg_id, data in list(self._reliable.items()):
            if msg_id not in sent:
                await ws.send_bytes(data)

    def _decode(self, frame: aiohttp.WSMessage) -> wire.Message | None:
        if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            raise HubError("the hub closed the connection")
        if frame.type is aiohttp.WSMsgType.ERROR:
            raise HubError("the connection to the hub failed")
        if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return None
        try:
            return wire.decode(frame.data, allowed=wire.HubToCabin)
        except wire.WireError as exc:
            log.warning("hub.message_refused error=%s", exc)
            return None

    async def _dispatch(self, message: wire.Message) -> None:
        in_reply_to = getattr(message, "in_reply_to", None)
        asked = self._asked.get(in_reply_to) if isinstance(in_reply_to, str) else None
        if asked is not None:
            if not asked.done():
                asked.set_result(message)
            return
        if isinstance(message, wire.Ack):
            self._reliable.pop(message.ack_of, None)
            self._acknowledged(message.ack_of, True)
            return
        if isinstance(message, wire.ErrorMessage) and message.in_reply_to in self._reliable:
            # The hub refused it for good (malformed, or about a consultation it does not know):
            # sending it again would not change that.
            self._reliable.pop(message.in_reply_to or "", None)
            self._acknowledged(message.in_reply_to or "", False)
            log.warning("hub.refused_message code=%s", message.code.value)
            return
        try:
            await self._handler(message)
        except HubError as exc:
            log.warning("hub.message_not_handled type=%s error=%s", type(message).__name__, exc)

    def _acknowledged(self, msg_id: str, accepted: bool) -> None:
        waiter = self._acks.pop(msg_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(accepted)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
