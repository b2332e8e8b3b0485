"""The encrypted store: every piece of health data the cabin keeps, in one SQLCipher file.

Durability: WAL journal with ``synchronous=FULL``: when a method returns, its row is on disk and
survives a ``kill -9`` or a power cut. Every write is one transaction; when the disk (or the
configured size quota) is full, the transaction is rolled back whole and ``StoreFullError`` says
so. A wrong key is detected before anything is written, and the file is left as it was.

A ``Store`` is used from one thread at a time; ``AsyncStore`` runs it on a thread of its own so
the Qt/asyncio thread never waits for a disk.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlcipher3

from devices.reading import Quality, Quantity, Reading, ReadingFlag, ReadingKind, Value
from keysource.sqlcipher_key import SQLITE_NOTADB, KeyDoesNotOpen, unlock
from kiosk.errors import (
    StoreCorruptError,
    StoreError,
    StoreFullError,
    WrongKeyError,
)
from kiosk.patient import PatientIdentity, Sex
from kiosk.store.key import DatabaseKey
from kiosk.store.migrations import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

_SQLITE_FULL = 13
_SQLITE_CORRUPT = 11
WAL_LIMIT_BYTES = 1024 * 1024
RECORD_KEY_PREFIX = "record:"
"""The outbox key of a consultation's record: this prefix and the consultation id."""


def _translate(exc: Exception, path: Path) -> StoreError:
    """A typed error for an SQLite failure (extended result codes keep the primary code in
    their low byte)."""
    code = int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == _SQLITE_FULL or "disk is full" in str(exc):
        log.error("store.full")
        return StoreFullError(
            f"{path}: the disk or the database's size quota is full; nothing was written."
            " Free space on the cabin's disk, then retry."
        )
    if code in (_SQLITE_CORRUPT, SQLITE_NOTADB):
        return StoreCorruptError(f"{path}: the database file is damaged ({exc})")
    return StoreError(f"{path}: the database refused the operation ({exc})")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("times are stored with their time zone")
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class StoredReading:
    reading_id: int
    consultation_id: str
    reading: Reading


@dataclass(frozen=True, slots=True)
class OutboxItem:
    key: str
    kind: str
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class ConsultationFile:
    """What the store holds of one consultation, to make its record and its documents."""

    consultation_id: str
    patient_id: str
    patient: PatientIdentity
    language: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    reason: str
    doctor_id: str | None
    doctor_info: bytes | None  # the doctor as the hub described them (wire JSON)
    advice: str
    readings: tuple[StoredReading, ...]
    prescriptions: tuple[bytes, ...]  # as received (wire JSON), oldest first
    appointment: ConsultationAppointment | None = None


@dataclass(frozen=True, slots=True)
class ConsultationAppointment:
    """The appointment the patient of a consultation confirmed (its record carries it)."""

    appointment_id: str
    starts_at: datetime
    ends_at: datetime
    doctor: str | None
    doctor_name: str | None


@dataclass(frozen=True, slots=True)
class SyncedAppointment:
    """One of today's appointments as the hub synced it: the code only as its hash."""

    appointment_id: str
    day: date
    timezone: str
    code_salt: bytes
    code_hash: bytes
    code_iterations: int
    patient: PatientIdentity
    starts_at: datetime
    ends_at: datetime
    valid_from: datetime
    valid_until: datetime
    doctor: str | None
    doctor_name: str | None
    used_at: datetime | None = None

    def __repr__(self) -> str:
        return f"SyncedAppointment({self.appointment_id}, <redacted>)"


PRINT_WAITING = "waiting"  # made, not printed yet (or the printer failed: to print again)
PRINT_PRINTING = "printing"
PRINT_PRINTED = "printed"
PRINT_FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PrintJob:
    """A document of a consultation for the cabin's printer. ``payload`` (the PDF) is kept,
    encrypted, until the consultation's record is filed and the document printed."""

    job_id: str
    consultation_id: str
    document: str  # "prescription" | "summary"
    ref: str  # the prescription number; "" for the summary
    title: str  # no patient data: it names the job in CUPS
    state: str  # PRINT_*
    problem: str | None
    attempts: int
    pages: int | None
    created_at: datetime
    printed_at: datetime | None
    payload: bytes | None


# --- the logs (no health data in any of them) ------------------------------------------------
PAPER_REFILL = "refill"
PAPER_PRINTED = "printed"


@dataclass(frozen=True, slots=True)
class DeviceLogEntry:
    at: datetime
    device_id: str
    event: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class PaperEntry:
    at: datetime
    by_whom: str
    event: str  # PAPER_REFILL, PAPER_PRINTED (or an older free-form event)
    pages: int | None  # sheets put in by a refill, or taken by a print job
    sheets_left: int | None  # after this event, when a refill was ever recorded


