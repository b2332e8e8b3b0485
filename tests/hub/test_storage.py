"""The SQLite storage's own file: its mode, journal, schema version and upgrades.

What every backend must do is in `tests/hub/storage_conformance/`, run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import wire
from hub.errors import StorageError
from hub.sqlite_migrations import MIGRATIONS
from hub.sqlite_storage import SqliteStorage
from hub.storage import DoctorRecord, Storage
from tests.hub.hub_key import TEST_KEY, connect
from tests.hub.hub_rig import run, stored_doctor

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _doctor(username: str = "dr.a") -> DoctorRecord:
    return DoctorRecord(
        username=username,
        password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        display_name="Dr A",
        specialty="Médecine générale",
        registration_number=None,
        photo=None,
        failed_attempts=0,
        locked_until=None,
        created_at=NOW,
    )


def test_the_file_is_private_in_wal_mode_and_at_the_last_schema_version(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage: Storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        await storage.close()
        await storage.close()  # twice is harmless

    run(scenario())
    path = tmp_path / "hub.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"doctors", "sessions", "cabins", "consultations", "readings", "prescriptions"} <= tables
    assert "audit_log" in tables


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")

    async def scenario() -> None:
        with pytest.raises(StorageError, match="newer than this hub knows"):
            await SqliteStorage.open(path, TEST_KEY)

    run(scenario())


def test_prescriptions_of_a_first_schema_database_are_kept_undelivered(tmp_path: Path) -> None:
    """Migration 2: delivery is recorded from now on; what was issued before is not known to
    have reached its cabin, so it counts as not delivered and gets an id to be sent under."""
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO doctors (username, password_hash, display_name, specialty, created_at)"
            " VALUES ('dr.a', 'x', 'Dr A', 'MG', '2026-11-23T09:00:00.000000Z')"
        )
        db.execute(
            "INSERT INTO consultations (consultation_id, cabin_id, patient, match_key, reason,"
            " sex, language, status, doctor, joined_at) VALUES ('c-1', 'cabin-1',"
            ' \'{"family_name":"Q","given_names":"Y","birth_date":"1938-05-02"}\','
            " 'q|y|1938-05-02', '', 'female', 'fr', 'ended', 'dr.a',"
            " '2026-11-23T09:00:00.000000Z')"
        )
        db.execute(
            "INSERT INTO prescriptions (prescription_id, consultation_id, doctor, issued_at,"
            " prescriber, lines, key_id, signature) VALUES ('RX-2026-000001-ABCD', 'c-1', 'dr.a',"
            ' \'2026-11-23T09:10:00.000000Z\', \'{"display_name":"Dr A","specialty":"MG"}\','
            ' \'[{"drug":"d","dose":"1","frequency":"f","duration":"t"}]\', \'k\', \'AAAA\')'
        )
    db.close()

    async def scenario() -> None:
        storage = await SqliteStorage.open(path, TEST_KEY)
        try:
            old = await storage.prescription("RX-2026-000001-ABCD")
            assert old is not None
            assert old.delivered_at is None
            assert old.msg_id  # an id to send it under, and to match the cabin's Ack with
            pending = await storage.undelivered_prescriptions(since=NOW - timedelta(days=7))
            assert [(p.cabin_id, p.prescription.prescription_id) for p in pending] == [
                ("cabin-1", "RX-2026-000001-ABCD")
            ]
            assert (
                await storage.mark_prescription_delivered(old.msg_id, cabin_id="cabin-2", at=NOW)
                is None
            )  # not that cabin's
            delivered = await storage.mark_prescription_delivered(
                old.msg_id, cabin_id="cabin-1", at=NOW
            )
            assert delivered is not None and delivered.delivered_at == NOW
            assert (
                await storage.mark_prescription_delivered(
                    old.msg_id, cabin_id="cabin-1", at=NOW + timedelta(minutes=1)
                )
                is None
            )  # once
            assert await storage.undelivered_prescriptions(since=NOW - timedelta(days=7)) == []
            # the later migrations: no prescriber details, no check page, no advice yet
            doctor = await stored_doctor(storage, "dr.a")
            assert (doctor.address, doctor.phone, doctor.email) == ("", "", "")
            assert delivered.check_url is None
            consultation = await storage.consultation("c-1")
            assert consultation is not None and consultation.advice == ""
            assert await storage.undelivered_advice(since=NOW - timedelta(days=7)) == []
        finally:
            await storage.close()

    run(scenario())


def test_a_schema_8_database_queues_its_consultations_to_be_rekeyed(tmp_path: Path) -> None:
    """Migration 9: every consultation is queued to have its match key computed again (the
    hub does it at start, `hub.records.rekey_patients`), in batches; a patient that can no
    longer be read keeps its key; a consultation gone from the table leaves the queue."""
    path = tmp_path / "hub.db"
    with connect(path) as db:
        for number, statements in enumerate(MIGRATIONS[:8], start=1):
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        stamp = "2026-11-02T10:00:00.000000Z"
        for consultation_id, who, key in [
            ("c-1", '{"family_name":"Łukasz","given_names":"É","birth_date":"1938-05-02"}', "k1"),
            ("c-2", "not a patient", "k2"),
            ("c-3", '{"family_name":"Groß","given_names":"Ö","birth_date":"1940-01-01"}', "k3"),
        ]:
            db.execute(
                "INSERT INTO consultations (consultation_id, cabin_id, patient, match_key, reason,"
                " sex, language, status, joined_at) VALUES (?, 'cabin-1', ?, ?, '', 'unknown',"
                " 'fr', 'ended', ?)",
                (consultation_id, who, key, stamp),
            )
        db.commit()
    db.close()

    async def scenario() -> None:
        storage = await SqliteStorage.open(path, TEST_KEY)
        try:
            batch = await storage.consultations_to_rekey(limit=2)
            assert [(s.consultation_id, s.match_key) for s in batch] == [
                ("c-1", "k1"),
                ("c-2", "k2"),
            ]
            assert batch[0].patient == wire.PatientSummary(
                family_name="Łukasz", given_names="É", birth_date=date(1938, 5, 2)
            )
            assert batch[1].patient is None  # unreadable: the hub keeps its key
            await storage.set_match_key("c-1", "łukasz|é|1938-05-02")
            await storage.set_match_key("c-2", "k2")
            stored = await storage.consultation("c-1")
            assert stored is not None and stored.match_key == "łukasz|é|1938-05-02"
            assert [s.consultation_id for s in await storage.consultations_to_rekey(limit=2)] == [
                "c-3"
            ]
        finally:
            await storage.close()
        with connect(path) as db:  # a consultation gone from the table leaves the queue
            db.execute("PRAGMA foreign_keys=OFF")
            db.execute("DELETE FROM consultations WHERE consultation_id = 'c-3'")
            db.commit()
        db.close()
        storage = await SqliteStorage.open(path, TEST_KEY)
        try:
            assert await storage.consultations_to_rekey(limit=2) == []
            with connect(path) as db:
                assert db.execute("SELECT count(*) FROM patient_rekey").fetchone() == (0,)
            db.close()
        finally:
            await storage.close()

    run(scenario())
