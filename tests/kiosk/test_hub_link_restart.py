"""The cabin's link and a replica that restarts: a 1012 close ("reconnect now") brings it back
at once, without going offline; any other close takes the ordinary backoff."""

from __future__ import annotations

from pathlib import Path

import wire
from hub.peers import CloseCode
from kiosk.hub_link import HubLink, HubLinkState
from tests.hub.hub_rig import TIMEOUT_S, Rig, run, running_hub, until


async def _linked(rig: Rig, states: list[HubLinkState], backoff_s: float) -> HubLink:
    async def handler(_message: wire.Message) -> None:
        return None

    link = HubLink(
        rig.url,
        "cabin-1",
        rig.tokens["cabin-1"],
        software_version="0.1.0",
        handler=handler,
        on_state=states.append,
        backoff_s=(backoff_s,),
    )
    await link.start()
    await link.wait_online(TIMEOUT_S)
    return link


def test_a_restart_close_reconnects_at_once_without_going_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            states: list[HubLinkState] = []
            # the ordinary backoff longer than the test waits: only the restart path is fast
            link = await _linked(rig, states, backoff_s=10 * TIMEOUT_S)
            try:
                first = rig.switchboard.routing.cabins["cabin-1"]
                await first.close(CloseCode.SERVICE_RESTART, "restarting")
                await until(
                    lambda: rig.switchboard.routing.cabins.get("cabin-1") not in (None, first),
                    what="the cabin back",
                )
                await until(lambda: link.state is HubLinkState.ONLINE, what="the link online")
                assert HubLinkState.OFFLINE not in states
                assert states[-3:] == [
                    HubLinkState.ONLINE,
                    HubLinkState.CONNECTING,
                    HubLinkState.ONLINE,
                ]
            finally:
                await link.close()

    run(scenario())


def test_any_other_close_goes_offline_and_backs_off(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            states: list[HubLinkState] = []
            link = await _linked(rig, states, backoff_s=10 * TIMEOUT_S)
            try:
                await rig.switchboard.routing.cabins["cabin-1"].close(
                    CloseCode.GOING_AWAY, "going away"
                )
                await until(lambda: link.state is HubLinkState.OFFLINE, what="the link offline")
                assert not rig.switchboard.routing.has_cabin("cabin-1")  # it waits its backoff
            finally:
                await link.close()

    run(scenario())
