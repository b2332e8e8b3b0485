"""The doctor's advice for the patient: stored with the consultation, sent to the cabin as
`PatientAdvice` (a new id at each change), and sent again until the cabin acknowledges it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import wire
from tests.hub.hub_rig import (
    TIMEOUT_S,
    Peer,
    Rig,
    new_id,
    run,
    running_hub,
    stored_consultation,
    until,
)

RETRY_S = 1.0  # the hub's resend interval: an ack sent at once beats it, even on a busy machine
ADVICE = "Buvez au moins 1,5 litre d'eau par jour. Revenez si la fièvre dure plus de 3 jours."


async def _call(rig: Rig) -> tuple[Peer, Peer]:
    """cabin-1's patient taken by dr.a: the cabin and the doctor's console."""
    cabin = await rig.cabin()
    await rig.join(cabin, "c-1")
    console = await (await rig.login("dr.a")).console()
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
    await console.expect(wire.CallAccepted)
    await cabin.expect(wire.CallAccepted)
    return cabin, console


async def _write(console: Peer, notes: str, advice: str) -> None:
    message = wire.ConsultationNotes(
        msg_id=new_id(), consultation_id="c-1", text=notes, advice=advice
    )
    await console.send(message)
    assert (await console.expect(wire.Ack)).ack_of == message.msg_id


def test_advice_reaches_the_cabin_once_per_change(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _call(rig)
            await _write(console, "notes only", "")
            await cabin.nothing_more(ignore=(wire.QueuePosition,))  # no advice yet

            await _write(console, "notes only", ADVICE)
            first = await cabin.expect(wire.PatientAdvice)
            assert (first.consultation_id, first.text) == ("c-1", ADVICE)

            # the notes change, the advice does not: nothing more for the cabin
            await _write(console, "notes, longer now", ADVICE)
            await cabin.nothing_more(ignore=(wire.QueuePosition,))

            await cabin.send(wire.Ack(msg_id=new_id(), ack_of=first.msg_id))
            changed = ADVICE + " Reposez-vous."
            await _write(console, "notes, longer now", changed)
            second = await cabin.expect(wire.PatientAdvice)
            assert second.text == changed
            assert second.msg_id != first.msg_id

            # cleared: the cabin is told too, so that it prints none
            await cabin.send(wire.Ack(msg_id=new_id(), ack_of=second.msg_id))
            await _write(console, "notes, longer now", "")
            assert (await cabin.expect(wire.PatientAdvice)).text == ""

            record = await stored_consultation(rig.hub.storage, "c-1")
            assert (record.notes, record.advice) == ("notes, longer now", "")

            # only the doctor who took the consultation may write it
            other = await (await rig.login("dr.b")).console()
            await other.send(
                wire.ConsultationNotes(
                    msg_id=new_id(), consultation_id="c-1", text="", advice="intrusion"
                )
            )
            assert (await other.expect(wire.ErrorMessage)).code is wire.ErrorCode.UNAUTHORIZED
            await cabin.nothing_more(ignore=(wire.QueuePosition,))

    run(scenario())


def test_the_latest_advice_is_sent_again_on_reconnection_until_acknowledged(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _call(rig)
            await cabin.close()
            await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
            # written while the cabin is away, and changed: only the latest matters
            await _write(console, "", "première version")
            await _write(console, "", ADVICE)

            back = await rig.cabin()
            latest = await back.expect(wire.PatientAdvice)
            assert latest.text == ADVICE
            await back.nothing_more(0.3, ignore=(wire.QueuePosition, wire.CallAccepted))

            # not acknowledged: again at the next connection, under the same id
            await back.close()
            await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
            again_cabin = await rig.cabin()
            again = await again_cabin.expect(wire.PatientAdvice)
            assert again == latest

            # another cabin cannot acknowledge it; an Ack of an older advice does nothing
            intruder = await rig.cabin("cabin-2")
            await intruder.send(wire.Ack(msg_id=new_id(), ack_of=latest.msg_id))
            await intruder.nothing_more(0.2)
            await again_cabin.send(wire.Ack(msg_id=new_id(), ack_of=latest.msg_id))
            await _acknowledged(rig)

            await again_cabin.close()
            await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
            last = await rig.cabin()
            await last.nothing_more(0.5, ignore=(wire.QueuePosition, wire.CallAccepted))
            audit = await rig.hub.storage.audit_entries(consultation_id="c-1")
            assert [(e.action, e.actor_id) for e in audit if e.action == "advice.delivered"] == [
                ("advice.delivered", "cabin-1")
            ]

    run(scenario())


async def _acknowledged(rig: Rig) -> None:
    """Wait until the hub has recorded the cabin's Ack of c-1's advice."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            audit = await rig.hub.storage.audit_entries(consultation_id="c-1")
            if any(e.action == "advice.delivered" for e in audit):
                return
            await asyncio.sleep(0.01)


def test_advice_the_connected_cabin_does_not_acknowledge_is_sent_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, prescription_retry_s=RETRY_S) as rig:
            cabin, console = await _call(rig)
            await _write(console, "", ADVICE)
            first = await cabin.expect(wire.PatientAdvice)
            second = await cabin.expect(wire.PatientAdvice)
            assert second == first
            await cabin.send(wire.Ack(msg_id=new_id(), ack_of=second.msg_id))
            await _acknowledged(rig)
            await cabin.nothing_more(1.5 * RETRY_S, ignore=(wire.QueuePosition,))

    run(scenario())


def test_a_save_of_one_field_keeps_the_other_and_a_console_back_gets_both(
    tmp_path: Path,
) -> None:
    """Issue 15, item 5: a console reloaded during the call (its fields empty) saved only the
    advice and wiped the notes. A field left out is now kept, and the console that comes back
    gets what is stored."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _call(rig)
            await _write(console, "notes of the call", ADVICE)

            # the page reloads: a new console; the hub gives the call back, then the notes
            doctor = await rig.login("dr.a")
            reloaded = await doctor.console()
            await reloaded.expect(wire.CallAccepted)
            restored = await reloaded.expect(wire.ConsultationNotes)
            assert (restored.consultation_id, restored.text, restored.advice) == (
                "c-1",
                "notes of the call",
                ADVICE,
            )

            # the advice alone: the notes stay; the notes alone: the advice stays
            only_advice = wire.ConsultationNotes(
                msg_id=new_id(), consultation_id="c-1", advice="Reposez-vous."
            )
            await reloaded.send(only_advice)
            assert (await reloaded.expect(wire.Ack)).ack_of == only_advice.msg_id
            stored = await stored_consultation(rig.hub.storage, "c-1")
            assert (stored.notes, stored.advice) == ("notes of the call", "Reposez-vous.")
            only_notes = wire.ConsultationNotes(
                msg_id=new_id(), consultation_id="c-1", text="notes, more"
            )
            await reloaded.send(only_notes)
            assert (await reloaded.expect(wire.Ack)).ack_of == only_notes.msg_id
            stored = await stored_consultation(rig.hub.storage, "c-1")
            assert (stored.notes, stored.advice) == ("notes, more", "Reposez-vous.")
            advice = await cabin.expect(wire.PatientAdvice)
            while advice.text != "Reposez-vous.":  # the first advice's copies come first
                advice = await cabin.expect(wire.PatientAdvice)
            assert advice.consultation_id == "c-1"

    run(scenario())
