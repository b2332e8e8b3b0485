"""`hub.booking.BookingStore` on the SQLCipher file: the statements the worker thread runs
(`BookingStatements`, part of `hub.sqlite_storage._Database`) and the storage's coroutines
that hand them to it (`SqliteBookings`, part of `hub.sqlite_storage.SqliteStorage`).

The file is encrypted as a whole, so patients, codes, phones and e-mails are kept as they are,
with the patient's match key (`hub.patients.match_key`) beside them to find their bookings.
Every call runs on the one worker thread, one after the other: a state change is still one
conditional ``UPDATE ... RETURNING`` (or a transaction), and a double booking or a reused code
is refused by the unique partial indexes of migration 12, never by a look before the insert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import msgspec
import sqlcipher3

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

if TYPE_CHECKING:
    from sqlite3 import Connection

P = ParamSpec("P")
T = TypeVar("T")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""As `hub.sqlite_storage` writes every time: fixed width, UTC, sorts like the instants."""
_PATIENT = msgspec.json.Decoder(wire.PatientSummary)

_UNIQUE_INDEXES = {
    "appointments.cabin_id, appointments.starts_at": "appointments_slot",
    "appointments.code": "appointments_code",
}
"""What SQLite names in "UNIQUE constraint failed: ..." (the indexed columns), by index."""

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
_SELECT_NOTIFICATION = f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications"  # noqa: S608
_CALENDAR_COLUMNS = "cabin_id, town, timezone, slot_minutes, walk_in_share, bookable_days"
_SHIFT_COLUMNS = "shift_id, doctor, cabin_id, starts_at, ends_at, created_by, created_at"
_REMINDERS = (NotificationKind.REMINDER_DAY.value, NotificationKind.REMINDER_HOUR.value)


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the storage")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _opt_ts(moment: datetime | None) -> str | None:
    return None if moment is None else _ts(moment)


