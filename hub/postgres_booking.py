"""`hub.booking.BookingStore` on PostgreSQL: the coroutines of
`hub.postgres_storage.PostgresStorage` that keep calendars, the rota, appointments and their
outbox, on a database several replicas share.

- A double booking and a reused code are refused by unique partial indexes (migration 2:
  ``appointments_slot``, ``appointments_code``), whose names map asyncpg's
  ``UniqueViolationError`` to `SlotTaken` and `CodeTaken`. Nothing is checked before an insert.
- Every change of an appointment's status is one conditional ``UPDATE ... WHERE status = ...
  RETURNING``: of two replicas that cancel, move, check in or mark a no-show at once, one does
  it, the other gets None (or nothing to mark).
- The outbox is claimed with ``FOR UPDATE SKIP LOCKED``: a message is sent by one replica.
- An appointment's patient, phone, e-mail, code and reasons are sealed by the hub
  (`hub.sealing`, bound to the table, the column and the appointment's id); the patient is found
  by the blind index of their match key (`hub.patients.match_key`), the code by its own keyed
  hash (`DataKeyring.code_index`). A notification's last error is sealed too: a mail server's
  answer may quote the address.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

import wire
from hub.booking import (
    Appointment,
    AppointmentPage,
    AppointmentStatus,
    BookingChannel,
    CabinSetup,
    CodeTaken,
    HeldSpan,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationState,
    ShiftOverlap,
    SlotTaken,
)
from hub.errors import CorruptRecord, StorageError
from hub.patients import match_key
from hub.schedule import CabinCalendar, Closure, OpeningHours, RotaShift
from hub.sealing import DataKeyring, Place

Connection = Any
"""An `asyncpg.Connection` (asyncpg ships no type information)."""
Row = Any

BOOKING_SEALED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "appointments": (
        ("appointment_id",),
        ("patient", "code", "phone", "email", "reason", "cancel_reason"),
    ),
    "notifications": (("notification_id",), ("last_error",)),
}
"""The booking tables' sealed columns, as `hub.postgres_storage.SEALED` lists them."""

_PATIENT = msgspec.json.Decoder(wire.PatientSummary)
_APPOINTMENT_COLUMNS = (
    "appointment_id, cabin_id, doctor, starts_at, ends_at, status, patient, code, booked_via,"
    " booked_at, booked_by, phone, email, language, reason, consent_at, cancelled_at,"
    " cancel_reason, cancelled_by, arrived_at, consultation_id, closed_at"
)
_SELECT_APPOINTMENT = f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments"  # noqa: S608
_NOTIFICATION_COLUMNS = (
    "notification_id, appointment_id, medium, kind, due_at, state, attempts, last_error,"
    " claimed_by, claimed_until, sent_at"
)
_CALENDAR_COLUMNS = "cabin_id, town, timezone, slot_minutes, walk_in_share, bookable_days"
_SHIFT_COLUMNS = "shift_id, doctor, cabin_id, starts_at, ends_at, created_by, created_at"
_REMINDERS = [NotificationKind.REMINDER_DAY.value, NotificationKind.REMINDER_HOUR.value]


