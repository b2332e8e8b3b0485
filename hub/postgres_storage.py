"""`Storage` on PostgreSQL (asyncpg, a pool), for a fleet of hub replicas sharing one database.

It behaves as `hub.sqlite_storage.SqliteStorage` does (the same results, the same errors), with
what a database shared by several processes needs:

- What SQLite got from its single writer thread is a transaction here, or one conditional
  statement: a take is an ``UPDATE ... WHERE status = 'waiting'`` (one replica wins), an alert is
  new by its primary key (``INSERT ... ON CONFLICT DO NOTHING``), a sign-in attempt is counted
  under the row's lock, account names are unique across doctors and agents under an advisory
  lock, an alert's repeats and acknowledgements lock its head.
- Health data is sealed by the hub (`hub.sealing`, AES-256-GCM) before it is sent: the columns
  of `SEALED`. Each value is bound to its table, column and row; a patient's match key is
  stored sealed and found through its blind index (``patient_index``, an HMAC). Ids, statuses,
  times, cabin ids and usernames stay in the clear: the hub queries them.
- A wrong data key is refused before anything is written (`data_keys` keeps a value sealed with
  each key the database has seen). A new current key in the ring starts `reseal`: old values are
  sealed again in the background, in batches, resumably, by any number of replicas at once
  (``FOR UPDATE SKIP LOCKED``).
- Every failure of the database or of the connection is a `StorageError` whose message says
  what is down; the pool reconnects by itself once PostgreSQL is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import msgspec

import wire
from hub.cancellation import cancel_and_wait
from hub.errors import AccountError, CorruptRecord, DatabaseKeyError, StorageError
from hub.log_safe import log_safe
from hub.postgres_booking import BOOKING_SEALED, PostgresBookings
from hub.postgres_fleet import PostgresFleet
from hub.postgres_handover import SEALED as HANDOVER_SEALED
from hub.postgres_handover import PostgresHandovers
from hub.postgres_migrations import MIGRATIONS, migrate, refuse_newer, schema_version
from hub.sealing import INDEX_KEY_ID, DataKeyring, Place, SealedValueError
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

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection = Any
"""An `asyncpg.Connection` (asyncpg ships no type information)."""
Row = Any
"""An `asyncpg.Record`: read by column name."""

SEALED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "consultations": (
        ("consultation_id",),
        ("patient", "match_key", "reason", "age_years", "sex", "notes", "advice"),
    ),
    "readings": (("consultation_id", "msg_id"), ("vital",)),
    "prescriptions": (("prescription_id",), ("lines", "patient")),
    "records": (("cabin_id", "record_id"), ("bundle", "match_key", "digest")),
    "alerts": (("alert_id",), ("detail",)),
    "account_security": (("username",), ("totp_secret", "totp_pending_secret")),
    **BOOKING_SEALED,
    **HANDOVER_SEALED,
}
"""Each table holding sealed values: the columns naming a row (its identity in the associated
data, and the order `reseal` walks it in), and the sealed columns."""

RESEAL_BATCH = 200
"""Rows sealed again per transaction."""
RESEAL_RETRY_S = 60.0
"""After a failure (PostgreSQL down), the background re-encryption tries again this late."""
DEFAULT_TIMEOUT_S = 10.0

_LINES = msgspec.json.Decoder(tuple[wire.PrescriptionLine, ...])
_DOCTOR_INFO = msgspec.json.Decoder(wire.DoctorInfo)
_PATIENT = msgspec.json.Decoder(wire.PatientSummary)
_VITAL = msgspec.json.Decoder(wire.Vital)
_AGE = msgspec.json.Decoder(int | None)

_DOCTOR_COLUMNS = (
    "username, password_hash, display_name, specialty, registration_number, photo,"
    " failed_attempts, locked_until, created_at, address, phone, email"
)
_CONSULTATION_COLUMNS = (
    "consultation_id, cabin_id, patient, match_key, reason, age_years, sex, language, status,"
    " doctor, joined_at, taken_at, ended_at, notes, advice"
)
_SELECT_CONSULTATION = f"SELECT {_CONSULTATION_COLUMNS} FROM consultations"  # noqa: S608
_ADVICE_COLUMNS = (
    "consultation_id, cabin_id, advice, advice_msg_id, advice_changed_at, advice_delivered_at"
)
_PRESCRIPTION_COLUMNS = (
    "prescription_id, consultation_id, doctor, issued_at, prescriber, lines, key_id, signature,"
    " msg_id, delivered_at, check_url, patient"
)
_SELECT_PRESCRIPTION = f"SELECT {_PRESCRIPTION_COLUMNS} FROM prescriptions"  # noqa: S608
_RECORD_COLUMNS = (
    "record_id, consultation_id, cabin_id, created_at, received_at, bundle, match_key,"
    " started_at, digest"
)
_SELECT_RECORD = f"SELECT {_RECORD_COLUMNS} FROM records"  # noqa: S608
_SELECT_RECORD_HEAD = (
    "SELECT record_id, consultation_id, cabin_id, received_at, started_at, bundle_bytes, digest"
    " FROM records"
)
_AGENT_COLUMNS = (
    "username, password_hash, display_name, cabins, all_cabins, failed_attempts, locked_until,"
    " created_at, coordinator"
)
_ALERT_COLUMNS = (
    "alert_id, cabin_id, cabin_name, kind, severity, confidence, detail, consultation_id,"
    " raised_at, received_at, escalated_at, acknowledged_by, acknowledged_role, acknowledged_at,"
    " false_alarm, repeat_count, last_raised_at, merged_into, cabin_raised_at"
)
_SELECT_ALERT = f"SELECT {_ALERT_COLUMNS} FROM alerts"  # noqa: S608
_SESSION_COLUMNS = "token_sha256, username, csrf_token, created_at, expires_at, role"
_ACCOUNT_LOCK = "SELECT pg_advisory_xact_lock(hashtext('hub-account:' || $1))"


def _ts(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the storage")
    return moment


def _opt_ts(moment: datetime | None) -> datetime | None:
    return None if moment is None else _ts(moment)


def _count(status: str) -> int:
    """The rows an ``UPDATE``/``DELETE``/``INSERT`` status string says it touched."""
    return int(status.rsplit(" ", 1)[-1])


def _decoded(decoder: msgspec.json.Decoder[T], data: bytes, what: str) -> T:
    try:
        return decoder.decode(data)
    except msgspec.DecodeError:
        raise CorruptRecord(f"a stored {what} cannot be read") from None


def describe_dsn(dsn: str) -> str:
    """``host:port/database`` of a DSN, for messages (never a password)."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the configured DSN"
    return f"{host}:{port}{parts.path or '/'}"


