"""The cabin's core against the real hub: waiting room, the doctor's acceptance, the
prescription, the hang-up, and a hub that is away when the patient reaches the waiting room.

The doctor here is a websocket client of the hub's console API (the browser's part is tested in
tests/console and tests/e2e); the call's media are tested in tests/kiosk/call and tests/e2e.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest

import wire
from demo.root import start_core
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.events import (
    CallLink,
    CallLinkChanged,
    DoctorAssigned,
    PrescriptionReceived,
    QueueStatus,
)
from kiosk.hub_link import HubLinkState
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import EndReason, SessionState
from kiosk.store import DatabaseKey, Store
from tests.e2e.rig import write_token
from tests.hub.hub_rig import TIMEOUT_S, Rig, new_id, running_hub, stored_consultation, until

KEY = DatabaseKey.generate()
PATIENT = PatientIdentity("QUELENNEC", "Yvonne", date(1938, 5, 2), Sex.FEMALE)
LINE = wire.PrescriptionLine(
    drug="Paracétamol 500 mg", dose="1 comprimé", frequency="3 fois par jour", duration="5 jours"
)


async def cabin_core(tmp_path: Path, hub_url: str, token: str) -> KioskCore:
    config = load_config(None)
    config = msgspec.structs.replace(
        config,
        cabin=msgspec.structs.replace(config.cabin, id="cabin-1"),
        hub=msgspec.structs.replace(config.hub, url=hub_url),
    )
    data = tmp_path / "cabin"
    write_token(data, token)
    return await start_core(config, data, env={"CABIN_DB_KEY": KEY.hex()}, instruments={})


async def to_waiting_room(core: KioskCore) -> str:
    c = core.consultation
    await c.start("fr")
    await c.choose_identify()
    await c.identify(PATIENT)
    await c.consent(True)
    consultation_id = core.session.context.consultation_id
    assert consultation_id is not None
    core.session.advance(SessionState.WAITING_ROOM)
    return consultation_id


def test_a_doctor_takes_the_patient_prescribes_and_hangs_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            core = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            events: list[object] = []
            for kind in (QueueStatus, DoctorAssigned, CallLinkChanged, PrescriptionReceived):
                core.bus.subscribe(kind, events.append)
            try:
                assert core.hub is not None and core.teleconsultation is not None
                await core.hub.wait_online(TIMEOUT_S)
                assert core.assistant.hub_link() == "online"  # the agents see it
                doctor = await rig.login("dr.a")
                console = await doctor.console()
                consultation_id = await to_waiting_room(core)

                room = await console.expect(wire.WaitingRoom)
                while not room.entries:
                    room = await console.expect(wire.WaitingRoom)
                (entry,) = room.entries
                assert entry.consultation_id == consultation_id
                assert entry.age_years is not None and entry.age_years >= 87
                assert entry.sex is wire.Sex.FEMALE
                await until(lambda: any(isinstance(e, QueueStatus) for e in events))
                assert next(e for e in events if isinstance(e, QueueStatus)).position == 1

                await console.send(
                    wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id)
                )
                accepted = await console.expect(wire.CallAccepted)
                assert accepted.patient is not None
                assert accepted.patient.family_name == "QUELENNEC"
                await until(lambda: core.session.state is SessionState.CALL)
                (assigned,) = [e for e in events if isinstance(e, DoctorAssigned)]
                assert assigned.display_name == "Dr A"
                assert CallLinkChanged(CallLink.CONNECTING) in events
                offer = await console.expect(wire.SdpOffer)
                assert offer.consultation_id == consultation_id
                assert "m=video" in offer.sdp and "m=application" in offer.sdp
                assert "127.0.0.1" in offer.sdp  # the demo configuration: loopback only

                await console.send(
                    wire.PrescriptionDraft(
                        msg_id=new_id(), consultation_id=consultation_id, lines=[LINE]
                    )
                )
                signed = await console.expect(wire.PrescriptionMessage)
                await until(lambda: any(isinstance(e, PrescriptionReceived) for e in events))
                stored = await core.store.run(Store.prescriptions, consultation_id)
                assert [wire.decode(p) for p in stored] == [signed]

                await console.send(
                    wire.CallEnd(
                        msg_id=new_id(),
                        consultation_id=consultation_id,
                        reason=wire.CallEndReason.COMPLETED,
                    )
                )
                await until(lambda: core.session.state is SessionState.CLOSING)
                await until(lambda: not core.teleconsultation.in_call)  # type: ignore[union-attr]
                assert CallLinkChanged(CallLink.ENDED) in events
            finally:
                await core.aclose()

    asyncio.run(scenario())


def test_the_patient_waits_for_a_hub_that_comes_back(tmp_path: Path) -> None:
    """The hub is down when the patient reaches the waiting room: the cabin keeps trying, and
    the patient appears in the doctors' waiting room as soon as the hub is back."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            token, url = rig.tokens["cabin-1"], rig.url
            core = await cabin_core(tmp_path, url, token)
            try:
                assert core.hub is not None
                await core.hub.wait_online(TIMEOUT_S)
                await rig.hub.stop()
                await until(lambda: core.hub.state is not HubLinkState.ONLINE)  # type: ignore[union-attr]
                assert core.assistant.hub_link() in ("connecting", "offline")
                consultation_id = await to_waiting_room(core)
                await until(
                    lambda: core.hub.unacknowledged == 1,  # type: ignore[union-attr]
                    what="the QueueJoin kept to send when the hub is back",
                )
                assert core.hub.state is not HubLinkState.ONLINE  # it waits: nobody to take it
                await restart(rig, tmp_path)
                await core.hub.wait_online(TIMEOUT_S)
                await until(lambda: core.hub.unacknowledged == 0)  # type: ignore[union-attr]
                record = await stored_consultation(rig.hub.storage, consultation_id)
                assert record.cabin_id == "cabin-1"
                assert record.status == "waiting"
            finally:
                await core.aclose()

    asyncio.run(scenario())


