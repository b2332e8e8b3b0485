"""Migrations: a database made by an older cabin is brought up to date and keeps its data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import sqlcipher3

from devices.reading import Quality, Quantity, Reading, ReadingFlag, ReadingKind, Value
from kiosk.patient import PatientIdentity
from kiosk.store import DatabaseKey, Store
from kiosk.store.migrations import MIGRATIONS, SCHEMA_VERSION

KEY = DatabaseKey.generate()
AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def make_version_1(path: Path) -> None:
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    conn.execute(KEY.pragma())
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO patients VALUES ('p1', 'Riou', 'Paul', '1950-01-01', 'male', NULL, ?)",
        (AT.isoformat(),),
    )
    conn.execute(
        "INSERT INTO consultations (id, patient_id, language, started_at) VALUES"
        " ('c1', 'p1', 'fr', ?)",
        (AT.isoformat(),),
    )
    conn.execute(
        "INSERT INTO readings (consultation_id, device_id, kind, measured_at, stored_at)"
        " VALUES ('c1', 'bp-1', 'blood_pressure', ?, ?)",
        (AT.isoformat(), AT.isoformat()),
    )
    conn.execute("INSERT INTO reading_values VALUES (1, 'systolic_mmhg', 131)")
    conn.execute("INSERT INTO reading_values VALUES (1, 'diastolic_mmhg', 82)")
    conn.close()


def test_version_1_is_migrated_and_keeps_its_readings(tmp_path: Path) -> None:
    path = tmp_path / "cabin.db"
    make_version_1(path)
    store = Store.open(path, KEY)
    try:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        [old] = store.readings("c1")
        assert old.reading.quality is Quality.GOOD
        assert old.reading.flags == frozenset()
        assert old.reading.get(Quantity.SYSTOLIC_MMHG) == 131
        assert store.integrity_ok()
    finally:
        store.close()


def test_quality_and_flags_round_trip(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "cabin.db", KEY)
    try:
        _, consultation_id = store.open_consultation(
            PatientIdentity("Riou", "Paul", date(1950, 1, 1)), "fr"
        )
        reading = Reading(
            "bp-1",
            ReadingKind.BLOOD_PRESSURE,
            (Value(Quantity.SYSTOLIC_MMHG, 150), Value(Quantity.DIASTOLIC_MMHG, 95)),
            AT,
            Quality.QUESTIONABLE,
            frozenset({ReadingFlag.BODY_MOVEMENT, ReadingFlag.IRREGULAR_PULSE}),
        )
        store.add_reading(consultation_id, reading)
        assert [s.reading for s in store.readings(consultation_id)] == [reading]
    finally:
        store.close()
