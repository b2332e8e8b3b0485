"""`hub.handover.HandoverStore` on the SQLCipher file: a part of `SqliteStorage`.

The statements run on the storage's worker thread like all the others (`_on_connection`); the
tables are SQLite's migration 13 (`hub.sqlite_migrations`). Items, cabins and recipients are
kept as JSON text; times as the fixed-width UTC text the rest of the file uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import msgspec

from hub.errors import CorruptRecord
from hub.handover import FollowUp, Handover, HandoverItem, HandoverRead
from hub.storage import ConsultationRecord

if TYPE_CHECKING:
    from sqlite3 import Connection

P = ParamSpec("P")
T = TypeVar("T")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ITEMS = msgspec.json.Decoder(tuple[HandoverItem, ...])
_NAMES = msgspec.json.Decoder(tuple[str, ...])
_HANDOVER_COLUMNS = (
    "handover_id, author, cabin_ids, covers_from, covers_until, summary, items, recipients,"
    " written_at, updated_at"
)
_FOLLOWUP_COLUMNS = (
    "followup_id, consultation_id, cabin_id, note, flagged_by, flagged_at, cleared_by,"
    " cleared_at, clear_note"
)


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the storage")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _dt(text: str) -> datetime:
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise CorruptRecord("a stored time cannot be read") from None


def _decoded(decoder: msgspec.json.Decoder[T], text: str, what: str) -> T:
    try:
        return decoder.decode(text)
    except msgspec.DecodeError:
        raise CorruptRecord(f"a stored {what} cannot be read") from None


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode("utf-8")


@contextmanager
def _transaction(db: Connection) -> Iterator[Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _handover(row: Sequence[Any]) -> Handover:
    return Handover(
        handover_id=row[0],
        author=row[1],
        cabin_ids=_decoded(_NAMES, row[2], "handover's cabins"),
        covers_from=_dt(row[3]),
        covers_until=_dt(row[4]),
        summary=row[5],
        items=_decoded(_ITEMS, row[6], "handover's items"),
        recipients=_decoded(_NAMES, row[7], "handover's recipients"),
        written_at=_dt(row[8]),
        updated_at=_dt(row[9]),
    )


def _followup(row: Sequence[Any]) -> FollowUp:
    return FollowUp(
        followup_id=row[0],
        consultation_id=row[1],
        cabin_id=row[2],
        note=row[3],
        flagged_by=row[4],
        flagged_at=_dt(row[5]),
        cleared_by=row[6],
        cleared_at=None if row[7] is None else _dt(row[7]),
        clear_note=row[8],
    )


def add_handover(db: Connection, handover: Handover) -> None:
    db.execute(
        f"INSERT INTO handovers ({_HANDOVER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            handover.handover_id,
            handover.author,
            _json(handover.cabin_ids),
            _ts(handover.covers_from),
            _ts(handover.covers_until),
            handover.summary,
            _json(handover.items),
            _json(handover.recipients),
            _ts(handover.written_at),
            _ts(handover.updated_at),
        ),
    )


def replace_handover(db: Connection, handover: Handover) -> bool:
    cursor = db.execute(
        "UPDATE handovers SET cabin_ids = ?, covers_from = ?, covers_until = ?, summary = ?,"
        " items = ?, recipients = ?, updated_at = ? WHERE handover_id = ? AND author = ?",
        (
            _json(handover.cabin_ids),
            _ts(handover.covers_from),
            _ts(handover.covers_until),
            handover.summary,
            _json(handover.items),
            _json(handover.recipients),
            _ts(handover.updated_at),
            handover.handover_id,
            handover.author,
        ),
    )
    return cursor.rowcount == 1


def handover(db: Connection, handover_id: str) -> Handover | None:
    row = db.execute(
        f"SELECT {_HANDOVER_COLUMNS} FROM handovers WHERE handover_id = ?",  # noqa: S608
        (handover_id,),
    ).fetchone()
    return None if row is None else _handover(row)


def handovers(
    db: Connection, written_from: datetime, written_before: datetime, author: str | None
) -> list[Handover]:
    query = f"SELECT {_HANDOVER_COLUMNS} FROM handovers WHERE written_at >= ? AND written_at < ?"  # noqa: S608
    parameters: list[Any] = [_ts(written_from), _ts(written_before)]
    if author is not None:
        query += " AND author = ?"
        parameters.append(author)
    rows = db.execute(query + " ORDER BY written_at DESC, handover_id", parameters)
    return [_handover(row) for row in rows]


def mark_handover_read(
    db: Connection, handover_id: str, reader: str, at: datetime
) -> tuple[HandoverRead, bool] | None:
    with _transaction(db):
        if db.execute("SELECT 1 FROM handovers WHERE handover_id = ?", (handover_id,)).fetchone():
            cursor = db.execute(
                "INSERT INTO handover_reads (handover_id, reader, read_at) VALUES (?, ?, ?)"
                " ON CONFLICT (handover_id, reader) DO NOTHING",
                (handover_id, reader, _ts(at)),
            )
            row = db.execute(
                "SELECT read_at FROM handover_reads WHERE handover_id = ? AND reader = ?",
                (handover_id, reader),
            ).fetchone()
            return HandoverRead(handover_id, reader, _dt(row[0])), cursor.rowcount == 1
    return None


def handover_reads(db: Connection, handover_ids: list[str]) -> list[HandoverRead]:
    if not handover_ids:
        return []
    marks = ", ".join("?" for _ in handover_ids)
    rows = db.execute(
        "SELECT handover_id, reader, read_at FROM handover_reads"  # noqa: S608
        f" WHERE handover_id IN ({marks}) ORDER BY read_at, reader",
        handover_ids,
    )
    return [HandoverRead(row[0], row[1], _dt(row[2])) for row in rows]


def doctor_consultations(
    db: Connection, doctor: str, joined_from: datetime, joined_before: datetime, limit: int
) -> list[ConsultationRecord]:
    from hub.sqlite_storage import _SELECT_CONSULTATION, _Database  # noqa: PLC0415 - a cycle

    rows = db.execute(
        _SELECT_CONSULTATION + " WHERE doctor = ? AND joined_at >= ? AND joined_at < ?"
        " ORDER BY joined_at DESC, consultation_id LIMIT ?",
        (doctor, _ts(joined_from), _ts(joined_before), limit),
    )
    return [_Database._consultation(row) for row in rows]


def add_followup(db: Connection, followup: FollowUp) -> None:
    db.execute(
        f"INSERT INTO followups ({_FOLLOWUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            followup.followup_id,
            followup.consultation_id,
            followup.cabin_id,
            followup.note,
            followup.flagged_by,
            _ts(followup.flagged_at),
            followup.cleared_by,
            None if followup.cleared_at is None else _ts(followup.cleared_at),
            followup.clear_note,
        ),
    )


def followup(db: Connection, followup_id: str) -> FollowUp | None:
    row = db.execute(
        f"SELECT {_FOLLOWUP_COLUMNS} FROM followups WHERE followup_id = ?",  # noqa: S608
        (followup_id,),
    ).fetchone()
    return None if row is None else _followup(row)


def open_followups(db: Connection, cabin_ids: list[str] | None) -> list[FollowUp]:
    query = f"SELECT {_FOLLOWUP_COLUMNS} FROM followups WHERE cleared_at IS NULL"  # noqa: S608
    parameters: list[str] = []
    if cabin_ids is not None:
        if not cabin_ids:
            return []
        query += f" AND cabin_id IN ({', '.join('?' for _ in cabin_ids)})"
        parameters = list(cabin_ids)
    rows = db.execute(query + " ORDER BY flagged_at, followup_id", parameters)
    return [_followup(row) for row in rows]


def followups_of_consultation(db: Connection, consultation_id: str) -> list[FollowUp]:
    rows = db.execute(
        f"SELECT {_FOLLOWUP_COLUMNS} FROM followups WHERE consultation_id = ?"  # noqa: S608
        " ORDER BY flagged_at, followup_id",
        (consultation_id,),
    )
    return [_followup(row) for row in rows]


def clear_followup(
    db: Connection, followup_id: str, by: str, at: datetime, note: str
) -> FollowUp | None:
    with _transaction(db):
        cursor = db.execute(
            "UPDATE followups SET cleared_by = ?, cleared_at = ?, clear_note = ?"
            " WHERE followup_id = ? AND cleared_at IS NULL",
            (by, _ts(at), note, followup_id),
        )
        if cursor.rowcount != 1:
            return None
        return followup(db, followup_id)


class SqliteHandovers:
    """The `HandoverStore` methods of `SqliteStorage`, run on its worker thread."""

    if TYPE_CHECKING:  # SqliteStorage's: runs `operation` on its connection, on its worker

        async def _on_connection(
            self,
            operation: Callable[Concatenate[Connection, P], T],
            *args: P.args,
            **kwargs: P.kwargs,
        ) -> T: ...

    async def add_handover(self, handover: Handover) -> None:
        await self._on_connection(add_handover, handover)

    async def replace_handover(self, handover: Handover) -> bool:
        return await self._on_connection(replace_handover, handover)

    async def handover(self, handover_id: str) -> Handover | None:
        return await self._on_connection(handover, handover_id)

    async def handovers(
        self, *, written_from: datetime, written_before: datetime, author: str | None = None
    ) -> list[Handover]:
        return await self._on_connection(handovers, written_from, written_before, author)

    async def mark_handover_read(
        self, handover_id: str, *, reader: str, at: datetime
    ) -> tuple[HandoverRead, bool] | None:
        return await self._on_connection(mark_handover_read, handover_id, reader, at)

    async def handover_reads(self, handover_ids: list[str]) -> list[HandoverRead]:
        return await self._on_connection(handover_reads, list(handover_ids))

    async def doctor_consultations(
        self, doctor: str, *, joined_from: datetime, joined_before: datetime, limit: int = 200
    ) -> list[ConsultationRecord]:
        return await self._on_connection(
            doctor_consultations, doctor, joined_from, joined_before, limit
        )

    async def add_followup(self, followup: FollowUp) -> None:
        await self._on_connection(add_followup, followup)

    async def followup(self, followup_id: str) -> FollowUp | None:
        return await self._on_connection(followup, followup_id)

    async def open_followups(self, *, cabin_ids: list[str] | None) -> list[FollowUp]:
        return await self._on_connection(
            open_followups, None if cabin_ids is None else list(cabin_ids)
        )

    async def followups_of_consultation(self, consultation_id: str) -> list[FollowUp]:
        return await self._on_connection(followups_of_consultation, consultation_id)

    async def clear_followup(
        self, followup_id: str, *, by: str, at: datetime, note: str
    ) -> FollowUp | None:
        return await self._on_connection(clear_followup, followup_id, by, at, note)
