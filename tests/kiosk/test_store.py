"""The encrypted store on a real SQLCipher file: schema, round trips, secrecy, crash, full disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3

from demo.root import start_core
from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.config import load_config
from kiosk.errors import KeyUnavailableError, StoreError, StoreFullError, WrongKeyError
from kiosk.patient import PatientIdentity, Sex
from kiosk.store import AsyncStore, DatabaseKey, Store
from kiosk.store.migrations import SCHEMA_VERSION
from tests.kiosk.store_writer import KEY_ENV, VALUES_PER_KIND

REPO_ROOT = Path(__file__).resolve().parents[2]

EXPECTED_TABLES = {
    "patients",
    "consultations",
    "readings",
    "reading_values",
    "prescriptions",
    "outbox",
    "device_log",
    "paper_log",
    "cleaning_log",
    "alerts",
    "audit_log",
    "device_addresses",
    "print_jobs",
    "todays_appointments",
    "selftest_reports",
    "cabin_state",
}

PATIENT = PatientIdentity(
    "Quelennec-Abgrall", "Marguerite", date(1948, 3, 9), Sex.FEMALE, "RDV-7Q4K-2931"
)
T0 = datetime(2026, 11, 3, 9, 30, 0, 250_000, tzinfo=UTC)


# --- helpers ---------------------------------------------------------------------------------
class FakeNow:
    """A clock for the store's timestamps that the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def raw_query(path: Path, key: DatabaseKey, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Read the database with a bare SQLCipher connection (what the store wrote, not its view)."""
    conn = sqlcipher3.connect(str(path))
    try:
        conn.execute(key.pragma())
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def folder_state(folder: Path) -> dict[str, str]:
    """Each file of the folder with its sha256."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def bp(systolic: float, diastolic: float, pulse: float, at: datetime) -> Reading:
    values = (
        Value(Quantity.SYSTOLIC_MMHG, systolic),
        Value(Quantity.DIASTOLIC_MMHG, diastolic),
        Value(Quantity.PULSE_BPM, pulse),
    )
    return Reading("bp-1", ReadingKind.BLOOD_PRESSURE, values, at)


def reading_with(n_values: int, n: int) -> Reading:
    """Readings of 1, 2 or 3 values, so that a half-written one would show."""
    at = T0 + timedelta(seconds=n)
    values: tuple[Value, ...]
    if n_values == 1:
        values = (Value(Quantity.TEMPERATURE_C, 36.0 + (n % 40) / 10),)
        return Reading("thermo-1", ReadingKind.TEMPERATURE, values, at)
    if n_values == 2:
        values = (Value(Quantity.SPO2_PERCENT, 90.0 + n % 10), Value(Quantity.PULSE_BPM, 60.0))
        return Reading("oximeter-1", ReadingKind.PULSE_OXIMETRY, values, at)
    return bp(100.0 + n % 60, 60.0 + n % 30, 70.0, at)


def same_reading(a: Reading, b: Reading) -> bool:
    """Equal readings, whatever the order of their values."""
    return (
        a.device_id == b.device_id
        and a.kind is b.kind
        and a.measured_at == b.measured_at
        and set(a.values) == set(b.values)
    )


@pytest.fixture
def key() -> DatabaseKey:
    return DatabaseKey.generate()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    return folder / "cabin.db"


@pytest.fixture
def now() -> FakeNow:
    return FakeNow(T0)


@pytest.fixture
def store(db: Path, key: DatabaseKey, now: FakeNow) -> Iterator[Store]:
    opened = Store.open(db, key, now=now)
    yield opened
    opened.close()


def fill_until_full(
    store: Store, consultation_id: str, limit: int = 100_000
) -> list[tuple[int, Reading]]:
    """Add readings until StoreFullError; the (id, reading) of every one that succeeded."""
    written: list[tuple[int, Reading]] = []
    for n in range(limit):
        reading = reading_with(1 + n % 3, n)
        try:
            reading_id = store.add_reading(consultation_id, reading)
        except StoreFullError as exc:
            assert "full" in str(exc)
            assert "nothing was written" in str(exc)
            return written
        written.append((reading_id, reading))
    pytest.fail(f"the store never became full after {limit} readings")


def assert_holds_exactly(
    store: Store, consultation_id: str, written: list[tuple[int, Reading]]
) -> None:
    """The store holds the written readings, whole, and nothing else."""
    assert store.integrity_ok()
    assert store.count("readings") == len(written)
    assert store.reading_ids() == {reading_id for reading_id, _ in written}
    assert store.count("reading_values") == sum(len(r.values) for _, r in written)
    stored = store.readings(consultation_id)
    assert [s.reading_id for s in stored] == [reading_id for reading_id, _ in written]
    for s, (_, reading) in zip(stored, written, strict=True):
        assert same_reading(s.reading, reading)


# --- schema ----------------------------------------------------------------------------------
def test_schema_is_created_at_the_current_version(db: Path, key: DatabaseKey) -> None:
    Store.open(db, key).close()
    assert raw_query(db, key, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {r[0] for r in raw_query(db, key, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables - {"sqlite_sequence"} == EXPECTED_TABLES
    assert raw_query(db, key, "PRAGMA journal_mode") == [("wal",)]


def test_reopening_is_idempotent_and_keeps_the_data(
    db: Path, key: DatabaseKey, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(db, key)
    patient_id = store.add_patient(PATIENT)
    store.close()
    schema = raw_query(db, key, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    caplog.set_level("INFO", logger="kiosk.store")
    for _ in range(2):
        store = Store.open(db, key)
        assert store.patient(patient_id) == PATIENT
        assert store.count("patients") == 1
        store.close()
    assert not [r for r in caplog.records if "store.migrated" in r.getMessage()]
    assert raw_query(db, key, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_query(db, key, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema


def test_a_newer_schema_is_refused_and_left_unchanged(db: Path, key: DatabaseKey) -> None:
    Store.open(db, key).close()
    conn = sqlcipher3.connect(str(db))
    conn.execute(key.pragma())
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = folder_state(db.parent)
    with pytest.raises(StoreError, match="newer than this software") as caught:
        Store.open(db, key)
    assert not isinstance(caught.value, WrongKeyError)
    assert folder_state(db.parent) == before
    assert raw_query(db, key, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


# --- round trips -----------------------------------------------------------------------------
def test_patient_round_trip(store: Store) -> None:
    patient_id = store.add_patient(PATIENT)
    other = PatientIdentity("Martin", "Jean", date(1990, 12, 31))
    other_id = store.add_patient(other)
    assert patient_id != other_id
    got = store.patient(patient_id)
    assert got == PATIENT
    assert got is not None
    assert got.sex is Sex.FEMALE
    assert got.appointment_code == "RDV-7Q4K-2931"
    assert store.patient(other_id) == other
    assert store.patient("no-such-patient") is None


def test_consultation_consent_and_end(store: Store, db: Path, key: DatabaseKey) -> None:
    patient_id = store.add_patient(PATIENT)
    consultation_id = store.start_consultation(patient_id, "fr")
    assert store.consultation_ended(consultation_id) is None
    store.record_consent(consultation_id)
    with pytest.raises(StoreError, match="already done"):
        store.record_consent(consultation_id)
    store.end_consultation(consultation_id, "completed")
    assert store.consultation_ended(consultation_id) == "completed"
    with pytest.raises(StoreError):
        store.end_consultation(consultation_id, "timeout")
    assert store.consultation_ended(consultation_id) == "completed"
    assert store.consultation_ended("no-such-consultation") is None
    row = raw_query(db, key, "SELECT language, started_at, consent_at, ended_at FROM consultations")
    assert row == [("fr", T0.isoformat(), T0.isoformat(), T0.isoformat())]


def test_a_consultation_needs_a_known_patient(store: Store) -> None:
    with pytest.raises(StoreError):
        store.start_consultation("no-such-patient", "fr")
    assert store.count("consultations") == 0


def test_readings_round_trip_with_units_and_time_zones(store: Store) -> None:
    patient_id = store.add_patient(PATIENT)
    first = store.start_consultation(patient_id, "fr")
    second = store.start_consultation(patient_id, "en")
    paris = timezone(timedelta(hours=1))
    readings = [
        bp(128.0, 82.0, 71.0, datetime(2026, 11, 3, 10, 15, 2, 123_456, tzinfo=paris)),
        Reading(
            "thermo-1",
            ReadingKind.TEMPERATURE,
            (Value(Quantity.TEMPERATURE_C, 37.25),),
            datetime(2026, 11, 3, 9, 16, tzinfo=UTC),
        ),
        Reading(
            "oximeter-1",
            ReadingKind.PULSE_OXIMETRY,
            (
                Value(Quantity.SPO2_PERCENT, 97.0),
                Value(Quantity.PULSE_BPM, 72.0),
                Value(Quantity.PERFUSION_INDEX_PERCENT, 3.4),
            ),
            datetime(2026, 11, 3, 5, 17, tzinfo=timezone(timedelta(hours=-5))),
        ),
    ]
    ids = [store.add_reading(first, r) for r in readings]
    other_id = store.add_reading(second, bp(110.0, 70.0, 60.0, T0))
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    stored = store.readings(first)
    assert [s.reading_id for s in stored] == ids
    for s, reading in zip(stored, readings, strict=True):
        assert s.consultation_id == first
        assert same_reading(s.reading, reading)
        assert s.reading.measured_at.tzinfo is not None
        assert s.reading.measured_at.utcoffset() == timedelta(0)  # stored in UTC
    assert stored[1].reading.get(Quantity.TEMPERATURE_C) == 37.25
    assert stored[2].reading.get(Quantity.PERFUSION_INDEX_PERCENT) == 3.4
    assert stored[0].reading.get(Quantity.TEMPERATURE_C) is None
    assert [s.reading_id for s in store.readings(second)] == [other_id]
    assert store.readings("no-such-consultation") == []
    assert store.reading_ids() == {*ids, other_id}
    assert store.count("reading_values") == 3 + 1 + 3 + 3


def test_a_reading_for_an_unknown_consultation_is_refused_whole(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_reading("no-such-consultation", bp(120.0, 80.0, 70.0, T0))
    assert store.count("readings") == 0
    assert store.count("reading_values") == 0


def test_close_unfinished_consultations(store: Store) -> None:
    patient_id = store.add_patient(PATIENT)
    done = store.start_consultation(patient_id, "fr")
    store.end_consultation(done, "completed")
    open_1 = store.start_consultation(patient_id, "fr")
    open_2 = store.start_consultation(patient_id, "en")
    store.add_reading(open_1, bp(120.0, 80.0, 70.0, T0))
    assert store.close_unfinished_consultations("restart") == 2
    assert store.consultation_ended(open_1) == "restart"
    assert store.consultation_ended(open_2) == "restart"
    assert store.consultation_ended(done) == "completed"
    assert len(store.readings(open_1)) == 1  # the data is kept
    assert store.close_unfinished_consultations("restart") == 0


def test_outbox_queue_retry_and_acknowledgement(store: Store, now: FakeNow) -> None:
    assert store.enqueue("reading:1", "reading", b"\x00payload-1") is True
    assert store.enqueue("reading:1", "reading", b"other payload") is False
    assert store.enqueue("reading:2", "reading", b"payload-2") is True
    assert store.count("outbox") == 2
    due = store.due_outbox()
    assert [(i.key, i.kind, i.payload, i.attempts) for i in due] == [
        ("reading:1", "reading", b"\x00payload-1", 0),
        ("reading:2", "reading", b"payload-2", 0),
    ]
    assert [i.key for i in store.due_outbox(limit=1)] == ["reading:1"]

    store.outbox_failed("reading:1", "hub unreachable", now() + timedelta(seconds=30))
    assert [i.key for i in store.due_outbox()] == ["reading:2"]
    now.advance(29)
    assert [i.key for i in store.due_outbox()] == ["reading:2"]
    now.advance(2)
    due = store.due_outbox()
    assert [(i.key, i.attempts) for i in due] == [("reading:1", 1), ("reading:2", 0)]

    store.outbox_acknowledged("reading:2")
    store.outbox_acknowledged("reading:2")  # a second acknowledgement is harmless
    assert [i.key for i in store.due_outbox()] == ["reading:1"]
    now.advance(3600)
    assert [i.key for i in store.due_outbox()] == ["reading:1"]
    store.outbox_acknowledged("reading:1")
    assert store.due_outbox() == []
    assert store.enqueue("reading:1", "reading", b"again") is False  # still known: not resent
    with pytest.raises(StoreError):
        store.outbox_failed("no-such-key", "x", now())


def test_device_paper_cleaning_logs_alerts_and_audit(
    store: Store, db: Path, key: DatabaseKey, now: FakeNow
) -> None:
    store.log_device("bp-1", "connected")
    store.log_device("bp-1", "battery_low", "12%")
    store.log_paper("agent-3", "refilled", 200)
    store.log_paper("printer", "empty", None)
    store.log_cleaning("agent-3", None, "after patient")
    store.audit("agent-3", "assistant.open", None)
    store.audit("doctor-7", "record.read", "consultation:abc")
    store.add_alert("alert-1", "fall", "high", T0 - timedelta(seconds=5), 0.87, None)
    store.add_alert("alert-2", "no_motion", "low", T0, 0.4, None)
    now.advance(12)
    store.acknowledge_alert("alert-1", "agent-3", True)
    with pytest.raises(StoreError):
        store.acknowledge_alert("no-such-alert", "agent-3", False)

    assert store.count("device_log") == 2
    assert store.count("paper_log") == 2
    assert store.count("cleaning_log") == 1
    assert store.count("audit_log") == 2
    assert store.count("alerts") == 2
    with pytest.raises(StoreError):
        store.count("sqlite_master")
    assert raw_query(db, key, "SELECT device_id, event, detail FROM device_log ORDER BY id") == [
        ("bp-1", "connected", None),
        ("bp-1", "battery_low", "12%"),
    ]
    assert raw_query(db, key, "SELECT by_whom, event, sheets_left FROM paper_log ORDER BY id") == [
        ("agent-3", "refilled", 200),
        ("printer", "empty", None),
    ]
    assert raw_query(db, key, "SELECT actor, action, subject FROM audit_log ORDER BY id") == [
        ("agent-3", "assistant.open", None),
        ("doctor-7", "record.read", "consultation:abc"),
    ]
    alerts = raw_query(
        db,
        key,
        "SELECT id, raised_at, confidence, acknowledged_at, acknowledged_by, false_alarm"
        " FROM alerts ORDER BY id",
    )
    acknowledged_at = (T0 + timedelta(seconds=12)).isoformat()
    assert alerts == [
        ("alert-1", (T0 - timedelta(seconds=5)).isoformat(), 0.87, acknowledged_at, "agent-3", 1),
        ("alert-2", T0.isoformat(), 0.4, None, None, None),
    ]


def test_naive_times_are_refused(store: Store) -> None:
    store.add_alert("ok", "fall", "high", T0, 0.5, None)
    with pytest.raises(ValueError, match="time zone"):
        store.add_alert("naive", "fall", "high", datetime(2026, 1, 1, 12), 0.5, None)
    assert store.count("alerts") == 1


# --- secrecy ---------------------------------------------------------------------------------
def secrets_in(folder: Path, needles: list[bytes]) -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        found += [(path.name, needle) for needle in needles if needle in data]
    return found


def test_no_plaintext_on_disk(db: Path, key: DatabaseKey) -> None:
    texts = ["Marguerite", "Quelennec-Abgrall", "RDV-7Q4K-2931", "1948-03-09", "blood_pressure"]
    needles = [t.encode(enc) for t in texts for enc in ("utf-8", "utf-16-le", "utf-16-be")]
    store = Store.open(db, key)
    patient_id = store.add_patient(PATIENT)
    consultation_id = store.start_consultation(patient_id, "fr")
    store.add_reading(consultation_id, bp(128.0, 82.0, 71.0, T0))
    # While open: the WAL holds the fresh pages.
    assert (db.parent / f"{db.name}-wal").stat().st_size > 0
    assert secrets_in(db.parent, needles) == []
    store.close()
    files = sorted(p.name for p in db.parent.iterdir())
    assert db.name in files
    assert secrets_in(db.parent, needles) == []
    for path in db.parent.iterdir():
        assert not path.read_bytes().startswith(b"SQLite format 3"), path.name
    # The needles are what a plain database would show: the check can see them.
    plain = db.parent.parent / "plain.db"
    conn = sqlcipher3.connect(str(plain))
    conn.execute("CREATE TABLE t (name TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", ("Marguerite Quelennec-Abgrall",))
    conn.commit()
    conn.close()
    assert b"Quelennec-Abgrall" in plain.read_bytes()
    assert plain.read_bytes().startswith(b"SQLite format 3")


def test_a_wrong_key_leaves_the_file_untouched(db: Path, key: DatabaseKey) -> None:
    store = Store.open(db, key)
    store.add_patient(PATIENT)
    store.close()
    before = folder_state(db.parent)
    wrong = DatabaseKey.generate()
    with pytest.raises(WrongKeyError) as caught:
        Store.open(db, wrong)
    message = str(caught.value)
    assert str(db) in message
    assert "left untouched" in message
    for secret in (key.hex(), wrong.hex()):
        assert secret not in message
        assert secret.upper() not in message
        assert secret not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert folder_state(db.parent) == before  # same files, same bytes
    reopened = Store.open(db, key)  # the right key still opens it
    assert reopened.count("patients") == 1
    reopened.close()


def test_a_file_that_is_not_a_database_is_refused_and_untouched(db: Path, key: DatabaseKey) -> None:
    db.write_bytes(b"These are the minutes of a meeting, not a database.\n" * 200)
    before = folder_state(db.parent)
    with pytest.raises(StoreError) as caught:
        Store.open(db, key)
    assert str(db) in str(caught.value)
    assert key.hex() not in str(caught.value)
    assert folder_state(db.parent) == before


# --- kill -9 mid-stream ----------------------------------------------------------------------
def _pump_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)


@pytest.mark.parametrize("kill_after", [50, 200, 400])
def test_kill_9_loses_no_committed_reading(
    tmp_path: Path, db: Path, key: DatabaseKey, kill_after: int
) -> None:
    env = dict(os.environ)
    env[KEY_ENV] = key.hex()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    stderr_path = tmp_path / "writer.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.kiosk.store_writer", str(db)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    printed: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while len(printed) < kill_after + 1:  # the consultation line, then the ids
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            printed.append(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        reader.join(timeout=10)
    while not lines.empty():  # what the writer printed before it died: all committed
        if (line := lines.get_nowait()) is not None:
            printed.append(line)
    problem = stderr_path.read_text(errors="replace")
    assert len(printed) >= kill_after + 1, f"the writer stopped early: {problem}"
    assert proc.returncode == -signal.SIGKILL
    assert printed[0].startswith("consultation ")
    consultation_id = printed[0].split()[1]
    ids = [int(line) for line in printed[1:]]
    assert ids == sorted(set(ids))
    assert (db.parent / f"{db.name}-wal").exists()  # killed while open: recovery is exercised

    store = Store.open(db, key)
    try:
        assert store.integrity_ok()
        stored_ids = store.reading_ids()
        assert set(ids) <= stored_ids
        # At most the one reading committed while its id was being printed.
        assert len(stored_ids - set(ids)) <= 1
        stored = store.readings(consultation_id)
        assert {s.reading_id for s in stored} == stored_ids
        for s in stored:
            assert len(s.reading.values) == VALUES_PER_KIND[s.reading.kind], s.reading_id
        assert store.count("reading_values") == sum(len(s.reading.values) for s in stored)
        assert store.consultation_ended(consultation_id) is None
        # And it takes new writes.
        store.add_reading(consultation_id, bp(120.0, 80.0, 70.0, T0))
        assert store.integrity_ok()
    finally:
        store.close()


# --- full disk -------------------------------------------------------------------------------
# Several quotas, so that the wall falls in different tables (readings, its index, values).
@pytest.mark.parametrize("free_pages", [8, 12, 16, 21, 26])
def test_quota_full_rolls_back_whole_readings(db: Path, key: DatabaseKey, free_pages: int) -> None:
    store = Store.open(db, key)
    patient_id = store.add_patient(PATIENT)
    consultation_id = store.start_consultation(patient_id, "fr")
    store.close()
    quota = db.stat().st_size + free_pages * 4096
    store = Store.open(db, key, max_size_bytes=quota)
    try:
        written = fill_until_full(store, consultation_id)
        assert len(written) > 20
        assert_holds_exactly(store, consultation_id, written)
        with pytest.raises(StoreFullError):  # still full, and still consistent
            store.add_reading(consultation_id, reading_with(3, 0))
        assert_holds_exactly(store, consultation_id, written)
    finally:
        store.close()
    assert db.stat().st_size <= quota

    store = Store.open(db, key)  # without the quota, writing works again
    try:
        assert_holds_exactly(store, consultation_id, written)
        extra = reading_with(3, 999)
        written.append((store.add_reading(consultation_id, extra), extra))
        assert_holds_exactly(store, consultation_id, written)
    finally:
        store.close()


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 600 KiB tmpfs, unmounted afterwards."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=600k,mode=0700", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
    except PermissionError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if result.returncode != 0:
        if "permission denied" in result.stderr.lower() or "superuser" in result.stderr:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        pytest.fail(f"mount failed: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_real_full_disk_rolls_back_whole_readings(
    small_filesystem: Path, key: DatabaseKey
) -> None:
    db = small_filesystem / "cabin.db"
    store = Store.open(db, key)
    try:
        patient_id = store.add_patient(PATIENT)
        consultation_id = store.start_consultation(patient_id, "fr")
        written = fill_until_full(store, consultation_id)
        assert len(written) > 5
        free = os.statvfs(small_filesystem)
        assert free.f_bavail * free.f_frsize < 64 * 1024  # the disk really is (nearly) full
        assert_holds_exactly(store, consultation_id, written)
        with pytest.raises(StoreFullError):
            store.add_reading(consultation_id, reading_with(3, 0))
        assert_holds_exactly(store, consultation_id, written)
    finally:
        store.close()

    store = Store.open(db, key)
    try:
        assert_holds_exactly(store, consultation_id, written)
        assert store.patient(patient_id) == PATIENT
    finally:
        store.close()


# --- AsyncStore ------------------------------------------------------------------------------
def test_async_store_runs_calls_one_at_a_time_in_order(db: Path, key: DatabaseKey) -> None:
    active = 0
    overlaps = 0
    threads: set[int] = set()
    guard = threading.Lock()

    def slow_add(store: Store, consultation_id: str, n: int) -> int:
        nonlocal active, overlaps
        with guard:
            active += 1
            overlaps += active > 1
            threads.add(threading.get_ident())
        time.sleep(0.002)
        try:
            return store.add_reading(consultation_id, reading_with(1 + n % 3, n))
        finally:
            with guard:
                active -= 1

    async def scenario() -> tuple[list[int], list[int], int]:
        astore = await AsyncStore.open(db, key)
        try:
            patient_id = await astore.run(Store.add_patient, PATIENT)
            consultation_id = await astore.run(Store.start_consultation, patient_id, "fr")
            ids = await asyncio.gather(
                *(astore.run(slow_add, consultation_id, n) for n in range(20))
            )
            stored = await astore.run(Store.readings, consultation_id)
            return list(ids), [s.reading_id for s in stored], threading.get_ident()
        finally:
            await astore.close()

    ids, stored_ids, loop_thread = asyncio.run(scenario())
    assert overlaps == 0
    assert len(threads) == 1
    assert loop_thread not in threads  # never on the event loop's thread
    assert ids == sorted(ids)  # in the order the calls were made
    assert stored_ids == ids


def test_async_store_raises_the_typed_errors(db: Path, key: DatabaseKey) -> None:
    async def scenario() -> None:
        astore = await AsyncStore.open(db, key, max_size_bytes=200 * 1024)
        try:
            with pytest.raises(StoreError, match="already done"):
                await astore.run(Store.record_consent, "no-such-consultation")
            patient_id = await astore.run(Store.add_patient, PATIENT)
            consultation_id = await astore.run(Store.start_consultation, patient_id, "fr")
            with pytest.raises(StoreFullError):
                for n in range(100_000):
                    await astore.run(Store.add_reading, consultation_id, reading_with(3, n))
            assert await astore.run(Store.integrity_ok)
        finally:
            await astore.close()
        with pytest.raises(WrongKeyError):
            await AsyncStore.open(db, DatabaseKey.generate())

    asyncio.run(scenario())


# --- start_core --------------------------------------------------------------------------------
def test_start_core_creates_then_reuses_the_key_and_never_replaces_it(tmp_path: Path) -> None:
    config = load_config(None)
    data_dir = tmp_path / "data"
    key_file = data_dir / "db.key"
    db = data_dir / "cabin.db"

    async def first_run() -> str:
        core = await start_core(config, data_dir, env={}, create_key=True, instruments={})
        try:
            patient_id = await core.store.run(Store.add_patient, PATIENT)
            return await core.store.run(Store.start_consultation, patient_id, "fr")
        finally:
            await core.aclose()

    consultation_id = asyncio.run(first_run())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_text = key_file.read_text()
    assert len(key_text.strip()) == 64
    assert db.exists()

    async def second_run() -> str | None:
        core = await start_core(config, data_dir, env={}, create_key=True, instruments={})
        try:
            assert await core.store.run(Store.count, "patients") == 1
            return await core.store.run(Store.consultation_ended, consultation_id)
        finally:
            await core.aclose()

    # The consultation the first run left open is closed at start-up.
    assert asyncio.run(second_run()) == "restart"
    assert key_file.read_text() == key_text

    key_file.unlink()
    before = folder_state(data_dir)
    with pytest.raises(KeyUnavailableError):
        asyncio.run(start_core(config, data_dir, env={}, create_key=True, instruments={}))
    assert not key_file.exists()  # no new key next to a database it cannot open
    assert folder_state(data_dir) == before

    wrong = DatabaseKey.generate().hex()
    env = {"CABIN_DB_KEY": wrong}
    with pytest.raises(WrongKeyError) as caught:
        asyncio.run(start_core(config, data_dir, env=env, create_key=True, instruments={}))
    assert "CABIN_DB_KEY" not in env
    assert wrong not in str(caught.value)
    assert not key_file.exists()
    assert folder_state(data_dir) == before

    env = {"CABIN_DB_KEY": key_text.strip()}  # the right key, given through the environment

    async def third_run() -> int:
        core = await start_core(config, data_dir, env=env, instruments={})
        try:
            return await core.store.run(Store.count, "patients")
        finally:
            await core.aclose()

    assert asyncio.run(third_run()) == 1


def test_start_core_without_create_needs_a_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with pytest.raises(KeyUnavailableError, match="no database key"):
        asyncio.run(start_core(load_config(None), data_dir, env={}, instruments={}))
    assert sorted(p.name for p in data_dir.iterdir()) == []
