"""The hub's database is a SQLCipher file: a wrong key leaves it untouched, a plaintext one of
before is encrypted once (and a crash in the middle is recovered), and nothing of a patient can
be read from its bytes."""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import wire
from hub.config import load_hub_config
from hub.database_key import HubDatabaseKey, load_database_key
from hub.errors import ConfigError, DatabaseKeyError
from hub.sqlite_encryption import PLAINTEXT_HEADER, partial_path
from hub.sqlite_migrations import MIGRATIONS
from hub.sqlite_storage import SqliteStorage
from hub.storage import ConsultationRecord, ConsultationStatus, DoctorRecord
from tests.hub.hub_key import OTHER_KEY, TEST_KEY, connect, key_env
from tests.hub.hub_rig import patient, run
from tests.hub.test_storage import _doctor as a_doctor

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
FAMILY_NAME = "Quélennec-Brizeux"
NOTES = "douleur thoracique atypique, revoir dans huit jours"


def _doctor() -> DoctorRecord:
    return dataclasses.replace(a_doctor(), display_name="Dr Annick Le Gall")


def _consultation() -> ConsultationRecord:
    return ConsultationRecord(
        consultation_id="c-1",
        cabin_id="cabin-1",
        patient=patient(FAMILY_NAME, "Maïwenn"),
        match_key="quelennec-brizeux|maiwenn|1938-05-02",
        reason="",
        age_years=88,
        sex=wire.Sex.FEMALE,
        language=wire.Language.FR,
        status=ConsultationStatus.WAITING,
        doctor=None,
        joined_at=NOW,
    )


async def _write_a_consultation(path: Path, key: HubDatabaseKey = TEST_KEY) -> None:
    storage = await SqliteStorage.open(path, key)
    try:
        await storage.add_doctor(_doctor())
        await storage.open_consultation(_consultation())
        await storage.set_notes("c-1", NOTES)
    finally:
        await storage.close()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _assert_unreadable(folder: Path) -> None:
    """No file of the database (nor its log) holds a name, a note or SQLite's header."""
    files = list(folder.glob("hub.db*"))
    assert files
    for path in files:
        data = path.read_bytes()
        assert FAMILY_NAME.encode() not in data, path
        assert "Maïwenn".encode() not in data, path
        assert NOTES.encode() not in data, path
        assert b"douleur" not in data, path
        assert b"Le Gall" not in data, path
        assert PLAINTEXT_HEADER[:15] not in data, path


