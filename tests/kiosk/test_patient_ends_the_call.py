"""The patient ends the call from the screen: the doctor's console hears "the patient ended the
call" (its own reason, not "the patient left the cabin") and the session goes on to closing, as
after the doctor's hang-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import wire
from kiosk.session_states import SessionState
from tests.hub.hub_rig import TIMEOUT_S, new_id, running_hub, stored_consultation, until
from tests.kiosk.test_teleconsultation import cabin_core, to_waiting_room


def test_the_patients_end_of_the_call_reaches_the_doctor(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            core = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            try:
                assert core.hub is not None and core.teleconsultation is not None
                await core.hub.wait_online(TIMEOUT_S)
                console = await (await rig.login("dr.a")).console()
                consultation_id = await to_waiting_room(core)
                room = await console.expect(wire.WaitingRoom)
                while not room.entries:
                    room = await console.expect(wire.WaitingRoom)
                await console.send(
                    wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id)
                )
                await console.expect(wire.CallAccepted)
                await until(lambda: core.session.state is SessionState.CALL)
                await console.expect(wire.SdpOffer)

                await core.teleconsultation.hang_up()  # "End the call", then "Yes"
                end = await console.expect(wire.CallEnd)
                assert end.consultation_id == consultation_id
                assert end.reason is wire.CallEndReason.PATIENT_ENDED
                assert core.session.state is SessionState.CLOSING  # prints what was sent
                assert not core.teleconsultation.in_call
                record = await stored_consultation(rig.hub.storage, consultation_id)
                assert record.status == "ended"  # ended, not "left"
            finally:
                await core.aclose()

    asyncio.run(scenario())
