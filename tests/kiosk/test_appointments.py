"""Appointment codes at the cabin's core: checked with a real hub, then against today's list it
synced into the SQLCipher store when the link is down; the keypad's pause; the appointment
through the waiting room to the record; nothing of it left after the session."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import wire
from demo.root import start_core
from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.schedule import CabinCalendar
from kiosk.app import KioskCore
from kiosk.appointments import PAUSE_S, WRONG_BEFORE_PAUSE, AppointmentDesk, CodeOutcome
from kiosk.config import load_config
from kiosk.patient import PatientIdentity
from kiosk.session_states import EndReason, SessionState
from kiosk.store import AsyncStore, DatabaseKey, Store, SyncedAppointment
from tests.hub.hub_rig import TIMEOUT_S, running_hub, until
from tests.kiosk.test_session import FakeClock
from tests.kiosk.test_teleconsultation import cabin_core
from wire.fhir_record import parse_record

KEY = DatabaseKey.generate()
CODE = "482913"
JEANNE = wire.PatientSummary(
    family_name="Martin", given_names="Jeanne", birth_date=date(1944, 5, 2)
)


def entry(
    appointment_id: str, code: str, now: datetime, *, valid_for: timedelta = timedelta(hours=2)
) -> wire.TodaysAppointment:
    salt = appointment_id.encode().ljust(16, b".")
    return wire.TodaysAppointment(
        appointment_id=appointment_id,
        code_salt=base64.b64encode(salt).decode(),
        code_hash=base64.b64encode(wire.appointment_code_hash(code, salt, 100)).decode(),
        code_iterations=100,
        patient=JEANNE,
        starts_at=now + timedelta(minutes=10),
        ends_at=now + timedelta(minutes=25),
        valid_from=now - timedelta(minutes=20),
        valid_until=now + valid_for,
        doctor="dr.a",
        doctor_name="Dr A",
    )


def todays(now: datetime, *entries: wire.TodaysAppointment) -> wire.TodaysAppointments:
    return wire.TodaysAppointments(
        msg_id="sync", day=now.date(), timezone="UTC", entries=list(entries)
    )


def test_offline_codes_the_pause_and_the_day_that_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await AsyncStore.open(tmp_path / "cabin.db", KEY)
        clock = FakeClock()
        now = datetime.now(UTC)
        moment = [now]
        desk = AppointmentDesk(store, clock, now=lambda: moment[0])
        try:
            assert await desk.synced(todays(now, entry("ap-1", CODE, now))) == 1
            found = await desk.check(CODE)
            assert found.outcome is CodeOutcome.FOUND and found.appointment is not None
            assert found.appointment.checked_offline
            assert found.appointment.patient.family_name == "Martin"
            assert "Martin" not in repr(found.appointment)
            # five wrong codes in a row pause the keypad, whatever the session
            for _ in range(WRONG_BEFORE_PAUSE - 1):
                assert (await desk.check("000000")).outcome is CodeOutcome.WRONG
            paused = await desk.check("000001")
            assert paused.outcome is CodeOutcome.PAUSED and paused.pause_s == PAUSE_S
            assert (await desk.check(CODE)).outcome is CodeOutcome.PAUSED  # even the right one
            clock.advance(PAUSE_S / 2)
            assert desk.paused_for() == PAUSE_S / 2
            clock.advance(PAUSE_S / 2)
            assert desk.paused_for() is None
            assert (await desk.check(CODE)).outcome is CodeOutcome.FOUND
            # a code not valid yet, or any more, is wrong
            moment[0] = now + timedelta(hours=3)
            assert (await desk.check(CODE)).outcome is CodeOutcome.WRONG
            # a new sync replaces the list; one used here stays used
            moment[0] = now
            await store.run(
                Store.replace_todays_appointments,
                [
                    dataclasses.replace(e, used_at=now)
                    for e in await store.run(Store.todays_appointments)
                ],
            )
            assert (await desk.check(CODE)).outcome is CodeOutcome.USED
            await desk.synced(todays(now, entry("ap-1", CODE, now), entry("ap-2", "111222", now)))
            assert (await desk.check(CODE)).outcome is CodeOutcome.USED
            assert (await desk.check("111222")).outcome is CodeOutcome.FOUND
            await desk.synced(todays(now, entry("ap-2", "111222", now)))
            assert [e.appointment_id for e in await store.run(Store.todays_appointments)] == [
                "ap-2"
            ]
            # the day after, the list is gone
            yesterday = now - timedelta(days=1)
            await desk.synced(todays(yesterday, entry("ap-3", "333444", yesterday)))
            assert await store.run(Store.todays_appointments) == []
        finally:
            await store.close()

    asyncio.run(scenario())


def test_the_session_keeps_the_appointment_until_its_end_and_no_longer(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        core = await start_core(
            load_config(None),
            tmp_path,
            env={"CABIN_DB_KEY": KEY.hex()},
            clock=clock,
            instruments={},
        )
        try:
            now = datetime.now(UTC)
            await core.appointments.synced(todays(now, entry("ap-1", CODE, now)))
            c = core.consultation
            await c.start("fr")
            await c.choose_identify()
            found = await core.appointments.check(CODE)
            assert found.appointment is not None
            await c.identify(found.appointment.patient, found.appointment)
            await c.consent(True)
            consultation_id = core.session.context.consultation_id
            assert consultation_id is not None
            assert core.session.context.appointment == found.appointment
            core.session.end(EndReason.ABANDONED)
            assert core.session.context.appointment is None
            assert core.session.context.is_empty
            await c.settled()
            # the record filed for the hub carries the appointment, as arrived (no doctor)
            [item] = await core.store.run(Store.due_outbox)
            upload = wire.decode(item.payload, allowed=wire.RecordUpload)
            assert isinstance(upload, wire.RecordUpload)
            record = parse_record(bytes(upload.bundle))
            assert record.appointment is not None
            assert (record.appointment.appointment_id, record.appointment.status) == (
                "ap-1",
                "arrived",
            )
            assert record.appointment.doctor_id == "dr.a"
            # used here: a second check of the code, offline, says so
            assert (await core.appointments.check(CODE)).outcome is CodeOutcome.USED
        finally:
            await core.aclose()

    asyncio.run(scenario())


def test_with_the_hub_then_without_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            now = datetime.now(UTC).replace(microsecond=0)
            storage = rig.hub.storage
            await storage.put_calendar(CabinCalendar(cabin_id="cabin-1", town="Murat"))
            for appointment_id, code, minutes in (("ap-1", CODE, 10), ("ap-2", "765432", 25)):
                starts = now + timedelta(minutes=minutes)
                await storage.add_appointment(
                    Appointment(
                        appointment_id=appointment_id,
                        cabin_id="cabin-1",
                        doctor="dr.a",
                        starts_at=starts,
                        ends_at=starts + timedelta(minutes=15),
                        status=AppointmentStatus.BOOKED,
                        patient=JEANNE,
                        code=code,
                        channel=BookingChannel.ONLINE,
                        booked_at=now - timedelta(days=1),
                        consent_at=now - timedelta(days=1),
                    )
                )
            core: KioskCore = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            try:
                assert core.hub is not None
                await core.hub.wait_online(TIMEOUT_S)

                async def synced() -> int:
                    return len(await core.store.run(Store.todays_appointments))

                async with asyncio.timeout(TIMEOUT_S):
                    while await synced() < 2:  # noqa: ASYNC110 - the store is polled
                        await asyncio.sleep(0.01)

                found = await core.appointments.check(CODE)
                assert found.outcome is CodeOutcome.FOUND and found.appointment is not None
                assert not found.appointment.checked_offline
                assert found.appointment.doctor_name == "Dr A"
                c = core.consultation
                await c.start("fr")
                await c.choose_identify()
                await c.identify(found.appointment.patient, found.appointment)
                await c.consent(True)
                consultation_id = core.session.context.consultation_id
                core.session.advance(SessionState.WAITING_ROOM)
                await until(lambda: bool(rig.switchboard.waiting_entries()), what="the join")
                [waiting] = rig.switchboard.waiting_entries()
                assert waiting.appointment_at == now + timedelta(minutes=10)
                stored = await storage.appointment("ap-1")
                assert stored is not None and stored.status is AppointmentStatus.ARRIVED
                assert stored.consultation_id == consultation_id
                assert (await core.appointments.check(CODE)).outcome is CodeOutcome.USED
                core.session.end(EndReason.ABANDONED)

                # the link goes down: the synced list answers, with the same greeting
                await core.hub.close()
                offline = await core.appointments.check("765432")
                assert offline.outcome is CodeOutcome.FOUND and offline.appointment is not None
                assert offline.appointment.checked_offline
                assert offline.appointment.patient == found.appointment.patient
            finally:
                await core.aclose()

    asyncio.run(scenario())


def test_the_synced_list_is_encrypted_and_gone_after_the_cabins_midnight(tmp_path: Path) -> None:
    paris = ZoneInfo("Europe/Paris")
    day = date(2026, 11, 23)
    moment = [datetime(2026, 11, 23, 23, 30, tzinfo=paris)]
    path = tmp_path / "cabin.db"
    store = Store.open(path, KEY, now=lambda: moment[0])
    try:
        slot = datetime(2026, 11, 23, 10, 15, tzinfo=paris)
        entry = SyncedAppointment(
            appointment_id="ap-1",
            day=day,
            timezone="Europe/Paris",
            code_salt=b"s" * 16,
            code_hash=wire.appointment_code_hash(CODE, b"s" * 16, 100),
            code_iterations=100,
            patient=PatientIdentity("Quelennec", "Marguerite", date(1944, 5, 2)),
            starts_at=slot,
            ends_at=slot + timedelta(minutes=15),
            valid_from=slot - timedelta(minutes=30),
            valid_until=datetime(2026, 11, 24, tzinfo=paris),
            doctor="dr.a",
            doctor_name="Dr A",
        )
        store.replace_todays_appointments([entry])
        assert store.purge_past_appointments() == 0  # 23:30 in Paris: still its day
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("cabin.db*"))  # and its WAL
        assert b"Quelennec" not in raw and CODE.encode() not in raw
        moment[0] = datetime(2026, 11, 24, 0, 1, tzinfo=paris)
        assert store.purge_past_appointments() == 1
        assert store.todays_appointments() == []
    finally:
        store.close()
