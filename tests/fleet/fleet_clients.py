"""Clients of a `fleet.rig.Fleet`, speaking the real protocol: doctors and agents who sign in
over HTTP and open their websocket, raw cabins (`Peer`), and the real cabin link
(`kiosk.hub_link.HubLink`), each through the proxy (``fleet.url``) or one replica's own address
(``replica.url``).

Every replica's ``public_origin`` is the proxy's address: browsers send it as their Origin
wherever they connect, and the session cookie is Secure, which the client's cookie jar also
sends to the replicas' own (plain, loopback) addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import aiohttp.connector

import wire
from fleet.rig import Fleet
from kiosk.hub_link import HubLink, HubLinkState
from tests.hub.hub_rig import TIMEOUT_S, M, Peer, new_id


def ws_base(base: str) -> str:
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if base.startswith(plain):
            return secure + base[len(plain) :]
    return base


@dataclass
class Clients:
    """HTTP sessions opened for a test, closed together (`close`)."""

    fleet: Fleet
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    def http(self) -> aiohttp.ClientSession:
        direct = [r.url for r in self.fleet.replicas]
        jar = aiohttp.CookieJar(
            unsafe=True, treat_as_secure_origin=direct + [ws_base(url) for url in direct]
        )
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.fleet.client_context()),
            cookie_jar=jar,
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
        )
        self.sessions.append(session)
        return session

    async def sign_in(self, base: str, username: str) -> SignedIn:
        http = self.http()
        async with http.post(
            f"{base}/api/login",
            json={"username": username, "password": self.fleet.passwords[username]},
            headers={"Origin": self.fleet.url},
        ) as response:
            assert response.status == 200, await response.text()
            csrf = str((await response.json())["csrf_token"])
        return SignedIn(self.fleet, username, http, csrf)

    async def console(self, base: str, username: str) -> Peer:
        """`username`'s console through `base`, past its Welcome and first WaitingRoom."""
        return await (await self.sign_in(base, username)).console(base)

    async def cabin(
        self, base: str, cabin_id: str = "cabin-1", live: list[str] | None = None
    ) -> Peer:
        ws = await self.http().ws_connect(
            f"{ws_base(base)}/ws/cabin", timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT_S)
        )
        peer = Peer(ws, wire.HubToCabin)
        await peer.send(
            wire.CabinHello(
                msg_id=new_id("hello"),
                cabin_id=cabin_id,
                token=self.fleet.tokens[cabin_id],
                software_version="0.1.0",
                live=live,
            )
        )
        await peer.expect(wire.Welcome)
        return peer

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()


@dataclass
class SignedIn:
    fleet: Fleet
    username: str
    http: aiohttp.ClientSession
    csrf: str

    async def console(self, base: str) -> Peer:
        peer = await self._socket(base, "console", wire.HubToConsole)
        await peer.expect(wire.WaitingRoom)
        return peer

    async def agent_page(self, base: str) -> Peer:
        peer = await self._socket(base, "agent", wire.HubToAgent)
        await peer.expect(wire.AlertSummary)
        return peer

    async def _socket(self, base: str, page: str, allowed: object) -> Peer:
        ws = await self.http.ws_connect(
            f"{ws_base(base)}/ws/{page}?csrf={self.csrf}",
            headers={"Origin": self.fleet.url},
            timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT_S),
        )
        peer = Peer(ws, allowed)
        await peer.expect(wire.Welcome)
        return peer


@contextlib.asynccontextmanager
async def clients(running: Fleet) -> AsyncIterator[Clients]:
    made = Clients(running)
    try:
        yield made
    finally:
        await made.close()


def trust_proxy(running: Fleet) -> None:
    """Make this process's default TLS trust (aiohttp's, which the cabin's `HubLink` uses)
    accept the proxy's self-signed certificate, as a deploy's cabin trusts its hub's."""
    context: ssl.SSLContext = aiohttp.connector._SSL_CONTEXT_VERIFIED
    context.load_verify_locations(cafile=str(running.certificate))


@dataclass
class RealCabin:
    """The product's `HubLink`, with what it received and when its state changed."""

    link: HubLink
    received: asyncio.Queue[wire.Message]
    states: list[tuple[float, HubLinkState]]
    seen: list[wire.Message]
    """Everything received, in order (`expect` takes from `received` only)."""

    def record_acks(self, record_id: str) -> list[wire.RecordAck]:
        return [m for m in self.seen if isinstance(m, wire.RecordAck) and m.record_id == record_id]

    async def expect(self, kind: type[M], within_s: float = TIMEOUT_S) -> M:
        async with asyncio.timeout(within_s):
            while True:
                message = await self.received.get()
                if isinstance(message, kind):
                    return message

    async def online_since(self, after: float, within_s: float = TIMEOUT_S) -> float:
        """The monotonic time the link came ONLINE after `after` (waits for it)."""
        async with asyncio.timeout(within_s):
            while True:
                for at, state in self.states:
                    if at > after and state is HubLinkState.ONLINE:
                        return at
                await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def real_cabin(
    running: Fleet, base: str, cabin_id: str = "cabin-1", live: list[str] | None = None
) -> AsyncIterator[RealCabin]:
    """The cabin's real link to `base`, online (with its own backoff, as shipped)."""
    received: asyncio.Queue[wire.Message] = asyncio.Queue()
    states: list[tuple[float, HubLinkState]] = []
    seen: list[wire.Message] = []

    async def handler(message: wire.Message) -> None:
        seen.append(message)
        received.put_nowait(message)

    link = HubLink(
        base,
        cabin_id,
        running.tokens[cabin_id],
        software_version="0.1.0",
        handler=handler,
        on_state=lambda state: states.append((time.monotonic(), state)),
    )
    if live is not None:
        link.say_live(lambda: list(live))
    await link.start()
    try:
        await link.wait_online(TIMEOUT_S)
        yield RealCabin(link, received, states, seen)
    finally:
        await link.close()
