"""The assistant mode's core on the real core and a real SQLCipher file: the PIN and its
lockout, the logs, the alerts, the export without health data, the safe restart, the CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import argon2
import pytest

from demo.root import start_core
from devices.drivers.ir_thermometer import IrThermometer
from devices.instrument import Availability, Final, Instrument
from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.app import KioskCore
from kiosk.assistant import (
    Assistant,
    AssistantModeClosed,
    ExportError,
    InvalidEntry,
    UnknownAlert,
    UnlockOutcome,
    UnlockResult,
    hash_pin,
    valid_pin,
    verify_pin,
)
from kiosk.config import Config, load_config, parse_config
from kiosk.errors import ConfigError, IllegalTransition
from kiosk.events import AlertCleared
from kiosk.measurements import UnknownInstrument
from kiosk.patient import PatientIdentity
from kiosk.session_states import EndReason, Overlay, SessionState
from kiosk.store import DatabaseKey, Store
from simulators.serial.ir_thermometer import IrThermometerSimulator
from tests.devices.serial_rig import FAST_BACKOFF
from tests.kiosk.test_consultation import to_vitals
from tests.kiosk.test_session import FakeClock

REPO = Path(__file__).resolve().parents[2]
KEY = DatabaseKey.generate()
DEMO_PIN = "2468"
WRONG_PINS = ("1357", "9081", "55550", "7777", "31415926")
PATIENT = PatientIdentity("Kerhervé", "Maëlys-Gwenola", date(1937, 3, 29))
READING = Reading(
    "oximeter-1",
    ReadingKind.PULSE_OXIMETRY,
    (Value(Quantity.SPO2_PERCENT, 94.3), Value(Quantity.PULSE_BPM, 67.9)),
    datetime(2026, 11, 22, 10, 5, tzinfo=UTC),
)
RAISED_AT = datetime(2026, 11, 22, 10, 7, tzinfo=UTC)

Body = Callable[[KioskCore, Assistant, FakeClock], Awaitable[None]]


@asynccontextmanager
async def opened(
    tmp_path: Path,
    *,
    config: Config | None = None,
    instruments: dict[str, Instrument] | None = None,
) -> AsyncIterator[tuple[KioskCore, Assistant, FakeClock]]:
    clock = FakeClock()
    cabin = config or load_config(None)
    core = await start_core(
        cabin,
        tmp_path / "data",
        env={"CABIN_DB_KEY": KEY.hex()},
        clock=clock,
        instruments=instruments or {},
    )
    try:
        yield core, core.assistant, clock  # the one the composition root built
    finally:
        await core.aclose()


def with_assistant(tmp_path: Path, body: Body, *, config: Config | None = None) -> None:
    async def scenario() -> None:
        async with opened(tmp_path, config=config) as (core, assistant, clock):
            await body(core, assistant, clock)

    asyncio.run(scenario())


async def actions(core: KioskCore) -> list[tuple[str, str | None]]:
    """The audit log, oldest first, as (action, subject)."""
    entries = await core.store.run(Store.audit_history)
    assert all(e.actor == "assistant" for e in entries)
    return [(e.action, e.subject) for e in reversed(entries)]


async def raise_alert(core: KioskCore, alert_id: str, consultation_id: str | None = None) -> None:
    await core.store.run(
        Store.add_alert, alert_id, "fall", "critical", RAISED_AT, 0.91, consultation_id
    )
    core.session.raise_distress(alert_id)


# --- the PIN --------------------------------------------------------------------------------------
def test_a_pin_hash_is_argon2id_salted_and_verifies() -> None:
    first, second = hash_pin(DEMO_PIN), hash_pin(DEMO_PIN)
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert argon2.PasswordHasher().verify(first, DEMO_PIN)
    assert verify_pin(second, DEMO_PIN)
    assert not verify_pin(first, "2469")
    for bad in ("123", "123456789", "12a4", "", " 2468", "\uff12\uff14\uff16\uff18"):
        assert not valid_pin(bad)
        with pytest.raises(InvalidEntry):
            hash_pin(bad)


def test_the_demo_defaults_hold_the_demo_pin_and_a_bad_hash_is_refused() -> None:
    section = load_config(None).assistant
    assert verify_pin(section.pin_hash, DEMO_PIN)
    assert (section.max_attempts, section.lockout_s) == (5, 300)
    with pytest.raises(ConfigError, match="pin_hash"):
        parse_config('[assistant]\npin_hash = "2468"')
    assert parse_config('[assistant]\npin_hash = ""').assistant.pin_hash == ""


def test_the_right_pin_opens_the_mode_and_is_audited(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        with pytest.raises(AssistantModeClosed):
            await assistant.record_cleaning("Soizic", None)
        assert await assistant.unlock(DEMO_PIN) == UnlockResult(UnlockOutcome.OK)
        assert core.session.overlay is Overlay.ASSISTANT and assistant.is_open
        await assistant.leave()
        assert core.session.overlay is Overlay.NONE
        assert await actions(core) == [("unlock", None), ("leave", None)]

    with_assistant(tmp_path, body)


def test_wrong_pins_count_down_then_lock_for_five_minutes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        results = [await assistant.unlock(pin) for pin in WRONG_PINS]
        assert [r.outcome for r in results] == [UnlockOutcome.WRONG] * 4 + [UnlockOutcome.LOCKED]
        assert [r.attempts_left for r in results[:4]] == [4, 3, 2, 1]
        assert results[4].locked_for_s == 300
        assert core.session.overlay is Overlay.NONE

        clock.advance(120)
        refused = await assistant.unlock(DEMO_PIN)  # the right PIN, during the lockout
        assert refused.outcome is UnlockOutcome.LOCKED
        assert refused.locked_for_s == pytest.approx(180)
        assert core.session.overlay is Overlay.NONE
        clock.advance(179.5)
        assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.LOCKED
        clock.advance(0.5)
        assert assistant.locked_for_s() == 0
        assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK
        assert core.session.overlay is Overlay.ASSISTANT

        audited = await actions(core)
        assert audited == [
            ("unlock_failed", "attempt 1 of 5"),
            ("unlock_failed", "attempt 2 of 5"),
            ("unlock_failed", "attempt 3 of 5"),
            ("unlock_failed", "attempt 4 of 5"),
            ("unlock_failed", "attempt 5 of 5"),
            ("lockout", "300 s"),
            ("unlock_refused_locked", "180 s left"),
            ("unlock_refused_locked", "1 s left"),
            ("unlock", None),
        ]
        text = repr(audited) + caplog.text
        for pin in (*WRONG_PINS, DEMO_PIN):
            assert pin not in text

    with_assistant(tmp_path, body)


def test_a_right_pin_resets_the_count_and_the_lockout_is_configurable(tmp_path: Path) -> None:
    config = parse_config("[assistant]\nmax_attempts = 2\nlockout_s = 30\n")

    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        assert (await assistant.unlock("1111")).attempts_left == 1
        assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK
        await assistant.leave()
        assert (await assistant.unlock("1111")).attempts_left == 1  # counted from zero again
        locked = await assistant.unlock("not a pin")  # counted, never hashed
        assert locked == UnlockResult(UnlockOutcome.LOCKED, locked_for_s=30)
        clock.advance(30)
        assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK

    with_assistant(tmp_path, body, config=config)


def test_a_cabin_without_a_pin_never_opens_the_mode(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        for pin in (DEMO_PIN, "", "0000"):
            assert await assistant.unlock(pin) == UnlockResult(UnlockOutcome.NOT_PROVISIONED)
        assert core.session.overlay is Overlay.NONE
        assert await actions(core) == [("unlock_not_provisioned", None)] * 3

    with_assistant(tmp_path, body, config=parse_config('[assistant]\npin_hash = ""'))


def test_the_mode_opens_from_an_alert_but_not_over_a_patient(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        await to_vitals(core.consultation)
        with pytest.raises(IllegalTransition):
            await assistant.unlock(DEMO_PIN)
        assert core.session.overlay is Overlay.NONE
        await raise_alert(core, "alert-7")
        assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK
        assert core.session.state is SessionState.VITALS
        assert core.session.overlay is Overlay.ASSISTANT
        await assistant.leave()
        assert core.session.overlay is Overlay.DISTRESS  # the alert is still there

    with_assistant(tmp_path, body)


def test_the_mode_closing_by_itself_is_audited(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        await assistant.unlock(DEMO_PIN)
        clock.advance(100)
        await assistant.record_cleaning("Soizic")  # an action keeps the mode open
        clock.advance(100)
        core.session.poll()
        assert core.session.overlay is Overlay.ASSISTANT
        clock.advance(21)
        core.session.poll()
        assert core.session.overlay is Overlay.NONE
        await assistant.settled()
        assert (await actions(core))[-1] == ("closed", "to none")
        with pytest.raises(AssistantModeClosed):
            await assistant.export_logs(tmp_path)

    with_assistant(tmp_path, body)


# --- paper and cleaning ---------------------------------------------------------------------------
def test_paper_refills_and_prints_give_the_sheets_left(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        assert await assistant.sheets_left() is None
        assert await assistant.record_printed(2) is None  # never refilled: unknown
        await assistant.unlock(DEMO_PIN)
        await assistant.record_paper_refill(100, "  Yannick ")
        assert await assistant.record_printed(3) == 97
        assert await assistant.record_printed(2) == 95
        assert await assistant.sheets_left() == 95
        history = await assistant.paper_history(limit=3)
        assert [(e.event, e.pages, e.sheets_left) for e in history] == [
            ("printed", 2, 95),
            ("printed", 3, 97),
            ("refill", 100, 100),
        ]
        assert history[2].by_whom == "Yannick" and history[0].by_whom == "cabin"
        assert history[0].at.tzinfo is not None
        assert await assistant.record_printed(500) == 0  # more than was counted: empty
        await assistant.record_paper_refill(250, "Yannick")
        assert await assistant.sheets_left() == 250  # a refill starts the count again
        for sheets, who in ((0, "Yannick"), (-5, "Yannick"), (20_000, "Yannick"), (10, " ")):
            with pytest.raises(InvalidEntry):
                await assistant.record_paper_refill(sheets, who)
        assert ("paper_refill", "250 sheets") in await actions(core)

    with_assistant(tmp_path, body)


def test_cleanings_are_logged_newest_first(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        await assistant.unlock(DEMO_PIN)
        await assistant.record_cleaning("Soizic", "cuff wiped")
        await assistant.record_cleaning("Yannick", "   ")
        history = await assistant.cleaning_history(limit=10)
        assert [(e.by_whom, e.note) for e in history] == [
            ("Yannick", None),
            ("Soizic", "cuff wiped"),
        ]
        with pytest.raises(InvalidEntry):
            await assistant.record_cleaning("", None)
        assert [a for a in await actions(core) if a[0] == "cleaning"] == [("cleaning", None)] * 2

    with_assistant(tmp_path, body)


# --- alerts ---------------------------------------------------------------------------------------
def test_acknowledging_an_alert_clears_the_overlay_and_records_who(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        cleared: list[AlertCleared] = []
        core.bus.subscribe(AlertCleared, cleared.append)
        await raise_alert(core, "alert-1")
        await raise_alert(core, "alert-2")
        assert [a.alert_id for a in await assistant.open_alerts()] == ["alert-2", "alert-1"]
        await assistant.unlock(DEMO_PIN)
        view = await assistant.acknowledge("alert-1", "Soizic", false_alarm=True)
        assert (view.acknowledged_by, view.false_alarm) == ("Soizic", True)
        assert view.acknowledged_at is not None and view.kind.value == "fall"
        assert cleared == [AlertCleared("alert-1", "Soizic", True)]
        assert core.session.active_alerts == {"alert-2"}

        await assistant.acknowledge("alert-2", "Soizic", false_alarm=False)
        again = await assistant.acknowledge("alert-2", "Yannick", false_alarm=True)
        assert (again.acknowledged_by, again.false_alarm) == ("Soizic", False)  # first stands
        assert len(cleared) == 2
        assert await assistant.open_alerts() == []
        assert {a.alert_id: a.false_alarm for a in await assistant.alert_history()} == {
            "alert-1": True,
            "alert-2": False,
        }
        with pytest.raises(UnknownAlert):
            await assistant.acknowledge("alert-404", "Soizic", false_alarm=False)
        await assistant.leave()
        assert core.session.overlay is Overlay.NONE  # nothing left to show
        audited = await actions(core)
        assert ("alert_acknowledged", "alert-1") in audited
        assert audited.count(("alert_acknowledged", "alert-2")) == 1

    with_assistant(tmp_path, body)


# --- the log export -------------------------------------------------------------------------------
def test_the_export_holds_the_logs_and_nothing_of_a_patient(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        await to_vitals(core.consultation)
        consultation_id = core.session.context.consultation_id
        patient_id = core.session.context.patient_id
        assert consultation_id is not None and patient_id is not None
        await core.consultation.record_reading(READING)
        await raise_alert(core, "alert-fall-1", consultation_id)
        await core.store.run(Store.log_device, "oximeter-1", "connected", None)
        await core.store.run(Store.log_cleaning, "patient", consultation_id, None)
        await assistant.unlock(DEMO_PIN)
        await assistant.acknowledge("alert-fall-1", "Soizic", false_alarm=False)
        await assistant.record_paper_refill(100, "Yannick")
        await assistant.record_printed(2)
        await assistant.record_cleaning("Soizic", "all wiped")

        folder = tmp_path / "usb"
        folder.mkdir()
        path = await assistant.export_logs(folder)
        second = await assistant.export_logs(folder)
        assert path.parent == folder and second != path  # never replaces an earlier export
        assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, second.name])
        assert stat.S_IMODE(path.stat().st_mode) == 0o640

        raw = path.read_bytes()
        document = json.loads(raw)
        assert document["format"] == "cabin-log-export/1"
        assert document["cabin_id"] == "demo-cabin"
        assert [(d["device_id"], d["event"]) for d in document["device_log"]] == [
            ("oximeter-1", "connected")
        ]
        assert [p["event"] for p in document["paper_log"]] == ["refill", "printed"]
        assert [c["by_whom"] for c in document["cleaning_log"]] == ["patient", "Soizic"]
        [alert] = document["alerts"]
        assert (alert["alert_id"], alert["acknowledged_by"], alert["false_alarm"]) == (
            "alert-fall-1",
            "Soizic",
            False,
        )
        assert {"unlock", "alert_acknowledged", "paper_refill"} <= {
            a["action"] for a in document["audit_log"]
        }
        forbidden = [
            PATIENT.family_name,
            PATIENT.given_names,
            "Maëlys",
            "1937-03-29",
            "1937",
            "94.3",
            "67.9",
            consultation_id,
            patient_id,
            DEMO_PIN,
        ]
        text = raw.decode("utf-8")
        for secret in forbidden:
            assert secret not in text, secret
            assert secret.encode("utf-8") not in raw
        assert (await actions(core))[-1] == ("export_logs", second.name)
        await assistant.leave()

    with_assistant(tmp_path, body)


def test_an_export_to_a_missing_folder_says_so(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        await assistant.unlock(DEMO_PIN)
        with pytest.raises(ExportError, match="no such folder"):
            await assistant.export_logs(tmp_path / "not-mounted")

    with_assistant(tmp_path, body)


# --- the safe restart -----------------------------------------------------------------------------
def test_a_restart_ends_the_patient_session_then_sets_the_event(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        await to_vitals(core.consultation)
        consultation_id = core.session.context.consultation_id
        assert consultation_id is not None
        await raise_alert(core, "alert-3")
        await assistant.unlock(DEMO_PIN)
        assert not assistant.restart_requested.is_set()
        await assistant.request_restart()
        assert assistant.restart_requested.is_set()
        assert core.session.context.is_empty
        assert core.session.state is SessionState.CLEANING
        assert core.session.overlay is Overlay.DISTRESS  # the alert still needs someone
        await core.consultation.settled()
        assert await core.store.run(Store.consultation_ended, consultation_id) == "restart"
        assert ("restart_requested", None) in await actions(core)

    with_assistant(tmp_path, body)


def test_a_restart_from_idle_just_closes_the_mode(tmp_path: Path) -> None:
    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        with pytest.raises(AssistantModeClosed):
            await assistant.request_restart()
        await assistant.unlock(DEMO_PIN)
        await assistant.request_restart()
        assert assistant.restart_requested.is_set()
        assert (core.session.state, core.session.overlay) == (SessionState.IDLE, Overlay.NONE)
        await assistant.settled()
        assert [a for a, _ in await actions(core)] == ["unlock", "restart_requested"]

    with_assistant(tmp_path, body)


# --- devices, on a simulated thermometer over a real pty ------------------------------------------
def test_device_status_and_a_test_measurement_kept_in_no_consultation(tmp_path: Path) -> None:
    async def scenario() -> None:
        simulator = IrThermometerSimulator(tmp_path / "ttyUSB-sim", seed=7, time_scale=0.02)
        await simulator.start()
        thermometer = IrThermometer("thermo-1", str(simulator.link_path), backoff=FAST_BACKOFF)
        try:
            async with opened(tmp_path, instruments={"thermo-1": thermometer}) as opened_core:
                await body(*opened_core)
        finally:
            await simulator.stop()

    async def body(core: KioskCore, assistant: Assistant, clock: FakeClock) -> None:
        assert await core.measurements.instruments["thermo-1"].wait_connected(5.0)
        [status] = assistant.device_statuses()
        assert (status.device_id, status.kind) == ("thermo-1", ReadingKind.TEMPERATURE)
        assert status.availability is Availability.CONNECTED
        assert status.last_reading_at is None

        await to_vitals(core.consultation)  # a patient's reading is seen (its time only)
        taken = Reading(
            "thermo-1",
            ReadingKind.TEMPERATURE,
            (Value(Quantity.TEMPERATURE_C, 37.1),),
            datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        )
        await core.consultation.record_reading(taken)
        assert assistant.device_statuses()[0].last_reading_at == taken.measured_at
        core.session.end(EndReason.ABANDONED)
        await core.consultation.settled()
        readings_before = await core.store.run(Store.count, "readings")

        with pytest.raises(AssistantModeClosed):
            [u async for u in assistant.test_measurement("thermo-1")]
        await assistant.unlock(DEMO_PIN)  # from cleaning
        # a few seconds idle; the measurement's own timeout only turns a real failure into one
        updates = [u async for u in assistant.test_measurement("thermo-1", timeout_s=60.0)]
        final = updates[-1]
        assert isinstance(final, Final)
        assert final.reading.get(Quantity.TEMPERATURE_C) is not None
        assert await core.store.run(Store.count, "readings") == readings_before
        assert assistant.device_statuses()[0].last_reading_at == final.reading.measured_at
        assert ("test_measurement", "thermo-1") in await actions(core)
        logged = await core.store.run(Store.device_history, 5)
        assert (logged[0].device_id, logged[0].event, logged[0].detail) == (
            "thermo-1",
            "test_measurement",
            "ok",
        )
        with pytest.raises(UnknownInstrument):
            [u async for u in assistant.test_measurement("bp-9")]

    asyncio.run(scenario())


# --- the command line -----------------------------------------------------------------------------
def set_pin(stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk.assistant", "set-pin", *extra],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,  # no controlling terminal: getpass reads standard input
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("extra", [(), ("--stdin",)], ids=["getpass", "stdin"])
def test_set_pin_prints_a_hash_that_verifies(extra: tuple[str, ...]) -> None:
    done = set_pin("80412\n80412\n", *extra)
    assert done.returncode == 0, done.stderr
    pin_hash = done.stdout.strip()
    assert pin_hash.startswith("$argon2id$") and "\n" not in pin_hash
    assert verify_pin(pin_hash, "80412")
    assert parse_config(f'[assistant]\npin_hash = "{pin_hash}"').assistant.pin_hash == pin_hash
    assert "80412" not in done.stderr  # prompts only, never echoed back


@pytest.mark.parametrize(
    ("stdin", "why"),
    [
        ("1234\n4321\n", "differ"),
        ("12\n12\n", "4 to 8 digits"),
        ("", "no PIN"),
        ("5791\n", "no PIN"),
    ],
)
def test_set_pin_refuses_a_bad_pin(stdin: str, why: str) -> None:
    done = set_pin(stdin, "--stdin")
    assert done.returncode == 1
    assert done.stdout == ""
    assert why in done.stderr
