"""A replica asked to stop drains: not ready first (the proxy sends its new sockets elsewhere),
then, `drain_s` later, every socket closed with 1012 ("reconnect now"), what was queued for it
sent before. The process-level rolling restart is tests/fleet/test_rolling_restart.py."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import wire
from hub.peers import CloseCode
from tests.hub.hub_rig import TIMEOUT_S, new_id, run, running_hub, until


def test_not_ready_first_then_every_socket_closed_with_reconnect_now(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, drain_s=TIMEOUT_S) as rig:
            http = rig.client()
            cabin = await rig.cabin("cabin-1")
            console = await (await rig.login("dr.a")).console()
            async with http.get(f"{rig.url}/readyz") as ready:
                assert ready.status == 200
            with caplog.at_level(logging.INFO):
                stopping = asyncio.get_running_loop().create_task(rig.hub.stop())
                await until(lambda: _draining(caplog), what="the drain to begin")
                async with http.get(f"{rig.url}/readyz") as ready:
                    assert (ready.status, await ready.text()) == (503, "draining\n")
                async with http.get(f"{rig.url}/healthz") as alive:
                    assert alive.status == 200  # alive: draining is not dying
                # the sockets are still open while the proxy moves away
                assert rig.switchboard.routing.has_cabin("cabin-1")
                assert not cabin.ws.closed and not console.ws.closed
                # what is queued for a socket when it closes still reaches it
                peer = rig.switchboard.routing.cabins["cabin-1"]
                sent = [new_id("late") for _ in range(50)]
                for msg_id in sent:
                    peer.send(wire.Ack(msg_id=new_id(), ack_of=msg_id))
                rig.hub.hurry()  # a second SIGTERM: no more waiting
                assert await cabin.closed() == CloseCode.SERVICE_RESTART
                assert await console.closed() == CloseCode.SERVICE_RESTART
                async with asyncio.timeout(TIMEOUT_S):
                    await stopping
            acks = [m.ack_of for m in cabin.seen if isinstance(m, wire.Ack)]
            assert acks[-len(sent) :] == sent
            lines = [r.getMessage() for r in caplog.records if r.name.startswith("hub")]
            assert f"hub.draining sockets=2 delay_s={TIMEOUT_S:g}" in lines
            assert "hub.not_ready reason=draining" in lines
            assert "hub.drained sockets=2" in lines
            assert lines.index("hub.drained sockets=2") < lines.index("hub.stopped")

    run(scenario())


def test_a_socket_opened_during_the_drain_is_closed_with_reconnect_now_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, drain_s=TIMEOUT_S) as rig:
            with caplog.at_level(logging.INFO):
                stopping = asyncio.get_running_loop().create_task(rig.hub.stop())
                await until(lambda: _draining(caplog), what="the drain to begin")
                late = await rig.cabin("cabin-2")  # the proxy had not yet seen "draining"
                rig.hub.hurry()
                assert await late.closed() == CloseCode.SERVICE_RESTART
                async with asyncio.timeout(TIMEOUT_S):
                    await stopping

    run(scenario())


def test_without_a_drain_delay_the_sockets_close_with_reconnect_now_at_once(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:  # the embedded default: drain_s = 0
            cabin = await rig.cabin("cabin-1")
            await rig.hub.stop()
            assert await cabin.closed() == CloseCode.SERVICE_RESTART

    run(scenario())


def _draining(caplog: pytest.LogCaptureFixture) -> bool:
    return any(r.getMessage().startswith("hub.draining") for r in caplog.records)
