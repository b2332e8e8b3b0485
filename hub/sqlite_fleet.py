"""`hub.fleet.FleetStore` on the SQLCipher file: a part of `SqliteStorage`.

The statements run on the storage's worker thread like all the others (`_on_connection`); the
tables are SQLite's migration 15 (`hub.sqlite_migrations`). The cabin's messages are kept as
their JSON; times as the fixed-width UTC text the rest of the file uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import msgspec

import wire
from hub.errors import CorruptRecord
from hub.fleet import KEPT, CabinHealth, CallQualityRecord, StoredSelfTest

if TYPE_CHECKING:
    from sqlite3 import Connection

P = ParamSpec("P")
T = TypeVar("T")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_STATUS = msgspec.json.Decoder(wire.CabinStatus)
_REPORT = msgspec.json.Decoder(wire.SelfTestReport)
_SAMPLE = msgspec.json.Decoder(wire.CallQualitySample)


def _ts(moment: datetime) -> str:
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


def _decoded(decoder: msgspec.json.Decoder[T], text: str | bytes, what: str) -> T:
    try:
        return decoder.decode(text)
    except msgspec.DecodeError:
        raise CorruptRecord(f"a stored {what} cannot be read") from None


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode("utf-8")


def touch_cabins(db: Connection, cabin_ids: Sequence[str], at: datetime) -> None:
    stamp = _ts(at)
    db.executemany(
        "INSERT INTO cabin_health (cabin_id, last_seen_at) VALUES (?, ?)"
        " ON CONFLICT (cabin_id) DO UPDATE SET last_seen_at = max("
        "  coalesce(cabin_health.last_seen_at, ''), excluded.last_seen_at)",
        [(cabin_id, stamp) for cabin_id in cabin_ids],
    )


def put_cabin_status(db: Connection, cabin_id: str, status: wire.CabinStatus, at: datetime) -> None:
    stamp = _ts(at)
    db.execute(
        "INSERT INTO cabin_health (cabin_id, last_seen_at, status, status_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (cabin_id) DO UPDATE SET"
        " last_seen_at = max(coalesce(cabin_health.last_seen_at, ''), excluded.last_seen_at),"
        " status = excluded.status, status_at = excluded.status_at",
        (cabin_id, stamp, _json(status), stamp),
    )


def add_selftest(db: Connection, cabin_id: str, report: wire.SelfTestReport, at: datetime) -> bool:
    db.execute("BEGIN IMMEDIATE")
    try:
        cursor = db.execute(
            "INSERT INTO cabin_selftests (cabin_id, report_id, finished_at, received_at, report)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (cabin_id, report.report_id, _ts(report.finished_at), _ts(at), _json(report)),
        )
        db.execute(
            "DELETE FROM cabin_selftests WHERE cabin_id = ? AND received_at < ?",
            (cabin_id, _ts(at - KEPT)),
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return cursor.rowcount == 1


def put_call_quality(
    db: Connection, cabin_id: str, quality: wire.CallQuality, at: datetime
) -> None:
    db.execute(
        "INSERT INTO call_quality (cabin_id, consultation_id, sent_at, final, sample, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cabin_id, consultation_id) DO UPDATE SET"
        " sent_at = excluded.sent_at, final = excluded.final, sample = excluded.sample,"
        " received_at = excluded.received_at"
        " WHERE excluded.sent_at >= call_quality.sent_at",
        (
            cabin_id,
            quality.consultation_id,
            _ts(quality.sent_at),
            int(quality.final),
            _json(quality.sample),
            _ts(at),
        ),
    )
    db.execute("DELETE FROM call_quality WHERE sent_at < ?", (_ts(at - KEPT),))


def cabin_health(db: Connection) -> list[CabinHealth]:
    latest: dict[str, StoredSelfTest] = {}
    for row in db.execute(
        "SELECT t.cabin_id, t.report, t.received_at FROM cabin_selftests AS t"
        " WHERE t.report_id = (SELECT u.report_id FROM cabin_selftests AS u"
        "  WHERE u.cabin_id = t.cabin_id ORDER BY u.finished_at DESC, u.received_at DESC"
        "  LIMIT 1)"
    ):
        latest[row[0]] = StoredSelfTest(
            row[0], _decoded(_REPORT, row[1], "self-test report"), _dt(row[2])
        )
    found: dict[str, CabinHealth] = {}
    for row in db.execute(
        "SELECT cabin_id, last_seen_at, status, status_at FROM cabin_health ORDER BY cabin_id"
    ):
        found[row[0]] = CabinHealth(
            cabin_id=row[0],
            last_seen_at=_opt_dt(row[1]),
            status=None if row[2] is None else _decoded(_STATUS, row[2], "cabin status"),
            status_received_at=_opt_dt(row[3]),
            selftest=latest.pop(row[0], None),
        )
    for cabin_id, selftest in latest.items():  # a report without any heartbeat yet
        found[cabin_id] = CabinHealth(cabin_id, None, selftest=selftest)
    return [found[c] for c in sorted(found)]


def call_qualities(db: Connection, since: datetime) -> list[CallQualityRecord]:
    rows = db.execute(
        "SELECT cabin_id, consultation_id, sent_at, sample, final FROM call_quality"
        " WHERE sent_at >= ? ORDER BY sent_at, cabin_id, consultation_id",
        (_ts(since),),
    )
    return [
        CallQualityRecord(
            cabin_id=row[0],
            consultation_id=row[1],
            sent_at=_dt(row[2]),
            sample=_decoded(_SAMPLE, row[3], "call quality"),
            final=bool(row[4]),
        )
        for row in rows
    ]


def consultation_counts(db: Connection, since: datetime) -> dict[str, int]:
    rows = db.execute(
        "SELECT cabin_id, count(*) FROM consultations WHERE joined_at >= ? GROUP BY cabin_id",
        (_ts(since),),
    )
    return {row[0]: int(row[1]) for row in rows}


class SqliteFleet:
    """The `FleetStore` methods of `SqliteStorage`, run on its worker thread."""

    if TYPE_CHECKING:  # SqliteStorage's: runs `operation` on its connection, on its worker

        async def _on_connection(
            self,
            operation: Callable[Concatenate[Connection, P], T],
            *args: P.args,
            **kwargs: P.kwargs,
        ) -> T: ...

    async def touch_cabins(self, cabin_ids: Sequence[str], *, at: datetime) -> None:
        if cabin_ids:
            await self._on_connection(touch_cabins, list(cabin_ids), at)

    async def put_cabin_status(
        self, cabin_id: str, status: wire.CabinStatus, *, at: datetime
    ) -> None:
        await self._on_connection(put_cabin_status, cabin_id, status, at)

    async def add_selftest(
        self, cabin_id: str, report: wire.SelfTestReport, *, at: datetime
    ) -> bool:
        return await self._on_connection(add_selftest, cabin_id, report, at)

    async def put_call_quality(
        self, cabin_id: str, quality: wire.CallQuality, *, at: datetime
    ) -> None:
        await self._on_connection(put_call_quality, cabin_id, quality, at)

    async def cabin_health(self) -> list[CabinHealth]:
        return await self._on_connection(cabin_health)

    async def call_qualities(self, *, since: datetime) -> list[CallQualityRecord]:
        return await self._on_connection(call_qualities, since)

    async def consultation_counts(self, *, since: datetime) -> dict[str, int]:
        return await self._on_connection(consultation_counts, since)
