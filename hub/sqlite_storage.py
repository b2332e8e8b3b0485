"""`Storage` on one SQLCipher file (WAL), owned by one worker thread.

Every call runs on the worker, one after the other in the order they were made, so the event
loop never waits for a disk and the connection is never shared between threads. The file is
encrypted with the hub's database key (`hub.database_key`) and created with mode 0600;
``secure_delete`` overwrites what is deleted (sessions, for instance). A wrong key is found
before anything is written: the file is left as it was. A plaintext file (a hub from before
SQLCipher) is encrypted once, at open (`hub.sqlite_encryption`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import msgspec
import sqlcipher3

import wire
from hub.errors import AccountError, CorruptRecord, DatabaseKeyError, StorageError
from hub.sqlite_booking import BookingStatements, SqliteBookings
from hub.sqlite_encryption import encrypt_plaintext
from hub.sqlite_fleet import SqliteFleet
from hub.sqlite_handover import SqliteHandovers
from hub.sqlite_migrations import MIGRATIONS
from hub.storage import (
    AccountRole,
    AckRole,
    ActorKind,
    AdviceRecord,
    AgentRecord,
    AlertRecord,
    AuditEntry,
    CabinRecord,
    ConsultationRecord,
    ConsultationRecordUpload,
    ConsultationStatus,
    DoctorDetails,
    DoctorRecord,
    LoginAccount,
    LoginAttempt,
    OperatorRecord,
    PrescriptionRecord,
    ReadingRecord,
    RecordHead,
    SessionRecord,
    StoredMatchKey,
    UndeliveredPrescription,
)
from keysource import DatabaseKey
from keysource.sqlcipher_key import KeyDoesNotOpen, unlock

if TYPE_CHECKING:
    # sqlcipher3 ships no types; its connection is the standard library's, compiled against
    # SQLCipher.
    from sqlite3 import Connection

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_BUSY_TIMEOUT_S = 5.0
_LINES = msgspec.json.Decoder(tuple[wire.PrescriptionLine, ...])
_DOCTOR_INFO = msgspec.json.Decoder(wire.DoctorInfo)
_PATIENT = msgspec.json.Decoder(wire.PatientSummary)
_CABIN_IDS = msgspec.json.Decoder(tuple[str, ...])
_VITAL = msgspec.json.Decoder(wire.Vital)

_SELECT_DOCTOR = (
    "SELECT username, password_hash, display_name, specialty, registration_number, photo,"
    " failed_attempts, locked_until, created_at, address, phone, email FROM doctors"
)
_SELECT_CONSULTATION = (
    "SELECT consultation_id, cabin_id, patient, match_key, reason, age_years, sex, language,"
    " status, doctor, joined_at, taken_at, ended_at, notes, advice FROM consultations"
)
_PRESCRIPTION_COLUMNS = (
    "prescription_id, consultation_id, doctor, issued_at, prescriber, lines, key_id, signature,"
    " msg_id, delivered_at, check_url, patient"
)
_SELECT_PRESCRIPTION = f"SELECT {_PRESCRIPTION_COLUMNS} FROM prescriptions"  # noqa: S608
_SELECT_UNDELIVERED = (
    "SELECT p.prescription_id, p.consultation_id, p.doctor, p.issued_at, p.prescriber, p.lines,"
    " p.key_id, p.signature, p.msg_id, p.delivered_at, p.check_url, p.patient, c.cabin_id"
    " FROM prescriptions AS p JOIN consultations AS c ON c.consultation_id = p.consultation_id"
    " WHERE p.delivered_at IS NULL AND p.issued_at >= ?"
)
_SELECT_RECORD = (
    "SELECT record_id, consultation_id, cabin_id, created_at, received_at, bundle, match_key,"
    " started_at, digest FROM records"
)
_SELECT_RECORD_HEAD = (
    "SELECT record_id, consultation_id, cabin_id, received_at, started_at, length(bundle),"
    " digest FROM records"
)
_SELECT_AGENT = (
    "SELECT username, password_hash, display_name, cabins, all_cabins, failed_attempts,"
    " locked_until, created_at, coordinator FROM agents"
)
_SELECT_ALERT = (
    "SELECT alert_id, cabin_id, cabin_name, kind, severity, confidence, detail,"
    " consultation_id, raised_at, received_at, escalated_at, acknowledged_by,"
    " acknowledged_role, acknowledged_at, false_alarm, repeat_count, last_raised_at,"
    " merged_into, cabin_raised_at FROM alerts"
)
_ACCOUNT_TABLES = ("doctors", "agents", "operators")
_ADVICE_COLUMNS = (
    "consultation_id, cabin_id, advice, advice_msg_id, advice_changed_at, advice_delivered_at"
)


def _ts(moment: datetime) -> str:
    """A fixed-width UTC text that sorts like the instants it names."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the storage")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _dt(text: str) -> datetime:
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise CorruptRecord("a stored time cannot be read") from None


def _opt_dt(text: str | None) -> datetime | None:
    return None if text is None else _dt(text)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode("utf-8")


def _decoded(decoder: msgspec.json.Decoder[T], text: str | bytes, what: str) -> T:
    """A stored JSON value; `CorruptRecord` if it is no longer what the hub wrote."""
    try:
        return decoder.decode(text)
    except msgspec.DecodeError:
        raise CorruptRecord(f"a stored {what} cannot be read") from None