class PostgresStorage(PostgresBookings, PostgresHandovers, PostgresFleet):
    """`hub.storage.Storage` on a PostgreSQL database, health data sealed with `keyring` (its
    bookings: `hub.postgres_booking`; its handovers: `hub.postgres_handover`)."""

    def __init__(
        self, pool: Any, keyring: DataKeyring, where: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._pool = pool
        self._keys = keyring
        self._where = where
        self._timeout_s = timeout_s
        self._closed = False
        self._resealer: asyncio.Task[None] | None = None

    # opening, closing

    @classmethod
    async def open(
        cls,
        dsn: str,
        keyring: DataKeyring,
        *,
        password: str | None = None,
        min_connections: int = 1,
        max_connections: int = 10,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        migrations: Sequence[Sequence[str]] = MIGRATIONS,
    ) -> PostgresStorage:
        """Connect, check the data keys against the database (a wrong one: `DatabaseKeyError`,
        nothing written), bring the schema up to date (`StorageError` for a newer one), and
        record the ring's new keys."""
        where = describe_dsn(dsn)
        try:
            pool = await asyncpg.create_pool(
                dsn,
                password=password,
                min_size=min_connections,
                max_size=max_connections,
                timeout=timeout_s,
                command_timeout=max(timeout_s, 30.0),
            )
        except asyncpg.PostgresError as exc:  # the password, the database's name, its rights
            raise StorageError(f"PostgreSQL at {where} refused the connection: {exc}") from None
        except (asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StorageError(_unreachable(where, exc)) from None
        storage = cls(pool, keyring, where, timeout_s=timeout_s)
        try:
            async with storage._connection() as connection:
                refuse_newer(await schema_version(connection), len(migrations))
                if await schema_version(connection) >= 1:
                    await storage._check_keys(connection)
                await migrate(connection, migrations)
                await storage._check_keys(connection)
                await storage._record_keys(connection)
        except BaseException:
            await storage._close_pool()
            raise
        return storage

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._resealer is not None:
            await cancel_and_wait(self._resealer)
        await self._close_pool()

    async def _close_pool(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._pool.close()
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._pool.terminate()

    async def check(self) -> None:
        async with self._connection() as connection:
            await connection.fetchval("SELECT 1")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; any database or network failure becomes a `StorageError`."""
        if self._closed:
            raise StorageError("the database is closed")
        try:
            async with self._pool.acquire(timeout=self._timeout_s) as connection:
                yield connection
        except asyncpg.PostgresConnectionError as exc:
            raise StorageError(_unreachable(self._where, exc)) from None
        except asyncpg.PostgresError as exc:
            raise StorageError(
                f"PostgreSQL at {self._where}: {type(exc).__name__}: {exc}"
            ) from None
        except (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError) as exc:
            raise StorageError(_unreachable(self._where, exc)) from None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._connection() as connection, connection.transaction():
            yield connection

    # the data keys

    async def _check_keys(self, connection: Connection) -> None:
        """Refuse a ring that does not open what the database holds (read only)."""
        exists = await connection.fetchval("SELECT to_regclass('data_keys') IS NOT NULL")
        if not exists:
            return
        rows = await connection.fetch(
            "SELECT key_id, key_check, index_check, retired_at FROM data_keys"
        )
        ring = self._keys
        for row in rows:
            key_id = row["key_id"]
            if key_id == INDEX_KEY_ID:
                if row["index_check"] != ring.index_check():
                    raise DatabaseKeyError(
                        f"{ring.source}: the index key is not the one this database was indexed"
                        f" with ({self._where}); nothing was changed: give the hub its keys"
                    )
            elif key_id in ring.key_ids:
                if not ring.opens_check(key_id, bytes(row["key_check"])):
                    raise DatabaseKeyError(
                        f"{ring.source}: the data key {key_id!r} is not the key this database"
                        f" knows under that id ({self._where}); nothing was changed: give the"
                        " hub its keys"
                    )
            elif row["retired_at"] is None:
                raise DatabaseKeyError(
                    f"{ring.source}: the database ({self._where}) holds values sealed with the"
                    f" data key {key_id!r}, which the ring lacks; nothing was changed: put that"
                    " key back in the ring (a key leaves it only once `python -m hub data-keys`"
                    " says it is unused)"
                )

    async def _record_keys(self, connection: Connection) -> None:
        ring = self._keys
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO data_keys (key_id, index_check) VALUES ($1, $2)"
                " ON CONFLICT (key_id) DO NOTHING",
                INDEX_KEY_ID,
                ring.index_check(),
            )
            for key_id in ring.key_ids:
                added = await connection.execute(
                    "INSERT INTO data_keys (key_id, key_check) VALUES ($1, $2)"
                    " ON CONFLICT (key_id) DO NOTHING",
                    key_id,
                    ring.key_check(key_id),
                )
                if _count(added):
                    log.info("hub.data_key_added key_id=%s", key_id)
            await connection.execute(
                "UPDATE data_keys SET retired_at = NULL WHERE key_id = $1", ring.current_id
            )

    async def key_usage(self) -> dict[str, int]:
        """How many sealed values each data key seals (keys of the database's that seal none
        are there with 0)."""
        usage: dict[str, int] = {}
        async with self._connection() as connection:
            for key_id in await connection.fetch(
                "SELECT key_id FROM data_keys WHERE key_id <> $1", INDEX_KEY_ID
            ):
                usage[key_id["key_id"]] = 0
            for table, (_, columns) in SEALED.items():
                for column in columns:
                    rows = await connection.fetch(
                        f"SELECT convert_from(substring({column} from 2 for"  # noqa: S608
                        f" get_byte({column}, 0)), 'SQL_ASCII') AS key_id, count(*) AS n"
                        f" FROM {table} WHERE {column} IS NOT NULL GROUP BY 1"
                    )
                    for row in rows:
                        usage[row["key_id"]] = usage.get(row["key_id"], 0) + int(row["n"])
        return usage

    async def retire_unused_keys(self) -> list[str]:
        """Mark the database's data keys that seal nothing (but the current one) as unused:
        they may leave the ring. Their ids."""
        usage = await self.key_usage()
        unused = sorted(k for k, n in usage.items() if n == 0 and k != self._keys.current_id)
        async with self._connection() as connection:
            for key_id in unused:
                retired = await connection.execute(
                    "UPDATE data_keys SET retired_at = now()"
                    " WHERE key_id = $1 AND retired_at IS NULL",
                    key_id,
                )
                if _count(retired):
                    log.info("hub.data_key_unused key_id=%s", key_id)
        return unused

    async def _old_keys_in_use(self) -> bool:
        async with self._connection() as connection:
            found = await connection.fetchval(
                "SELECT count(*) FROM data_keys WHERE key_id NOT IN ($1, $2)"
                " AND retired_at IS NULL",
                INDEX_KEY_ID,
                self._keys.current_id,
            )
        return bool(found)

    async def reseal(self, *, batch: int = RESEAL_BATCH) -> int:
        """Seal again with the current key every value sealed with another; how many. Safe to
        run on several replicas at once, and to stop at any point (the next run goes on).
        Reads and writes go on meanwhile. The keys left unused are then marked so."""
        if not await self._old_keys_in_use():
            return 0
        key_id = self._keys.current_id
        log.info("hub.rekey_started key_id=%s", key_id)
        total = 0
        for table, (identity, columns) in SEALED.items():
            resealed, wait_s = 0, 0.05
            while True:  # keyset passes, then again until no old value is left (or locked)
                after: tuple[str, ...] | None = None
                while True:
                    count, after = await self._reseal_batch(table, identity, columns, after, batch)
                    if after is None:
                        break
                    resealed += count
                    if count:
                        log.info(
                            "hub.rekey_progress table=%s resealed=%d key_id=%s",
                            table,
                            resealed,
                            key_id,
                        )
                if not await self._old_values_left(table, columns):
                    break
                # Rows another replica holds (it reseals them), or values a replica that does
                # not have the new key yet keeps writing: look again, less and less often.
                await asyncio.sleep(wait_s)
                wait_s = min(wait_s * 2, RESEAL_RETRY_S / 12)
            total += resealed
        retired = await self.retire_unused_keys()
        log.info(
            "hub.rekey_done key_id=%s resealed=%d unused_keys=%s",
            key_id,
            total,
            ",".join(retired) or "-",
        )
        return total

    def _old_value_condition(self, columns: Sequence[str], first_parameter: int) -> str:
        p, q = first_parameter, first_parameter + 1
        return (
            "("
            + " OR ".join(
                f"({c} IS NOT NULL AND substring({c} from 1 for ${p}) <> ${q})" for c in columns
            )
            + ")"
        )

    async def _old_values_left(self, table: str, columns: Sequence[str]) -> bool:
        prefix = self._keys.prefix()
        async with self._connection() as connection:
            found = await connection.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {table}"  # noqa: S608 - names of ours
                f" WHERE {self._old_value_condition(columns, 1)})",
                len(prefix),
                prefix,
            )
        return bool(found)

    async def _reseal_batch(
        self,
        table: str,
        identity: Sequence[str],
        columns: Sequence[str],
        after: tuple[str, ...] | None,
        batch: int,
    ) -> tuple[int, tuple[str, ...] | None]:
        """Reseal up to `batch` rows past `after` (in identity order); how many were, and where
        the next batch starts (None: the table is done)."""
        prefix = self._keys.prefix()
        keys = ", ".join(identity)
        parameters: list[Any] = [len(prefix), prefix, batch]
        where = self._old_value_condition(columns, 1)
        if after is not None:
            marks = ", ".join(f"${4 + i}" for i in range(len(identity)))
            where += f" AND ({keys}) > ({marks})"
            parameters.extend(after)
        query = (
            f"SELECT {keys}, {', '.join(columns)} FROM {table} WHERE {where}"  # noqa: S608
            f" ORDER BY {keys} LIMIT $3 FOR UPDATE SKIP LOCKED"
        )
        async with self._transaction() as connection:
            rows = await connection.fetch(query, *parameters)
            for row in rows:
                row_id = tuple(str(row[k]) for k in identity)
                values = []
                for column in columns:
                    value = row[column]
                    if value is not None:
                        place = Place(table, column, row_id)
                        value = self._keys.reseal(bytes(value), place) or value
                    values.append(value)
                sets = ", ".join(f"{c} = ${i + 1}" for i, c in enumerate(columns))
                match = " AND ".join(
                    f"{k} = ${len(columns) + i + 1}" for i, k in enumerate(identity)
                )
                await connection.execute(
                    f"UPDATE {table} SET {sets} WHERE {match}",  # noqa: S608
                    *values,
                    *row_id,
                )
        if not rows:
            return 0, None
        last = rows[-1]
        return len(rows), tuple(str(last[k]) for k in identity)

    def start_resealing(self) -> None:
        """Run `reseal` in the background (once; again later after a failure). Owned by this
        storage: `close` stops it."""
        if self._resealer is None:
            self._resealer = asyncio.get_running_loop().create_task(
                self._reseal_until_done(), name="hub-reseal"
            )

    async def _reseal_until_done(self) -> None:
        while True:
            try:
                await self.reseal()
                return
            except StorageError as exc:
                log.error("hub.rekey_failed error=%s retry_s=%g", log_safe(exc), RESEAL_RETRY_S)
            await asyncio.sleep(RESEAL_RETRY_S)

    # sealing helpers

    def _seal(self, table: str, column: str, row: tuple[str, ...], data: bytes) -> bytes:
        return self._keys.seal(data, Place(table, column, row))

    def _open(self, table: str, column: str, row: tuple[str, ...], sealed: bytes) -> bytes:
        return self._keys.open(bytes(sealed), Place(table, column, row))

    def _seal_text(self, table: str, column: str, row: tuple[str, ...], text: str) -> bytes:
        return self._seal(table, column, row, text.encode("utf-8"))

    def _open_text(self, table: str, column: str, row: tuple[str, ...], sealed: bytes) -> str:
        try:
            return self._open(table, column, row, sealed).decode("utf-8")
        except UnicodeDecodeError:
            raise SealedValueError(f"a stored {table}.{column} is not text") from None

    def _index(self, match_key: str) -> str:
        return self._keys.blind_index(match_key)

    # doctors

    async def add_doctor(self, doctor: DoctorRecord) -> None:
        async with self._transaction() as c:
            await c.execute(_ACCOUNT_LOCK, doctor.username)
            if await c.fetchval(
                "SELECT 1 FROM agents WHERE username = $1"
                " UNION ALL SELECT 1 FROM operators WHERE username = $1",
                doctor.username,
            ):
                raise AccountError(f"an agent or operator named {doctor.username!r} already exists")
            added = await c.fetchval(
                f"INSERT INTO doctors ({_DOCTOR_COLUMNS}) VALUES"  # noqa: S608
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                " ON CONFLICT (username) DO NOTHING RETURNING username",
                doctor.username,
                doctor.password_hash,
                doctor.display_name,
                doctor.specialty,
                doctor.registration_number,
                doctor.photo,
                doctor.failed_attempts,
                _opt_ts(doctor.locked_until),
                _ts(doctor.created_at),
                doctor.address,
                doctor.phone,
                doctor.email,
            )
            if added is None:
                raise AccountError(f"a doctor named {doctor.username!r} already exists")

    @staticmethod
    def _doctor(row: Row) -> DoctorRecord:
        return DoctorRecord(
            username=row["username"],
            password_hash=row["password_hash"],
            display_name=row["display_name"],
            specialty=row["specialty"],
            registration_number=row["registration_number"],
            photo=None if row["photo"] is None else bytes(row["photo"]),
            failed_attempts=row["failed_attempts"],
            locked_until=row["locked_until"],
            created_at=row["created_at"],
            address=row["address"],
            phone=row["phone"],
            email=row["email"],
        )

    async def doctor(self, username: str) -> DoctorRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_DOCTOR_COLUMNS} FROM doctors WHERE username = $1",  # noqa: S608
                username,
            )
        return None if row is None else self._doctor(row)

    async def doctors(self) -> list[DoctorRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_DOCTOR_COLUMNS} FROM doctors ORDER BY username"  # noqa: S608
            )
        return [self._doctor(row) for row in rows]

    async def set_doctor_photo(self, username: str, photo: bytes | None) -> bool:
        async with self._connection() as c:
            status = await c.execute(
                "UPDATE doctors SET photo = $1 WHERE username = $2", photo, username
            )
        return _count(status) == 1

    async def set_doctor_details(self, username: str, details: DoctorDetails) -> bool:
        async with self._connection() as c:
            status = await c.execute(
                "UPDATE doctors SET registration_number = $1, address = $2, phone = $3,"
                " email = $4 WHERE username = $5",
                details.registration_number,
                details.address,
                details.phone,
                details.email,
                username,
            )
        return _count(status) == 1

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        async with self._transaction() as c:
            status = await c.execute(
                "UPDATE doctors SET password_hash = $1 WHERE username = $2",
                password_hash,
                username,
            )
            if _count(status) == 0:
                status = await c.execute(
                    "UPDATE agents SET password_hash = $1 WHERE username = $2",
                    password_hash,
                    username,
                )
            if _count(status) == 0:
                await c.execute(
                    "UPDATE operators SET password_hash = $1 WHERE username = $2",
                    password_hash,
                    username,
                )

    # sign-in attempts, and what an operator decides of an account

    async def _login_account(self, c: Connection, username: str) -> LoginAccount | None:
        row = await c.fetchrow(
            "SELECT a.role, a.password_hash, s.disabled, s.totp_required, s.totp_secret,"
            " s.totp_pending_secret, s.totp_last_step FROM"
            " (SELECT 'doctor' AS role, password_hash FROM doctors WHERE username = $1"
            "  UNION ALL SELECT 'agent', password_hash FROM agents WHERE username = $1"
            "  UNION ALL SELECT 'operator', password_hash FROM operators WHERE username = $1) AS a"
            " LEFT JOIN account_security AS s ON s.username = $1",
            username,
        )
        if row is None:
            return None

        def secret(column: str) -> str | None:
            value = row[column]
            if value is None:
                return None
            return self._open_text("account_security", column, (username,), value)

        return LoginAccount(
            username=username,
            role=AccountRole(row["role"]),
            password_hash=row["password_hash"],
            disabled=bool(row["disabled"]),
            totp_required=bool(row["totp_required"]),
            totp_secret=secret("totp_secret"),
            totp_pending_secret=secret("totp_pending_secret"),
            totp_last_step=row["totp_last_step"],
        )

    async def login_account(self, username: str) -> LoginAccount | None:
        async with self._connection() as c:
            return await self._login_account(c, username)

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
        async with self._transaction() as c:
            # The row first (concurrent first attempts), then its lock: counted one by one.
            await c.execute(
                "INSERT INTO login_throttle (username, client, failures, blocked_until,"
                " last_attempt_at) VALUES ($1, $2, 0, NULL, $3) ON CONFLICT DO NOTHING",
                username,
                client,
                _ts(now),
            )
            row = await c.fetchrow(
                "SELECT failures, blocked_until FROM login_throttle"
                " WHERE username = $1 AND client = $2 FOR UPDATE",
                username,
                client,
            )
            failures, blocked_until = row["failures"], row["blocked_until"]
            account = await self._login_account(c, username)
            if blocked_until is not None and blocked_until > now:
                return LoginAttempt(blocked_until=blocked_until, locks_until=None, account=account)
            failures += 1
            locks_until = None
            if failures >= free_failures:
                doublings = min(failures - free_failures, 40)
                lock_s = min(max_lock_s, first_lock_s * 2**doublings)
                locks_until = now + timedelta(seconds=lock_s)
            await c.execute(
                "UPDATE login_throttle SET failures = $3, blocked_until = $4,"
                " last_attempt_at = $5 WHERE username = $1 AND client = $2",
                username,
                client,
                failures,
                locks_until,
                _ts(now),
            )
            return LoginAttempt(blocked_until=None, locks_until=locks_until, account=account)

    async def end_login(self, username: str, client: str) -> None:
        async with self._connection() as c:
            await c.execute(
                "DELETE FROM login_throttle WHERE username = $1 AND client = $2", username, client
            )

    async def forget_login_attempts(self, *, before: datetime) -> int:
        async with self._connection() as c:
            status = await c.execute(
                "DELETE FROM login_throttle WHERE last_attempt_at < $1"
                " AND (blocked_until IS NULL OR blocked_until < $1)",
                _ts(before),
            )
        return _count(status)

    async def _account_exists(self, c: Connection, username: str) -> bool:
        found = await c.fetchval(
            "SELECT EXISTS (SELECT 1 FROM doctors WHERE username = $1)"
            " OR EXISTS (SELECT 1 FROM agents WHERE username = $1)"
            " OR EXISTS (SELECT 1 FROM operators WHERE username = $1)",
            username,
        )
        return bool(found)

    async def _set_security(self, username: str, assignments: str, *values: Any) -> bool:
        async with self._transaction() as c:
            if not await self._account_exists(c, username):
                return False
            await c.execute(
                "INSERT INTO account_security (username) VALUES ($1) ON CONFLICT DO NOTHING",
                username,
            )
            await c.execute(
                f"UPDATE account_security SET {assignments} WHERE username = $1",  # noqa: S608
                username,
                *values,
            )
            return True

    async def set_account_disabled(self, username: str, disabled: bool) -> bool:
        return await self._set_security(username, "disabled = $2", disabled)

    async def set_totp_required(self, username: str, required: bool) -> bool:
        return await self._set_security(username, "totp_required = $2", required)

    async def set_totp(
        self, username: str, *, secret: str | None, pending_secret: str | None
    ) -> bool:
        row = (username,)
        return await self._set_security(
            username,
            "totp_secret = $2, totp_pending_secret = $3, totp_last_step = NULL",
            None
            if secret is None
            else self._seal_text("account_security", "totp_secret", row, secret),
            None
            if pending_secret is None
            else self._seal_text("account_security", "totp_pending_secret", row, pending_secret),
        )

    async def use_totp_step(self, username: str, step: int) -> bool:
        async with self._connection() as c:
            status = await c.execute(
                "UPDATE account_security SET totp_last_step = $1"
                " WHERE username = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                step,
                username,
            )
        return _count(status) == 1

    # agents

    async def add_agent(self, agent: AgentRecord) -> None:
        async with self._transaction() as c:
            await c.execute(_ACCOUNT_LOCK, agent.username)
            if await self._account_exists(c, agent.username):
                raise AccountError(f"an account named {agent.username!r} already exists")
            await c.execute(
                f"INSERT INTO agents ({_AGENT_COLUMNS})"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                agent.username,
                agent.password_hash,
                agent.display_name,
                list(agent.cabins),
                agent.all_cabins,
                agent.failed_attempts,
                _opt_ts(agent.locked_until),
                _ts(agent.created_at),
                agent.coordinator,
            )

    @staticmethod
    def _agent(row: Row) -> AgentRecord:
        return AgentRecord(
            username=row["username"],
            password_hash=row["password_hash"],
            display_name=row["display_name"],
            cabins=tuple(row["cabins"]),
            all_cabins=bool(row["all_cabins"]),
            failed_attempts=row["failed_attempts"],
            locked_until=row["locked_until"],
            created_at=row["created_at"],
            coordinator=bool(row["coordinator"]),
        )

    async def agent(self, username: str) -> AgentRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_AGENT_COLUMNS} FROM agents WHERE username = $1",  # noqa: S608
                username,
            )
        return None if row is None else self._agent(row)

    async def agents(self) -> list[AgentRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_AGENT_COLUMNS} FROM agents ORDER BY username"  # noqa: S608
            )
        return [self._agent(row) for row in rows]

    # operators

    async def add_operator(self, operator: OperatorRecord) -> None:
        async with self._transaction() as c:
            await c.execute(_ACCOUNT_LOCK, operator.username)
            if await self._account_exists(c, operator.username):
                raise AccountError(f"an account named {operator.username!r} already exists")
            await c.execute(
                "INSERT INTO operators (username, password_hash, display_name, failed_attempts,"
                " locked_until, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                operator.username,
                operator.password_hash,
                operator.display_name,
                operator.failed_attempts,
                _opt_ts(operator.locked_until),
                _ts(operator.created_at),
            )

    async def operator(self, username: str) -> OperatorRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "SELECT username, password_hash, display_name, failed_attempts, locked_until,"
                " created_at FROM operators WHERE username = $1",
                username,
            )
        if row is None:
            return None
        return OperatorRecord(
            username=row["username"],
            password_hash=row["password_hash"],
            display_name=row["display_name"],
            failed_attempts=row["failed_attempts"],
            locked_until=row["locked_until"],
            created_at=row["created_at"],
        )

    # sessions

    async def add_session(self, session: SessionRecord) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO sessions (token_sha256, username, role, csrf_token, created_at,"
                " expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                session.token_sha256,
                session.username,
                session.role.value,
                session.csrf_token,
                _ts(session.created_at),
                _ts(session.expires_at),
            )

    @staticmethod
    def _session(row: Row) -> SessionRecord:
        return SessionRecord(
            row["token_sha256"],
            row["username"],
            row["csrf_token"],
            row["created_at"],
            row["expires_at"],
            role=AccountRole(row["role"]),
        )

    async def session(self, token_sha256: str, *, now: datetime) -> SessionRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_SESSION_COLUMNS} FROM sessions"  # noqa: S608
                " WHERE token_sha256 = $1 AND expires_at > $2",
                token_sha256,
                _ts(now),
            )
        return None if row is None else self._session(row)

    async def delete_session(self, token_sha256: str) -> None:
        async with self._connection() as c:
            await c.execute("DELETE FROM sessions WHERE token_sha256 = $1", token_sha256)

    async def delete_expired_sessions(self, *, now: datetime) -> int:
        async with self._connection() as c:
            status = await c.execute("DELETE FROM sessions WHERE expires_at <= $1", _ts(now))
        return _count(status)

    async def live_session(
        self,
        token_sha256: str,
        *,
        now: datetime,
        idle_since: datetime | None,
        touch_before: datetime,
    ) -> SessionRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_SESSION_COLUMNS}, COALESCE(last_seen_at, created_at) AS last_seen"  # noqa: S608
                " FROM sessions WHERE token_sha256 = $1 AND expires_at > $2",
                token_sha256,
                _ts(now),
            )
            if row is None:
                return None
            last_seen = row["last_seen"]
            if idle_since is not None and last_seen < idle_since:
                await c.execute("DELETE FROM sessions WHERE token_sha256 = $1", token_sha256)
                return None
            if last_seen < touch_before:
                await c.execute(
                    "UPDATE sessions SET last_seen_at = $1 WHERE token_sha256 = $2",
                    _ts(now),
                    token_sha256,
                )
        return self._session(row)

    async def live_session_hashes(self, token_sha256s: set[str], *, now: datetime) -> set[str]:
        if not token_sha256s:
            return set()
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT token_sha256 FROM sessions WHERE token_sha256 = ANY($1::text[])"
                " AND expires_at > $2",
                list(token_sha256s),
                _ts(now),
            )
        return {row["token_sha256"] for row in rows}

    async def trim_sessions(self, username: str, *, keep: int) -> list[str]:
        async with self._transaction() as c:
            rows = await c.fetch(
                "SELECT token_sha256 FROM sessions WHERE username = $1"
                " ORDER BY created_at DESC, seq DESC OFFSET $2 FOR UPDATE",
                username,
                keep,
            )
            tokens = [row["token_sha256"] for row in rows]
            await c.execute("DELETE FROM sessions WHERE token_sha256 = ANY($1::text[])", tokens)
        return tokens

    async def delete_sessions_of(self, username: str, *, keep: str | None = None) -> list[str]:
        async with self._connection() as c:
            rows = await c.fetch(
                "WITH gone AS (DELETE FROM sessions WHERE username = $1"
                " AND token_sha256 IS DISTINCT FROM $2 RETURNING token_sha256, created_at, seq)"
                " SELECT token_sha256 FROM gone ORDER BY created_at, seq",
                username,
                keep,
            )
        return [row["token_sha256"] for row in rows]

    # cabins

    async def put_cabin(self, cabin: CabinRecord) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO cabins (cabin_id, name, token_sha256, provisioned_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (cabin_id) DO UPDATE SET"
                " name = excluded.name, token_sha256 = excluded.token_sha256,"
                " provisioned_at = excluded.provisioned_at",
                cabin.cabin_id,
                cabin.name,
                cabin.token_sha256,
                _ts(cabin.provisioned_at),
            )

    async def cabin(self, cabin_id: str) -> CabinRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "SELECT cabin_id, name, token_sha256, provisioned_at FROM cabins"
                " WHERE cabin_id = $1",
                cabin_id,
            )
        return None if row is None else CabinRecord(row[0], row[1], row[2], row[3])

    async def cabins(self) -> list[CabinRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT cabin_id, name, token_sha256, provisioned_at FROM cabins ORDER BY cabin_id"
            )
        return [CabinRecord(row[0], row[1], row[2], row[3]) for row in rows]

    # consultations

    def _consultation(self, row: Row) -> ConsultationRecord:
        at = (row["consultation_id"],)

        def opened(column: str) -> bytes:
            return self._open("consultations", column, at, row[column])

        def text(column: str) -> str:
            return self._open_text("consultations", column, at, row[column])

        return ConsultationRecord(
            consultation_id=row["consultation_id"],
            cabin_id=row["cabin_id"],
            patient=_decoded(_PATIENT, opened("patient"), "patient"),
            match_key=text("match_key"),
            reason=text("reason"),
            age_years=_decoded(_AGE, opened("age_years"), "age"),
            sex=wire.Sex(text("sex")),
            language=wire.Language(row["language"]),
            status=ConsultationStatus(row["status"]),
            doctor=row["doctor"],
            joined_at=row["joined_at"],
            taken_at=row["taken_at"],
            ended_at=row["ended_at"],
            notes=text("notes"),
            advice=text("advice"),
        )

    async def open_consultation(self, record: ConsultationRecord) -> ConsultationRecord:
        at = (record.consultation_id,)

        def sealed(column: str, data: bytes) -> bytes:
            return self._seal("consultations", column, at, data)

        async with self._connection() as c:
            added = await c.fetchval(
                f"INSERT INTO consultations ({_CONSULTATION_COLUMNS}, patient_index)"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                " ON CONFLICT (consultation_id) DO NOTHING RETURNING consultation_id",
                record.consultation_id,
                record.cabin_id,
                sealed("patient", msgspec.json.encode(record.patient)),
                sealed("match_key", record.match_key.encode()),
                sealed("reason", record.reason.encode()),
                sealed("age_years", msgspec.json.encode(record.age_years)),
                sealed("sex", record.sex.value.encode()),
                record.language.value,
                record.status.value,
                record.doctor,
                _ts(record.joined_at),
                _opt_ts(record.taken_at),
                _opt_ts(record.ended_at),
                sealed("notes", record.notes.encode()),
                sealed("advice", record.advice.encode()),
                self._index(record.match_key),
            )
            if added is not None:
                return record
            row = await c.fetchrow(
                _SELECT_CONSULTATION + " WHERE consultation_id = $1", record.consultation_id
            )
        return self._consultation(row)

    async def consultation(self, consultation_id: str) -> ConsultationRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                _SELECT_CONSULTATION + " WHERE consultation_id = $1", consultation_id
            )
        return None if row is None else self._consultation(row)

    async def active_consultations(self, *, limit: int = 1000) -> list[ConsultationRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_CONSULTATION + " WHERE status IN ('waiting', 'taken')"
                " ORDER BY joined_at, consultation_id LIMIT $1",
                limit,
            )
        return [self._consultation(row) for row in rows]

    async def mark_taken(self, consultation_id: str, *, doctor: str, at: datetime) -> bool:
        async with self._connection() as c:
            status = await c.execute(
                "UPDATE consultations SET status = 'taken', doctor = $1, taken_at = $2"
                " WHERE consultation_id = $3 AND status = 'waiting'",
                doctor,
                _ts(at),
                consultation_id,
            )
        return _count(status) == 1

    async def mark_waiting(self, consultation_id: str) -> None:
        async with self._connection() as c:
            await c.execute(
                "UPDATE consultations SET status = 'waiting', doctor = NULL, taken_at = NULL"
                " WHERE consultation_id = $1",
                consultation_id,
            )

    async def close_consultation(
        self, consultation_id: str, *, status: ConsultationStatus, at: datetime
    ) -> None:
        async with self._connection() as c:
            await c.execute(
                "UPDATE consultations SET status = $1, ended_at = $2 WHERE consultation_id = $3",
                status.value,
                _ts(at),
                consultation_id,
            )

    async def close_live_consultation(
        self, consultation_id: str, *, status: ConsultationStatus, at: datetime
    ) -> bool:
        async with self._connection() as c:
            result = await c.execute(
                "UPDATE consultations SET status = $1, ended_at = $2"
                " WHERE consultation_id = $3 AND status IN ('waiting', 'taken')",
                status.value,
                _ts(at),
                consultation_id,
            )
        return bool(result == "UPDATE 1")

    async def set_notes(self, consultation_id: str, text: str) -> None:
        async with self._connection() as c:
            await c.execute(
                "UPDATE consultations SET notes = $1 WHERE consultation_id = $2",
                self._seal_text("consultations", "notes", (consultation_id,), text),
                consultation_id,
            )

    def _advice(self, row: Row) -> AdviceRecord:
        return AdviceRecord(
            consultation_id=row["consultation_id"],
            cabin_id=row["cabin_id"],
            text=self._open_text(
                "consultations", "advice", (row["consultation_id"],), row["advice"]
            ),
            msg_id=row["advice_msg_id"],
            changed_at=row["advice_changed_at"],
            delivered_at=row["advice_delivered_at"],
        )

    async def set_advice(
        self, consultation_id: str, text: str, *, msg_id: str, at: datetime
    ) -> AdviceRecord | None:
        async with self._transaction() as c:
            stored = await c.fetchval(
                "SELECT advice FROM consultations WHERE consultation_id = $1 FOR UPDATE",
                consultation_id,
            )
            if stored is None:
                return None
            at_row = (consultation_id,)
            if self._open_text("consultations", "advice", at_row, stored) == text:
                return None
            row = await c.fetchrow(
                "UPDATE consultations SET advice = $1, advice_msg_id = $2,"  # noqa: S608 - column names of ours
                " advice_changed_at = $3, advice_delivered_at = NULL WHERE consultation_id = $4"
                f" RETURNING {_ADVICE_COLUMNS}",
                self._seal_text("consultations", "advice", at_row, text),
                msg_id,
                _ts(at),
                consultation_id,
            )
        return self._advice(row)

    async def undelivered_advice(
        self, *, since: datetime, cabin_id: str | None = None, limit: int = 1000
    ) -> list[AdviceRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_ADVICE_COLUMNS} FROM consultations"  # noqa: S608
                " WHERE advice_msg_id IS NOT NULL AND advice_delivered_at IS NULL"
                " AND advice_changed_at >= $1 AND ($2::text IS NULL OR cabin_id = $2)"
                " ORDER BY advice_changed_at, consultation_id LIMIT $3",
                _ts(since),
                cabin_id,
                limit,
            )
        return [self._advice(row) for row in rows]

    async def mark_advice_delivered(
        self, msg_id: str, *, cabin_id: str, at: datetime
    ) -> AdviceRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "UPDATE consultations SET advice_delivered_at = $1"  # noqa: S608 - column names of ours
                " WHERE advice_msg_id = $2 AND cabin_id = $3 AND advice_delivered_at IS NULL"
                f" RETURNING {_ADVICE_COLUMNS}",
                _ts(at),
                msg_id,
                cabin_id,
            )
        return None if row is None else self._advice(row)

    async def earlier_consultations(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_CONSULTATION + " WHERE patient_index = $1 AND joined_at < $2"
                " AND consultation_id <> $3 ORDER BY joined_at DESC LIMIT $4",
                self._index(match_key),
                _ts(before),
                exclude,
                limit,
            )
        return [self._consultation(row) for row in rows]

    # readings

    async def add_reading(self, reading: ReadingRecord) -> bool:
        at = (reading.consultation_id, reading.msg_id)
        async with self._connection() as c:
            added = await c.fetchval(
                "INSERT INTO readings (consultation_id, msg_id, vital, received_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (consultation_id, msg_id) DO NOTHING"
                " RETURNING id",
                reading.consultation_id,
                reading.msg_id,
                self._seal("readings", "vital", at, msgspec.json.encode(reading.vital)),
                _ts(reading.received_at),
            )
        return added is not None

    async def readings(self, consultation_id: str) -> list[ReadingRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT consultation_id, msg_id, vital, received_at FROM readings"
                " WHERE consultation_id = $1 ORDER BY id",
                consultation_id,
            )
        return [
            ReadingRecord(
                row["consultation_id"],
                row["msg_id"],
                _decoded(
                    _VITAL,
                    self._open(
                        "readings", "vital", (row["consultation_id"], row["msg_id"]), row["vital"]
                    ),
                    "reading",
                ),
                row["received_at"],
            )
            for row in rows
        ]

    # prescriptions

    async def next_prescription_sequence(self, year: int) -> int:
        async with self._connection() as c:
            value = await c.fetchval(
                "INSERT INTO prescription_sequences (year, last) VALUES ($1, 1)"
                " ON CONFLICT (year) DO UPDATE SET last = prescription_sequences.last + 1"
                " RETURNING last",
                year,
            )
        return int(value)

    def _prescription(self, row: Row) -> PrescriptionRecord:
        at = (row["prescription_id"],)
        patient = row["patient"]
        return PrescriptionRecord(
            prescription_id=row["prescription_id"],
            consultation_id=row["consultation_id"],
            doctor=row["doctor"],
            issued_at=row["issued_at"],
            prescriber=_decoded(_DOCTOR_INFO, row["prescriber"].encode(), "prescriber"),
            lines=_decoded(
                _LINES, self._open("prescriptions", "lines", at, row["lines"]), "prescription"
            ),
            key_id=row["key_id"],
            signature=row["signature"],
            msg_id=row["msg_id"],
            delivered_at=row["delivered_at"],
            check_url=row["check_url"],
            patient=None
            if patient is None
            else _decoded(_PATIENT, self._open("prescriptions", "patient", at, patient), "patient"),
        )

    async def add_prescription(self, prescription: PrescriptionRecord) -> None:
        at = (prescription.prescription_id,)
        patient = prescription.patient
        async with self._connection() as c:
            await c.execute(
                f"INSERT INTO prescriptions ({_PRESCRIPTION_COLUMNS}) VALUES"  # noqa: S608
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                prescription.prescription_id,
                prescription.consultation_id,
                prescription.doctor,
                _ts(prescription.issued_at),
                msgspec.json.encode(prescription.prescriber).decode(),
                self._seal("prescriptions", "lines", at, msgspec.json.encode(prescription.lines)),
                prescription.key_id,
                prescription.signature,
                prescription.msg_id,
                _opt_ts(prescription.delivered_at),
                prescription.check_url,
                None
                if patient is None
                else self._seal("prescriptions", "patient", at, msgspec.json.encode(patient)),
            )

    async def prescription(self, prescription_id: str) -> PrescriptionRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                _SELECT_PRESCRIPTION + " WHERE prescription_id = $1", prescription_id
            )
        return None if row is None else self._prescription(row)

    async def prescription_signature(self, prescription_id: str) -> str | None:
        async with self._connection() as c:
            value = await c.fetchval(
                "SELECT signature FROM prescriptions WHERE prescription_id = $1", prescription_id
            )
        return value if isinstance(value, str) else None

    async def prescriptions(self, consultation_id: str) -> list[PrescriptionRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_PRESCRIPTION
                + " WHERE consultation_id = $1 ORDER BY issued_at, prescription_id",
                consultation_id,
            )
        return [self._prescription(row) for row in rows]

    async def undelivered_prescriptions(
        self, *, since: datetime, cabin_id: str | None = None, limit: int = 1000
    ) -> list[UndeliveredPrescription]:
        columns = ", ".join(f"p.{c.strip()}" for c in _PRESCRIPTION_COLUMNS.split(","))
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {columns}, c.cabin_id AS cabin_id FROM prescriptions AS p"  # noqa: S608
                " JOIN consultations AS c ON c.consultation_id = p.consultation_id"
                " WHERE p.delivered_at IS NULL AND p.issued_at >= $1"
                " AND ($2::text IS NULL OR c.cabin_id = $2)"
                " ORDER BY p.issued_at, p.prescription_id LIMIT $3",
                _ts(since),
                cabin_id,
                limit,
            )
        return [UndeliveredPrescription(self._prescription(row), row["cabin_id"]) for row in rows]

    async def mark_prescription_delivered(
        self, msg_id: str, *, cabin_id: str, at: datetime
    ) -> PrescriptionRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "UPDATE prescriptions SET delivered_at = $1"  # noqa: S608 - column names of ours
                " WHERE msg_id = $2 AND delivered_at IS NULL AND consultation_id IN"
                " (SELECT consultation_id FROM consultations WHERE cabin_id = $3)"
                f" RETURNING {_PRESCRIPTION_COLUMNS}",
                _ts(at),
                msg_id,
                cabin_id,
            )
        return None if row is None else self._prescription(row)

    # records

    async def add_record(self, record: ConsultationRecordUpload) -> bool:
        at = (record.cabin_id, record.record_id)
        key = record.match_key
        async with self._connection() as c:
            added = await c.fetchval(
                "INSERT INTO records (record_id, consultation_id, cabin_id, created_at,"
                " received_at, bundle, bundle_bytes, match_key, patient_index, started_at,"
                " digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (cabin_id, record_id) DO NOTHING RETURNING record_id",
                record.record_id,
                record.consultation_id,
                record.cabin_id,
                _ts(record.created_at),
                _ts(record.received_at),
                self._seal("records", "bundle", at, record.bundle),
                len(record.bundle),
                None if key is None else self._seal_text("records", "match_key", at, key),
                None if key is None else self._index(key),
                _opt_ts(record.started_at),
                None
                if record.digest is None
                else self._seal("records", "digest", at, record.digest),
            )
        return added is not None

    def _record(self, row: Row) -> ConsultationRecordUpload:
        at = (row["cabin_id"], row["record_id"])
        key, digest = row["match_key"], row["digest"]
        return ConsultationRecordUpload(
            record_id=row["record_id"],
            consultation_id=row["consultation_id"],
            cabin_id=row["cabin_id"],
            created_at=row["created_at"],
            received_at=row["received_at"],
            bundle=self._open("records", "bundle", at, row["bundle"]),
            match_key=None if key is None else self._open_text("records", "match_key", at, key),
            started_at=row["started_at"],
            digest=None if digest is None else self._open("records", "digest", at, digest),
        )

    async def earlier_records(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecordUpload]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_RECORD + " WHERE patient_index = $1 AND started_at < $2"
                " AND consultation_id <> $3 ORDER BY started_at DESC, received_at DESC LIMIT $4",
                self._index(match_key),
                _ts(before),
                exclude,
                limit,
            )
        return [self._record(row) for row in rows]

    async def record_of_consultation(self, consultation_id: str) -> ConsultationRecordUpload | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                _SELECT_RECORD + " WHERE consultation_id = $1 ORDER BY received_at DESC LIMIT 1",
                consultation_id,
            )
        return None if row is None else self._record(row)

    async def unindexed_records(self, *, limit: int) -> list[ConsultationRecordUpload]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_RECORD + " WHERE patient_index IS NULL ORDER BY received_at LIMIT $1",
                limit,
            )
        return [self._record(row) for row in rows]

    async def index_record(
        self,
        record_id: str,
        *,
        match_key: str,
        started_at: datetime | None,
        cabin_id: str | None = None,
        digest: bytes | None = None,
    ) -> None:
        async with self._transaction() as c:
            cabins = await c.fetch(
                "SELECT cabin_id FROM records WHERE record_id = $1"
                " AND ($2::text IS NULL OR cabin_id = $2) FOR UPDATE",
                record_id,
                cabin_id,
            )
            for row in cabins:
                at = (row["cabin_id"], record_id)
                await c.execute(
                    "UPDATE records SET match_key = $1, patient_index = $2, started_at = $3,"
                    " digest = $4 WHERE cabin_id = $5 AND record_id = $6",
                    self._seal_text("records", "match_key", at, match_key),
                    self._index(match_key),
                    _opt_ts(started_at),
                    None if digest is None else self._seal("records", "digest", at, digest),
                    row["cabin_id"],
                    record_id,
                )

    def _record_head(self, row: Row) -> RecordHead:
        digest = row["digest"]
        at = (row["cabin_id"], row["record_id"])
        return RecordHead(
            record_id=row["record_id"],
            consultation_id=row["consultation_id"],
            cabin_id=row["cabin_id"],
            received_at=row["received_at"],
            started_at=row["started_at"],
            bundle_bytes=row["bundle_bytes"],
            digest=None if digest is None else self._open("records", "digest", at, digest),
        )

    async def earlier_record_heads(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[RecordHead]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_RECORD_HEAD + " WHERE patient_index = $1 AND started_at < $2"
                " AND consultation_id <> $3 ORDER BY started_at DESC, received_at DESC LIMIT $4",
                self._index(match_key),
                _ts(before),
                exclude,
                limit,
            )
        return [self._record_head(row) for row in rows]

    async def record_head_of_consultation(
        self, consultation_id: str, *, cabin_id: str
    ) -> RecordHead | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                _SELECT_RECORD_HEAD + " WHERE consultation_id = $1 AND cabin_id = $2"
                " ORDER BY received_at DESC LIMIT 1",
                consultation_id,
                cabin_id,
            )
        return None if row is None else self._record_head(row)

    async def record_bundle(self, cabin_id: str, record_id: str) -> bytes | None:
        async with self._connection() as c:
            value = await c.fetchval(
                "SELECT bundle FROM records WHERE cabin_id = $1 AND record_id = $2",
                cabin_id,
                record_id,
            )
        if value is None:
            return None
        return self._open("records", "bundle", (cabin_id, record_id), value)

    # patients' match keys recomputed

    async def consultations_to_rekey(self, *, limit: int) -> list[StoredMatchKey]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT c.consultation_id, c.patient, c.match_key FROM patient_rekey AS r"
                " JOIN consultations AS c ON c.consultation_id = r.consultation_id"
                " ORDER BY r.consultation_id LIMIT $1",
                limit,
            )
            if len(rows) < limit:  # queued, but no longer there
                await c.execute(
                    "DELETE FROM patient_rekey WHERE consultation_id NOT IN"
                    " (SELECT consultation_id FROM consultations)"
                )
        found: list[StoredMatchKey] = []
        for row in rows:
            at = (row["consultation_id"],)
            try:
                who: wire.PatientSummary | None = _decoded(
                    _PATIENT, self._open("consultations", "patient", at, row["patient"]), "patient"
                )
            except CorruptRecord:
                who = None
            key = self._open_text("consultations", "match_key", at, row["match_key"])
            found.append(StoredMatchKey(row["consultation_id"], who, key))
        return found

    async def set_match_key(self, consultation_id: str, match_key: str) -> None:
        async with self._transaction() as c:
            await c.execute(
                "UPDATE consultations SET match_key = $1, patient_index = $2"
                " WHERE consultation_id = $3",
                self._seal_text("consultations", "match_key", (consultation_id,), match_key),
                self._index(match_key),
                consultation_id,
            )
            await c.execute("DELETE FROM patient_rekey WHERE consultation_id = $1", consultation_id)

    # alerts

    def _alert(self, row: Row) -> AlertRecord:
        role = row["acknowledged_role"]
        return AlertRecord(
            alert_id=row["alert_id"],
            cabin_id=row["cabin_id"],
            cabin_name=row["cabin_name"],
            kind=wire.AlertKind(row["kind"]),
            severity=wire.AlertSeverity(row["severity"]),
            confidence=row["confidence"],
            detail=self._open_text("alerts", "detail", (row["alert_id"],), row["detail"]),
            consultation_id=row["consultation_id"],
            raised_at=row["raised_at"],
            received_at=row["received_at"],
            escalated_at=row["escalated_at"],
            acknowledged_by=row["acknowledged_by"],
            acknowledged_role=None if role is None else AckRole(role),
            acknowledged_at=row["acknowledged_at"],
            false_alarm=row["false_alarm"],
            repeat_count=row["repeat_count"],
            last_raised_at=row["last_raised_at"],
            merged_into=row["merged_into"],
            cabin_raised_at=row["cabin_raised_at"],
        )

    async def _alert_on(self, c: Connection, alert_id: str) -> AlertRecord | None:
        row = await c.fetchrow(_SELECT_ALERT + " WHERE alert_id = $1", alert_id)
        return None if row is None else self._alert(row)

    async def alert(self, alert_id: str) -> AlertRecord | None:
        async with self._connection() as c:
            return await self._alert_on(c, alert_id)

    async def _insert_alert(self, c: Connection, alert: AlertRecord) -> bool:
        """Store the alert unless its id is known (a constraint, not a check): whether it was
        new. Of concurrent inserts of one id, exactly one is."""
        added = await c.fetchval(
            "INSERT INTO alerts (alert_id, cabin_id, cabin_name, kind, severity, confidence,"
            " detail, consultation_id, raised_at, received_at, merged_into, cabin_raised_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id",
            alert.alert_id,
            alert.cabin_id,
            alert.cabin_name,
            alert.kind.value,
            alert.severity.value,
            alert.confidence,
            self._seal_text("alerts", "detail", (alert.alert_id,), alert.detail),
            alert.consultation_id,
            _ts(alert.raised_at),
            _ts(alert.received_at),
            alert.merged_into,
            _opt_ts(alert.cabin_raised_at),
        )
        return added is not None

    async def add_alert(self, alert: AlertRecord) -> tuple[AlertRecord, bool]:
        async with self._connection() as c:
            for _ in range(3):
                if await self._insert_alert(c, alert):
                    return alert, True
                known = await self._alert_on(c, alert.alert_id)
                if known is not None:
                    return known, False
                # inserted by a transaction that then rolled back: insert again
        raise StorageError(f"the alert {alert.alert_id} could be neither stored nor read")

    async def add_repeat(
        self, alert: AlertRecord, *, head_id: str, keep: bool, count: int = 1
    ) -> AlertRecord | None:
        async with self._transaction() as c:
            row = await c.fetchrow(_SELECT_ALERT + " WHERE alert_id = $1 FOR UPDATE", head_id)
            head = None if row is None else self._alert(row)
            if head is None or not head.is_open or head.merged_into is not None:
                return None
            if keep and not await self._insert_alert(
                c, dataclasses.replace(alert, merged_into=head_id, repeat_count=1)
            ):
                return head  # its id is known: counted already
            last = max(head.last_raised_at or head.raised_at, alert.raised_at)
            await c.execute(
                "UPDATE alerts SET repeat_count = repeat_count + $1, last_raised_at = $2"
                " WHERE alert_id = $3",
                count,
                _ts(last),
                head_id,
            )
            return await self._alert_on(c, head_id)

    async def merged_alert_ids(self, head_id: str, *, limit: int) -> list[str]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT alert_id FROM alerts WHERE merged_into = $1"
                " ORDER BY received_at, alert_id LIMIT $2",
                head_id,
                limit,
            )
        return [row["alert_id"] for row in rows]

    async def clear_alerts(self, cabin_id: str, *, by: str, at: datetime) -> list[AlertRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                "UPDATE alerts SET acknowledged_by = $1, acknowledged_role = $2,"  # noqa: S608 - column names of ours
                " acknowledged_at = $3, false_alarm = true"
                f" WHERE cabin_id = $4 AND acknowledged_at IS NULL RETURNING {_ALERT_COLUMNS}",
                by,
                AckRole.OPERATOR.value,
                _ts(at),
                cabin_id,
            )
        cleared = [self._alert(row) for row in rows]
        return sorted(cleared, key=lambda a: (a.received_at, a.alert_id))

    async def acknowledge_alert(
        self, alert_id: str, *, by: str, role: AckRole, at: datetime, false_alarm: bool
    ) -> tuple[AlertRecord, bool] | None:
        async with self._transaction() as c:
            status = await c.execute(
                "UPDATE alerts SET acknowledged_by = $1, acknowledged_role = $2,"
                " acknowledged_at = $3, false_alarm = $4"
                " WHERE alert_id = $5 AND acknowledged_at IS NULL",
                by,
                role.value,
                _ts(at),
                false_alarm,
                alert_id,
            )
            recorded = _count(status) == 1
            if recorded:  # the repeats merged into it are handled with it
                await c.execute(
                    "UPDATE alerts SET acknowledged_by = $1, acknowledged_role = $2,"
                    " acknowledged_at = $3, false_alarm = $4"
                    " WHERE merged_into = $5 AND acknowledged_at IS NULL",
                    by,
                    role.value,
                    _ts(at),
                    false_alarm,
                    alert_id,
                )
            stored = await self._alert_on(c, alert_id)
        return None if stored is None else (stored, recorded)

    async def mark_alert_escalated(self, alert_id: str, *, at: datetime) -> AlertRecord | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "UPDATE alerts SET escalated_at = $1 WHERE alert_id = $2"  # noqa: S608 - column names of ours
                " AND acknowledged_at IS NULL AND escalated_at IS NULL"
                f" RETURNING {_ALERT_COLUMNS}",
                _ts(at),
                alert_id,
            )
        return None if row is None else self._alert(row)

    async def open_alerts(self, *, since: datetime, limit: int = 1000) -> list[AlertRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_ALERT + " WHERE acknowledged_at IS NULL AND merged_into IS NULL"
                " AND received_at >= $1 ORDER BY received_at, alert_id LIMIT $2",
                _ts(since),
                limit,
            )
        return [self._alert(row) for row in rows]

    # audit

    async def add_audit(self, entry: AuditEntry) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO audit_log (at, actor_kind, actor_id, action, consultation_id,"
                " client_address, alert_id, subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                _ts(entry.at),
                entry.actor_kind.value,
                entry.actor_id,
                entry.action,
                entry.consultation_id,
                entry.client_address,
                entry.alert_id,
                entry.subject,
            )

    async def audit_entries(self, *, consultation_id: str | None = None) -> Sequence[AuditEntry]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT at, actor_kind, actor_id, action, consultation_id, client_address,"
                " alert_id, subject FROM audit_log"
                " WHERE $1::text IS NULL OR consultation_id = $1 ORDER BY id",
                consultation_id,
            )
        return [
            AuditEntry(
                row["at"],
                ActorKind(row["actor_kind"]),
                row["actor_id"],
                row["action"],
                row["consultation_id"],
                row["client_address"],
                row["alert_id"],
                row["subject"],
            )
            for row in rows
        ]


def _unreachable(where: str, exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"PostgreSQL at {where} cannot be reached ({reason})"
