"""A cabin scripted by the test: a plain aiohttp websocket client speaking `wire` messages to the
hub's `/ws/cabin`, and a second doctor's HTTP + websocket client for the conflict test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp

import wire

M = TypeVar("M", bound=wire.Message)


class WireClient:
    """Messages received on one websocket, decoded with `wire.decode`, waited for by type."""

    def __init__(self, allowed: object) -> None:
        self._allowed = allowed
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.received: list[wire.Message] = []
        self.refused: list[str] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._ids = 0

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def _start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                msg = wire.decode(frame.data, allowed=self._allowed)
            except wire.WireError as exc:
                self.refused.append(str(exc))
                continue
            async with self._changed:
                self.received.append(msg)
                self._changed.notify_all()

    async def send(self, msg: wire.Message) -> None:
        assert self.ws is not None
        await self.ws.send_str(wire.encode(msg).decode())

    async def expect(
        self,
        kind: type[M],
        where: Callable[[M], bool] = lambda _: True,
        *,
        after: int = 0,
        timeout_s: float = 10.0,
    ) -> M:
        """The first message of `kind` (from index `after` of `received`) that `where` accepts."""

        def found() -> M | None:
            for msg in self.received[after:]:
                if isinstance(msg, kind) and where(msg):
                    return msg
            return None

        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result

    def of_type(self, kind: type[M]) -> list[M]:
        return [m for m in self.received if isinstance(m, kind)]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.session is not None:
            await self.session.close()


class ScriptedCabin(WireClient):
    """A cabin: `CabinHello`, then whatever the test sends."""

    def __init__(self, hub_url: str, cabin_id: str, token: str) -> None:
        super().__init__(wire.HubToCabin)
        self.hub_url = hub_url
        self.cabin_id = cabin_id
        self.token = token

    async def connect(self) -> wire.Welcome:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"{self.hub_url}/ws/cabin")
        self._start_reading()
        await self.send(
            wire.CabinHello(
                msg_id=self.next_id("hello"),
                cabin_id=self.cabin_id,
                token=self.token,
                software_version="0.1.0",
            )
        )
        return await self.expect(wire.Welcome)

    async def queue(self, join: wire.QueueJoin) -> None:
        await self.send(join)
        await self.expect(wire.Ack, lambda a: a.ack_of == join.msg_id)


class DoctorClient(WireClient):
    """Another doctor, signed in over HTTP, on the console's websocket."""

    def __init__(self, hub_url: str) -> None:
        super().__init__(wire.HubToConsole)
        self.hub_url = hub_url

    async def sign_in(self, username: str, password: str) -> dict[str, Any]:
        # unsafe: keep the session cookie of a hub addressed by IP (127.0.0.1)
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        origin = {"Origin": self.hub_url}
        async with self.session.post(
            f"{self.hub_url}/api/login",
            json={"username": username, "password": password},
            headers=origin,
        ) as response:
            assert response.status == 200, response.status
            me: dict[str, Any] = await response.json()
        self.ws = await self.session.ws_connect(
            f"{self.hub_url}/ws/console", params={"csrf": me["csrf_token"]}, headers=origin
        )
        self._start_reading()
        await self.expect(wire.WaitingRoom)
        return me
