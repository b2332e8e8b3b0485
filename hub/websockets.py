"""The three websockets: ``/ws/cabin``, ``/ws/console`` and ``/ws/agent`` (see PROTOCOL.md).

Each checks who is at the other end before anything else, then reads `wire` messages one at a
time and hands them to the switchboard. A message that does not decode is refused with an
`ErrorMessage` and logged as ``hub.message_refused`` with the peer and the field's path, never
its value; the connection stays open. One larger than the configured limit closes it (1009).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import msgspec
from aiohttp import WSMsgType, web
from aiohttp.http_websocket import WebSocketError

import wire
from hub.accounts import verify_cabin_token
from hub.auth import CSRF_QUERY, client_address, csrf_matches
from hub.errors import StorageError
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.peers import CloseCode, Peer, PeerKind
from hub.record_intake import TRY_AGAIN_LATER
from hub.routing import AgentScope
from hub.services import SERVICES, HubServices
from hub.storage import AccountRole, SessionRecord
from hub.web_security import json_error

log = logging.getLogger(__name__)

HEARTBEAT_S = 20.0
"""Pings this often; a peer that does not answer within half of it is disconnected."""
SEND_TIMEOUT_S = 5.0


class _MsgIdProbe(msgspec.Struct, frozen=True):
    msg_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    ]


_PROBE = msgspec.json.Decoder(_MsgIdProbe)


def _msg_id_of(data: str | bytes) -> str | None:
    """The `msg_id` of a refused message, if it can be read on its own."""
    try:
        return _PROBE.decode(data).msg_id
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None


@dataclass(frozen=True, slots=True)
class _Refused:
    """A message that did not decode, and the error that answers it."""

    error: wire.ErrorMessage


def _decode(data: str | bytes, label: str, allowed: object) -> wire.Message | _Refused:
    """The decoded message, or why it is refused (logged, without any value)."""
    try:
        return wire.decode(data, allowed=allowed)
    except wire.UnknownMessage as exc:
        code, path, reason = wire.ErrorCode.UNKNOWN_MESSAGE, "$.type", exc.reason
    except wire.MalformedMessage as exc:
        code, path, reason = wire.ErrorCode.MALFORMED, exc.path or "$", exc.reason
    log.warning(
        "hub.message_refused peer=%s code=%s path=%s reason=%s",
        label,
        code.value,
        log_safe(path),
        log_safe(reason),
    )
    return _Refused(
        wire.ErrorMessage(
            msg_id=new_msg_id(),
            code=code,
            text=f"{path}: {reason}"[:500],
            in_reply_to=_msg_id_of(data),
        )
    )


def _too_big(ws_message: object) -> bool:
    data = getattr(ws_message, "data", None)
    return isinstance(data, WebSocketError) and data.code == CloseCode.MESSAGE_TOO_BIG


def _log_broken(ws_message: object, label: str) -> None:
    """One line for a frame aiohttp refused (text that is not UTF-8, a bad opcode...): it has
    already closed the connection with the matching code (1007, 1002)."""
    error = getattr(ws_message, "data", None)
    if isinstance(error, WebSocketError):
        log.warning(
            "hub.message_refused peer=%s code=bad_frame close_code=%d reason=%s",
            label,
            error.code,
            log_safe(error),
        )
    elif isinstance(error, BaseException):
        log.warning("hub.connection_failed peer=%s error=%s", label, type(error).__name__)


async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await ws.close(code=code, message=reason.encode("utf-8"))


async def _send_now(ws: web.WebSocketResponse, message: wire.Message) -> None:
    """Send before the peer's writer exists (the hello's answer)."""
    with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await ws.send_str(wire.encode(message).decode("utf-8"))


async def _read(
    ws: web.WebSocketResponse,
    peer: Peer,
    allowed: object,
    handle: Callable[[Peer, wire.Message], Awaitable[None]],
) -> None:
    """Read and handle messages until the peer goes."""
    async for ws_message in ws:
        if ws_message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            message = _decode(ws_message.data, peer.label, allowed)
            if isinstance(message, _Refused):
                peer.send(message.error)
                continue
            try:
                await handle(peer, message)
            except StorageError as exc:
                log.error("hub.storage_failed peer=%s error=%s", peer.label, log_safe(exc))
                if peer.kind is PeerKind.CABIN:
                    # No error in reply: the cabin would drop the message. Closed with "try
                    # again later", it keeps what the hub has not acknowledged and sends it again
                    # once connected again (to this replica or another).
                    peer.close_soon(TRY_AGAIN_LATER, "storage unavailable: send it again later")
                    continue
                peer.send(
                    wire.ErrorMessage(
                        msg_id=new_msg_id(),
                        code=wire.ErrorCode.INTERNAL,
                        text="the hub could not store this; send it again later",
                        in_reply_to=message.msg_id,
                    )
                )
        elif ws_message.type is WSMsgType.ERROR:
            if _too_big(ws_message):
                log.warning("hub.message_refused peer=%s code=oversized path=$", peer.label)
                await _close(ws, CloseCode.MESSAGE_TOO_BIG, "message too big")
            else:
                _log_broken(ws_message, peer.label)
            return


def _socket(services: HubServices) -> web.WebSocketResponse:
    return web.WebSocketResponse(
        max_msg_size=services.config.max_message_bytes, heartbeat=HEARTBEAT_S
    )


async def _browser_session(
    request: web.Request, services: HubServices, role: AccountRole
) -> SessionRecord | web.Response:
    """The session of a browser's websocket request, checked (cookie, Origin, CSRF token, the
    account's role); or the refusal to answer with."""
    address = client_address(request)
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    if not services.origins.allows(request) or not csrf_matches(
        request.query.get(CSRF_QUERY), session
    ):
        log.warning(
            "hub.request_refused reason=origin_or_csrf path=%s address=%s",
            log_safe(request.path),
            log_safe(address),
        )
        return json_error(403, "forbidden")
    if session.role is not role:
        log.warning(
            "hub.request_refused reason=role path=%s role=%s address=%s",
            log_safe(request.path),
            session.role.value,
            log_safe(address),
        )
        return json_error(403, f"this is for {role.value}s' accounts")
    return session