async def restart(rig: Rig, tmp_path: Path) -> None:
    """The same hub (same data, same port) started again."""
    from hub.app import start_hub  # noqa: PLC0415
    from hub.config import load_hub_config  # noqa: PLC0415
    from tests.hub.hub_key import TEST_KEY  # noqa: PLC0415

    port = int(rig.url.rsplit(":", 1)[1])
    config = load_hub_config(
        None,
        data_dir=tmp_path / "hub-data",
        overrides={"port": port, "argon2_cost": "test"},
    )
    rig.hub = await start_hub(config, key=TEST_KEY, console_dir=tmp_path / "console")


def test_a_cabin_without_a_credential_still_measures(tmp_path: Path) -> None:
    async def scenario() -> None:
        core = await start_core(
            load_config(None), tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, instruments={}
        )
        try:
            assert core.hub is None and core.teleconsultation is None
            assert core.assistant.hub_link() is None
        finally:
            await core.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("born", [date(1938, 5, 2), date(1938, 11, 30)])
def test_age_on_a_day(born: date) -> None:
    from kiosk.teleconsultation import age_on  # noqa: PLC0415

    assert age_on(born, date(2026, 11, 22)) == (88 if born.month < 11 else 87)


def test_a_prescription_that_arrives_after_the_session_is_kept_then_acked(
    tmp_path: Path,
) -> None:
    """The hub sends a prescription again after the cabin was offline, when the patient's
    session is already over: the cabin keeps it (for the reprint from the assistant mode) and
    acks it only then; one for a consultation it never had is not acked."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            core = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            sent: list[wire.Message] = []
            try:
                assert core.hub is not None and core.teleconsultation is not None
                await core.hub.wait_online(TIMEOUT_S)
                consultation_id = await to_waiting_room(core)
                core.session.end(EndReason.ABANDONED)
                original = core.hub.send

                async def recording(message: wire.Message, *, reliable: bool = False) -> None:
                    sent.append(message)
                    await original(message, reliable=reliable)

                core.hub.send = recording  # type: ignore[method-assign]
                late = wire.PrescriptionMessage(
                    msg_id="hub-rx-1",
                    prescription_id="RX-2026-000001-ABCD",
                    consultation_id=consultation_id,
                    issued_at=datetime.now(UTC),
                    prescriber=wire.DoctorInfo(display_name="Dr A", specialty="MG"),
                    lines=[LINE],
                    key_id="k1",
                    signature="c2lnbmF0dXJl",
                )
                await core.teleconsultation.handle_hub_message(late)
                await core.teleconsultation.handle_hub_message(late)  # sent again: kept once
                stored = await core.store.run(Store.prescriptions, consultation_id)
                assert len(stored) == 1
                acks = [m for m in sent if isinstance(m, wire.Ack)]
                assert [a.ack_of for a in acks] == ["hub-rx-1", "hub-rx-1"]

                stranger = msgspec.structs.replace(
                    late, msg_id="hub-rx-2", consultation_id="not-ours"
                )
                await core.teleconsultation.handle_hub_message(stranger)
                assert len([m for m in sent if isinstance(m, wire.Ack)]) == 2
                assert await core.store.run(Store.prescriptions, "not-ours") == []
            finally:
                await core.aclose()

    asyncio.run(scenario())


def test_a_cabin_restarted_while_its_patient_waited_takes_the_next_patient(
    tmp_path: Path,
) -> None:
    """The kiosk dies while its patient waits (its leave dies with it). Restarted, it says in its
    hello that it has no patient: the hub ends the lost one's place, and the next patient gets
    in (a cabin has one patient at the hub at a time, so a ghost would refuse them all)."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            token = rig.tokens["cabin-1"]

            def at_hub() -> list[str]:
                return [p.consultation_id for p in rig.switchboard.room.of_cabin("cabin-1")]

            crashed = await cabin_core(tmp_path / "before", rig.url, token)
            restarted = None
            try:
                assert crashed.hub is not None
                await crashed.hub.wait_online(TIMEOUT_S)
                lost = await to_waiting_room(crashed)
                await until(lambda: at_hub() == [lost])
                await crashed.hub.close()  # the kiosk dies: nothing more reaches the hub

                restarted = await cabin_core(tmp_path / "after", rig.url, token)
                assert restarted.hub is not None
                await restarted.hub.wait_online(TIMEOUT_S)
                await until(lambda: at_hub() == [])
                following = await to_waiting_room(restarted)
                await until(lambda: at_hub() == [following])
                record = await stored_consultation(rig.hub.storage, lost)
                assert record.status.value == "left"
            finally:
                if restarted is not None:
                    await restarted.aclose()
                await crashed.aclose()

    asyncio.run(scenario())
