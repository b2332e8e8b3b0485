"""`hub.handover.HandoverStore` on PostgreSQL: a part of `PostgresStorage`.

The tables are PostgreSQL's migration 3 (`hub.postgres_migrations`). What a doctor wrote of a
patient is sealed like the rest of the health data (`hub.sealing`, `SEALED` below, which
`PostgresStorage` re-seals with the others when the data key changes): a handover's summary
and items, a flag's notes. Ids, usernames, cabins and times stay in the clear: they are queried.
The first acknowledgement of a handover stands (its primary key); a flag is cleared by one
conditional update (of two doctors clearing at once, one does).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

import msgspec

from hub.errors import CorruptRecord
from hub.handover import FollowUp, Handover, HandoverItem, HandoverRead
from hub.storage import ConsultationRecord

Connection = Any
Row = Any

SEALED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "handovers": (("handover_id",), ("summary", "items")),
    "followups": (("followup_id",), ("note", "clear_note")),
}
"""As `hub.postgres_storage.SEALED`: each table's identity columns and its sealed columns."""

_ITEMS = msgspec.json.Decoder(tuple[HandoverItem, ...])
_HANDOVER_COLUMNS = (
    "handover_id, author, cabin_ids, covers_from, covers_until, summary, items, recipients,"
    " written_at, updated_at"
)
_FOLLOWUP_COLUMNS = (
    "followup_id, consultation_id, cabin_id, note, flagged_by, flagged_at, cleared_by,"
    " cleared_at, clear_note"
)


class _Sealing(Protocol):
    """What these methods use of `PostgresStorage`."""

    def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    def _seal(self, table: str, column: str, row: tuple[str, ...], data: bytes) -> bytes: ...

    def _open(self, table: str, column: str, row: tuple[str, ...], sealed: bytes) -> bytes: ...

    def _seal_text(self, table: str, column: str, row: tuple[str, ...], text: str) -> bytes: ...

    def _open_text(self, table: str, column: str, row: tuple[str, ...], sealed: bytes) -> str: ...

    def _consultation(self, row: Row) -> ConsultationRecord: ...


def _handover(storage: _Sealing, row: Row) -> Handover:
    place = (row["handover_id"],)
    items = storage._open("handovers", "items", place, row["items"])
    try:
        decoded = _ITEMS.decode(items)
    except msgspec.DecodeError:
        raise CorruptRecord("a stored handover's items cannot be read") from None
    return Handover(
        handover_id=row["handover_id"],
        author=row["author"],
        cabin_ids=tuple(row["cabin_ids"]),
        covers_from=row["covers_from"],
        covers_until=row["covers_until"],
        summary=storage._open_text("handovers", "summary", place, row["summary"]),
        items=decoded,
        recipients=tuple(row["recipients"]),
        written_at=row["written_at"],
        updated_at=row["updated_at"],
    )


def _followup(storage: _Sealing, row: Row) -> FollowUp:
    place = (row["followup_id"],)
    return FollowUp(
        followup_id=row["followup_id"],
        consultation_id=row["consultation_id"],
        cabin_id=row["cabin_id"],
        note=storage._open_text("followups", "note", place, row["note"]),
        flagged_by=row["flagged_by"],
        flagged_at=row["flagged_at"],
        cleared_by=row["cleared_by"],
        cleared_at=row["cleared_at"],
        clear_note=storage._open_text("followups", "clear_note", place, row["clear_note"]),
    )


def _sealed_handover(storage: _Sealing, handover: Handover) -> tuple[bytes, bytes]:
    place = (handover.handover_id,)
    return (
        storage._seal_text("handovers", "summary", place, handover.summary),
        storage._seal("handovers", "items", place, msgspec.json.encode(handover.items)),
    )


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the storage")
    return moment