class _Database(BookingStatements):
    """The connection and the statements; used only on the worker thread."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    @classmethod
    def open(cls, path: Path, key: DatabaseKey) -> _Database:
        encrypt_plaintext(path, key)
        existed = path.exists() and path.stat().st_size > 0
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            os.close(fd)
        connection = sqlcipher3.connect(
            str(path), timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
        )
        try:
            try:
                unlock(connection, key, existed=existed)
            except KeyDoesNotOpen:
                raise DatabaseKeyError(
                    f"{path}: the database key ({key.source}) does not open this file: it"
                    " is the wrong key, or the file is not a hub database. The file was left"
                    ' untouched; give the hub its key (see README, "The hub").'
                ) from None
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA secure_delete=ON")
            database = cls(connection)
            database.migrate()
        except BaseException:
            connection.close()
            raise
        return database

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise StorageError(
                f"the database is at schema version {version}, newer than this hub knows"
                f" ({len(MIGRATIONS)}): run the newer hub, or restore a backup"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            with self._transaction() as db:
                for statement in MIGRATIONS[number - 1]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number:d}")
            log.info("hub.storage_migrated version=%d", number)

    def close(self) -> None:
        self._db.close()

    def check(self) -> None:
        self._db.execute("PRAGMA user_version").fetchone()

    def on_connection(self, operation: Callable[[Connection], T]) -> T:
        """Run statements of another module (`hub.sqlite_handover`) on the connection."""
        return operation(self._db)

    # doctors

    def _name_taken_by_agent(self, username: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM agents WHERE username = ?1 UNION ALL"
            " SELECT 1 FROM operators WHERE username = ?1",
            (username,),
        )
        return row.fetchone() is not None

    def add_doctor(self, doctor: DoctorRecord) -> None:
        if self._name_taken_by_agent(doctor.username):
            raise AccountError(f"an agent or operator named {doctor.username!r} already exists")
        try:
            self._db.execute(
                "INSERT INTO doctors (username, password_hash, display_name, specialty,"
                " registration_number, photo, failed_attempts, locked_until, created_at,"
                " address, phone, email) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doctor.username,
                    doctor.password_hash,
                    doctor.display_name,
                    doctor.specialty,
                    doctor.registration_number,
                    doctor.photo,
                    doctor.failed_attempts,
                    None if doctor.locked_until is None else _ts(doctor.locked_until),
                    _ts(doctor.created_at),
                    doctor.address,
                    doctor.phone,
                    doctor.email,
                ),
            )
        except sqlcipher3.IntegrityError:
            raise AccountError(f"a doctor named {doctor.username!r} already exists") from None

    @staticmethod
    def _doctor(row: Sequence[Any]) -> DoctorRecord:
        return DoctorRecord(
            username=row[0],
            password_hash=row[1],
            display_name=row[2],
            specialty=row[3],
            registration_number=row[4],
            photo=row[5],
            failed_attempts=row[6],
            locked_until=_opt_dt(row[7]),
            created_at=_dt(row[8]),
            address=row[9],
            phone=row[10],
            email=row[11],
        )

    def doctor(self, username: str) -> DoctorRecord | None:
        row = self._db.execute(_SELECT_DOCTOR + " WHERE username = ?", (username,)).fetchone()
        return None if row is None else self._doctor(row)

    def doctors(self) -> list[DoctorRecord]:
        rows = self._db.execute(_SELECT_DOCTOR + " ORDER BY username")
        return [self._doctor(row) for row in rows]

    def set_doctor_photo(self, username: str, photo: bytes | None) -> bool:
        cursor = self._db.execute(
            "UPDATE doctors SET photo = ? WHERE username = ?", (photo, username)
        )
        return cursor.rowcount == 1

    def set_doctor_details(self, username: str, details: DoctorDetails) -> bool:
        cursor = self._db.execute(
            "UPDATE doctors SET registration_number = ?, address = ?, phone = ?, email = ?"
            " WHERE username = ?",
            (details.registration_number, details.address, details.phone, details.email, username),
        )
        return cursor.rowcount == 1

    def _account_table(self, username: str) -> str | None:
        """Which table holds the account `username` (names are unique across both)."""
        for table in _ACCOUNT_TABLES:
            query = f"SELECT 1 FROM {table} WHERE username = ?"  # noqa: S608 - a constant
            if self._db.execute(query, (username,)).fetchone() is not None:
                return table
        return None

    def set_password_hash(self, username: str, password_hash: str) -> None:
        table = self._account_table(username)
        if table is not None:
            self._db.execute(
                f"UPDATE {table} SET password_hash = ? WHERE username = ?",  # noqa: S608
                (password_hash, username),
            )

    # sign-in attempts, and what an operator decides of an account

    def login_account(self, username: str) -> LoginAccount | None:
        row = self._db.execute(
            "SELECT a.role, a.password_hash, s.disabled, s.totp_required, s.totp_secret,"
            " s.totp_pending_secret, s.totp_last_step FROM"
            " (SELECT 'doctor' AS role, password_hash FROM doctors WHERE username = ?1"
            "  UNION ALL SELECT 'agent', password_hash FROM agents WHERE username = ?1"
            "  UNION ALL SELECT 'operator', password_hash FROM operators WHERE username = ?1) AS a"
            " LEFT JOIN account_security AS s ON s.username = ?1",
            (username,),
        ).fetchone()
        if row is None:
            return None
        return LoginAccount(
            username=username,
            role=AccountRole(row[0]),
            password_hash=row[1],
            disabled=bool(row[2]),
            totp_required=bool(row[3]),
            totp_secret=row[4],
            totp_pending_secret=row[5],
            totp_last_step=row[6],
        )

    def begin_login(
        self,
        username: str,
        client: str,
        now: datetime,
        free_failures: int,
        first_lock_s: float,
        max_lock_s: float,
    ) -> LoginAttempt:
        with self._transaction() as db:
            row = db.execute(
                "SELECT failures, blocked_until FROM login_throttle"
                " WHERE username = ? AND client = ?",
                (username, client),
            ).fetchone()
            failures, blocked_until = (0, None) if row is None else (row[0], _opt_dt(row[1]))
            account = self.login_account(username)
            if blocked_until is not None and blocked_until > now:
                return LoginAttempt(blocked_until=blocked_until, locks_until=None, account=account)
            failures += 1
            locks_until = None
            if failures >= free_failures:
                doublings = min(failures - free_failures, 40)
                lock_s = min(max_lock_s, first_lock_s * 2**doublings)
                locks_until = now + timedelta(seconds=lock_s)
            db.execute(
                "INSERT INTO login_throttle (username, client, failures, blocked_until,"
                " last_attempt_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (username, client)"
                " DO UPDATE SET failures = excluded.failures,"
                " blocked_until = excluded.blocked_until,"
                " last_attempt_at = excluded.last_attempt_at",
                (
                    username,
                    client,
                    failures,
                    None if locks_until is None else _ts(locks_until),
                    _ts(now),
                ),
            )
            return LoginAttempt(blocked_until=None, locks_until=locks_until, account=account)

    def end_login(self, username: str, client: str) -> None:
        self._db.execute(
            "DELETE FROM login_throttle WHERE username = ? AND client = ?", (username, client)
        )

    def forget_login_attempts(self, before: datetime) -> int:
        cursor = self._db.execute(
            "DELETE FROM login_throttle WHERE last_attempt_at < ?"
            " AND (blocked_until IS NULL OR blocked_until < ?)",
            (_ts(before), _ts(before)),
        )
        return cursor.rowcount

    def _set_security(self, username: str, column: str, value: tuple[Any, ...]) -> bool:
        with self._transaction() as db:
            if self._account_table(username) is None:
                return False
            db.execute(
                "INSERT INTO account_security (username) VALUES (?) ON CONFLICT DO NOTHING",
                (username,),
            )
            db.execute(
                f"UPDATE account_security SET {column} WHERE username = ?",  # noqa: S608 - ours
                (*value, username),
            )
            return True

    def set_account_disabled(self, username: str, disabled: bool) -> bool:
        return self._set_security(username, "disabled = ?", (int(disabled),))

    def set_totp_required(self, username: str, required: bool) -> bool:
        return self._set_security(username, "totp_required = ?", (int(required),))

    def set_totp(self, username: str, secret: str | None, pending_secret: str | None) -> bool:
        return self._set_security(
            username,
            "totp_secret = ?, totp_pending_secret = ?, totp_last_step = NULL",
            (secret, pending_secret),
        )

    def use_totp_step(self, username: str, step: int) -> bool:
        cursor = self._db.execute(
            "UPDATE account_security SET totp_last_step = ?"
            " WHERE username = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, username, step),
        )
        return cursor.rowcount == 1

    # agents

    def add_agent(self, agent: AgentRecord) -> None:
        with self._transaction() as db:
            if self._account_table(agent.username) is not None:
                raise AccountError(f"an account named {agent.username!r} already exists")
            db.execute(
                "INSERT INTO agents (username, password_hash, display_name, cabins, all_cabins,"
                " failed_attempts, locked_until, created_at, coordinator)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    agent.username,
                    agent.password_hash,
                    agent.display_name,
                    _json(list(agent.cabins)),
                    int(agent.all_cabins),
                    agent.failed_attempts,
                    None if agent.locked_until is None else _ts(agent.locked_until),
                    _ts(agent.created_at),
                    int(agent.coordinator),
                ),
            )

    @staticmethod
    def _agent(row: Sequence[Any]) -> AgentRecord:
        return AgentRecord(
            username=row[0],
            password_hash=row[1],
            display_name=row[2],
            cabins=_decoded(_CABIN_IDS, row[3], "agent's cabins"),
            all_cabins=bool(row[4]),
            failed_attempts=row[5],
            locked_until=_opt_dt(row[6]),
            created_at=_dt(row[7]),
            coordinator=bool(row[8]),
        )

    def agent(self, username: str) -> AgentRecord | None:
        row = self._db.execute(_SELECT_AGENT + " WHERE username = ?", (username,)).fetchone()
        return None if row is None else self._agent(row)

    def agents(self) -> list[AgentRecord]:
        return [self._agent(row) for row in self._db.execute(_SELECT_AGENT + " ORDER BY username")]

    # operators

    def add_operator(self, operator: OperatorRecord) -> None:
        with self._transaction() as db:
            if self._account_table(operator.username) is not None:
                raise AccountError(f"an account named {operator.username!r} already exists")
            db.execute(
                "INSERT INTO operators (username, password_hash, display_name, failed_attempts,"
                " locked_until, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    operator.username,
                    operator.password_hash,
                    operator.display_name,
                    operator.failed_attempts,
                    None if operator.locked_until is None else _ts(operator.locked_until),
                    _ts(operator.created_at),
                ),
            )

    def operator(self, username: str) -> OperatorRecord | None:
        row = self._db.execute(
            "SELECT username, password_hash, display_name, failed_attempts, locked_until,"
            " created_at FROM operators WHERE username = ?",
            (username,),
        ).fetchone()
        if row is None:
            return None
        return OperatorRecord(row[0], row[1], row[2], row[3], _opt_dt(row[4]), _dt(row[5]))

    # sessions

    def add_session(self, session: SessionRecord) -> None:
        self._db.execute(
            "INSERT INTO sessions (token_sha256, username, role, csrf_token, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                session.token_sha256,
                session.username,
                session.role.value,
                session.csrf_token,
                _ts(session.created_at),
                _ts(session.expires_at),
            ),
        )

    def session(self, token_sha256: str, now: datetime) -> SessionRecord | None:
        row = self._db.execute(
            "SELECT token_sha256, username, csrf_token, created_at, expires_at, role"
            " FROM sessions WHERE token_sha256 = ? AND expires_at > ?",
            (token_sha256, _ts(now)),
        ).fetchone()
        if row is None:
            return None
        return SessionRecord(
            row[0], row[1], row[2], _dt(row[3]), _dt(row[4]), role=AccountRole(row[5])
        )

    def delete_session(self, token_sha256: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (token_sha256,))

    def delete_expired_sessions(self, now: datetime) -> int:
        cursor = self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (_ts(now),))
        return cursor.rowcount

    def live_session(
        self,
        token_sha256: str,
        now: datetime,
        idle_since: datetime | None,
        touch_before: datetime,
    ) -> SessionRecord | None:
        row = self._db.execute(
            "SELECT token_sha256, username, csrf_token, created_at, expires_at, role,"
            " COALESCE(last_seen_at, created_at) FROM sessions"
            " WHERE token_sha256 = ? AND expires_at > ?",
            (token_sha256, _ts(now)),
        ).fetchone()
        if row is None:
            return None
        last_seen = _dt(row[6])
        if idle_since is not None and last_seen < idle_since:
            self.delete_session(token_sha256)
            return None
        if last_seen < touch_before:
            self._db.execute(
                "UPDATE sessions SET last_seen_at = ? WHERE token_sha256 = ?",
                (_ts(now), token_sha256),
            )
        return SessionRecord(
            row[0], row[1], row[2], _dt(row[3]), _dt(row[4]), role=AccountRole(row[5])
        )

    def live_session_hashes(self, token_sha256s: set[str], now: datetime) -> set[str]:
        live = set()
        for token_sha256 in token_sha256s:
            row = self._db.execute(
                "SELECT 1 FROM sessions WHERE token_sha256 = ? AND expires_at > ?",
                (token_sha256, _ts(now)),
            ).fetchone()
            if row is not None:
                live.add(token_sha256)
        return live

    def trim_sessions(self, username: str, keep: int) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT token_sha256 FROM sessions WHERE username = ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?",
                (username, keep),
            ).fetchall()
            tokens = [row[0] for row in rows]
            db.executemany("DELETE FROM sessions WHERE token_sha256 = ?", [(t,) for t in tokens])
            return tokens

    def delete_sessions_of(self, username: str, keep: str | None) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT token_sha256 FROM sessions WHERE username = ? AND token_sha256 IS NOT ?",
                (username, keep),
            ).fetchall()
            tokens = [row[0] for row in rows]
            db.executemany("DELETE FROM sessions WHERE token_sha256 = ?", [(t,) for t in tokens])
            return tokens

    # cabins

    def put_cabin(self, cabin: CabinRecord) -> None:
        self._db.execute(
            "INSERT INTO cabins (cabin_id, name, token_sha256, provisioned_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (cabin_id) DO UPDATE SET name = excluded.name,"
            " token_sha256 = excluded.token_sha256, provisioned_at = excluded.provisioned_at",
            (cabin.cabin_id, cabin.name, cabin.token_sha256, _ts(cabin.provisioned_at)),
        )

    def cabin(self, cabin_id: str) -> CabinRecord | None:
        row = self._db.execute(
            "SELECT cabin_id, name, token_sha256, provisioned_at FROM cabins WHERE cabin_id = ?",
            (cabin_id,),
        ).fetchone()
        return None if row is None else CabinRecord(row[0], row[1], row[2], _dt(row[3]))

    def cabins(self) -> list[CabinRecord]:
        rows = self._db.execute(
            "SELECT cabin_id, name, token_sha256, provisioned_at FROM cabins ORDER BY cabin_id"
        )
        return [CabinRecord(row[0], row[1], row[2], _dt(row[3])) for row in rows]

    # consultations

    @staticmethod
    def _consultation(row: Sequence[Any]) -> ConsultationRecord:
        return ConsultationRecord(
            consultation_id=row[0],
            cabin_id=row[1],
            patient=_decoded(_PATIENT, row[2], "patient"),
            match_key=row[3],
            reason=row[4],
            age_years=row[5],
            sex=wire.Sex(row[6]),
            language=wire.Language(row[7]),
            status=ConsultationStatus(row[8]),
            doctor=row[9],
            joined_at=_dt(row[10]),
            taken_at=_opt_dt(row[11]),
            ended_at=_opt_dt(row[12]),
            notes=row[13],
            advice=row[14],
        )

    def open_consultation(self, record: ConsultationRecord) -> ConsultationRecord:
        with self._transaction() as db:
            row = db.execute(
                _SELECT_CONSULTATION + " WHERE consultation_id = ?",
                (record.consultation_id,),
            ).fetchone()
            if row is not None:
                return self._consultation(row)
            db.execute(
                "INSERT INTO consultations (consultation_id, cabin_id, patient, match_key,"
                " reason, age_years, sex, language, status, doctor, joined_at, taken_at,"
                " ended_at, notes, advice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.consultation_id,
                    record.cabin_id,
                    _json(record.patient),
                    record.match_key,
                    record.reason,
                    record.age_years,
                    record.sex.value,
                    record.language.value,
                    record.status.value,
                    record.doctor,
                    _ts(record.joined_at),
                    None if record.taken_at is None else _ts(record.taken_at),
                    None if record.ended_at is None else _ts(record.ended_at),
                    record.notes,
                    record.advice,
                ),
            )
            return record

    def consultation(self, consultation_id: str) -> ConsultationRecord | None:
        row = self._db.execute(
            _SELECT_CONSULTATION + " WHERE consultation_id = ?",
            (consultation_id,),
        ).fetchone()
        return None if row is None else self._consultation(row)

    def mark_taken(self, consultation_id: str, doctor: str, at: datetime) -> bool:
        cursor = self._db.execute(
            "UPDATE consultations SET status = 'taken', doctor = ?, taken_at = ?"
            " WHERE consultation_id = ? AND status = 'waiting'",
            (doctor, _ts(at), consultation_id),
        )
        return cursor.rowcount == 1

    def mark_waiting(self, consultation_id: str) -> None:
        self._db.execute(
            "UPDATE consultations SET status = 'waiting', doctor = NULL, taken_at = NULL"
            " WHERE consultation_id = ?",
            (consultation_id,),
        )

    def close_consultation(
        self, consultation_id: str, status: ConsultationStatus, at: datetime
    ) -> None:
        self._db.execute(
            "UPDATE consultations SET status = ?, ended_at = ? WHERE consultation_id = ?",
            (status.value, _ts(at), consultation_id),
        )

    def close_live_consultation(
        self, consultation_id: str, status: ConsultationStatus, at: datetime
    ) -> bool:
        cursor = self._db.execute(
            "UPDATE consultations SET status = ?, ended_at = ?"
            " WHERE consultation_id = ? AND status IN ('waiting', 'taken')",
            (status.value, _ts(at), consultation_id),
        )
        return cursor.rowcount == 1

    def set_notes(self, consultation_id: str, text: str) -> None:
        self._db.execute(
            "UPDATE consultations SET notes = ? WHERE consultation_id = ?",
            (text, consultation_id),
        )

    @staticmethod
    def _advice(row: Sequence[Any]) -> AdviceRecord:
        return AdviceRecord(
            consultation_id=row[0],
            cabin_id=row[1],
            text=row[2],
            msg_id=row[3],
            changed_at=_dt(row[4]),
            delivered_at=_opt_dt(row[5]),
        )

    def set_advice(
        self, consultation_id: str, text: str, msg_id: str, at: datetime
    ) -> AdviceRecord | None:
        rows = self._db.execute(
            "UPDATE consultations SET advice = ?, advice_msg_id = ?, advice_changed_at = ?,"
            " advice_delivered_at = NULL WHERE consultation_id = ? AND advice != ?"
            " RETURNING consultation_id, cabin_id, advice, advice_msg_id, advice_changed_at,"
            " advice_delivered_at",
            (text, msg_id, _ts(at), consultation_id, text),
        ).fetchall()
        return self._advice(rows[0]) if rows else None

    def undelivered_advice(
        self, since: datetime, cabin_id: str | None, limit: int
    ) -> list[AdviceRecord]:
        query = (
            f"SELECT {_ADVICE_COLUMNS} FROM consultations WHERE advice_msg_id IS NOT NULL"  # noqa: S608
            " AND advice_delivered_at IS NULL AND advice_changed_at >= ?"
        )
        parameters: list[str | int] = [_ts(since)]
        if cabin_id is not None:
            query += " AND cabin_id = ?"
            parameters.append(cabin_id)
        rows = self._db.execute(
            query + " ORDER BY advice_changed_at, consultation_id LIMIT ?", (*parameters, limit)
        )
        return [self._advice(row) for row in rows]

    def mark_advice_delivered(
        self, msg_id: str, cabin_id: str, at: datetime
    ) -> AdviceRecord | None:
        rows = self._db.execute(
            "UPDATE consultations SET advice_delivered_at = ?"
            " WHERE advice_msg_id = ? AND cabin_id = ? AND advice_delivered_at IS NULL"
            " RETURNING consultation_id, cabin_id, advice, advice_msg_id, advice_changed_at,"
            " advice_delivered_at",
            (_ts(at), msg_id, cabin_id),
        ).fetchall()
        return self._advice(rows[0]) if rows else None

    def active_consultations(self, limit: int) -> list[ConsultationRecord]:
        rows = self._db.execute(
            _SELECT_CONSULTATION + " WHERE status IN (?, ?) ORDER BY joined_at, consultation_id"
            " LIMIT ?",
            (ConsultationStatus.WAITING.value, ConsultationStatus.TAKEN.value, limit),
        )
        return [self._consultation(row) for row in rows]

    def earlier_consultations(
        self, match_key: str, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecord]:
        rows = self._db.execute(
            _SELECT_CONSULTATION + " WHERE match_key = ? AND joined_at < ? AND consultation_id != ?"
            " ORDER BY joined_at DESC LIMIT ?",
            (match_key, _ts(before), exclude, limit),
        )
        return [self._consultation(row) for row in rows]

    # readings

    def add_reading(self, reading: ReadingRecord) -> bool:
        cursor = self._db.execute(
            "INSERT INTO readings (consultation_id, msg_id, vital, received_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (consultation_id, msg_id) DO NOTHING",
            (
                reading.consultation_id,
                reading.msg_id,
                _json(reading.vital),
                _ts(reading.received_at),
            ),
        )
        return cursor.rowcount == 1

    def readings(self, consultation_id: str) -> list[ReadingRecord]:
        rows = self._db.execute(
            "SELECT consultation_id, msg_id, vital, received_at FROM readings"
            " WHERE consultation_id = ? ORDER BY id",
            (consultation_id,),
        )
        return [
            ReadingRecord(row[0], row[1], _decoded(_VITAL, row[2], "reading"), _dt(row[3]))
            for row in rows
        ]

    # prescriptions

    def next_prescription_sequence(self, year: int) -> int:
        row = self._db.execute(
            "INSERT INTO prescription_sequences (year, last) VALUES (?, 1)"
            " ON CONFLICT (year) DO UPDATE SET last = last + 1 RETURNING last",
            (year,),
        ).fetchone()
        return int(row[0])

    @staticmethod
    def _prescription(row: Sequence[Any]) -> PrescriptionRecord:
        return PrescriptionRecord(
            prescription_id=row[0],
            consultation_id=row[1],
            doctor=row[2],
            issued_at=_dt(row[3]),
            prescriber=_decoded(_DOCTOR_INFO, row[4], "prescriber"),
            lines=_decoded(_LINES, row[5], "prescription"),
            key_id=row[6],
            signature=row[7],
            msg_id=row[8],
            delivered_at=_opt_dt(row[9]),
            check_url=row[10],
            patient=None if row[11] is None else _decoded(_PATIENT, row[11], "patient"),
        )

    def add_prescription(self, prescription: PrescriptionRecord) -> None:
        self._db.execute(
            "INSERT INTO prescriptions (prescription_id, consultation_id, doctor, issued_at,"
            " prescriber, lines, key_id, signature, msg_id, delivered_at, check_url, patient)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                prescription.prescription_id,
                prescription.consultation_id,
                prescription.doctor,
                _ts(prescription.issued_at),
                _json(prescription.prescriber),
                _json(prescription.lines),
                prescription.key_id,
                prescription.signature,
                prescription.msg_id,
                None if prescription.delivered_at is None else _ts(prescription.delivered_at),
                prescription.check_url,
                None if prescription.patient is None else _json(prescription.patient),
            ),
        )

    def prescription(self, prescription_id: str) -> PrescriptionRecord | None:
        row = self._db.execute(
            _SELECT_PRESCRIPTION + " WHERE prescription_id = ?",
            (prescription_id,),
        ).fetchone()
        return None if row is None else self._prescription(row)

    def prescription_signature(self, prescription_id: str) -> str | None:
        row = self._db.execute(
            "SELECT signature FROM prescriptions WHERE prescription_id = ?", (prescription_id,)
        ).fetchone()
        return None if row is None or not isinstance(row[0], str) else row[0]

    def prescriptions(self, consultation_id: str) -> list[PrescriptionRecord]:
        rows = self._db.execute(
            _SELECT_PRESCRIPTION + " WHERE consultation_id = ? ORDER BY issued_at, prescription_id",
            (consultation_id,),
        )
        return [self._prescription(row) for row in rows]

    def undelivered_prescriptions(
        self, since: datetime, cabin_id: str | None, limit: int
    ) -> list[UndeliveredPrescription]:
        query, parameters = _SELECT_UNDELIVERED, [_ts(since)]
        if cabin_id is not None:
            query += " AND c.cabin_id = ?"
            parameters.append(cabin_id)
        rows = self._db.execute(
            query + " ORDER BY p.issued_at, p.prescription_id LIMIT ?", (*parameters, limit)
        )
        return [UndeliveredPrescription(self._prescription(row), row[12]) for row in rows]

    def mark_prescription_delivered(
        self, msg_id: str, cabin_id: str, at: datetime
    ) -> PrescriptionRecord | None:
        rows = self._db.execute(
            "UPDATE prescriptions SET delivered_at = ?"
            " WHERE msg_id = ? AND delivered_at IS NULL AND consultation_id IN"
            " (SELECT consultation_id FROM consultations WHERE cabin_id = ?)"
            " RETURNING prescription_id, consultation_id, doctor, issued_at, prescriber, lines,"
            " key_id, signature, msg_id, delivered_at, check_url, patient",
            (_ts(at), msg_id, cabin_id),
        ).fetchall()
        return self._prescription(rows[0]) if rows else None

    # records

    def add_record(self, record: ConsultationRecordUpload) -> bool:
        cursor = self._db.execute(
            "INSERT INTO records (record_id, consultation_id, cabin_id, created_at, received_at,"
            " bundle, match_key, started_at, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (cabin_id, record_id) DO NOTHING",
            (
                record.record_id,
                record.consultation_id,
                record.cabin_id,
                _ts(record.created_at),
                _ts(record.received_at),
                record.bundle,
                record.match_key,
                None if record.started_at is None else _ts(record.started_at),
                record.digest,
            ),
        )
        return cursor.rowcount == 1

    @staticmethod
    def _record(row: Sequence[Any]) -> ConsultationRecordUpload:
        return ConsultationRecordUpload(
            record_id=row[0],
            consultation_id=row[1],
            cabin_id=row[2],
            created_at=_dt(row[3]),
            received_at=_dt(row[4]),
            bundle=bytes(row[5]),
            match_key=row[6],
            started_at=_opt_dt(row[7]),
            digest=None if row[8] is None else bytes(row[8]),
        )

    def earlier_records(
        self, match_key: str, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecordUpload]:
        rows = self._db.execute(
            _SELECT_RECORD + " WHERE match_key = ? AND started_at < ? AND consultation_id != ?"
            " ORDER BY started_at DESC, received_at DESC LIMIT ?",
            (match_key, _ts(before), exclude, limit),
        )
        return [self._record(row) for row in rows]

    def record_of_consultation(self, consultation_id: str) -> ConsultationRecordUpload | None:
        row = self._db.execute(
            _SELECT_RECORD + " WHERE consultation_id = ? ORDER BY received_at DESC LIMIT 1",
            (consultation_id,),
        ).fetchone()
        return None if row is None else self._record(row)

    def unindexed_records(self, limit: int) -> list[ConsultationRecordUpload]:
        rows = self._db.execute(
            _SELECT_RECORD + " WHERE match_key IS NULL ORDER BY received_at LIMIT ?", (limit,)
        )
        return [self._record(row) for row in rows]

    def index_record(
        self,
        record_id: str,
        match_key: str,
        started_at: datetime | None,
        cabin_id: str | None,
        digest: bytes | None,
    ) -> None:
        query = "UPDATE records SET match_key = ?, started_at = ?, digest = ? WHERE record_id = ?"
        parameters = [
            match_key,
            None if started_at is None else _ts(started_at),
            digest,
            record_id,
        ]
        if cabin_id is not None:
            query += " AND cabin_id = ?"
            parameters.append(cabin_id)
        self._db.execute(query, parameters)

    @staticmethod
    def _record_head(row: Sequence[Any]) -> RecordHead:
        return RecordHead(
            record_id=row[0],
            consultation_id=row[1],
            cabin_id=row[2],
            received_at=_dt(row[3]),
            started_at=_opt_dt(row[4]),
            bundle_bytes=row[5],
            digest=None if row[6] is None else bytes(row[6]),
        )

    def earlier_record_heads(
        self, match_key: str, before: datetime, exclude: str, limit: int
    ) -> list[RecordHead]:
        rows = self._db.execute(
            _SELECT_RECORD_HEAD + " WHERE match_key = ? AND started_at < ? AND consultation_id != ?"
            " ORDER BY started_at DESC, received_at DESC LIMIT ?",
            (match_key, _ts(before), exclude, limit),
        )
        return [self._record_head(row) for row in rows]

    def record_head_of_consultation(self, consultation_id: str, cabin_id: str) -> RecordHead | None:
        row = self._db.execute(
            _SELECT_RECORD_HEAD + " WHERE consultation_id = ? AND cabin_id = ?"
            " ORDER BY received_at DESC LIMIT 1",
            (consultation_id, cabin_id),
        ).fetchone()
        return None if row is None else self._record_head(row)

    def record_bundle(self, cabin_id: str, record_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT bundle FROM records WHERE cabin_id = ? AND record_id = ?",
            (cabin_id, record_id),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def consultations_to_rekey(self, limit: int) -> list[StoredMatchKey]:
        rows = self._db.execute(
            "SELECT c.consultation_id, c.patient, c.match_key FROM patient_rekey AS r"
            " JOIN consultations AS c ON c.consultation_id = r.consultation_id"
            " ORDER BY r.consultation_id LIMIT ?",
            (limit,),
        ).fetchall()
        found: list[StoredMatchKey] = []
        for consultation_id, patient, key in rows:
            try:
                who: wire.PatientSummary | None = _decoded(_PATIENT, patient, "patient")
            except CorruptRecord:
                who = None
            found.append(StoredMatchKey(consultation_id, who, key))
        if len(found) < limit:  # queued, but no longer there
            self._db.execute(
                "DELETE FROM patient_rekey WHERE consultation_id NOT IN"
                " (SELECT consultation_id FROM consultations)"
            )
        return found

    def set_match_key(self, consultation_id: str, match_key: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE consultations SET match_key = ? WHERE consultation_id = ?",
                (match_key, consultation_id),
            )
            db.execute("DELETE FROM patient_rekey WHERE consultation_id = ?", (consultation_id,))

    # alerts

    @staticmethod
    def _alert(row: Sequence[Any]) -> AlertRecord:
        return AlertRecord(
            alert_id=row[0],
            cabin_id=row[1],
            cabin_name=row[2],
            kind=wire.AlertKind(row[3]),
            severity=wire.AlertSeverity(row[4]),
            confidence=row[5],
            detail=row[6],
            consultation_id=row[7],
            raised_at=_dt(row[8]),
            received_at=_dt(row[9]),
            escalated_at=_opt_dt(row[10]),
            acknowledged_by=row[11],
            acknowledged_role=None if row[12] is None else AckRole(row[12]),
            acknowledged_at=_opt_dt(row[13]),
            false_alarm=None if row[14] is None else bool(row[14]),
            repeat_count=row[15],
            last_raised_at=_opt_dt(row[16]),
            merged_into=row[17],
            cabin_raised_at=_opt_dt(row[18]),
        )

    def alert(self, alert_id: str) -> AlertRecord | None:
        row = self._db.execute(_SELECT_ALERT + " WHERE alert_id = ?", (alert_id,)).fetchone()
        return None if row is None else self._alert(row)

    def add_alert(self, alert: AlertRecord) -> tuple[AlertRecord, bool]:
        with self._transaction():
            known = self.alert(alert.alert_id)
            if known is not None:
                return known, False
            self._insert_alert(alert)
            return alert, True

    def _insert_alert(self, alert: AlertRecord) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO alerts (alert_id, cabin_id, cabin_name, kind, severity,"
            " confidence, detail, consultation_id, raised_at, received_at, merged_into,"
            " cabin_raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                alert.alert_id,
                alert.cabin_id,
                alert.cabin_name,
                alert.kind.value,
                alert.severity.value,
                alert.confidence,
                alert.detail,
                alert.consultation_id,
                _ts(alert.raised_at),
                _ts(alert.received_at),
                alert.merged_into,
                None if alert.cabin_raised_at is None else _ts(alert.cabin_raised_at),
            ),
        )
        return cursor.rowcount == 1

    def add_repeat(
        self, alert: AlertRecord, head_id: str, keep: bool, count: int
    ) -> AlertRecord | None:
        with self._transaction() as db:
            head = self.alert(head_id)
            if head is None or not head.is_open or head.merged_into is not None:
                return None
            if keep and not self._insert_alert(
                dataclasses.replace(alert, merged_into=head_id, repeat_count=1)
            ):
                return head  # its id is known: counted already
            last = max(head.last_raised_at or head.raised_at, alert.raised_at)
            db.execute(
                "UPDATE alerts SET repeat_count = repeat_count + ?, last_raised_at = ?"
                " WHERE alert_id = ?",
                (count, _ts(last), head_id),
            )
            return self.alert(head_id)

    def merged_alert_ids(self, head_id: str, limit: int) -> list[str]:
        rows = self._db.execute(
            "SELECT alert_id FROM alerts WHERE merged_into = ? ORDER BY received_at, alert_id"
            " LIMIT ?",
            (head_id, limit),
        )
        return [row[0] for row in rows]

    def clear_alerts(self, cabin_id: str, by: str, at: datetime) -> list[AlertRecord]:
        with self._transaction() as db:
            rows = db.execute(
                _SELECT_ALERT + " WHERE cabin_id = ? AND acknowledged_at IS NULL"
                " ORDER BY received_at, alert_id",
                (cabin_id,),
            ).fetchall()
            db.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_role = ?,"
                " acknowledged_at = ?, false_alarm = 1"
                " WHERE cabin_id = ? AND acknowledged_at IS NULL",
                (by, AckRole.OPERATOR.value, _ts(at), cabin_id),
            )
            return [
                dataclasses.replace(
                    self._alert(row),
                    acknowledged_by=by,
                    acknowledged_role=AckRole.OPERATOR,
                    acknowledged_at=at,
                    false_alarm=True,
                )
                for row in rows
            ]

    def acknowledge_alert(
        self, alert_id: str, by: str, role: AckRole, at: datetime, false_alarm: bool
    ) -> tuple[AlertRecord, bool] | None:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_role = ?,"
                " acknowledged_at = ?, false_alarm = ?"
                " WHERE alert_id = ? AND acknowledged_at IS NULL",
                (by, role.value, _ts(at), int(false_alarm), alert_id),
            )
            if cursor.rowcount == 1:  # the repeats merged into it are handled with it
                db.execute(
                    "UPDATE alerts SET acknowledged_by = ?, acknowledged_role = ?,"
                    " acknowledged_at = ?, false_alarm = ?"
                    " WHERE merged_into = ? AND acknowledged_at IS NULL",
                    (by, role.value, _ts(at), int(false_alarm), alert_id),
                )
            stored = self.alert(alert_id)
            return None if stored is None else (stored, cursor.rowcount == 1)

    def mark_alert_escalated(self, alert_id: str, at: datetime) -> AlertRecord | None:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE alerts SET escalated_at = ? WHERE alert_id = ?"
                " AND acknowledged_at IS NULL AND escalated_at IS NULL",
                (_ts(at), alert_id),
            )
            return self.alert(alert_id) if cursor.rowcount == 1 else None

    def open_alerts(self, since: datetime, limit: int) -> list[AlertRecord]:
        rows = self._db.execute(
            _SELECT_ALERT + " WHERE acknowledged_at IS NULL AND merged_into IS NULL"
            " AND received_at >= ? ORDER BY received_at, alert_id LIMIT ?",
            (_ts(since), limit),
        )
        return [self._alert(row) for row in rows]

    # audit

    def add_audit(self, entry: AuditEntry) -> None:
        self._db.execute(
            "INSERT INTO audit_log (at, actor_kind, actor_id, action, consultation_id,"
            " client_address, alert_id, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _ts(entry.at),
                entry.actor_kind.value,
                entry.actor_id,
                entry.action,
                entry.consultation_id,
                entry.client_address,
                entry.alert_id,
                entry.subject,
            ),
        )

    def audit_entries(self, consultation_id: str | None) -> list[AuditEntry]:
        query = (
            "SELECT at, actor_kind, actor_id, action, consultation_id, client_address,"
            " alert_id, subject FROM audit_log"
        )
        if consultation_id is None:
            rows = self._db.execute(query + " ORDER BY id")
        else:
            rows = self._db.execute(
                query + " WHERE consultation_id = ? ORDER BY id", (consultation_id,)
            )
        return [
            AuditEntry(
                _dt(row[0]), ActorKind(row[1]), row[2], row[3], row[4], row[5], row[6], row[7]
            )
            for row in rows
        ]


class SqliteStorage(SqliteBookings, SqliteHandovers, SqliteFleet):
    """`hub.storage.Storage` on one SQLite file (its bookings: `hub.sqlite_booking`; its
    handovers: `hub.sqlite_handover`)."""

    def __init__(self, database: _Database, executor: ThreadPoolExecutor) -> None:
        self._database = database
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(cls, path: Path, key: DatabaseKey) -> SqliteStorage:
        """Open (or create) the file with ``key`` (encrypting a plaintext one first), and bring
        its schema up to date. `DatabaseKeyError` if the key does not open it (file untouched)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-sqlite")
        loop = asyncio.get_running_loop()
        try:
            database = await loop.run_in_executor(executor, _Database.open, path, key)
        except (sqlcipher3.Error, OSError) as exc:
            executor.shutdown(wait=False)
            raise StorageError(f"{path}: the database cannot be opened ({exc})") from exc
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(database, executor)

    async def _run(
        self, operation: Callable[Concatenate[_Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        if self._closed:
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, lambda: operation(self._database, *args, **kwargs)
            )
        except sqlcipher3.Error as exc:
            raise StorageError(f"database error: {type(exc).__name__}: {exc}") from exc

    async def _on_connection(
        self, operation: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(_Database.on_connection, lambda db: operation(db, *args, **kwargs))

    async def close(self) -> None:
        if self._closed:
            return
        await self._run(_Database.close)
        self._closed = True
        self._executor.shutdown(wait=True)

    async def check(self) -> None:
        await self._run(_Database.check)

    async def add_doctor(self, doctor: DoctorRecord) -> None:
        await self._run(_Database.add_doctor, doctor)

    async def doctor(self, username: str) -> DoctorRecord | None:
        return await self._run(_Database.doctor, username)

    async def doctors(self) -> list[DoctorRecord]:
        return await self._run(_Database.doctors)

    async def set_doctor_photo(self, username: str, photo: bytes | None) -> bool:
        return await self._run(_Database.set_doctor_photo, username, photo)

    async def set_doctor_details(self, username: str, details: DoctorDetails) -> bool:
        return await self._run(_Database.set_doctor_details, username, details)

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        await self._run(_Database.set_password_hash, username, password_hash)

    async def begin_login(
        self,
        username: str,
        client: str,
        *,
        now: datetime,
        free_failures: int,
        first_lock_s: float,
        max_lock_s: float,
    ) -> LoginAttempt:
        return await self._run(
            _Database.begin_login, username, client, now, free_failures, first_lock_s, max_lock_s
        )

    async def login_account(self, username: str) -> LoginAccount | None:
        return await self._run(_Database.login_account, username)

    async def end_login(self, username: str, client: str) -> None:
        await self._run(_Database.end_login, username, client)

    async def forget_login_attempts(self, *, before: datetime) -> int:
        return await self._run(_Database.forget_login_attempts, before)

    async def set_account_disabled(self, username: str, disabled: bool) -> bool:
        return await self._run(_Database.set_account_disabled, username, disabled)

    async def set_totp_required(self, username: str, required: bool) -> bool:
        return await self._run(_Database.set_totp_required, username, required)

    async def set_totp(
        self, username: str, *, secret: str | None, pending_secret: str | None
    ) -> bool:
        return await self._run(_Database.set_totp, username, secret, pending_secret)

    async def use_totp_step(self, username: str, step: int) -> bool:
        return await self._run(_Database.use_totp_step, username, step)

    async def add_agent(self, agent: AgentRecord) -> None:
        await self._run(_Database.add_agent, agent)

    async def agent(self, username: str) -> AgentRecord | None:
        return await self._run(_Database.agent, username)

    async def agents(self) -> list[AgentRecord]:
        return await self._run(_Database.agents)

    async def add_operator(self, operator: OperatorRecord) -> None:
        await self._run(_Database.add_operator, operator)

    async def operator(self, username: str) -> OperatorRecord | None:
        return await self._run(_Database.operator, username)

    async def add_session(self, session: SessionRecord) -> None:
        await self._run(_Database.add_session, session)

    async def session(self, token_sha256: str, *, now: datetime) -> SessionRecord | None:
        return await self._run(_Database.session, token_sha256, now)

    async def delete_session(self, token_sha256: str) -> None:
        await self._run(_Database.delete_session, token_sha256)

    async def delete_expired_sessions(self, *, now: datetime) -> int:
        return await self._run(_Database.delete_expired_sessions, now)

    async def live_session(
        self,
        token_sha256: str,
        *,
        now: datetime,
        idle_since: datetime | None,
        touch_before: datetime,
    ) -> SessionRecord | None:
        return await self._run(_Database.live_session, token_sha256, now, idle_since, touch_before)

    async def live_session_hashes(self, token_sha256s: set[str], *, now: datetime) -> set[str]:
        return await self._run(_Database.live_session_hashes, set(token_sha256s), now)

    async def trim_sessions(self, username: str, *, keep: int) -> list[str]:
        return await self._run(_Database.trim_sessions, username, keep)

    async def delete_sessions_of(self, username: str, *, keep: str | None = None) -> list[str]:
        return await self._run(_Database.delete_sessions_of, username, keep)

    async def put_cabin(self, cabin: CabinRecord) -> None:
        await self._run(_Database.put_cabin, cabin)

    async def cabin(self, cabin_id: str) -> CabinRecord | None:
        return await self._run(_Database.cabin, cabin_id)

    async def cabins(self) -> list[CabinRecord]:
        return await self._run(_Database.cabins)

    async def open_consultation(self, record: ConsultationRecord) -> ConsultationRecord:
        return await self._run(_Database.open_consultation, record)

    async def consultation(self, consultation_id: str) -> ConsultationRecord | None:
        return await self._run(_Database.consultation, consultation_id)

    async def mark_taken(self, consultation_id: str, *, doctor: str, at: datetime) -> bool:
        return await self._run(_Database.mark_taken, consultation_id, doctor, at)

    async def mark_waiting(self, consultation_id: str) -> None:
        await self._run(_Database.mark_waiting, consultation_id)

    async def close_consultation(
        self, consultation_id: str, *, status: ConsultationStatus, at: datetime
    ) -> None:
        await self._run(_Database.close_consultation, consultation_id, status, at)

    async def close_live_consultation(
        self, consultation_id: str, *, status: ConsultationStatus, at: datetime
    ) -> bool:
        return await self._run(_Database.close_live_consultation, consultation_id, status, at)

    async def set_notes(self, consultation_id: str, text: str) -> None:
        await self._run(_Database.set_notes, consultation_id, text)

    async def set_advice(
        self, consultation_id: str, text: str, *, msg_id: str, at: datetime
    ) -> AdviceRecord | None:
        return await self._run(_Database.set_advice, consultation_id, text, msg_id, at)

    async def undelivered_advice(
        self, *, since: datetime, cabin_id: str | None = None, limit: int = 1000
    ) -> list[AdviceRecord]:
        return await self._run(_Database.undelivered_advice, since, cabin_id, limit)

    async def mark_advice_delivered(
        self, msg_id: str, *, cabin_id: str, at: datetime
    ) -> AdviceRecord | None:
        return await self._run(_Database.mark_advice_delivered, msg_id, cabin_id, at)

    async def active_consultations(self, *, limit: int = 1000) -> list[ConsultationRecord]:
        return await self._run(_Database.active_consultations, limit)

    async def earlier_consultations(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecord]:
        return await self._run(_Database.earlier_consultations, match_key, before, exclude, limit)

    async def add_reading(self, reading: ReadingRecord) -> bool:
        return await self._run(_Database.add_reading, reading)

    async def readings(self, consultation_id: str) -> list[ReadingRecord]:
        return await self._run(_Database.readings, consultation_id)

    async def next_prescription_sequence(self, year: int) -> int:
        return await self._run(_Database.next_prescription_sequence, year)

    async def add_prescription(self, prescription: PrescriptionRecord) -> None:
        await self._run(_Database.add_prescription, prescription)

    async def prescription(self, prescription_id: str) -> PrescriptionRecord | None:
        return await self._run(_Database.prescription, prescription_id)

    async def prescription_signature(self, prescription_id: str) -> str | None:
        return await self._run(_Database.prescription_signature, prescription_id)

    async def prescriptions(self, consultation_id: str) -> list[PrescriptionRecord]:
        return await self._run(_Database.prescriptions, consultation_id)

    async def undelivered_prescriptions(
        self, *, since: datetime, cabin_id: str | None = None, limit: int = 1000
    ) -> list[UndeliveredPrescription]:
        return await self._run(_Database.undelivered_prescriptions, since, cabin_id, limit)

    async def mark_prescription_delivered(
        self, msg_id: str, *, cabin_id: str, at: datetime
    ) -> PrescriptionRecord | None:
        return await self._run(_Database.mark_prescription_delivered, msg_id, cabin_id, at)

    async def add_record(self, record: ConsultationRecordUpload) -> bool:
        return await self._run(_Database.add_record, record)

    async def earlier_records(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecordUpload]:
        return await self._run(_Database.earlier_records, match_key, before, exclude, limit)

    async def record_of_consultation(self, consultation_id: str) -> ConsultationRecordUpload | None:
        return await self._run(_Database.record_of_consultation, consultation_id)

    async def unindexed_records(self, *, limit: int) -> list[ConsultationRecordUpload]:
        return await self._run(_Database.unindexed_records, limit)

    async def index_record(
        self,
        record_id: str,
        *,
        match_key: str,
        started_at: datetime | None,
        cabin_id: str | None = None,
        digest: bytes | None = None,
    ) -> None:
        await self._run(_Database.index_record, record_id, match_key, started_at, cabin_id, digest)

    async def earlier_record_heads(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[RecordHead]:
        return await self._run(_Database.earlier_record_heads, match_key, before, exclude, limit)

    async def record_head_of_consultation(
        self, consultation_id: str, *, cabin_id: str
    ) -> RecordHead | None:
        return await self._run(_Database.record_head_of_consultation, consultation_id, cabin_id)

    async def record_bundle(self, cabin_id: str, record_id: str) -> bytes | None:
        return await self._run(_Database.record_bundle, cabin_id, record_id)

    async def consultations_to_rekey(self, *, limit: int) -> list[StoredMatchKey]:
        return await self._run(_Database.consultations_to_rekey, limit)

    async def set_match_key(self, consultation_id: str, match_key: str) -> None:
        await self._run(_Database.set_match_key, consultation_id, match_key)

    async def add_alert(self, alert: AlertRecord) -> tuple[AlertRecord, bool]:
        return await self._run(_Database.add_alert, alert)

    async def alert(self, alert_id: str) -> AlertRecord | None:
        return await self._run(_Database.alert, alert_id)

    async def acknowledge_alert(
        self, alert_id: str, *, by: str, role: AckRole, at: datetime, false_alarm: bool
    ) -> tuple[AlertRecord, bool] | None:
        return await self._run(_Database.acknowledge_alert, alert_id, by, role, at, false_alarm)

    async def mark_alert_escalated(self, alert_id: str, *, at: datetime) -> AlertRecord | None:
        return await self._run(_Database.mark_alert_escalated, alert_id, at)

    async def open_alerts(self, *, since: datetime, limit: int = 1000) -> list[AlertRecord]:
        return await self._run(_Database.open_alerts, since, limit)

    async def add_repeat(
        self, alert: AlertRecord, *, head_id: str, keep: bool, count: int = 1
    ) -> AlertRecord | None:
        return await self._run(_Database.add_repeat, alert, head_id, keep, count)

    async def merged_alert_ids(self, head_id: str, *, limit: int) -> list[str]:
        return await self._run(_Database.merged_alert_ids, head_id, limit)

    async def clear_alerts(self, cabin_id: str, *, by: str, at: datetime) -> list[AlertRecord]:
        return await self._run(_Database.clear_alerts, cabin_id, by, at)

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._run(_Database.add_audit, entry)

    async def audit_entries(self, *, consultation_id: str | None = None) -> Sequence[AuditEntry]:
        return await self._run(_Database.audit_entries, consultation_id)