@dataclass(frozen=True, slots=True)
class CleaningEntry:
    at: datetime
    by_whom: str
    note: str | None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as the assistant and the log export see it: no consultation id."""

    alert_id: str
    kind: str
    severity: str
    raised_at: datetime
    confidence: float
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    false_alarm: bool | None
    escalated_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    subject: str | None


@dataclass(frozen=True, slots=True)
class LogExport:
    """Every log of the cabin, and nothing else: no patient, consultation or reading."""

    exported_at: datetime
    device_log: tuple[DeviceLogEntry, ...]
    paper_log: tuple[PaperEntry, ...]
    cleaning_log: tuple[CleaningEntry, ...]
    alerts: tuple[AlertRecord, ...]
    audit_log: tuple[AuditEntry, ...]


@dataclass(frozen=True, slots=True)
class SelfTestRecord:
    """A self-test's report as the store keeps it."""

    report_id: str
    trigger: str
    started_at: datetime
    finished_at: datetime
    results_json: str
    failed: int
    sent_at: datetime | None = None


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Store:
    def __init__(self, conn: Any, path: Path, now: Callable[[], datetime]) -> None:
        self._conn = conn
        self.path = path
        self._now = now

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path,
        key: DatabaseKey,
        *,
        max_size_bytes: int | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> Store:
        """Open (or create) the database, check the key, and bring the schema up to date."""
        existed = path.exists() and path.stat().st_size > 0
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlcipher3.Error as exc:
            raise StoreError(f"{path}: the database cannot be opened ({exc})") from exc
        try:
            try:
                unlock(conn, key, existed=existed)
            except KeyDoesNotOpen:
                raise WrongKeyError(
                    f"{path}: the database key ({key.source}) does not open this file; it"
                    " is the wrong key, or the file is not a cabin database. The file was"
                    " left untouched. Restore the right key (see deploy/README.md)."
                ) from None
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            # Keep the write-ahead log small: checkpoint every ~1 MB and truncate it after, so
            # the log itself never eats the room a small disk has left.
            conn.execute("PRAGMA wal_autocheckpoint = 256")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            if max_size_bytes is not None:
                page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])  # SQLCipher: text
                conn.execute(f"PRAGMA max_page_count = {max(1, max_size_bytes // page_size)}")
            store = cls(conn, path, now)
            store._migrate()
        except sqlcipher3.Error as exc:
            conn.close()
            raise _translate(exc, path) from exc
        except BaseException:
            conn.close()
            raise
        log.info("store.opened schema=%d", SCHEMA_VERSION)
        return store

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the database has schema {version}, newer than this software"
                f" ({SCHEMA_VERSION}); install the newer cabin software, do not downgrade"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction():
                for statement in MIGRATIONS[number - 1]:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number}")
            log.info("store.migrated to=%d", number)

    def close(self) -> None:
        self._conn.close()

    # --- transactions --------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlcipher3.Error as exc:
            raise _translate(exc, self.path) from exc

    def integrity_ok(self) -> bool:
        return bool(self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    # --- patients and consultations ------------------------------------------------------------
    def add_patient(self, patient: PatientIdentity) -> str:
        with self._transaction():
            return self._insert_patient(patient, _iso(self._now()))

    def _insert_patient(self, patient: PatientIdentity, at: str) -> str:
        patient_id = str(uuid.uuid4())
        self._conn.execute(
            "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                patient_id,
                patient.family_name,
                patient.given_names,
                patient.birth_date.isoformat(),
                patient.sex.value,
                patient.appointment_code,
                at,
            ),
        )
        return patient_id

    def patient(self, patient_id: str) -> PatientIdentity | None:
        row = self._conn.execute(
            "SELECT family_name, given_names, birth_date, sex, appointment_code"
            " FROM patients WHERE id = ?",
            (patient_id,),
        ).fetchone()
        if row is None:
            return None
        return PatientIdentity(row[0], row[1], date.fromisoformat(row[2]), Sex(row[3]), row[4])

    def open_consultation(self, patient: PatientIdentity, language: str) -> tuple[str, str]:
        """After the patient's consent, in one transaction: find the patient's record (same
        names and birth date) or create it, then open a consultation with its consent time.
        Nothing of a patient is written before they consent. Returns (patient, consultation)."""
        consultation_id = str(uuid.uuid4())
        at = _iso(self._now())
        with self._transaction():
            row = self._conn.execute(
                "SELECT id FROM patients WHERE family_name = ? AND given_names = ?"
                " AND birth_date = ? ORDER BY created_at LIMIT 1",
                (patient.family_name, patient.given_names, patient.birth_date.isoformat()),
            ).fetchone()
            patient_id = str(row[0]) if row else self._insert_patient(patient, at)
            self._conn.execute(
                "INSERT INTO consultations (id, patient_id, language, started_at, consent_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (consultation_id, patient_id, language, at, at),
            )
        return patient_id, consultation_id

    def start_consultation(self, patient_id: str, language: str) -> str:
        consultation_id = str(uuid.uuid4())
        with self._transaction():
            self._conn.execute(
                "INSERT INTO consultations (id, patient_id, language, started_at)"
                " VALUES (?, ?, ?, ?)",
                (consultation_id, patient_id, language, _iso(self._now())),
            )
        return consultation_id

    def record_consent(self, consultation_id: str) -> None:
        with self._transaction():
            self._update_one(
                "UPDATE consultations SET consent_at = ? WHERE id = ? AND consent_at IS NULL",
                (_iso(self._now()), consultation_id),
            )

    def end_consultation(self, consultation_id: str, reason: str) -> None:
        with self._transaction():
            self._update_one(
                "UPDATE consultations SET ended_at = ?, end_reason = ?"
                " WHERE id = ? AND ended_at IS NULL",
                (_iso(self._now()), reason, consultation_id),
            )

    def close_unfinished_consultations(self, reason: str) -> int:
        """At start-up: consultations a crash left open are closed (their data is kept)."""
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE consultations SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL",
                (_iso(self._now()), reason),
            )
        return int(cursor.rowcount)

    def consultation_ended(self, consultation_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT end_reason FROM consultations WHERE id = ?", (consultation_id,)
        ).fetchone()
        return None if row is None else row[0]

    def set_consultation_details(
        self,
        consultation_id: str,
        *,
        reason: str | None = None,
        doctor_id: str | None = None,
        doctor_info: bytes | None = None,
        advice: str | None = None,
    ) -> None:
        """What the record of the consultation needs besides its readings; None: unchanged."""
        with self._transaction():
            self._update_one(
                "UPDATE consultations SET reason = COALESCE(?, reason),"
                " doctor_id = COALESCE(?, doctor_id), doctor_info = COALESCE(?, doctor_info),"
                " advice = COALESCE(?, advice) WHERE id = ?",
                (reason, doctor_id, doctor_info, advice, consultation_id),
            )

    def set_consultation_appointment(
        self, consultation_id: str, appointment: ConsultationAppointment, *, used_here: bool
    ) -> None:
        """The appointment the consultation's patient confirmed; `used_here`: checked against
        the synced list (offline), whose entry is then marked used (a code opens once)."""
        with self._transaction():
            self._update_one(
                "UPDATE consultations SET appointment_id = ?, appointment_starts_at = ?,"
                " appointment_ends_at = ?, appointment_doctor = ?, appointment_doctor_name = ?"
                " WHERE id = ?",
                (
                    appointment.appointment_id,
                    _iso(appointment.starts_at),
                    _iso(appointment.ends_at),
                    appointment.doctor,
                    appointment.doctor_name,
                    consultation_id,
                ),
            )
            if used_here:
                self._conn.execute(
                    "UPDATE todays_appointments SET used_at = ? WHERE appointment_id = ?"
                    " AND used_at IS NULL",
                    (_iso(self._now()), appointment.appointment_id),
                )

    def replace_todays_appointments(self, entries: list[SyncedAppointment]) -> None:
        """The hub's list of today's appointments, in place of the one before. An entry this
        cabin used offline stays used (the hub may not have heard of it yet)."""
        with self._transaction():
            used = {
                str(row[0]): str(row[1])
                for row in self._conn.execute(
                    "SELECT appointment_id, used_at FROM todays_appointments"
                    " WHERE used_at IS NOT NULL"
                )
            }
            self._conn.execute("DELETE FROM todays_appointments")
            for entry in entries:
                self._conn.execute(
                    "INSERT INTO todays_appointments VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.appointment_id,
                        entry.day.isoformat(),
                        entry.timezone,
                        entry.code_salt,
                        entry.code_hash,
                        entry.code_iterations,
                        entry.patient.family_name,
                        entry.patient.given_names,
                        entry.patient.birth_date.isoformat(),
                        _iso(entry.starts_at),
                        _iso(entry.ends_at),
                        _iso(entry.valid_from),
                        _iso(entry.valid_until),
                        entry.doctor,
                        entry.doctor_name,
                        used.get(entry.appointment_id)
                        or (None if entry.used_at is None else _iso(entry.used_at)),
                    ),
                )

    def todays_appointments(self) -> list[SyncedAppointment]:
        """The synced appointments of the day (after `purge_past_appointments`), by start."""
        rows = self._conn.execute(
            "SELECT appointment_id, day, timezone, code_salt, code_hash, code_iterations,"
            " family_name, given_names, birth_date, starts_at, ends_at, valid_from, valid_until,"
            " doctor, doctor_name, used_at FROM todays_appointments ORDER BY starts_at"
        ).fetchall()
        return [
            SyncedAppointment(
                appointment_id=str(r[0]),
                day=date.fromisoformat(r[1]),
                timezone=str(r[2]),
                code_salt=bytes(r[3]),
                code_hash=bytes(r[4]),
                code_iterations=int(r[5]),
                patient=PatientIdentity(r[6], r[7], date.fromisoformat(r[8])),
                starts_at=datetime.fromisoformat(r[9]),
                ends_at=datetime.fromisoformat(r[10]),
                valid_from=datetime.fromisoformat(r[11]),
                valid_until=datetime.fromisoformat(r[12]),
                doctor=r[13],
                doctor_name=r[14],
                used_at=_moment(r[15]),
            )
            for r in rows
        ]

    def purge_past_appointments(self) -> int:
        """Forget the synced appointments of the days before today (today in each entry's
        time zone); how many."""
        now = self._now()
        with self._transaction():
            days = self._conn.execute(
                "SELECT DISTINCT day, timezone FROM todays_appointments"
            ).fetchall()
            gone = 0
            for day, zone in days:
                if date.fromisoformat(day) < now.astimezone(ZoneInfo(zone)).date():
                    cursor = self._conn.execute(
                        "DELETE FROM todays_appointments WHERE day = ? AND timezone = ?",
                        (day, zone),
                    )
                    gone += int(cursor.rowcount)
        return gone

    def consultation_file(self, consultation_id: str) -> ConsultationFile | None:
        row = self._conn.execute(
            "SELECT c.patient_id, c.language, c.started_at, c.ended_at, c.end_reason, c.reason,"
            " c.doctor_id, c.doctor_info, c.advice, c.appointment_id, c.appointment_starts_at,"
            " c.appointment_ends_at, c.appointment_doctor, c.appointment_doctor_name"
            " FROM consultations c WHERE c.id = ?",
            (consultation_id,),
        ).fetchone()
        if row is None:
            return None
        patient = self.patient(str(row[0]))
        if patient is None:
            raise StoreCorruptError(f"consultation {consultation_id} has no patient")
        return ConsultationFile(
            consultation_id=consultation_id,
            patient_id=str(row[0]),
            patient=patient,
            language=str(row[1]),
            started_at=datetime.fromisoformat(row[2]),
            ended_at=_moment(row[3]),
            end_reason=row[4],
            reason=str(row[5] or ""),
            doctor_id=row[6],
            doctor_info=None if row[7] is None else bytes(row[7]),
            advice=str(row[8] or ""),
            readings=tuple(self.readings(consultation_id)),
            prescriptions=tuple(self.prescriptions(consultation_id)),
            appointment=None
            if row[9] is None
            else ConsultationAppointment(
                appointment_id=str(row[9]),
                starts_at=datetime.fromisoformat(row[10]),
                ends_at=datetime.fromisoformat(row[11]),
                doctor=row[12],
                doctor_name=row[13],
            ),
        )

    def consultations_without_record(self, limit: int = 100) -> list[str]:
        """Ended consultations (with consent) whose record was never filed in the outbox: a
        crash or a power cut came between their end and the filing."""
        rows = self._conn.execute(
            "SELECT id FROM consultations c WHERE ended_at IS NOT NULL AND consent_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = ? || c.id)"
            " ORDER BY started_at LIMIT ?",
            (RECORD_KEY_PREFIX, limit),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def file_record(self, consultation_id: str, payload: bytes) -> bool:
        """In one transaction: queue the consultation's record for the hub (once: False if it
        was already), and forget the PDFs already printed, which the record now carries."""
        at = _iso(self._now())
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO outbox (key, kind, payload, created_at, next_attempt_at)"
                " VALUES (?, 'record', ?, ?, ?)",
                (RECORD_KEY_PREFIX + consultation_id, payload, at, at),
            )
            self._conn.execute(
                "UPDATE print_jobs SET payload = NULL WHERE consultation_id = ? AND state = ?",
                (consultation_id, PRINT_PRINTED),
            )
        return bool(cursor.rowcount == 1)

    # --- print jobs ------------------------------------------------------------------------------
    def add_print_job(
        self, consultation_id: str, document: str, ref: str, title: str, payload: bytes
    ) -> tuple[str, bool]:
        """Keep a document to print; the same document of a consultation is kept once.
        Returns its job id and whether it is new."""
        job_id = str(uuid.uuid4())
        at = _iso(self._now())
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO print_jobs (id, consultation_id, document, ref, title,"
                " payload, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, consultation_id, document, ref, title, payload, PRINT_WAITING, at, at),
            )
            if cursor.rowcount == 1:
                return job_id, True
            row = self._conn.execute(
                "SELECT id FROM print_jobs WHERE consultation_id = ? AND document = ? AND ref = ?",
                (consultation_id, document, ref),
            ).fetchone()
        return str(row[0]), False

    def print_job(self, job_id: str, *, with_payload: bool = True) -> PrintJob | None:
        row = self._conn.execute(
            f"SELECT {_PRINT_JOB_COLUMNS}, {'payload' if with_payload else 'NULL'}"  # noqa: S608 - fixed text
            " FROM print_jobs WHERE id = ?",
            (job_id,),
        ).fetchone()
        return None if row is None else _print_job(row)

    def print_jobs(
        self, consultation_id: str | None = None, *, unprinted_only: bool = False
    ) -> list[PrintJob]:
        """Jobs without their payload, oldest first: a consultation's, or the whole cabin's."""
        sql = f"SELECT {_PRINT_JOB_COLUMNS}, NULL FROM print_jobs WHERE 1 = 1"  # noqa: S608
        params: list[object] = []
        if consultation_id is not None:
            sql += " AND consultation_id = ?"
            params.append(consultation_id)
        if unprinted_only:
            sql += " AND state != ?"
            params.append(PRINT_PRINTED)
        rows = self._conn.execute(sql + " ORDER BY created_at, id", params).fetchall()
        return [_print_job(r) for r in rows]

    def print_job_started(self, job_id: str) -> None:
        with self._transaction():
            self._update_one(
                "UPDATE print_jobs SET state = ?, attempts = attempts + 1, updated_at = ?"
                " WHERE id = ?",
                (PRINT_PRINTING, _iso(self._now()), job_id),
            )

    def print_job_printed(self, job_id: str, pages: int) -> int | None:
        """The printer printed it: the paper log counts its pages; returns the sheets left.
        The PDF stays until the consultation's record carries it (``file_record``), or goes
        now if the record was filed already."""
        at = _iso(self._now())
        with self._transaction():
            self._update_one(
                "UPDATE print_jobs SET state = ?, problem = NULL, pages = ?, printed_at = ?,"
                " updated_at = ? WHERE id = ?",
                (PRINT_PRINTED, pages, at, at, job_id),
            )
            self._conn.execute(
                "UPDATE print_jobs SET payload = NULL WHERE id = ? AND EXISTS (SELECT 1 FROM"
                " outbox o WHERE o.key = ? || print_jobs.consultation_id)",
                (job_id, RECORD_KEY_PREFIX),
            )
            before = self._sheets_left()
            left = None if before is None else max(0, before - pages)
            self._conn.execute(
                "INSERT INTO paper_log (at, by_whom, event, pages, sheets_left)"
                " VALUES (?, 'cabin', ?, ?, ?)",
                (at, PAPER_PRINTED, pages, left),
            )
        return left

    def print_job_failed(self, job_id: str, problem: str) -> None:
        with self._transaction():
            self._update_one(
                "UPDATE print_jobs SET state = ?, problem = ?, updated_at = ? WHERE id = ?",
                (PRINT_FAILED, problem, _iso(self._now()), job_id),
            )

    def interrupted_print_jobs(self) -> int:
        """At start-up: a job a crash caught while printing is failed (to print again)."""
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE print_jobs SET state = ?, problem = 'interrupted', updated_at = ?"
                " WHERE state = ?",
                (PRINT_FAILED, _iso(self._now()), PRINT_PRINTING),
            )
        return int(cursor.rowcount)

    # --- readings ------------------------------------------------------------------------------
    def add_reading(self, consultation_id: str, reading: Reading) -> int:
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT INTO readings (consultation_id, device_id, kind, measured_at, stored_at,"
                " quality, flags) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    consultation_id,
                    reading.device_id,
                    reading.kind.value,
                    _iso(reading.measured_at),
                    _iso(self._now()),
                    reading.quality.value,
                    " ".join(sorted(flag.value for flag in reading.flags)),
                ),
            )
            reading_id = int(cursor.lastrowid)
            self._conn.executemany(
                "INSERT INTO reading_values VALUES (?, ?, ?)",
                [(reading_id, v.quantity.value, v.value) for v in reading.values],
            )
        return reading_id

    def readings(self, consultation_id: str) -> list[StoredReading]:
        rows = self._conn.execute(
            "SELECT r.id, r.device_id, r.kind, r.measured_at, r.quality, r.flags,"
            " v.quantity, v.value"
            " FROM readings r JOIN reading_values v ON v.reading_id = r.id"
            " WHERE r.consultation_id = ? ORDER BY r.id, v.quantity",
            (consultation_id,),
        ).fetchall()
        heads: dict[int, tuple[str, str, str, str, str]] = {}
        values: dict[int, list[Value]] = {}
        for reading_id, device_id, kind, measured_at, quality, flags, quantity, value in rows:
            heads[reading_id] = (device_id, kind, measured_at, quality, flags)
            values.setdefault(reading_id, []).append(Value(Quantity(quantity), float(value)))
        return [
            StoredReading(
                reading_id,
                consultation_id,
                Reading(
                    device,
                    ReadingKind(kind),
                    tuple(values[reading_id]),
                    datetime.fromisoformat(at),
                    Quality(quality),
                    frozenset(ReadingFlag(flag) for flag in flags.split()),
                ),
            )
            for reading_id, (device, kind, at, quality, flags) in heads.items()
        ]

    def reading_ids(self) -> set[int]:
        return {int(r[0]) for r in self._conn.execute("SELECT id FROM readings")}

    # --- prescriptions (as the hub signed them) -------------------------------------------------
    def add_prescription(
        self,
        prescription_id: str,
        consultation_id: str,
        issued_at: datetime,
        doctor_id: str,
        payload: bytes,
        signature: str,
    ) -> bool:
        """Keep a prescription to print; the same id twice is kept once (False the 2nd time)."""
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO prescriptions"
                " (id, consultation_id, issued_at, doctor_id, payload, signature)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (prescription_id, consultation_id, _iso(issued_at), doctor_id, payload, signature),
            )
        return bool(cursor.rowcount == 1)

    def has_consultation(self, consultation_id: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM consultations WHERE id = ?", (consultation_id,)
        ).fetchone()
        return row is not None

    def prescriptions(self, consultation_id: str) -> list[bytes]:
        """The prescriptions of a consultation, as received (wire JSON), oldest first."""
        rows = self._conn.execute(
            "SELECT payload FROM prescriptions WHERE consultation_id = ? ORDER BY issued_at, id",
            (consultation_id,),
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    # --- outbox (records waiting for the hub's acknowledgement) --------------------------------
    def enqueue(self, key: str, kind: str, payload: bytes) -> bool:
        """Queue a message for the hub; the same key twice is queued once (False the 2nd time)."""
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO outbox (key, kind, payload, created_at, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, kind, payload, _iso(self._now()), _iso(self._now())),
            )
        return bool(cursor.rowcount == 1)

    def due_outbox(self, limit: int = 20) -> list[OutboxItem]:
        rows = self._conn.execute(
            "SELECT key, kind, payload, attempts FROM outbox"
            " WHERE acked_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (_iso(self._now()), limit),
        ).fetchall()
        return [OutboxItem(r[0], r[1], bytes(r[2]), int(r[3])) for r in rows]

    def outbox_failed(self, key: str, error: str, retry_at: datetime) -> None:
        with self._transaction():
            self._update_one(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                " WHERE key = ?",
                (error[:500], _iso(retry_at), key),
            )

    def outbox_acknowledged(self, key: str) -> None:
        """The hub has it: the copy here is emptied (the row stays, so it is never sent
        again nor filed again)."""
        with self._transaction():
            self._conn.execute(
                "UPDATE outbox SET acked_at = ?, payload = x'' WHERE key = ? AND acked_at IS NULL",
                (_iso(self._now()), key),
            )

    def outbox_pending(self) -> int:
        """How many messages still wait for the hub's acknowledgement."""
        row = self._conn.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()
        return int(row[0])

    # --- logs for the assistant mode and the fleet ---------------------------------------------
    def log_device(self, device_id: str, event: str, detail: str | None = None) -> None:
        self._insert(
            "INSERT INTO device_log (at, device_id, event, detail) VALUES (?, ?, ?, ?)",
            (_iso(self._now()), device_id, event, detail),
        )

    def log_paper(self, by_whom: str, event: str, sheets_left: int | None) -> None:
        self._insert(
            "INSERT INTO paper_log (at, by_whom, event, sheets_left) VALUES (?, ?, ?, ?)",
            (_iso(self._now()), by_whom, event, sheets_left),
        )

    def log_cleaning(self, by_whom: str, consultation_id: str | None, note: str | None) -> None:
        self._insert(
            "INSERT INTO cleaning_log (at, by_whom, consultation_id, note) VALUES (?, ?, ?, ?)",
            (_iso(self._now()), by_whom, consultation_id, note),
        )

    def add_alert(
        self,
        alert_id: str,
        kind: str,
        severity: str,
        raised_at: datetime,
        confidence: float,
        consultation_id: str | None,
    ) -> None:
        self._insert(
            "INSERT INTO alerts (id, kind, severity, raised_at, confidence, consultation_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, kind, severity, _iso(raised_at), confidence, consultation_id),
        )

    def acknowledge_alert(self, alert_id: str, by_whom: str, false_alarm: bool) -> None:
        with self._transaction():
            self._update_one(
                "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?, false_alarm = ?"
                " WHERE id = ?",
                (_iso(self._now()), by_whom, int(false_alarm), alert_id),
            )

    def acknowledge_open_alert(
        self, alert_id: str, by_whom: str, false_alarm: bool
    ) -> tuple[AlertRecord, bool] | None:
        """Acknowledge an alert in one transaction, unless someone already did: the first
        acknowledgement stands. Returns the alert as it now is and whether this call
        acknowledged it; None when there is no such alert."""
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?, false_alarm = ?"
                " WHERE id = ? AND acknowledged_at IS NULL",
                (_iso(self._now()), by_whom, int(false_alarm), alert_id),
            )
            record = self.alert(alert_id)
        return None if record is None else (record, bool(cursor.rowcount == 1))

    def audit(self, actor: str, action: str, subject: str | None = None) -> None:
        self._insert(
            "INSERT INTO audit_log (at, actor, action, subject) VALUES (?, ?, ?, ?)",
            (_iso(self._now()), actor, action, subject),
        )

    # --- reading the logs (the assistant mode, the log export) ---------------------------------
    def record_paper_refill(self, by_whom: str, sheets: int) -> None:
        """The tray now holds ``sheets`` sheets (a refill resets the count)."""
        if sheets < 0:
            raise StoreError("a refill cannot hold fewer than 0 sheets")
        self._insert(
            "INSERT INTO paper_log (at, by_whom, event, pages, sheets_left) VALUES (?, ?, ?, ?, ?)",
            (_iso(self._now()), by_whom, PAPER_REFILL, sheets, sheets),
        )

    def record_paper_printed(self, pages: int, by_whom: str = "cabin") -> int | None:
        """A print job took ``pages`` sheets; returns the sheets left (None: never refilled)."""
        if pages < 0:
            raise StoreError("a print job cannot take fewer than 0 pages")
        with self._transaction():
            before = self._sheets_left()
            left = None if before is None else max(0, before - pages)
            self._conn.execute(
                "INSERT INTO paper_log (at, by_whom, event, pages, sheets_left)"
                " VALUES (?, ?, ?, ?, ?)",
                (_iso(self._now()), by_whom, PAPER_PRINTED, pages, left),
            )
        return left

    def sheets_left(self) -> int | None:
        """The last refill minus the pages printed since; None when no refill was recorded."""
        return self._sheets_left()

    def _sheets_left(self) -> int | None:
        refill = self._conn.execute(
            "SELECT id, COALESCE(pages, sheets_left) FROM paper_log WHERE event = ?"
            " ORDER BY id DESC LIMIT 1",
            (PAPER_REFILL,),
        ).fetchone()
        if refill is None or refill[1] is None:
            return None
        printed = self._conn.execute(
            "SELECT COALESCE(SUM(pages), 0) FROM paper_log WHERE event = ? AND id > ?",
            (PAPER_PRINTED, refill[0]),
        ).fetchone()[0]
        return max(0, int(refill[1]) - int(printed))

    def paper_history(self, limit: int | None = None) -> list[PaperEntry]:
        """The paper log, newest first."""
        rows = self._conn.execute(
            "SELECT at, by_whom, event, pages, sheets_left FROM paper_log ORDER BY id DESC LIMIT ?",
            (_limit(limit),),
        ).fetchall()
        return [PaperEntry(datetime.fromisoformat(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def cleaning_history(self, limit: int | None = None) -> list[CleaningEntry]:
        """The cleaning log, newest first."""
        rows = self._conn.execute(
            "SELECT at, by_whom, note FROM cleaning_log ORDER BY id DESC LIMIT ?",
            (_limit(limit),),
        ).fetchall()
        return [CleaningEntry(datetime.fromisoformat(r[0]), r[1], r[2]) for r in rows]

    def device_history(self, limit: int | None = None) -> list[DeviceLogEntry]:
        """The device log, newest first."""
        rows = self._conn.execute(
            "SELECT at, device_id, event, detail FROM device_log ORDER BY id DESC LIMIT ?",
            (_limit(limit),),
        ).fetchall()
        return [DeviceLogEntry(datetime.fromisoformat(r[0]), r[1], r[2], r[3]) for r in rows]

    def audit_history(self, limit: int | None = None) -> list[AuditEntry]:
        """The audit log, newest first."""
        rows = self._conn.execute(
            "SELECT at, actor, action, subject FROM audit_log ORDER BY id DESC LIMIT ?",
            (_limit(limit),),
        ).fetchall()
        return [AuditEntry(datetime.fromisoformat(r[0]), r[1], r[2], r[3]) for r in rows]

    def alerts(self, open_only: bool, limit: int | None = None) -> list[AlertRecord]:
        """Alerts, newest first; with ``open_only``, those nobody acknowledged yet."""
        where = " WHERE acknowledged_at IS NULL" if open_only else ""
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts{where} ORDER BY raised_at DESC, id DESC"  # noqa: S608
        rows = self._conn.execute(f"{sql} LIMIT ?", (_limit(limit),)).fetchall()
        return [_alert(row) for row in rows]

    def alert(self, alert_id: str) -> AlertRecord | None:
        row = self._conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608
            (alert_id,),
        ).fetchone()
        return None if row is None else _alert(row)

    def export_logs(self) -> LogExport:
        """Every log, oldest first, read at one moment (this connection is the only writer)."""
        return LogExport(
            self._now(),
            tuple(reversed(self.device_history())),
            tuple(reversed(self.paper_history())),
            tuple(reversed(self.cleaning_history())),
            tuple(reversed(self.alerts(open_only=False))),
            tuple(reversed(self.audit_history())),
        )

    def set_device_address(self, device_id: str, address: str) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO device_addresses VALUES (?, ?, ?) ON CONFLICT(device_id)"
                " DO UPDATE SET address = excluded.address, paired_at = excluded.paired_at",
                (device_id, address, _iso(self._now())),
            )

    def forget_device_address(self, device_id: str) -> None:
        with self._transaction():
            self._conn.execute("DELETE FROM device_addresses WHERE device_id = ?", (device_id,))

    def device_addresses(self) -> dict[str, str]:
        """The addresses the agents paired, by instrument id."""
        rows = self._conn.execute("SELECT device_id, address FROM device_addresses").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    # --- the cabin's state that outlives a restart (cabin_state, migration 7) -----------------
    # Generic key/value facts of the cabin (no patient data): when it last had the hub
    # ("hub_last_seen"), the assistant's PIN lockout. Text values; the caller encodes.
    def cabin_state_get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM cabin_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def cabin_state_set(self, key: str, value: str, now: datetime) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO cabin_state (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, value, _iso(now)),
            )

    # --- end of the cabin's state -------------------------------------------------------------

    def count(self, table: str) -> int:
        if table not in _TABLES:
            raise StoreError(f"no table {table!r}")
        return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608

    # --- self-test reports (issue 18; kiosk.selftest owns what they say) ----------------------
    # The results are kept as the JSON text the self-test gives (a list of wire.SelfTestResult):
    # the store does not read them. ``sent_at`` is set once the hub acknowledged the report.
    def add_selftest_report(self, report: SelfTestRecord) -> None:
        self._insert(
            "INSERT OR IGNORE INTO selftest_reports"
            " (report_id, trigger, started_at, finished_at, results, failed, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (
                report.report_id,
                report.trigger,
                _iso(report.started_at),
                _iso(report.finished_at),
                report.results_json,
                report.failed,
            ),
        )

    def last_selftest_report(self) -> SelfTestRecord | None:
        row = self._conn.execute(
            f"SELECT {_SELFTEST_COLUMNS} FROM selftest_reports"  # noqa: S608 - constant
            " ORDER BY started_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return None if row is None else _selftest(row)

    def unsent_selftest_reports(self, limit: int = 20) -> list[SelfTestRecord]:
        """The reports the hub has not acknowledged yet, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_SELFTEST_COLUMNS} FROM selftest_reports"  # noqa: S608 - constant
            " WHERE sent_at IS NULL ORDER BY started_at, rowid LIMIT ?",
            (limit,),
        ).fetchall()
        return [_selftest(r) for r in rows]

    def selftest_report_sent(self, report_id: str) -> None:
        with self._transaction():
            self._conn.execute(
                "UPDATE selftest_reports SET sent_at = ? WHERE report_id = ? AND sent_at IS NULL",
                (_iso(self._now()), report_id),
            )

    def integrity_problems(self) -> list[str]:
        """What SQLCipher's page check (every page's HMAC: a page changed outside SQLCipher)
        and SQLite's quick check find wrong; empty when the file is sound."""
        problems: list[str] = []
        for pragma in ("cipher_integrity_check", "quick_check"):
            try:
                rows = self._conn.execute(f"PRAGMA {pragma}").fetchall()
            except sqlcipher3.DatabaseError as exc:  # too damaged to even walk
                problems.append(f"{pragma}: {exc}")
                continue
            problems += [f"{pragma}: {r[0]}" for r in rows if str(r[0]) != "ok"]
        return problems

    # --- inside --------------------------------------------------------------------------------
    def _insert(self, sql: str, params: tuple[object, ...]) -> None:
        with self._transaction():
            self._conn.execute(sql, params)

    def _update_one(self, sql: str, params: tuple[object, ...]) -> None:
        cursor = self._conn.execute(sql, params)
        if cursor.rowcount == 0:
            raise StoreError("no such record, or already done")


