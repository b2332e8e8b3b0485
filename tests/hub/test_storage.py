"""The SQLite storage: its file, its schema version, and the operations the hub relies on."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import wire
from hub.errors import AccountError, StorageError
from hub.sqlite_migrations import MIGRATIONS
from hub.sqlite_storage import SqliteStorage
from hub.storage import (
    ConsultationRecord,
    ConsultationStatus,
    DoctorRecord,
    ReadingRecord,
    SessionRecord,
    Storage,
)
from tests.hub.hub_key import TEST_KEY, connect
from tests.hub.hub_rig import patient, run, stored_doctor, vital

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


def _consultation(consultation_id: str, joined_at: datetime = NOW) -> ConsultationRecord:
    return ConsultationRecord(
        consultation_id=consultation_id,
        cabin_id="cabin-1",
        patient=patient(),
        match_key="quelennec|yvonne|1938-05-02",
        reason="",
        age_years=88,
        sex=wire.Sex.FEMALE,
        language=wire.Language.FR,
        status=ConsultationStatus.WAITING,
        doctor=None,
        joined_at=joined_at,
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


def test_doctors_sessions_and_the_lockout_counter(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await storage.add_doctor(_doctor())
            with pytest.raises(AccountError):
                await storage.add_doctor(_doctor())
            # a name's attempts from one address: counted before the password is checked
            counted = [
                await storage.begin_login(
                    "dr.a", "10.0.0.1", now=NOW, free_failures=3, first_lock_s=60, max_lock_s=900
                )
                for _ in range(4)
            ]
            assert [a.account is not None and a.account.username for a in counted[:3]] == [
                "dr.a"
            ] * 3
            assert [a.locks_until for a in counted[:3]] == [None, None, NOW + timedelta(minutes=1)]
            assert counted[3].blocked_until == NOW + timedelta(minutes=1)
            elsewhere = await storage.begin_login(
                "dr.a", "10.0.0.2", now=NOW, free_failures=3, first_lock_s=60, max_lock_s=900
            )
            assert elsewhere.blocked_until is None and elsewhere.locks_until is None
            await storage.end_login("dr.a", "10.0.0.1")
            cleared = await storage.begin_login(
                "dr.a", "10.0.0.1", now=NOW, free_failures=3, first_lock_s=60, max_lock_s=900
            )
            assert cleared.blocked_until is None and cleared.locks_until is None

            session = SessionRecord("ab" * 32, "dr.a", "csrf", NOW, NOW + timedelta(hours=1))
            await storage.add_session(session)
            assert await storage.session("ab" * 32, now=NOW) == session
            assert await storage.session("ab" * 32, now=NOW + timedelta(hours=2)) is None
            assert await storage.delete_expired_sessions(now=NOW + timedelta(hours=2)) == 1
        finally:
            await storage.close()

    run(scenario())


def test_a_take_is_won_once_in_the_database_too(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await storage.add_doctor(_doctor("dr.a"))
            await storage.add_doctor(_doctor("dr.b"))
            await storage.open_consultation(_consultation("c-1"))
            results = await asyncio.gather(
                storage.mark_taken("c-1", doctor="dr.a", at=NOW),
                storage.mark_taken("c-1", doctor="dr.b", at=NOW),
            )
            assert sorted(results) == [False, True]
            # opening it again changes nothing
            again = await storage.open_consultation(_consultation("c-1"))
            assert again.status is ConsultationStatus.TAKEN
        finally:
            await storage.close()

    run(scenario())


def test_readings_are_stored_once_per_message(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await storage.open_consultation(_consultation("c-1"))
            reading = ReadingRecord("c-1", "r-1", vital(), NOW)
            assert await storage.add_reading(reading)
            assert not await storage.add_reading(reading)
            assert [r.vital for r in await storage.readings("c-1")] == [vital()]
        finally:
            await storage.close()

    run(scenario())


def test_prescription_sequences_never_repeat(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            numbers = await asyncio.gather(
                *(storage.next_prescription_sequence(2026) for _ in range(20))
            )
            assert sorted(numbers) == list(range(1, 21))
            assert await storage.next_prescription_sequence(2027) == 1
        finally:
            await storage.close()

    run(scenario())


def test_earlier_consultations_are_the_same_patients_before_this_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            for index in range(3):
                await storage.open_consultation(
                    _consultation(f"c-{index}", NOW + timedelta(days=index))
                )
            earlier = await storage.earlier_consultations(
                "quelennec|yvonne|1938-05-02",
                before=NOW + timedelta(days=2),
                exclude="c-2",
                limit=10,
            )
            assert [c.consultation_id for c in earlier] == ["c-1", "c-0"]
            assert earlier[0].patient == patient()
        finally:
            await storage.close()

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


def test_advice_is_kept_once_per_change_and_delivered_to_its_cabin_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await storage.open_consultation(_consultation("c-1"))
            week_ago = NOW - timedelta(days=7)
            first = await storage.set_advice("c-1", "Repos.", msg_id="a-1", at=NOW)
            assert first is not None
            assert (first.cabin_id, first.text, first.msg_id) == ("cabin-1", "Repos.", "a-1")
            assert await storage.set_advice("c-1", "Repos.", msg_id="a-2", at=NOW) is None
            second = await storage.set_advice("c-1", "Repos, eau.", msg_id="a-3", at=NOW)
            assert second is not None
            assert await storage.undelivered_advice(since=week_ago) == [second]
            assert await storage.undelivered_advice(since=week_ago, cabin_id="cabin-2") == []
            assert await storage.undelivered_advice(since=NOW + timedelta(seconds=1)) == []
            # an Ack of the replaced advice, or from another cabin, delivers nothing
            assert await storage.mark_advice_delivered("a-1", cabin_id="cabin-1", at=NOW) is None
            assert await storage.mark_advice_delivered("a-3", cabin_id="cabin-2", at=NOW) is None
            delivered = await storage.mark_advice_delivered("a-3", cabin_id="cabin-1", at=NOW)
            assert delivered is not None and delivered.delivered_at == NOW
            assert await storage.mark_advice_delivered("a-3", cabin_id="cabin-1", at=NOW) is None
            assert await storage.undelivered_advice(since=week_ago) == []
            record = await storage.consultation("c-1")
            assert record is not None and record.advice == "Repos, eau."
        finally:
            await storage.close()

    run(scenario())
