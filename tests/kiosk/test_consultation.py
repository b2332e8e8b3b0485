"""The consultation as the screen drives it, on the real core: what is written, and when."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from demo.root import start_core
from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.app import KioskCore
from kiosk.bus import EventBus
from kiosk.config import load_config
from kiosk.consultation import Consultation
from kiosk.errors import StoreFullError
from kiosk.events import ReadingReceived
from kiosk.patient import PatientIdentity
from kiosk.session import Session, SessionTimeouts
from kiosk.session_states import EndReason, SessionState
from kiosk.store import AsyncStore, DatabaseKey, Store
from tests.kiosk.test_session import FakeClock

KEY = DatabaseKey.generate()
PATIENT = PatientIdentity("Le Gall", "Anne-Marie", date(1940, 7, 14))
READING = Reading(
    "oximeter-1",
    ReadingKind.PULSE_OXIMETRY,
    (Value(Quantity.SPO2_PERCENT, 96.0), Value(Quantity.PULSE_BPM, 71.0)),
    datetime(2026, 11, 22, 10, 5, tzinfo=UTC),
)


def with_core(tmp_path: Path, body: Callable[[KioskCore, FakeClock], Awaitable[None]]) -> None:
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
            await body(core, clock)
        finally:
            await core.aclose()

    asyncio.run(scenario())


async def to_vitals(c: Consultation) -> None:
    await c.start("fr")
    await c.choose_identify()
    await c.identify(PATIENT)
    await c.consent(True)


def test_a_reading_being_stored_when_its_measurement_is_cancelled_is_shown_too(
    tmp_path: Path,
) -> None:
    """The patient skips on while the cuff's result is being written: the store keeps it, so
    the session (the screen, the doctor, the summary) must have it too."""

    async def body(core: KioskCore, clock: FakeClock) -> None:
        c = core.consultation
        received: list[ReadingReceived] = []
        core.bus.subscribe(ReadingReceived, received.append)
        await to_vitals(c)
        gate = threading.Event()
        busy = asyncio.ensure_future(core.store.run(lambda _store: gate.wait(30)))
        recording = asyncio.ensure_future(c.record_reading(READING))
        await asyncio.sleep(0)  # the write is queued behind the busy store
        recording.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await recording
        await busy
        consultation_id = core.session.context.consultation_id
        assert consultation_id is not None
        assert [s.reading for s in await core.store.run(Store.readings, consultation_id)] == [
            READING
        ]
        assert core.session.context.readings == [READING]
        assert [r.reading for r in received] == [READING]

    with_core(tmp_path, body)


def test_a_whole_consultation_is_recorded(tmp_path: Path) -> None:
    async def body(core: KioskCore, clock: FakeClock) -> None:
        c = core.consultation
        received: list[ReadingReceived] = []
        core.bus.subscribe(ReadingReceived, received.append)
        await c.start("fr")
        await c.choose_identify()
        await c.identify(PATIENT)
        assert await core.store.run(Store.count, "patients") == 0  # nothing before consent
        await c.consent(True)
        context = core.session.context
        assert context.consultation_id is not None
        consultation_id = context.consultation_id
        reading_id = await c.record_reading(READING)
        stored = await core.store.run(Store.readings, consultation_id)
        assert [s.reading_id for s in stored] == [reading_id]
        assert stored[0].reading == READING
        assert context.readings == [READING]
        assert [r.reading_id for r in received] == [reading_id]
        for state in (SessionState.WAITING_ROOM, SessionState.CALL, SessionState.CLOSING):
            core.session.advance(state)
        core.session.advance(SessionState.SURVEY)
        core.session.end(EndReason.COMPLETED)
        await c.settled()
        assert await core.store.run(Store.consultation_ended, consultation_id) == "completed"
        assert core.session.context.is_empty
        await c.cleaning_done("patient")
        assert core.session.state is SessionState.IDLE
        assert await core.store.run(Store.count, "cleaning_log") == 1

    with_core(tmp_path, body)


def test_a_refused_consent_writes_nothing_of_the_patient(tmp_path: Path) -> None:
    async def body(core: KioskCore, clock: FakeClock) -> None:
        c = core.consultation
        await c.start("en")
        await c.choose_identify()
        await c.identify(PATIENT)
        await c.consent(False)
        await c.settled()
        assert core.session.state is SessionState.IDLE
        assert core.session.context.is_empty
        assert await core.store.run(Store.count, "patients") == 0
        assert await core.store.run(Store.count, "consultations") == 0

    with_core(tmp_path, body)


def test_a_returning_patient_keeps_one_record(tmp_path: Path) -> None:
    async def body(core: KioskCore, clock: FakeClock) -> None:
        c = core.consultation
        ids = []
        for _ in range(2):
            await to_vitals(c)
            ids.append(core.session.context.patient_id)
            core.session.end(EndReason.ABANDONED)
            await c.cleaning_done("patient")
        assert ids[0] is not None and ids[0] == ids[1]
        assert await core.store.run(Store.count, "patients") == 1
        assert await core.store.run(Store.count, "consultations") == 2

    with_core(tmp_path, body)


def test_a_timeout_is_recorded_as_the_end_of_the_consultation(tmp_path: Path) -> None:
    async def body(core: KioskCore, clock: FakeClock) -> None:
        await to_vitals(core.consultation)
        consultation_id = core.session.context.consultation_id
        assert consultation_id is not None
        clock.advance(core.config.session.inactivity_timeout_s + 1)
        core.session.poll()
        clock.advance(core.config.session.still_there_countdown_s + 1)
        core.session.poll()
        await core.consultation.settled()
        assert core.session.state is SessionState.CLEANING
        assert await core.store.run(Store.consultation_ended, consultation_id) == "timeout"

    with_core(tmp_path, body)


def test_a_crash_mid_consultation_is_closed_at_the_next_start(tmp_path: Path) -> None:
    opened: list[str] = []

    async def crash(core: KioskCore, clock: FakeClock) -> None:
        await to_vitals(core.consultation)
        assert core.session.context.consultation_id is not None
        opened.append(core.session.context.consultation_id)
        # the process "dies" here: aclose closes the store but records no end

    with_core(tmp_path, crash)

    async def after(core: KioskCore, clock: FakeClock) -> None:
        assert core.session.state is SessionState.IDLE
        assert core.session.context.is_empty
        assert await core.store.run(Store.consultation_ended, opened[0]) == "restart"

    with_core(tmp_path, after)


def test_a_reading_that_cannot_be_stored_is_not_shown_as_taken(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Store.open(tmp_path / "full.db", KEY, max_size_bytes=160 * 1024)
        astore = AsyncStore(store, ThreadPoolExecutor(max_workers=1))
        bus = EventBus()
        session = Session(bus, FakeClock(), SessionTimeouts())
        c = Consultation(session, astore, bus)
        await to_vitals(c)
        received: list[ReadingReceived] = []
        bus.subscribe(ReadingReceived, received.append)
        stored = 0
        with pytest.raises(StoreFullError):
            for _ in range(100_000):
                await c.record_reading(READING)
                stored += 1
        assert len(session.context.readings) == stored == len(received)
        consultation_id = session.context.consultation_id
        assert consultation_id is not None
        assert len(await astore.run(Store.readings, consultation_id)) == stored
        await c.aclose()
        await astore.close()

    asyncio.run(scenario())