_SELFTEST_COLUMNS = "report_id, trigger, started_at, finished_at, results, failed, sent_at"


def _selftest(row: tuple[Any, ...]) -> SelfTestRecord:
    return SelfTestRecord(
        report_id=str(row[0]),
        trigger=str(row[1]),
        started_at=datetime.fromisoformat(row[2]),
        finished_at=datetime.fromisoformat(row[3]),
        results_json=str(row[4]),
        failed=int(row[5]),
        sent_at=_moment(row[6]),
    )


_ALERT_COLUMNS = (
    "id, kind, severity, raised_at, confidence, acknowledged_at, acknowledged_by, false_alarm,"
    " escalated_at"
)


def _alert(row: tuple[Any, ...]) -> AlertRecord:
    false_alarm = None if row[7] is None else bool(row[7])
    return AlertRecord(
        row[0],
        row[1],
        row[2],
        datetime.fromisoformat(row[3]),
        float(row[4]),
        _moment(row[5]),
        row[6],
        false_alarm,
        _moment(row[8]),
    )


def _limit(limit: int | None) -> int:
    """SQLite's LIMIT: -1 is no limit."""
    if limit is None:
        return -1
    if limit < 0:
        raise StoreError("a limit cannot be negative")
    return limit


_PRINT_JOB_COLUMNS = (
    "id, consultation_id, document, COALESCE(ref, ''), title, state, problem, attempts, pages,"
    " created_at, printed_at"
)


def _print_job(row: tuple[Any, ...]) -> PrintJob:
    return PrintJob(
        job_id=str(row[0]),
        consultation_id=str(row[1]),
        document=str(row[2]),
        ref=str(row[3]),
        title=str(row[4]),
        state=str(row[5]),
        problem=row[6],
        attempts=int(row[7]),
        pages=None if row[8] is None else int(row[8]),
        created_at=datetime.fromisoformat(row[9]),
        printed_at=_moment(row[10]),
        payload=None if row[11] is None else bytes(row[11]),
    )


_TABLES = frozenset(
    {
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
        "selftest_reports",
    }
)