def _ts(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the storage")
    return moment


def _opt_ts(moment: datetime | None) -> datetime | None:
    return None if moment is None else _ts(moment)


def _unique_violation(error: asyncpg.UniqueViolationError) -> StorageError:
    """The booking error a unique index raised, by the index's name."""
    name = getattr(error, "constraint_name", None)
    if name == "appointments_slot":
        return SlotTaken("another appointment holds this slot")
    if name == "appointments_code":
        return CodeTaken("another active appointment has this code")
    return StorageError(f"the database refused a duplicate ({name})")


def _calendar(row: Row) -> CabinCalendar:
    return CabinCalendar(
        cabin_id=row["cabin_id"],
        town=row["town"],
        timezone=row["timezone"],
        slot_minutes=row["slot_minutes"],
        walk_in_share=row["walk_in_share"],
        bookable_days=row["bookable_days"],
    )


def _shift(row: Row) -> RotaShift:
    return RotaShift(
        shift_id=row["shift_id"],
        doctor=row["doctor"],
        cabin_id=row["cabin_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


class PostgresBookings:
    """The `BookingStore` part of `hub.postgres_storage.PostgresStorage`."""

    _keys: DataKeyring

    if TYPE_CHECKING:

        def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

        def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    # sealing

    def _seal_field(self, table: str, column: str, row_id: str, text: str) -> bytes:
        return self._keys.seal_text(text, Place(table, column, (row_id,)))

    def _open_field(self, table: str, column: str, row_id: str, sealed: bytes) -> str:
        return self._keys.open_text(bytes(sealed), Place(table, column, (row_id,)))

    def _appointment(self, row: Row) -> Appointment:
        appointment_id = row["appointment_id"]

        def text(column: str) -> str:
            return self._open_field("appointments", column, appointment_id, row[column])

        try:
            patient = _PATIENT.decode(text("patient"))
        except msgspec.DecodeError:
            raise CorruptRecord("a stored patient cannot be read") from None
        return Appointment(
            appointment_id=appointment_id,
            cabin_id=row["cabin_id"],
            doctor=row["doctor"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            status=AppointmentStatus(row["status"]),
            patient=patient,
            code=text("code"),
            channel=BookingChannel(row["booked_via"]),
            booked_at=row["booked_at"],
            booked_by=row["booked_by"],
            phone=text("phone"),
            email=text("email"),
            language=wire.Language(row["language"]),
            reason=text("reason"),
            consent_at=row["consent_at"],
            cancelled_at=row["cancelled_at"],
            cancel_reason=text("cancel_reason"),
            cancelled_by=row["cancelled_by"],
            arrived_at=row["arrived_at"],
            consultation_id=row["consultation_id"],
            closed_at=row["closed_at"],
        )

    def _notification(self, row: Row) -> Notification:
        return Notification(
            notification_id=row["notification_id"],
            appointment_id=row["appointment_id"],
            channel=NotificationChannel(row["medium"]),
            kind=NotificationKind(row["kind"]),
            due_at=row["due_at"],
            state=NotificationState(row["state"]),
            attempts=row["attempts"],
            last_error=self._open_field(
                "notifications", "last_error", row["notification_id"], row["last_error"]
            ),
            claimed_by=row["claimed_by"],
            claimed_until=row["claimed_until"],
            sent_at=row["sent_at"],
        )

    # calendars and the rota

    async def put_calendar(self, calendar: CabinCalendar) -> None:
        async with self._connection() as c:
            await c.execute(
                f"INSERT INTO cabin_calendars ({_CALENDAR_COLUMNS})"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cabin_id) DO UPDATE SET"
                " town = excluded.town, timezone = excluded.timezone,"
                " slot_minutes = excluded.slot_minutes, walk_in_share = excluded.walk_in_share,"
                " bookable_days = excluded.bookable_days",
                calendar.cabin_id,
                calendar.town,
                calendar.timezone,
                calendar.slot_minutes,
                float(calendar.walk_in_share),
                calendar.bookable_days,
            )

    async def calendar(self, cabin_id: str) -> CabinCalendar | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_CALENDAR_COLUMNS} FROM cabin_calendars WHERE cabin_id = $1",  # noqa: S608
                cabin_id,
            )
        return None if row is None else _calendar(row)

    async def calendars(self) -> list[CabinCalendar]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_CALENDAR_COLUMNS} FROM cabin_calendars ORDER BY cabin_id"  # noqa: S608
            )
        return [_calendar(row) for row in rows]

    async def set_opening_hours(self, cabin_id: str, hours: list[OpeningHours]) -> None:
        async with self._transaction() as c:
            await c.execute("DELETE FROM opening_hours WHERE cabin_id = $1", cabin_id)
            await c.executemany(
                "INSERT INTO opening_hours (cabin_id, weekday, opens, closes)"
                " VALUES ($1, $2, $3, $4)",
                [
                    (
                        cabin_id,
                        span.weekday,
                        span.opens.replace(second=0, microsecond=0),
                        span.closes.replace(second=0, microsecond=0),
                    )
                    for span in hours
                ],
            )

    async def opening_hours(self, cabin_id: str) -> list[OpeningHours]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT cabin_id, weekday, opens, closes FROM opening_hours WHERE cabin_id = $1"
                " ORDER BY weekday, opens",
                cabin_id,
            )
        return [
            OpeningHours(row["cabin_id"], row["weekday"], row["opens"], row["closes"])
            for row in rows
        ]

    async def cabin_setups(
        self, cabin_ids: list[str], *, first_day: date, last_day: date
    ) -> list[CabinSetup]:
        wanted = list(cabin_ids)
        async with self._connection() as c:
            calendar_rows = await c.fetch(
                f"SELECT {_CALENDAR_COLUMNS} FROM cabin_calendars"  # noqa: S608
                " WHERE cabin_id = ANY($1::text[])",
                wanted,
            )
            hour_rows = await c.fetch(
                "SELECT cabin_id, weekday, opens, closes FROM opening_hours"
                " WHERE cabin_id = ANY($1::text[]) ORDER BY cabin_id, weekday, opens",
                wanted,
            )
            closure_rows = await c.fetch(
                "SELECT closure_id, cabin_id, first_day, last_day, reason FROM closures"
                " WHERE cabin_id = ANY($1::text[]) AND first_day <= $2 AND last_day >= $3"
                " ORDER BY first_day, closure_id",
                wanted,
                last_day,
                first_day,
            )
        calendars = {row["cabin_id"]: _calendar(row) for row in calendar_rows}
        hours: dict[str, list[OpeningHours]] = {}
        for row in hour_rows:
            hours.setdefault(row["cabin_id"], []).append(
                OpeningHours(row["cabin_id"], row["weekday"], row["opens"], row["closes"])
            )
        closures: dict[str, list[Closure]] = {}
        for row in closure_rows:
            closures.setdefault(row["cabin_id"], []).append(
                Closure(
                    row["closure_id"],
                    row["cabin_id"],
                    row["first_day"],
                    row["last_day"],
                    row["reason"],
                )
            )
        return [
            CabinSetup(
                calendars[cabin_id],
                tuple(hours.get(cabin_id, ())),
                tuple(closures.get(cabin_id, ())),
            )
            for cabin_id in wanted
            if cabin_id in calendars
        ]

    async def add_closure(self, closure: Closure) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO closures (closure_id, cabin_id, first_day, last_day, reason)"
                " VALUES ($1, $2, $3, $4, $5)",
                closure.closure_id,
                closure.cabin_id,
                closure.first_day,
                closure.last_day,
                closure.reason,
            )

    async def remove_closure(self, closure_id: str) -> bool:
        async with self._connection() as c:
            status = await c.execute("DELETE FROM closures WHERE closure_id = $1", closure_id)
        return bool(status == "DELETE 1")

    async def closures(self, cabin_id: str, *, first_day: date, last_day: date) -> list[Closure]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT closure_id, cabin_id, first_day, last_day, reason FROM closures"
                " WHERE cabin_id = $1 AND first_day <= $2 AND last_day >= $3"
                " ORDER BY first_day, closure_id",
                cabin_id,
                last_day,
                first_day,
            )
        return [
            Closure(
                row["closure_id"], row["cabin_id"], row["first_day"], row["last_day"], row["reason"]
            )
            for row in rows
        ]

    async def add_shift(self, shift: RotaShift) -> None:
        """Check and insert in one transaction holding the doctor's advisory lock: of two
        replicas adding overlapping shifts for one doctor at once, the second waits for the
        first to commit, then sees its shift (READ COMMITTED: a new snapshot per statement)."""
        async with self._transaction() as c:
            await c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", shift.doctor)
            overlap = await c.fetchval(
                "SELECT EXISTS (SELECT 1 FROM rota_shifts WHERE doctor = $1 AND cabin_id = $2"
                " AND starts_at < $4 AND ends_at > $3)",
                shift.doctor,
                shift.cabin_id,
                _ts(shift.starts_at),
                _ts(shift.ends_at),
            )
            if overlap:
                raise ShiftOverlap("the doctor already covers this cabin then")
            await c.execute(
                f"INSERT INTO rota_shifts ({_SHIFT_COLUMNS})"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                shift.shift_id,
                shift.doctor,
                shift.cabin_id,
                _ts(shift.starts_at),
                _ts(shift.ends_at),
                shift.created_by,
                _opt_ts(shift.created_at),
            )

    async def change_shift(self, shift: RotaShift) -> bool:
        async with self._transaction() as c:
            doctor = await c.fetchval(
                "SELECT doctor FROM rota_shifts WHERE shift_id = $1", shift.shift_id
            )
            if doctor is None:
                return False
            await c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", doctor)
            overlap = await c.fetchval(
                "SELECT EXISTS (SELECT 1 FROM rota_shifts AS other, rota_shifts AS this"
                " WHERE this.shift_id = $1 AND other.shift_id <> $1"
                " AND other.doctor = this.doctor AND other.cabin_id = this.cabin_id"
                " AND other.starts_at < $3 AND other.ends_at > $2)",
                shift.shift_id,
                _ts(shift.starts_at),
                _ts(shift.ends_at),
            )
            if overlap:
                raise ShiftOverlap("the doctor already covers this cabin then")
            status = await c.execute(
                "UPDATE rota_shifts SET starts_at = $2, ends_at = $3 WHERE shift_id = $1",
                shift.shift_id,
                _ts(shift.starts_at),
                _ts(shift.ends_at),
            )
        return bool(status == "UPDATE 1")

    async def remove_shift(self, shift_id: str) -> bool:
        async with self._connection() as c:
            status = await c.execute("DELETE FROM rota_shifts WHERE shift_id = $1", shift_id)
        return bool(status == "DELETE 1")

    async def shifts(
        self,
        *,
        starts_before: datetime,
        ends_after: datetime,
        cabin_id: str | None = None,
        doctor: str | None = None,
    ) -> list[RotaShift]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_SHIFT_COLUMNS} FROM rota_shifts"  # noqa: S608
                " WHERE starts_at < $1 AND ends_at > $2"
                " AND ($3::text IS NULL OR cabin_id = $3) AND ($4::text IS NULL OR doctor = $4)"
                " ORDER BY starts_at, shift_id",
                _ts(starts_before),
                _ts(ends_after),
                cabin_id,
                doctor,
            )
        return [_shift(row) for row in rows]

    # appointments

    async def add_appointment(self, appointment: Appointment) -> None:
        a = appointment

        def sealed(column: str, text: str) -> bytes:
            return self._seal_field("appointments", column, a.appointment_id, text)

        async with self._connection() as c:
            try:
                await c.execute(
                    f"INSERT INTO appointments ({_APPOINTMENT_COLUMNS}, patient_index,"  # noqa: S608
                    " code_index) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
                    " $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
                    a.appointment_id,
                    a.cabin_id,
                    a.doctor,
                    _ts(a.starts_at),
                    _ts(a.ends_at),
                    a.status.value,
                    sealed("patient", msgspec.json.encode(a.patient).decode("utf-8")),
                    sealed("code", a.code),
                    a.channel.value,
                    _ts(a.booked_at),
                    a.booked_by,
                    sealed("phone", a.phone),
                    sealed("email", a.email),
                    a.language.value,
                    sealed("reason", a.reason),
                    _opt_ts(a.consent_at),
                    _opt_ts(a.cancelled_at),
                    sealed("cancel_reason", a.cancel_reason),
                    a.cancelled_by,
                    _opt_ts(a.arrived_at),
                    a.consultation_id,
                    _opt_ts(a.closed_at),
                    self._keys.blind_index(match_key(a.patient)),
                    self._keys.code_index(a.code),
                )
            except asyncpg.UniqueViolationError as exc:
                raise _unique_violation(exc) from None

    async def appointment(self, appointment_id: str) -> Appointment | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                _SELECT_APPOINTMENT + " WHERE appointment_id = $1", appointment_id
            )
        return None if row is None else self._appointment(row)

    async def appointment_by_code(self, code: str) -> Appointment | None:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_APPOINTMENT + " WHERE code_index = $1 AND status IN ('booked', 'arrived')",
                self._keys.code_index(code),
            )
        found = [a for a in map(self._appointment, rows) if a.code == code]
        return found[0] if found else None

    async def appointments(
        self, *, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[Appointment]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_APPOINTMENT + " WHERE starts_at >= $1 AND starts_at < $2"
                " AND ($3::text[] IS NULL OR cabin_id = ANY($3::text[]))"
                " ORDER BY starts_at, cabin_id, appointment_id",
                _ts(starts_from),
                _ts(starts_before),
                None if cabin_ids is None else list(cabin_ids),
            )
        return [self._appointment(row) for row in rows]

    async def held_spans(
        self, *, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[HeldSpan]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT cabin_id, starts_at, ends_at FROM appointments"
                " WHERE status <> 'cancelled' AND starts_at >= $1 AND starts_at < $2"
                " AND ($3::text[] IS NULL OR cabin_id = ANY($3::text[]))"
                " ORDER BY starts_at, cabin_id",
                _ts(starts_from),
                _ts(starts_before),
                None if cabin_ids is None else list(cabin_ids),
            )
        return [HeldSpan(row[0], row[1], row[2]) for row in rows]

    async def appointments_of_patient(self, patient: wire.PatientSummary) -> list[Appointment]:
        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_APPOINTMENT + " WHERE patient_index = $1"
                " ORDER BY starts_at DESC, appointment_id",
                self._keys.blind_index(match_key(patient)),
            )
        return [self._appointment(row) for row in rows]

    async def cancel_appointment(
        self, appointment_id: str, *, at: datetime, reason: str, by: str
    ) -> Appointment | None:
        async with self._transaction() as c:
            row = await c.fetchrow(
                "UPDATE appointments SET status = 'cancelled', cancelled_at = $2,"  # noqa: S608
                " cancel_reason = $3, cancelled_by = $4"
                " WHERE appointment_id = $1 AND status = 'booked'"
                f" RETURNING {_APPOINTMENT_COLUMNS}",
                appointment_id,
                _ts(at),
                self._seal_field("appointments", "cancel_reason", appointment_id, reason),
                by,
            )
            if row is None:
                return None
            await c.execute(
                "UPDATE notifications SET state = 'dropped'"
                " WHERE appointment_id = $1 AND state = 'pending'",
                appointment_id,
            )
        return self._appointment(row)

    async def move_appointment(
        self, appointment_id: str, *, starts_at: datetime, ends_at: datetime, doctor: str | None
    ) -> Appointment | None:
        async with self._connection() as c:
            try:
                async with c.transaction():
                    row = await c.fetchrow(
                        "UPDATE appointments SET starts_at = $2, ends_at = $3, doctor = $4"  # noqa: S608
                        " WHERE appointment_id = $1 AND status = 'booked'"
                        f" RETURNING {_APPOINTMENT_COLUMNS}",
                        appointment_id,
                        _ts(starts_at),
                        _ts(ends_at),
                        doctor,
                    )
                    if row is None:
                        return None
                    await c.execute(
                        "UPDATE notifications SET state = 'dropped' WHERE appointment_id = $1"
                        " AND state = 'pending' AND kind = ANY($2::text[])",
                        appointment_id,
                        _REMINDERS,
                    )
            except asyncpg.UniqueViolationError as exc:
                raise _unique_violation(exc) from None
        return self._appointment(row)

    async def _update_one(self, sets: str, where: str, *parameters: Any) -> Appointment | None:
        async with self._connection() as c:
            try:
                row = await c.fetchrow(
                    f"UPDATE appointments SET {sets} WHERE {where}"  # noqa: S608 - ours
                    f" RETURNING {_APPOINTMENT_COLUMNS}",
                    *parameters,
                )
            except asyncpg.UniqueViolationError as exc:  # a no-show's code, given again since
                raise _unique_violation(exc) from None
        return None if row is None else self._appointment(row)

    async def mark_arrived(
        self, appointment_id: str, *, at: datetime, consultation_id: str | None
    ) -> Appointment | None:
        return await self._update_one(
            "status = 'arrived', arrived_at = $2, consultation_id = $3, closed_at = NULL",
            "appointment_id = $1 AND status IN ('booked', 'noshow')",
            appointment_id,
            _ts(at),
            consultation_id,
        )

    async def mark_fulfilled(self, appointment_id: str, *, at: datetime) -> Appointment | None:
        return await self._update_one(
            "status = 'fulfilled', closed_at = $2",
            "appointment_id = $1 AND status = 'arrived'",
            appointment_id,
            _ts(at),
        )

    async def mark_noshows(self, *, started_before: datetime, at: datetime) -> list[Appointment]:
        async with self._connection() as c:
            rows = await c.fetch(
                "UPDATE appointments SET status = 'noshow', closed_at = $2"  # noqa: S608
                " WHERE status = 'booked' AND starts_at < $1"
                f" RETURNING {_APPOINTMENT_COLUMNS}",
                _ts(started_before),
                _ts(at),
            )
        marked = [self._appointment(row) for row in rows]
        return sorted(marked, key=lambda a: (a.starts_at, a.appointment_id))

    async def reassign_appointments(
        self, appointment_ids: list[str], *, doctor: str
    ) -> list[Appointment]:
        if not appointment_ids:
            return []
        async with self._connection() as c:
            rows = await c.fetch(
                "UPDATE appointments SET doctor = $2"  # noqa: S608
                " WHERE appointment_id = ANY($1::text[]) AND status = 'booked'"
                f" RETURNING {_APPOINTMENT_COLUMNS}",
                list(appointment_ids),
                doctor,
            )
        changed = [self._appointment(row) for row in rows]
        return sorted(changed, key=lambda a: (a.starts_at, a.appointment_id))

    async def appointments_page(self, *, after: str = "", limit: int = 500) -> AppointmentPage:
        key, _, last_id = after.partition("\x1f")
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_APPOINTMENT_COLUMNS}, patient_index FROM appointments"  # noqa: S608
                " WHERE (patient_index, appointment_id) > ($1, $2)"
                " ORDER BY patient_index, appointment_id LIMIT $3",
                key,
                last_id,
                limit,
            )
        page = tuple(self._appointment(row) for row in rows)
        last = rows[-1] if len(rows) == limit else None
        next_after = "" if last is None else f"{last['patient_index']}\x1f{last['appointment_id']}"
        return AppointmentPage(page, next_after)

    # the operators' tokens

    async def put_operator_token(self, name: str, token_sha256: str, *, at: datetime) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO operator_tokens (name, token_sha256, created_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256,"
                " created_at = excluded.created_at",
                name,
                token_sha256,
                _ts(at),
            )

    async def revoke_operator_token(self, name: str) -> bool:
        async with self._connection() as c:
            status = await c.execute("DELETE FROM operator_tokens WHERE name = $1", name)
        return bool(status == "DELETE 1")

    async def operator_token_name(self, token_sha256: str) -> str | None:
        async with self._connection() as c:
            name = await c.fetchval(
                "SELECT name FROM operator_tokens WHERE token_sha256 = $1", token_sha256
            )
        return None if name is None else str(name)

    # the outbox

    async def add_notifications(self, notifications: list[Notification]) -> None:
        rows = [
            (
                n.notification_id,
                n.appointment_id,
                n.channel.value,
                n.kind.value,
                _ts(n.due_at),
                n.state.value,
                n.attempts,
                self._seal_field("notifications", "last_error", n.notification_id, n.last_error),
                n.claimed_by,
                _opt_ts(n.claimed_until),
                _opt_ts(n.sent_at),
            )
            for n in notifications
        ]
        async with self._transaction() as c:
            await c.executemany(
                f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS})"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                rows,
            )

    async def claim_notifications(
        self, *, now: datetime, claimer: str, lease_until: datetime, limit: int
    ) -> list[Notification]:
        async with self._connection() as c:
            rows = await c.fetch(
                "WITH due AS (SELECT n.notification_id FROM notifications AS n"  # noqa: S608
                " JOIN appointments AS a ON a.appointment_id = n.appointment_id"
                " WHERE n.due_at <= $1 AND (n.state = 'pending'"
                " OR (n.state = 'sending' AND n.claimed_until <= $1))"
                " AND (a.status <> 'cancelled' OR n.kind = 'cancellation')"
                " ORDER BY n.due_at, n.notification_id LIMIT $4 FOR UPDATE OF n SKIP LOCKED)"
                " UPDATE notifications AS n SET state = 'sending', claimed_by = $2,"
                " claimed_until = $3, attempts = n.attempts + 1 FROM due"
                " WHERE n.notification_id = due.notification_id"
                f" RETURNING {', '.join('n.' + c for c in _NOTIFICATION_COLUMNS.split(', '))}",
                _ts(now),
                claimer,
                _ts(lease_until),
                limit,
            )
        claimed = [self._notification(row) for row in rows]
        return sorted(claimed, key=lambda n: (n.due_at, n.notification_id))

    async def mark_notification_sent(self, notification_id: str, *, at: datetime) -> None:
        async with self._connection() as c:
            await c.execute(
                "UPDATE notifications SET state = 'sent', sent_at = $2, claimed_until = NULL"
                " WHERE notification_id = $1",
                notification_id,
                _ts(at),
            )

    async def mark_notification_failed(
        self, notification_id: str, *, error: str, retry_at: datetime | None
    ) -> None:
        sealed = self._seal_field("notifications", "last_error", notification_id, error)
        async with self._connection() as c:
            if retry_at is None:
                await c.execute(
                    "UPDATE notifications SET state = 'failed', last_error = $2,"
                    " claimed_until = NULL WHERE notification_id = $1",
                    notification_id,
                    sealed,
                )
                return
            await c.execute(
                "UPDATE notifications SET state = 'pending', last_error = $2, due_at = $3,"
                " claimed_by = '', claimed_until = NULL WHERE notification_id = $1",
                notification_id,
                sealed,
                _ts(retry_at),
            )

    async def drop_notification(self, notification_id: str, *, reason: str) -> None:
        sealed = self._seal_field("notifications", "last_error", notification_id, reason)
        async with self._connection() as c:
            await c.execute(
                "UPDATE notifications SET state = 'dropped', last_error = $2,"
                " claimed_until = NULL WHERE notification_id = $1"
                " AND state IN ('pending', 'sending')",
                notification_id,
                sealed,
            )

    async def notifications(
        self,
        *,
        appointment_id: str | None = None,
        states: frozenset[NotificationState] | None = None,
        limit: int = 1000,
    ) -> list[Notification]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications"  # noqa: S608
                " WHERE ($1::text IS NULL OR appointment_id = $1)"
                " AND ($2::text[] IS NULL OR state = ANY($2::text[]))"
                " ORDER BY due_at, notification_id LIMIT $3",
                appointment_id,
                None if states is None else sorted(s.value for s in states),
                limit,
            )
        return [self._notification(row) for row in rows]