def _dt(text: str) -> datetime:
    """What `_ts` wrote. `fromisoformat` reads its ``...Z`` (Python 3.11), a hundred times
    faster than `strptime`: a month of appointments' times is read for each agenda."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise CorruptRecord("a stored time cannot be read") from None
    if moment.utcoffset() != timedelta(0):
        raise CorruptRecord("a stored time is not in UTC")
    return moment


def _opt_dt(text: str | None) -> datetime | None:
    return None if text is None else _dt(text)


def _wall_clock(moment: time) -> str:
    return moment.strftime("%H:%M")


def _time_of(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise CorruptRecord("a stored opening hour cannot be read") from None


def _day_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CorruptRecord("a stored day cannot be read") from None


def unique_violation(error: sqlcipher3.IntegrityError) -> StorageError:
    """The booking error an appointment's unique index raised (by the index's columns)."""
    message = str(error)
    columns = message.removeprefix("UNIQUE constraint failed: ")
    index = _UNIQUE_INDEXES.get(columns)
    if index == "appointments_slot":
        return SlotTaken("another appointment holds this slot")
    if index == "appointments_code":
        return CodeTaken("another active appointment has this code")
    return StorageError(f"database error: IntegrityError: {message}")


def _appointment(row: Sequence[Any]) -> Appointment:
    try:
        patient = _PATIENT.decode(row[6])
    except msgspec.DecodeError:
        raise CorruptRecord("a stored patient cannot be read") from None
    return Appointment(
        appointment_id=row[0],
        cabin_id=row[1],
        doctor=row[2],
        starts_at=_dt(row[3]),
        ends_at=_dt(row[4]),
        status=AppointmentStatus(row[5]),
        patient=patient,
        code=row[7],
        channel=BookingChannel(row[8]),
        booked_at=_dt(row[9]),
        booked_by=row[10],
        phone=row[11],
        email=row[12],
        language=wire.Language(row[13]),
        reason=row[14],
        consent_at=_opt_dt(row[15]),
        cancelled_at=_opt_dt(row[16]),
        cancel_reason=row[17],
        cancelled_by=row[18],
        arrived_at=_opt_dt(row[19]),
        consultation_id=row[20],
        closed_at=_opt_dt(row[21]),
    )


def _notification(row: Sequence[Any]) -> Notification:
    return Notification(
        notification_id=row[0],
        appointment_id=row[1],
        channel=NotificationChannel(row[2]),
        kind=NotificationKind(row[3]),
        due_at=_dt(row[4]),
        state=NotificationState(row[5]),
        attempts=row[6],
        last_error=row[7],
        claimed_by=row[8],
        claimed_until=_opt_dt(row[9]),
        sent_at=_opt_dt(row[10]),
    )


def _calendar(row: Sequence[Any]) -> CabinCalendar:
    return CabinCalendar(
        cabin_id=row[0],
        town=row[1],
        timezone=row[2],
        slot_minutes=row[3],
        walk_in_share=row[4],
        bookable_days=row[5],
    )


def _shift(row: Sequence[Any]) -> RotaShift:
    return RotaShift(
        shift_id=row[0],
        doctor=row[1],
        cabin_id=row[2],
        starts_at=_dt(row[3]),
        ends_at=_dt(row[4]),
        created_by=row[5],
        created_at=_opt_dt(row[6]),
    )


def _closure(row: Sequence[Any]) -> Closure:
    return Closure(
        closure_id=row[0],
        cabin_id=row[1],
        first_day=_day_of(row[2]),
        last_day=_day_of(row[3]),
        reason=row[4],
    )


class BookingStatements:
    """The booking statements of the worker thread's connection (`hub.sqlite_storage`)."""

    _db: Connection

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[Connection]: ...

    # calendars and the rota

    def put_calendar(self, calendar: CabinCalendar) -> None:
        self._db.execute(
            f"INSERT INTO cabin_calendars ({_CALENDAR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (cabin_id) DO UPDATE SET town = excluded.town,"
            " timezone = excluded.timezone, slot_minutes = excluded.slot_minutes,"
            " walk_in_share = excluded.walk_in_share, bookable_days = excluded.bookable_days",
            (
                calendar.cabin_id,
                calendar.town,
                calendar.timezone,
                calendar.slot_minutes,
                calendar.walk_in_share,
                calendar.bookable_days,
            ),
        )

    def calendar(self, cabin_id: str) -> CabinCalendar | None:
        row = self._db.execute(
            f"SELECT {_CALENDAR_COLUMNS} FROM cabin_calendars WHERE cabin_id = ?",  # noqa: S608
            (cabin_id,),
        ).fetchone()
        return None if row is None else _calendar(row)

    def calendars(self) -> list[CabinCalendar]:
        rows = self._db.execute(
            f"SELECT {_CALENDAR_COLUMNS} FROM cabin_calendars ORDER BY cabin_id"  # noqa: S608
        )
        return [_calendar(row) for row in rows]

    def set_opening_hours(self, cabin_id: str, hours: list[OpeningHours]) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM opening_hours WHERE cabin_id = ?", (cabin_id,))
            db.executemany(
                "INSERT INTO opening_hours (cabin_id, weekday, opens, closes) VALUES (?, ?, ?, ?)",
                [
                    (cabin_id, span.weekday, _wall_clock(span.opens), _wall_clock(span.closes))
                    for span in hours
                ],
            )

    def opening_hours(self, cabin_id: str) -> list[OpeningHours]:
        rows = self._db.execute(
            "SELECT cabin_id, weekday, opens, closes FROM opening_hours WHERE cabin_id = ?"
            " ORDER BY weekday, opens",
            (cabin_id,),
        )
        return [OpeningHours(r[0], r[1], _time_of(r[2]), _time_of(r[3])) for r in rows]

    def cabin_setups(
        self, cabin_ids: list[str], first_day: date, last_day: date
    ) -> list[CabinSetup]:
        marks = ", ".join("?" for _ in cabin_ids)
        calendars = {
            row[0]: _calendar(row)
            for row in self._db.execute(
                f"SELECT {_CALENDAR_COLUMNS} FROM cabin_calendars WHERE cabin_id IN ({marks})",  # noqa: S608
                cabin_ids,
            )
        }
        hours: dict[str, list[OpeningHours]] = {}
        for r in self._db.execute(
            "SELECT cabin_id, weekday, opens, closes FROM opening_hours"  # noqa: S608
            f" WHERE cabin_id IN ({marks}) ORDER BY cabin_id, weekday, opens",
            cabin_ids,
        ):
            hours.setdefault(r[0], []).append(
                OpeningHours(r[0], r[1], _time_of(r[2]), _time_of(r[3]))
            )
        closures: dict[str, list[Closure]] = {}
        for row in self._db.execute(
            "SELECT closure_id, cabin_id, first_day, last_day, reason FROM closures"  # noqa: S608
            f" WHERE cabin_id IN ({marks}) AND first_day <= ? AND last_day >= ?"
            " ORDER BY first_day, closure_id",
            (*cabin_ids, last_day.isoformat(), first_day.isoformat()),
        ):
            closures.setdefault(row[1], []).append(_closure(row))
        return [
            CabinSetup(
                calendars[cabin_id],
                tuple(hours.get(cabin_id, ())),
                tuple(closures.get(cabin_id, ())),
            )
            for cabin_id in cabin_ids
            if cabin_id in calendars
        ]

    def add_closure(self, closure: Closure) -> None:
        self._db.execute(
            "INSERT INTO closures (closure_id, cabin_id, first_day, last_day, reason)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                closure.closure_id,
                closure.cabin_id,
                closure.first_day.isoformat(),
                closure.last_day.isoformat(),
                closure.reason,
            ),
        )

    def remove_closure(self, closure_id: str) -> bool:
        cursor = self._db.execute("DELETE FROM closures WHERE closure_id = ?", (closure_id,))
        return cursor.rowcount == 1

    def closures(self, cabin_id: str, first_day: date, last_day: date) -> list[Closure]:
        rows = self._db.execute(
            "SELECT closure_id, cabin_id, first_day, last_day, reason FROM closures"
            " WHERE cabin_id = ? AND first_day <= ? AND last_day >= ?"
            " ORDER BY first_day, closure_id",
            (cabin_id, last_day.isoformat(), first_day.isoformat()),
        )
        return [_closure(row) for row in rows]

    def add_shift(self, shift: RotaShift) -> None:
        try:
            self._db.execute(
                f"INSERT INTO rota_shifts ({_SHIFT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    shift.shift_id,
                    shift.doctor,
                    shift.cabin_id,
                    _ts(shift.starts_at),
                    _ts(shift.ends_at),
                    shift.created_by,
                    _opt_ts(shift.created_at),
                ),
            )
        except sqlcipher3.IntegrityError as exc:
            if "shift_overlap" in str(exc):  # the trigger of migration 14
                raise ShiftOverlap("the doctor already covers this cabin then") from None
            raise StorageError(f"database error: IntegrityError: {exc}") from None

    def change_shift(self, shift: RotaShift) -> bool:
        try:
            cursor = self._db.execute(
                "UPDATE rota_shifts SET starts_at = ?, ends_at = ? WHERE shift_id = ?",
                (_ts(shift.starts_at), _ts(shift.ends_at), shift.shift_id),
            )
        except sqlcipher3.IntegrityError as exc:
            if "shift_overlap" in str(exc):  # the trigger of migration 14
                raise ShiftOverlap("the doctor already covers this cabin then") from None
            raise StorageError(f"database error: IntegrityError: {exc}") from None
        return cursor.rowcount == 1

    def remove_shift(self, shift_id: str) -> bool:
        cursor = self._db.execute("DELETE FROM rota_shifts WHERE shift_id = ?", (shift_id,))
        return cursor.rowcount == 1

    def shifts(
        self,
        starts_before: datetime,
        ends_after: datetime,
        cabin_id: str | None,
        doctor: str | None,
    ) -> list[RotaShift]:
        query = f"SELECT {_SHIFT_COLUMNS} FROM rota_shifts WHERE starts_at < ? AND ends_at > ?"  # noqa: S608
        parameters: list[str] = [_ts(starts_before), _ts(ends_after)]
        if cabin_id is not None:
            query += " AND cabin_id = ?"
            parameters.append(cabin_id)
        if doctor is not None:
            query += " AND doctor = ?"
            parameters.append(doctor)
        rows = self._db.execute(query + " ORDER BY starts_at, shift_id", parameters)
        return [_shift(row) for row in rows]

    # appointments

    def add_appointment(self, appointment: Appointment) -> None:
        a = appointment
        try:
            self._db.execute(
                f"INSERT INTO appointments ({_APPOINTMENT_COLUMNS}, match_key) VALUES"  # noqa: S608
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    a.appointment_id,
                    a.cabin_id,
                    a.doctor,
                    _ts(a.starts_at),
                    _ts(a.ends_at),
                    a.status.value,
                    msgspec.json.encode(a.patient).decode("utf-8"),
                    a.code,
                    a.channel.value,
                    _ts(a.booked_at),
                    a.booked_by,
                    a.phone,
                    a.email,
                    a.language.value,
                    a.reason,
                    _opt_ts(a.consent_at),
                    _opt_ts(a.cancelled_at),
                    a.cancel_reason,
                    a.cancelled_by,
                    _opt_ts(a.arrived_at),
                    a.consultation_id,
                    _opt_ts(a.closed_at),
                    match_key(a.patient),
                ),
            )
        except sqlcipher3.IntegrityError as exc:
            raise unique_violation(exc) from None

    def appointment(self, appointment_id: str) -> Appointment | None:
        row = self._db.execute(
            _SELECT_APPOINTMENT + " WHERE appointment_id = ?", (appointment_id,)
        ).fetchone()
        return None if row is None else _appointment(row)

    def appointment_by_code(self, code: str) -> Appointment | None:
        row = self._db.execute(
            _SELECT_APPOINTMENT + " WHERE code = ? AND status IN ('booked', 'arrived')", (code,)
        ).fetchone()
        return None if row is None else _appointment(row)

    def appointments(
        self, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[Appointment]:
        query = _SELECT_APPOINTMENT + " WHERE starts_at >= ? AND starts_at < ?"
        parameters: list[str] = [_ts(starts_from), _ts(starts_before)]
        if cabin_ids is not None:
            query += f" AND cabin_id IN ({', '.join('?' for _ in cabin_ids)})"
            parameters.extend(cabin_ids)
        rows = self._db.execute(query + " ORDER BY starts_at, cabin_id, appointment_id", parameters)
        return [_appointment(row) for row in rows]

    def held_spans(
        self, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[HeldSpan]:
        query = (
            "SELECT cabin_id, starts_at, ends_at FROM appointments"
            " WHERE status != 'cancelled' AND starts_at >= ? AND starts_at < ?"
        )
        parameters: list[str] = [_ts(starts_from), _ts(starts_before)]
        if cabin_ids is not None:
            query += f" AND cabin_id IN ({', '.join('?' for _ in cabin_ids)})"
            parameters.extend(cabin_ids)
        rows = self._db.execute(query + " ORDER BY starts_at, cabin_id", parameters)
        # Slots fall on a grid: the cabins' appointments share a few hundred distinct times
        # over a month; each is read once.
        read: dict[str, datetime] = {}

        def instant(text: str) -> datetime:
            moment = read.get(text)
            if moment is None:
                moment = read[text] = _dt(text)
            return moment

        return [HeldSpan(cabin_id, instant(start), instant(end)) for cabin_id, start, end in rows]

    def appointments_of_patient(self, patient: wire.PatientSummary) -> list[Appointment]:
        rows = self._db.execute(
            _SELECT_APPOINTMENT + " WHERE match_key = ? ORDER BY starts_at DESC, appointment_id",
            (match_key(patient),),
        )
        return [_appointment(row) for row in rows]

    def _update_one(self, sets: str, where: str, parameters: Iterable[Any]) -> Appointment | None:
        rows = self._db.execute(
            f"UPDATE appointments SET {sets} WHERE {where}"  # noqa: S608 - ours
            f" RETURNING {_APPOINTMENT_COLUMNS}",
            tuple(parameters),
        ).fetchall()
        return _appointment(rows[0]) if rows else None

    def cancel_appointment(
        self, appointment_id: str, at: datetime, reason: str, by: str
    ) -> Appointment | None:
        with self._transaction() as db:
            cancelled = self._update_one(
                "status = 'cancelled', cancelled_at = ?, cancel_reason = ?, cancelled_by = ?",
                "appointment_id = ? AND status = 'booked'",
                (_ts(at), reason, by, appointment_id),
            )
            if cancelled is not None:
                db.execute(
                    "UPDATE notifications SET state = 'dropped'"
                    " WHERE appointment_id = ? AND state = 'pending'",
                    (appointment_id,),
                )
            return cancelled

    def move_appointment(
        self, appointment_id: str, starts_at: datetime, ends_at: datetime, doctor: str | None
    ) -> Appointment | None:
        with self._transaction() as db:
            try:
                moved = self._update_one(
                    "starts_at = ?, ends_at = ?, doctor = ?",
                    "appointment_id = ? AND status = 'booked'",
                    (_ts(starts_at), _ts(ends_at), doctor, appointment_id),
                )
            except sqlcipher3.IntegrityError as exc:
                raise unique_violation(exc) from None
            if moved is not None:
                db.execute(
                    "UPDATE notifications SET state = 'dropped'"
                    " WHERE appointment_id = ? AND state = 'pending' AND kind IN (?, ?)",
                    (appointment_id, *_REMINDERS),
                )
            return moved

    def mark_arrived(
        self, appointment_id: str, at: datetime, consultation_id: str | None
    ) -> Appointment | None:
        try:
            return self._update_one(
                "status = 'arrived', arrived_at = ?, consultation_id = ?, closed_at = NULL",
                "appointment_id = ? AND status IN ('booked', 'noshow')",
                (_ts(at), consultation_id, appointment_id),
            )
        except sqlcipher3.IntegrityError as exc:  # a no-show's code, given again meanwhile
            raise unique_violation(exc) from None

    def mark_fulfilled(self, appointment_id: str, at: datetime) -> Appointment | None:
        return self._update_one(
            "status = 'fulfilled', closed_at = ?",
            "appointment_id = ? AND status = 'arrived'",
            (_ts(at), appointment_id),
        )

    def mark_noshows(self, started_before: datetime, at: datetime) -> list[Appointment]:
        rows = self._db.execute(
            "UPDATE appointments SET status = 'noshow', closed_at = ?"  # noqa: S608
            " WHERE status = 'booked' AND starts_at < ?"
            f" RETURNING {_APPOINTMENT_COLUMNS}",
            (_ts(at), _ts(started_before)),
        ).fetchall()
        marked = [_appointment(row) for row in rows]
        return sorted(marked, key=lambda a: (a.starts_at, a.appointment_id))

    def reassign_appointments(self, appointment_ids: list[str], doctor: str) -> list[Appointment]:
        if not appointment_ids:
            return []
        rows = self._db.execute(
            f"UPDATE appointments SET doctor = ? WHERE status = 'booked'"  # noqa: S608
            f" AND appointment_id IN ({', '.join('?' for _ in appointment_ids)})"
            f" RETURNING {_APPOINTMENT_COLUMNS}",
            (doctor, *appointment_ids),
        ).fetchall()
        changed = [_appointment(row) for row in rows]
        return sorted(changed, key=lambda a: (a.starts_at, a.appointment_id))

    def appointments_page(self, after: str, limit: int) -> AppointmentPage:
        key, _, last_id = after.partition("\x1f")
        rows = self._db.execute(
            f"SELECT {_APPOINTMENT_COLUMNS}, match_key FROM appointments"  # noqa: S608
            " WHERE (match_key, appointment_id) > (?, ?)"
            " ORDER BY match_key, appointment_id LIMIT ?",
            (key, last_id, limit),
        ).fetchall()
        page = tuple(_appointment(row) for row in rows)
        next_after = f"{rows[-1][-1]}\x1f{rows[-1][0]}" if len(rows) == limit else ""
        return AppointmentPage(page, next_after)

    # the operators' tokens

    def put_operator_token(self, name: str, token_sha256: str, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO operator_tokens (name, token_sha256, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256,"
            " created_at = excluded.created_at",
            (name, token_sha256, _ts(at)),
        )

    def revoke_operator_token(self, name: str) -> bool:
        cursor = self._db.execute("DELETE FROM operator_tokens WHERE name = ?", (name,))
        return cursor.rowcount == 1

    def operator_token_name(self, token_sha256: str) -> str | None:
        row = self._db.execute(
            "SELECT name FROM operator_tokens WHERE token_sha256 = ?", (token_sha256,)
        ).fetchone()
        return None if row is None else str(row[0])

    # the outbox

    def add_notifications(self, notifications: list[Notification]) -> None:
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        n.notification_id,
                        n.appointment_id,
                        n.channel.value,
                        n.kind.value,
                        _ts(n.due_at),
                        n.state.value,
                        n.attempts,
                        n.last_error,
                        n.claimed_by,
                        _opt_ts(n.claimed_until),
                        _opt_ts(n.sent_at),
                    )
                    for n in notifications
                ],
            )

    def claim_notifications(
        self, now: datetime, claimer: str, lease_until: datetime, limit: int
    ) -> list[Notification]:
        rows = self._db.execute(
            "UPDATE notifications SET state = 'sending', claimed_by = ?1, claimed_until = ?2,"  # noqa: S608
            " attempts = attempts + 1 WHERE notification_id IN ("
            " SELECT n.notification_id FROM notifications AS n"
            " JOIN appointments AS a ON a.appointment_id = n.appointment_id"
            " WHERE n.due_at <= ?3 AND (n.state = 'pending'"
            " OR (n.state = 'sending' AND n.claimed_until <= ?3))"
            " AND (a.status != 'cancelled' OR n.kind = 'cancellation')"
            " ORDER BY n.due_at, n.notification_id LIMIT ?4)"
            f" RETURNING {_NOTIFICATION_COLUMNS}",
            (claimer, _ts(lease_until), _ts(now), limit),
        ).fetchall()
        claimed = [_notification(row) for row in rows]
        return sorted(claimed, key=lambda n: (n.due_at, n.notification_id))

    def mark_notification_sent(self, notification_id: str, at: datetime) -> None:
        self._db.execute(
            "UPDATE notifications SET state = 'sent', sent_at = ?, claimed_until = NULL"
            " WHERE notification_id = ?",
            (_ts(at), notification_id),
        )

    def mark_notification_failed(
        self, notification_id: str, error: str, retry_at: datetime | None
    ) -> None:
        if retry_at is None:
            self._db.execute(
                "UPDATE notifications SET state = 'failed', last_error = ?, claimed_until = NULL"
                " WHERE notification_id = ?",
                (error, notification_id),
            )
            return
        self._db.execute(
            "UPDATE notifications SET state = 'pending', last_error = ?, due_at = ?,"
            " claimed_by = '', claimed_until = NULL WHERE notification_id = ?",
            (error, _ts(retry_at), notification_id),
        )

    def drop_notification(self, notification_id: str, reason: str) -> None:
        self._db.execute(
            "UPDATE notifications SET state = 'dropped', last_error = ?, claimed_until = NULL"
            " WHERE notification_id = ? AND state IN ('pending', 'sending')",
            (reason, notification_id),
        )

    def notifications(
        self,
        appointment_id: str | None,
        states: frozenset[NotificationState] | None,
        limit: int,
    ) -> list[Notification]:
        query = _SELECT_NOTIFICATION + " WHERE 1 = 1"
        parameters: list[str | int] = []
        if appointment_id is not None:
            query += " AND appointment_id = ?"
            parameters.append(appointment_id)
        if states is not None:
            query += f" AND state IN ({', '.join('?' for _ in states)})"
            parameters.extend(sorted(s.value for s in states))
        rows = self._db.execute(
            query + " ORDER BY due_at, notification_id LIMIT ?", (*parameters, limit)
        )
        return [_notification(row) for row in rows]


