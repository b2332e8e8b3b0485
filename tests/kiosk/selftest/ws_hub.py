"""A hub at the websocket level for the cabin's upkeep messages (self-test reports, heartbeats,
call quality): it welcomes the cabin, records every message it gets, and acknowledges the
reliable ones, as the hub does. It stands in for the hub's side of issue 18 (i18-fleet's) until
that is merged; it can be stopped and started again on the same port (an outage)."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

import wire


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WsHub:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[wire.Message] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def of(self, kind: type[wire.Message]) -> list[wire.Message]:
        return [m for m in self.received if isinstance(m, kind)]

    async def wait_for(
        self, kind: type[wire.Message], count: int = 1, within_s: float = 20
    ) -> list[Any]:
        async with asyncio.timeout(within_s):
            while len(self.of(kind)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.of(kind)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws/cabin", self._cabin)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        for ws in tuple(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _cabin(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            async for frame in ws:
                if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                message = wire.decode(frame.data, allowed=wire.CabinToHub)
                if isinstance(message, wire.CabinHello):
                    welcome = wire.Welcome(
                        msg_id="w1",
                        protocol_version=wire.PROTOCOL_VERSION,
                        hub_version="1.0.0",
                        server_time=datetime.now(UTC),
                    )
                    await ws.send_bytes(wire.encode(welcome))
                    continue
                self.received.append(message)
                self.arrived.set()
                if isinstance(message, wire.SelfTestReport):
                    ack = wire.Ack(msg_id=f"a.{message.msg_id}"[:64], ack_of=message.msg_id)
                    await ws.send_bytes(wire.encode(ack))
        finally:
            self._sockets.discard(ws)
        return ws
