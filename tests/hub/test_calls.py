"""Taking a patient and the call's signaling through the hub."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import wire
from hub.accounts import set_doctor_photo
from tests.hub.hub_rig import (
    Peer,
    Rig,
    new_id,
    patient,
    run,
    running_hub,
    stored_consultation,
    until,
)

OFFER_SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER_SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=answer\r\n"


async def _taken(rig: Rig, doctor: str = "dr.a", consultation_id: str = "c-1") -> tuple[Peer, Peer]:
    """A cabin with a waiting patient, taken by `doctor`'s console."""
    cabin = await rig.cabin()
    await rig.join(cabin, consultation_id)
    console = await (await rig.login(doctor)).console()
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id))
    await console.expect(wire.CallAccepted)
    await cabin.expect(wire.CallAccepted)
    return cabin, console


def test_two_doctors_take_at_once_exactly_one_wins(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            console_a = await (await rig.login("dr.a")).console()
            console_b = await (await rig.login("dr.b")).console()
            take_a = wire.TakeConsultation(msg_id=new_id("take"), consultation_id="c-1")
            take_b = wire.TakeConsultation(msg_id=new_id("take"), consultation_id="c-1")
            await asyncio.gather(console_a.send(take_a), console_b.send(take_b))

            async def outcome(console: Peer) -> wire.Message:
                while True:
                    message = await console.receive()
                    if isinstance(message, wire.CallAccepted | wire.ErrorMessage):
                        return message

            results = await asyncio.gather(outcome(console_a), outcome(console_b))
            accepted = [m for m in results if isinstance(m, wire.CallAccepted)]
            refused = [m for m in results if isinstance(m, wire.ErrorMessage)]
            assert len(accepted) == 1 and len(refused) == 1
            assert refused[0].code is wire.ErrorCode.CONFLICT
            assert refused[0].in_reply_to in (take_a.msg_id, take_b.msg_id)
            winner = "dr.a" if isinstance(results[0], wire.CallAccepted) else "dr.b"

            call = accepted[0]
            assert call.patient is not None and call.patient.family_name == "Quelennec"
            assert call.ice_servers == []
            assert call.ice_transport_policy is wire.IceTransportPolicy.ALL
            for_cabin = await cabin.expect(wire.CallAccepted)
            assert for_cabin.patient is None
            assert for_cabin.consultation_id == "c-1"
            await cabin.nothing_more(ignore=(wire.QueuePosition,))

            record = await stored_consultation(rig.hub.storage, "c-1")
            assert record.status == "taken" and record.doctor == winner
            room = rig.switchboard.waiting_entries()
            assert room[0].taken_by == winner
            audit = await rig.hub.storage.audit_entries(consultation_id="c-1")
            assert [(e.action, e.actor_id) for e in audit] == [("consultation.take", winner)]

    run(scenario())


def test_the_room_names_the_doctor_who_took_the_patient(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            _cabin, _console = await _taken(rig, "dr.a")
            other = await (await rig.login("dr.b")).console()
            entry = other.seen[-1]
            assert isinstance(entry, wire.WaitingRoom)
            [taken] = entry.entries
            assert taken.taken_by == "dr.a"  # who: as `Me.username`, to know one's own
            assert taken.taken_by_name == "Dr A"  # what the console shows

    run(scenario())


def test_the_cabin_gets_the_doctors_photo_and_the_console_does_not(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
            await set_doctor_photo(rig.hub.storage, username="dr.a", photo=photo)
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            console = await (await rig.login("dr.a")).console()
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            for_console = await console.expect(wire.CallAccepted)
            for_cabin = await cabin.expect(wire.CallAccepted)
            assert base64.b64decode(for_cabin.doctor.photo or "") == photo
            assert for_cabin.doctor.display_name == "Dr A"
            assert for_cabin.doctor.registration_number == "10101010101"
            assert for_console.doctor.photo is None

    run(scenario())


def test_signaling_goes_both_ways_and_is_forgotten_when_the_call_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _taken(rig)
            offer = wire.SdpOffer(msg_id=new_id(), consultation_id="c-1", sdp=OFFER_SDP)
            await cabin.send(offer)
            assert (await console.expect(wire.SdpOffer)).sdp == OFFER_SDP
            assert rig.switchboard.calls.signaling_held() == 1

            answer = wire.SdpAnswer(msg_id=new_id(), consultation_id="c-1", sdp=ANSWER_SDP)
            await console.send(answer)
            assert (await cabin.expect(wire.SdpAnswer)).sdp == ANSWER_SDP
            assert rig.switchboard.calls.signaling_held() == 0  # answered: dropped

            candidate = wire.IceCandidate(
                msg_id=new_id(),
                consultation_id="c-1",
                candidate="candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
                sdp_mid="0",
                sdp_mline_index=0,
            )
            await console.send(candidate)
            assert (await cabin.expect(wire.IceCandidate)).candidate == candidate.candidate
            await cabin.send(
                wire.IceCandidate(msg_id=new_id(), consultation_id="c-1", candidate="")
            )
            assert (await console.expect(wire.IceCandidate)).candidate == ""

            await cabin.send(wire.SdpOffer(msg_id=new_id(), consultation_id="c-1", sdp=OFFER_SDP))
            await console.expect(wire.SdpOffer)
            end = wire.CallEnd(
                msg_id=new_id(), consultation_id="c-1", reason=wire.CallEndReason.COMPLETED
            )
            await console.send(end)
            assert (await cabin.expect(wire.CallEnd)).reason is wire.CallEndReason.COMPLETED

            assert len(rig.switchboard.calls) == 0
            assert rig.switchboard.calls.signaling_held() == 0
            assert "c-1" not in rig.switchboard.room
            record = await stored_consultation(rig.hub.storage, "c-1")
            assert record.status == "ended" and record.ended_at is not None

            # after the end, the doctor no longer holds the call
            await console.send(
                wire.SdpAnswer(msg_id=new_id(), consultation_id="c-1", sdp=ANSWER_SDP)
            )
            assert (await console.expect(wire.ErrorMessage)).code is wire.ErrorCode.UNAUTHORIZED

            await rig.hub.stop()
            for path in rig.database.parent.glob("hub.db*"):
                content = path.read_bytes()
                assert b"v=0" not in content, path
                assert b"candidate:" not in content, path

    run(scenario())


def test_the_cabin_may_end_the_call(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _taken(rig)
            await cabin.send(
                wire.CallEnd(
                    msg_id=new_id(), consultation_id="c-1", reason=wire.CallEndReason.PATIENT_LEFT
                )
            )
            assert (await console.expect(wire.CallEnd)).reason is wire.CallEndReason.PATIENT_LEFT
            assert len(rig.switchboard.calls) == 0
            assert (await stored_consultation(rig.hub.storage, "c-1")).status == "ended"

    run(scenario())


def test_only_the_doctor_who_holds_the_call_may_signal(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, _console = await _taken(rig, "dr.a")
            intruder = await (await rig.login("dr.b")).console()
            messages: list[wire.Message] = [
                wire.SdpAnswer(msg_id=new_id(), consultation_id="c-1", sdp=ANSWER_SDP),
                wire.IceCandidate(msg_id=new_id(), consultation_id="c-1", candidate=""),
                wire.CallEnd(
                    msg_id=new_id(), consultation_id="c-1", reason=wire.CallEndReason.COMPLETED
                ),
            ]
            for message in messages:
                await intruder.send(message)
                error = await intruder.expect(wire.ErrorMessage)
                assert error.code is wire.ErrorCode.UNAUTHORIZED
                assert error.in_reply_to == message.msg_id
            await cabin.nothing_more(ignore=(wire.QueuePosition,))
            assert len(rig.switchboard.calls) == 1

    run(scenario())


def test_a_console_that_comes_back_resumes_the_call_with_the_offer_it_missed(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _taken(rig)
            doctor = await rig.login("dr.a")  # the same doctor, a reloaded page
            await console.close()
            await until(lambda: not rig.switchboard.calls.signaling_held() and _no_console(rig))
            offer = wire.SdpOffer(msg_id=new_id(), consultation_id="c-1", sdp=OFFER_SDP)
            await cabin.send(offer)  # while the console is away
            await until(lambda: rig.switchboard.calls.signaling_held() == 1)

            back = await doctor.console()
            accepted = await back.receive()
            assert isinstance(accepted, wire.CallAccepted)
            assert accepted.consultation_id == "c-1"
            assert accepted.patient is not None
            pending = await back.receive()
            assert isinstance(pending, wire.SdpOffer)
            assert pending.msg_id == offer.msg_id

            await back.send(wire.SdpAnswer(msg_id=new_id(), consultation_id="c-1", sdp=ANSWER_SDP))
            assert (await cabin.expect(wire.SdpAnswer)).sdp == ANSWER_SDP

    run(scenario())


def test_a_cabin_that_comes_back_during_the_call_gets_its_call_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _taken(rig)
            await cabin.close()
            await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
            back = await rig.cabin()
            accepted = await back.expect(wire.CallAccepted)
            assert accepted.consultation_id == "c-1"
            await back.send(wire.SdpOffer(msg_id=new_id(), consultation_id="c-1", sdp=OFFER_SDP))
            assert (await console.expect(wire.SdpOffer)).sdp == OFFER_SDP

    run(scenario())


def test_the_call_ends_when_a_cabin_stays_away_past_the_grace(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, cabin_offline_grace_s=0.2) as rig:
            cabin, console = await _taken(rig)
            await cabin.close()
            end = await console.expect(wire.CallEnd)
            assert end.reason is wire.CallEndReason.CONNECTION_LOST
            assert len(rig.switchboard.calls) == 0

    run(scenario())


def test_a_doctor_cannot_take_two_patients_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            _cabin, console = await _taken(rig)
            other = await rig.cabin("cabin-2")
            await rig.join(other, "c-2", patient("Autre", "Personne"))
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-2"))
            assert (await console.expect(wire.ErrorMessage)).code is wire.ErrorCode.CONFLICT
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="nope"))
            assert (await console.expect(wire.ErrorMessage)).code is wire.ErrorCode.NOT_FOUND

    run(scenario())


def test_readings_during_the_call_reach_the_doctor(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin, console = await _taken(rig)
            reading = wire.ReadingMessage(
                msg_id=new_id(),
                consultation_id="c-1",
                reading=wire.Vital(
                    kind=wire.VitalKind.TEMPERATURE,
                    measured_at=datetime.now(UTC),
                    device_id="thermo-1",
                    temperature_c=38.4,
                ),
            )
            await cabin.send(reading)
            await cabin.expect(wire.Ack)
            assert (await console.expect(wire.ReadingMessage)).msg_id == reading.msg_id

    run(scenario())


def test_turn_credentials_are_handed_to_both_sides(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(
            tmp_path,
            turn={
                "urls": ["turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"],
                "secret": "s3cret",
                "ice_transport_policy": "relay",
            },
        ) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            console = await (await rig.login("dr.a")).console()
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            for accepted, who in [
                (await console.expect(wire.CallAccepted), "dr.a"),
                (await cabin.expect(wire.CallAccepted), "cabin-1"),
            ]:
                assert accepted.ice_transport_policy is wire.IceTransportPolicy.RELAY
                stun, turn = accepted.ice_servers
                assert stun.urls == ["stun:127.0.0.1:3478"] and stun.username is None
                assert turn.urls == ["turn:127.0.0.1:3478?transport=udp"]
                assert turn.username is not None
                expiry, name = turn.username.split(":")
                assert name == who and int(expiry) > 0
                digest = hmac.new(b"s3cret", turn.username.encode(), hashlib.sha1).digest()
                assert turn.credential == base64.b64encode(digest).decode()

    run(scenario())


def _no_console(rig: Rig) -> bool:
    return not rig.switchboard.has_console("dr.a")