async def console_socket(request: web.Request) -> web.StreamResponse:
    """``/ws/console?csrf=<token>``: a signed-in doctor's console."""
    services = request.app[SERVICES]
    address = client_address(request)
    session = await _browser_session(request, services, AccountRole.DOCTOR)
    if isinstance(session, web.Response):
        return session
    ws = _socket(services)
    await ws.prepare(request)
    peer = Peer(
        ws,
        kind=PeerKind.CONSOLE,
        identity=session.username,
        client_address=address,
        session_sha256=session.token_sha256,
    )
    peer.start()
    switchboard = services.switchboard
    switchboard.console_connected(peer)
    try:
        async with asyncio.timeout(max(0.0, services.sessions.remaining_s(session))):
            await _read(ws, peer, wire.ConsoleToHub, switchboard.on_console_message)
    except TimeoutError:
        log.info("hub.session_expired doctor=%s", session.username)
        await _close(ws, CloseCode.SESSION_ENDED, "session expired")
    finally:
        switchboard.console_disconnected(peer)
        await peer.stop_writer()
    return ws


async def agent_socket(request: web.Request) -> web.StreamResponse:
    """``/ws/agent?csrf=<token>``: a signed-in agent's alert page (not a doctor's)."""
    services = request.app[SERVICES]
    address = client_address(request)
    session = await _browser_session(request, services, AccountRole.AGENT)
    if isinstance(session, web.Response):
        return session
    agent = await services.storage.agent(session.username)
    if agent is None:
        return json_error(401, "not signed in")
    ws = _socket(services)
    await ws.prepare(request)
    peer = Peer(
        ws,
        kind=PeerKind.AGENT,
        identity=session.username,
        client_address=address,
        session_sha256=session.token_sha256,
    )
    peer.start()
    switchboard = services.switchboard
    switchboard.agent_connected(peer, AgentScope(frozenset(agent.cabins), agent.all_cabins))
    try:
        async with asyncio.timeout(max(0.0, services.sessions.remaining_s(session))):
            await _read(ws, peer, wire.AgentToHub, switchboard.on_agent_message)
    except TimeoutError:
        log.info("hub.session_expired agent=%s", session.username)
        await _close(ws, CloseCode.SESSION_ENDED, "session expired")
    finally:
        switchboard.agent_disconnected(peer)
        await peer.stop_writer()
    return ws