class SqliteBookings:
    """The `BookingStore` coroutines of `hub.sqlite_storage.SqliteStorage`: each runs its
    statement on the storage's worker thread."""

    if TYPE_CHECKING:

        async def _run(
            self,
            operation: Callable[Concatenate[BookingStatements, P], T],
            *args: P.args,
            **kwargs: P.kwargs,
        ) -> T: ...

    async def put_calendar(self, calendar: CabinCalendar) -> None:
        await self._run(BookingStatements.put_calendar, calendar)

    async def calendar(self, cabin_id: str) -> CabinCalendar | None:
        return await self._run(BookingStatements.calendar, cabin_id)

    async def calendars(self) -> list[CabinCalendar]:
        return await self._run(BookingStatements.calendars)

    async def set_opening_hours(self, cabin_id: str, hours: list[OpeningHours]) -> None:
        await self._run(BookingStatements.set_opening_hours, cabin_id, list(hours))

    async def opening_hours(self, cabin_id: str) -> list[OpeningHours]:
        return await self._run(BookingStatements.opening_hours, cabin_id)

    async def cabin_setups(
        self, cabin_ids: list[str], *, first_day: date, last_day: date
    ) -> list[CabinSetup]:
        return await self._run(BookingStatements.cabin_setups, list(cabin_ids), first_day, last_day)

    async def add_closure(self, closure: Closure) -> None:
        await self._run(BookingStatements.add_closure, closure)

    async def remove_closure(self, closure_id: str) -> bool:
        return await self._run(BookingStatements.remove_closure, closure_id)

    async def closures(self, cabin_id: str, *, first_day: date, last_day: date) -> list[Closure]:
        return await self._run(BookingStatements.closures, cabin_id, first_day, last_day)

    async def add_shift(self, shift: RotaShift) -> None:
        await self._run(BookingStatements.add_shift, shift)

    async def change_shift(self, shift: RotaShift) -> bool:
        return await self._run(BookingStatements.change_shift, shift)

    async def remove_shift(self, shift_id: str) -> bool:
        return await self._run(BookingStatements.remove_shift, shift_id)

    async def shifts(
        self,
        *,
        starts_before: datetime,
        ends_after: datetime,
        cabin_id: str | None = None,
        doctor: str | None = None,
    ) -> list[RotaShift]:
        return await self._run(
            BookingStatements.shifts, starts_before, ends_after, cabin_id, doctor
        )

    async def add_appointment(self, appointment: Appointment) -> None:
        await self._run(BookingStatements.add_appointment, appointment)

    async def appointment(self, appointment_id: str) -> Appointment | None:
        return await self._run(BookingStatements.appointment, appointment_id)

    async def appointment_by_code(self, code: str) -> Appointment | None:
        return await self._run(BookingStatements.appointment_by_code, code)

    async def appointments(
        self, *, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[Appointment]:
        cabins = None if cabin_ids is None else list(cabin_ids)
        return await self._run(BookingStatements.appointments, cabins, starts_from, starts_before)

    async def held_spans(
        self, *, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[HeldSpan]:
        cabins = None if cabin_ids is None else list(cabin_ids)
        return await self._run(BookingStatements.held_spans, cabins, starts_from, starts_before)

    async def appointments_of_patient(self, patient: wire.PatientSummary) -> list[Appointment]:
        return await self._run(BookingStatements.appointments_of_patient, patient)

    async def cancel_appointment(
        self, appointment_id: str, *, at: datetime, reason: str, by: str
    ) -> Appointment | None:
        return await self._run(BookingStatements.cancel_appointment, appointment_id, at, reason, by)

    async def move_appointment(
        self, appointment_id: str, *, starts_at: datetime, ends_at: datetime, doctor: str | None
    ) -> Appointment | None:
        return await self._run(
            BookingStatements.move_appointment, appointment_id, starts_at, ends_at, doctor
        )

    async def mark_arrived(
        self, appointment_id: str, *, at: datetime, consultation_id: str | None
    ) -> Appointment | None:
        return await self._run(BookingStatements.mark_arrived, appointment_id, at, consultation_id)

    async def mark_fulfilled(self, appointment_id: str, *, at: datetime) -> Appointment | None:
        return await self._run(BookingStatements.mark_fulfilled, appointment_id, at)

    async def mark_noshows(self, *, started_before: datetime, at: datetime) -> list[Appointment]:
        return await self._run(BookingStatements.mark_noshows, started_before, at)

    async def reassign_appointments(
        self, appointment_ids: list[str], *, doctor: str
    ) -> list[Appointment]:
        return await self._run(
            BookingStatements.reassign_appointments, list(appointment_ids), doctor
        )

    async def appointments_page(self, *, after: str = "", limit: int = 500) -> AppointmentPage:
        return await self._run(BookingStatements.appointments_page, after, limit)

    async def put_operator_token(self, name: str, token_sha256: str, *, at: datetime) -> None:
        await self._run(BookingStatements.put_operator_token, name, token_sha256, at)

    async def revoke_operator_token(self, name: str) -> bool:
        return await self._run(BookingStatements.revoke_operator_token, name)

    async def operator_token_name(self, token_sha256: str) -> str | None:
        return await self._run(BookingStatements.operator_token_name, token_sha256)

    async def add_notifications(self, notifications: list[Notification]) -> None:
        await self._run(BookingStatements.add_notifications, list(notifications))

    async def claim_notifications(
        self, *, now: datetime, claimer: str, lease_until: datetime, limit: int
    ) -> list[Notification]:
        return await self._run(
            BookingStatements.claim_notifications, now, claimer, lease_until, limit
        )

    async def mark_notification_sent(self, notification_id: str, *, at: datetime) -> None:
        await self._run(BookingStatements.mark_notification_sent, notification_id, at)

    async def mark_notification_failed(
        self, notification_id: str, *, error: str, retry_at: datetime | None
    ) -> None:
        await self._run(
            BookingStatements.mark_notification_failed, notification_id, error, retry_at
        )

    async def drop_notification(self, notification_id: str, *, reason: str) -> None:
        await self._run(BookingStatements.drop_notification, notification_id, reason)

    async def notifications(
        self,
        *,
        appointment_id: str | None = None,
        states: frozenset[NotificationState] | None = None,
        limit: int = 1000,
    ) -> list[Notification]:
        return await self._run(BookingStatements.notifications, appointment_id, states, limit)
