"""The cabin's link to the hub drops and comes back during a call (a replica killed, the
network): the hub sends the call's acceptance again, with TURN credentials valid from now. The
cabin keeps the call and uses those for its next peer connection.

Before: the cabin took the acceptance for a call it could not be in, and hung up
(`patient_left`); and its call kept the first credentials, which coturn refuses after an hour.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import wire
from kiosk.session_states import SessionState
from tests.hub.hub_rig import TIMEOUT_S, FakeClock, new_id, running_hub, until
from tests.kiosk.test_teleconsultation import cabin_core, to_waiting_room

TURN = {"urls": ["turn:127.0.0.1:9?transport=udp"], "secret": "coturn-shared-secret"}


def test_a_cabin_back_online_mid_call_keeps_it_with_fresh_turn_credentials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, turn=TURN) as rig:
            core = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            try:
                assert core.hub is not None and core.teleconsultation is not None
                teleconsultation = core.teleconsultation
                await core.hub.wait_online(TIMEOUT_S)
                console = await (await rig.login("dr.a")).console()
                consultation_id = await to_waiting_room(core)
                await until(lambda: bool(rig.switchboard.waiting_entries()), what="the join")
                await console.send(
                    wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id)
                )
                await console.expect(wire.CallAccepted)
                await until(lambda: core.session.state is SessionState.CALL)
                first = teleconsultation.call_ice_servers
                assert first is not None and first[0].username is not None
                assert first[0].username.endswith(":cabin-1")

                # Two hours later, the cabin's link is cut (another connection of the cabin
                # replaces it, as after a failover) and comes back by itself.
                clock.advance(2 * 3600)
                with caplog.at_level(logging.INFO, logger="kiosk"):
                    intruder = await rig.cabin("cabin-1")
                    fresh = await intruder.expect(wire.CallAccepted)
                    await until(
                        lambda: (
                            rig.switchboard.is_cabin_online("cabin-1")
                            and any(
                                "ice_renewed" in r.getMessage()
                                or "accept_refused" in r.getMessage()
                                for r in caplog.records
                            )
                        ),
                        what="the cabin back, and its answer to the acceptance sent again",
                    )
                messages = [r.getMessage() for r in caplog.records]
                assert not [m for m in messages if "accept_refused" in m]
                assert f"teleconsultation.ice_renewed consultation={consultation_id}" in messages
                renewed = teleconsultation.call_ice_servers
                assert renewed is not None and renewed[0].username == fresh.ice_servers[0].username
                assert renewed[0].username != first[0].username  # valid two hours later
                assert core.session.state is SessionState.CALL
                assert rig.switchboard.calls.of_cabin("cabin-1")  # the hub still holds the call
            finally:
                await core.aclose()

    asyncio.run(scenario())