class PostgresHandovers:
    """The `HandoverStore` methods of `PostgresStorage`."""

    async def add_handover(self: _Sealing, handover: Handover) -> None:
        summary, items = _sealed_handover(self, handover)
        async with self._connection() as c:
            await c.execute(
                f"INSERT INTO handovers ({_HANDOVER_COLUMNS})"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                handover.handover_id,
                handover.author,
                list(handover.cabin_ids),
                _aware(handover.covers_from),
                _aware(handover.covers_until),
                summary,
                items,
                list(handover.recipients),
                _aware(handover.written_at),
                _aware(handover.updated_at),
            )

    async def replace_handover(self: _Sealing, handover: Handover) -> bool:
        summary, items = _sealed_handover(self, handover)
        async with self._connection() as c:
            status = await c.execute(
                "UPDATE handovers SET cabin_ids = $1, covers_from = $2, covers_until = $3,"
                " summary = $4, items = $5, recipients = $6, updated_at = $7"
                " WHERE handover_id = $8 AND author = $9",
                list(handover.cabin_ids),
                _aware(handover.covers_from),
                _aware(handover.covers_until),
                summary,
                items,
                list(handover.recipients),
                _aware(handover.updated_at),
                handover.handover_id,
                handover.author,
            )
        return bool(status == "UPDATE 1")

    async def handover(self: _Sealing, handover_id: str) -> Handover | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_HANDOVER_COLUMNS} FROM handovers WHERE handover_id = $1",  # noqa: S608
                handover_id,
            )
        return None if row is None else _handover(self, row)

    async def handovers(
        self: _Sealing,
        *,
        written_from: datetime,
        written_before: datetime,
        author: str | None = None,
    ) -> list[Handover]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_HANDOVER_COLUMNS} FROM handovers"  # noqa: S608
                " WHERE written_at >= $1 AND written_at < $2"
                " AND ($3::text IS NULL OR author = $3)"
                " ORDER BY written_at DESC, handover_id",
                _aware(written_from),
                _aware(written_before),
                author,
            )
        return [_handover(self, row) for row in rows]

    async def mark_handover_read(
        self: _Sealing, handover_id: str, *, reader: str, at: datetime
    ) -> tuple[HandoverRead, bool] | None:
        async with self._transaction() as c:
            exists = await c.fetchval(
                "SELECT 1 FROM handovers WHERE handover_id = $1 FOR SHARE", handover_id
            )
            if not exists:
                return None
            inserted = await c.execute(
                "INSERT INTO handover_reads (handover_id, reader, read_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (handover_id, reader) DO NOTHING",
                handover_id,
                reader,
                _aware(at),
            )
            read_at = await c.fetchval(
                "SELECT read_at FROM handover_reads WHERE handover_id = $1 AND reader = $2",
                handover_id,
                reader,
            )
        return HandoverRead(handover_id, reader, read_at), inserted == "INSERT 0 1"

    async def handover_reads(self: _Sealing, handover_ids: list[str]) -> list[HandoverRead]:
        if not handover_ids:
            return []
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT handover_id, reader, read_at FROM handover_reads"
                " WHERE handover_id = ANY($1::text[]) ORDER BY read_at, reader",
                list(handover_ids),
            )
        return [HandoverRead(r["handover_id"], r["reader"], r["read_at"]) for r in rows]

    async def doctor_consultations(
        self: _Sealing,
        doctor: str,
        *,
        joined_from: datetime,
        joined_before: datetime,
        limit: int = 200,
    ) -> list[ConsultationRecord]:
        from hub.postgres_storage import _SELECT_CONSULTATION  # noqa: PLC0415 - a cycle

        async with self._connection() as c:
            rows = await c.fetch(
                _SELECT_CONSULTATION + " WHERE doctor = $1 AND joined_at >= $2"
                " AND joined_at < $3 ORDER BY joined_at DESC, consultation_id LIMIT $4",
                doctor,
                _aware(joined_from),
                _aware(joined_before),
                limit,
            )
        return [self._consultation(row) for row in rows]

    async def add_followup(self: _Sealing, followup: FollowUp) -> None:
        place = (followup.followup_id,)
        async with self._connection() as c:
            await c.execute(
                f"INSERT INTO followups ({_FOLLOWUP_COLUMNS})"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                followup.followup_id,
                followup.consultation_id,
                followup.cabin_id,
                self._seal_text("followups", "note", place, followup.note),
                followup.flagged_by,
                _aware(followup.flagged_at),
                followup.cleared_by,
                followup.cleared_at,
                self._seal_text("followups", "clear_note", place, followup.clear_note),
            )

    async def followup(self: _Sealing, followup_id: str) -> FollowUp | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_FOLLOWUP_COLUMNS} FROM followups WHERE followup_id = $1",  # noqa: S608
                followup_id,
            )
        return None if row is None else _followup(self, row)

    async def open_followups(self: _Sealing, *, cabin_ids: list[str] | None) -> list[FollowUp]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_FOLLOWUP_COLUMNS} FROM followups WHERE cleared_at IS NULL"  # noqa: S608
                " AND ($1::text[] IS NULL OR cabin_id = ANY($1::text[]))"
                " ORDER BY flagged_at, followup_id",
                None if cabin_ids is None else list(cabin_ids),
            )
        return [_followup(self, row) for row in rows]

    async def followups_of_consultation(self: _Sealing, consultation_id: str) -> list[FollowUp]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_FOLLOWUP_COLUMNS} FROM followups WHERE consultation_id = $1"  # noqa: S608
                " ORDER BY flagged_at, followup_id",
                consultation_id,
            )
        return [_followup(self, row) for row in rows]

    async def clear_followup(
        self: _Sealing, followup_id: str, *, by: str, at: datetime, note: str
    ) -> FollowUp | None:
        sealed = self._seal_text("followups", "clear_note", (followup_id,), note)
        async with self._connection() as c:
            row = await c.fetchrow(
                "UPDATE followups SET cleared_by = $1, cleared_at = $2, clear_note = $3"  # noqa: S608
                " WHERE followup_id = $4 AND cleared_at IS NULL"
                f" RETURNING {_FOLLOWUP_COLUMNS}",
                by,
                _aware(at),
                sealed,
                followup_id,
            )
        return None if row is None else _followup(self, row)