def _plaintext_database(path: Path) -> None:
    """A hub.db as a hub of before SQLCipher left it when it was killed: every migration, a
    doctor, a patient's consultation with notes, the rows still in its write-ahead log."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # the rows stay in the WAL: it must be folded in
    for number, statements in enumerate(MIGRATIONS, start=1):
        for statement in statements:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    db.execute(
        "INSERT INTO doctors (username, password_hash, display_name, specialty, created_at)"
        " VALUES ('dr.a', 'x', 'Dr Annick Le Gall', 'MG', '2026-11-23T09:00:00.000000Z')"
    )
    db.execute(
        "INSERT INTO consultations (consultation_id, cabin_id, patient, match_key, reason,"
        " sex, language, status, doctor, joined_at, notes) VALUES ('c-1', 'cabin-1', ?,"
        " 'k', '', 'female', 'fr', 'ended', 'dr.a', '2026-11-23T09:00:00.000000Z', ?)",
        (f'{{"family_name":"{FAMILY_NAME}","given_names":"Y","birth_date":"1938-05-02"}}', NOTES),
    )
    wal = path.with_name("hub.db-wal")
    left = {p: p.read_bytes() for p in (path, wal)}  # what a kill -9 leaves on disk
    db.close()  # (a clean close folds the WAL in and removes it: put back what was left)
    for written, data in left.items():
        written.write_bytes(data)
    assert NOTES.encode() in wal.read_bytes()


async def _notes_of(path: Path) -> tuple[str, str, str]:
    storage = await SqliteStorage.open(path, TEST_KEY)
    try:
        consultation = await storage.consultation("c-1")
        doctor = await storage.doctor("dr.a")
        assert consultation is not None and doctor is not None
        return consultation.patient.family_name, consultation.notes, doctor.display_name
    finally:
        await storage.close()


def test_the_database_holds_no_name_no_note_and_no_sqlite_header(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "hub.db"
        storage = await SqliteStorage.open(path, TEST_KEY)
        try:
            await storage.add_doctor(_doctor())
            await storage.open_consultation(_consultation())
            await storage.set_notes("c-1", NOTES)
            _assert_unreadable(tmp_path)  # the WAL too, while the hub runs
        finally:
            await storage.close()

    run(scenario())
    _assert_unreadable(tmp_path)
    with connect(tmp_path / "hub.db") as db:  # what was written is there, with the key
        assert db.execute("SELECT notes FROM consultations").fetchone() == (NOTES,)
    db.close()


def test_a_wrong_key_is_refused_and_the_file_left_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    run(_write_a_consultation(path))
    before = _snapshot(tmp_path)

    async def scenario() -> None:
        with pytest.raises(DatabaseKeyError, match="does not open this file") as caught:
            await SqliteStorage.open(path, OTHER_KEY)
        assert OTHER_KEY.hex() not in str(caught.value)
        assert TEST_KEY.hex() not in str(caught.value)

    run(scenario())
    assert _snapshot(tmp_path) == before
    assert run(_notes_of(path)) == (FAMILY_NAME, NOTES, "Dr Annick Le Gall")


def test_serve_with_a_wrong_key_says_so_in_one_line_and_exits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    run(_write_a_consultation(data / "hub.db"))
    before = _snapshot(data)
    result = subprocess.run(
        [sys.executable, "-m", "hub", "serve", "--data", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=key_env(OTHER_KEY),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    refusal = [line for line in result.stderr.splitlines() if line.startswith("hub: ")]
    assert len(refusal) == 1 and "does not open this file" in refusal[0], result.stderr
    assert "Traceback" not in result.stderr
    assert OTHER_KEY.hex() not in result.stderr + result.stdout
    assert _snapshot(data) == before


def test_a_command_without_any_key_says_where_to_put_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HUB_DB_KEY", "CREDENTIALS_DIRECTORY")}
    result = subprocess.run(
        [sys.executable, "-m", "hub", "list-doctors", "--data", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    for source in ("$HUB_DB_KEY", "'hub-db-key'", "hub-db.key", "0600"):
        assert source in result.stderr
    assert not (tmp_path / "data" / "hub.db").exists()


def test_a_plaintext_database_is_encrypted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hub.db"
    _plaintext_database(path)
    assert path.read_bytes().startswith(PLAINTEXT_HEADER)
    with caplog.at_level(logging.INFO, logger="hub"):
        assert run(_notes_of(path)) == (FAMILY_NAME, NOTES, "Dr Annick Le Gall")
        assert run(_notes_of(path)) == (FAMILY_NAME, NOTES, "Dr Annick Le Gall")
    encrypted = [r.getMessage() for r in caplog.records if "hub.database_encrypted" in r.message]
    assert len(encrypted) == 1
    assert f"schema={len(MIGRATIONS)}" in encrypted[0]
    assert not partial_path(path).exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _assert_unreadable(tmp_path)


def test_an_encryption_interrupted_before_its_rename_starts_again(tmp_path: Path) -> None:
    """A crash during the export leaves the plaintext whole and a half-made copy beside it: the
    next start throws the copy away and encrypts the plaintext again."""
    path = tmp_path / "hub.db"
    _plaintext_database(path)
    partial = partial_path(path)
    partial.write_bytes(os.urandom(4096 * 3))  # what a killed export leaves: half a copy,
    partial.with_name(partial.name + "-journal").write_bytes(os.urandom(512))  # its journal
    assert run(_notes_of(path)) == (FAMILY_NAME, NOTES, "Dr Annick Le Gall")
    assert not partial.exists()
    assert not partial.with_name(partial.name + "-journal").exists()
    _assert_unreadable(tmp_path)


def test_the_demo_makes_its_key_once_and_keeps_it(tmp_path: Path) -> None:
    config = load_hub_config(None, data_dir=tmp_path / "data")
    config.data_path.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="no database key"):
        load_database_key(config, {}, create=False)
    first = load_database_key(config, {}, create=True)
    key_file = config.data_path / "hub-db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    run(_write_a_consultation(config.database_path, first))
    again = load_database_key(config, {}, create=True)
    assert again.hex() == first.hex() and again.source == str(key_file)
    assert first.hex() not in repr(first)

    # the key file lost with an encrypted database there: no new key (it would not open it)
    key_file.unlink()
    with pytest.raises(ConfigError, match="no database key"):
        load_database_key(config, {}, create=True)
    assert not key_file.exists()


def test_the_key_comes_from_the_environment_then_a_credential_then_the_file(
    tmp_path: Path,
) -> None:
    config = load_hub_config(None, data_dir=tmp_path / "data")
    config.data_path.mkdir(mode=0o700)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hub-db-key").write_text(OTHER_KEY.hex() + "\n")
    env = {"HUB_DB_KEY": TEST_KEY.hex(), "CREDENTIALS_DIRECTORY": str(credentials)}
    from_env = load_database_key(config, env, create=False)
    assert (from_env.hex(), from_env.source) == (TEST_KEY.hex(), "$HUB_DB_KEY")
    assert "HUB_DB_KEY" not in env  # read once, then gone: no child process inherits it
    from_credential = load_database_key(config, env, create=False)
    assert from_credential.hex() == OTHER_KEY.hex()
    key_file = config.data_path / "hub-db.key"
    key_file.write_text(TEST_KEY.hex() + "\n")
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_database_key(config, {}, create=True)  # too open: refused, never replaced
    assert key_file.read_text() == TEST_KEY.hex() + "\n"
    key_file.chmod(0o600)
    assert load_database_key(config, {}, create=False).hex() == TEST_KEY.hex()