async def _hello(
    ws: web.WebSocketResponse, services: HubServices, address: str
) -> wire.CabinHello | None:
    """The cabin's hello, checked; None if it was refused (the socket is then closed)."""
    label = log_safe(f"cabin@{address}")
    try:
        async with asyncio.timeout(services.config.cabin_hello_timeout_s):
            first = await ws.receive()
    except TimeoutError:
        log.warning("hub.cabin_refused reason=no_hello address=%s", log_safe(address))
        await _close(ws, CloseCode.HELLO_TIMEOUT, "no hello")
        return None
    if first.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        if _too_big(first):
            log.warning("hub.message_refused peer=%s code=oversized path=$", label)
            await _close(ws, CloseCode.MESSAGE_TOO_BIG, "message too big")
        elif first.type is WSMsgType.ERROR:
            _log_broken(first, label)
        return None
    message = _decode(first.data, label, wire.CabinToHub)
    if isinstance(message, _Refused):
        await _send_now(ws, message.error)
        await _close(ws, CloseCode.UNAUTHORIZED, "unauthorized")
        return None
    if not isinstance(message, wire.CabinHello):
        refusal = wire.ErrorCode.UNAUTHORIZED, "say who you are first (cabin_hello)"
    elif message.protocol_version != wire.PROTOCOL_VERSION:
        log.warning(
            "hub.cabin_refused reason=protocol cabin=%s version=%d",
            message.cabin_id,
            message.protocol_version,
        )
        await _send_now(
            ws,
            wire.ErrorMessage(
                msg_id=new_msg_id(),
                code=wire.ErrorCode.UNSUPPORTED_PROTOCOL,
                text=f"this hub speaks protocol {wire.PROTOCOL_VERSION}",
                in_reply_to=message.msg_id,
            ),
        )
        await _close(ws, CloseCode.PROTOCOL, "unsupported protocol")
        return None
    elif await _cabin_known(ws, services, message, address):
        return message
    elif ws.closed:
        return None
    else:
        refusal = wire.ErrorCode.UNAUTHORIZED, "unknown cabin or wrong token"
    log.warning("hub.cabin_refused reason=credential address=%s", log_safe(address))
    await _send_now(
        ws,
        wire.ErrorMessage(
            msg_id=new_msg_id(), code=refusal[0], text=refusal[1], in_reply_to=message.msg_id
        ),
    )
    await _close(ws, CloseCode.UNAUTHORIZED, "unauthorized")
    return None


async def _cabin_known(
    ws: web.WebSocketResponse, services: HubServices, hello: wire.CabinHello, address: str
) -> bool:
    """Whether the hello's token is the cabin's. The database unreachable: the socket is closed
    with "try again later" (the cabin reconnects, to this replica or another, and says hello
    again), and False."""
    try:
        return await verify_cabin_token(
            services.storage, cabin_id=hello.cabin_id, token=hello.token
        )
    except StorageError as exc:
        log.error(
            "hub.cabin_not_checked cabin=%s address=%s reason=storage_down error=%s",
            hello.cabin_id,
            log_safe(address),
            log_safe(exc),
        )
        await _close(ws, TRY_AGAIN_LATER, "storage unavailable: try again later")
        return False


async def cabin_socket(request: web.Request) -> web.StreamResponse:
    """``/ws/cabin``: a cabin, which says who it is in its first message."""
    services = request.app[SERVICES]
    address = client_address(request)
    if "Origin" in request.headers:
        log.warning(
            "hub.request_refused reason=browser path=/ws/cabin address=%s", log_safe(address)
        )
        return json_error(403, "forbidden")
    ws = _socket(services)
    await ws.prepare(request)
    hello = await _hello(ws, services, address)
    if hello is None:
        return ws
    peer = Peer(ws, kind=PeerKind.CABIN, identity=hello.cabin_id, client_address=address)
    peer.start()
    switchboard = services.switchboard
    switchboard.cabin_connected(peer, live=hello.live)
    try:
        await _read(ws, peer, wire.CabinToHub, switchboard.on_cabin_message)
    finally:
        switchboard.cabin_disconnected(peer)
        await peer.stop_writer()
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ws/console", console_socket)
    app.router.add_get("/ws/cabin", cabin_socket)
    app.router.add_get("/ws/agent", agent_socket)
