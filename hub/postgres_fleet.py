"""`hub.fleet.FleetStore` on PostgreSQL: a part of `PostgresStorage`.

The tables are PostgreSQL's migration 5 (`hub.postgres_migrations`). Nothing here is health
data (versions, instruments, paper, self-test outcomes, bitrates, consultation ids): the
cabin's messages are kept in the clear, as ``jsonb``. Replicas write the same rows at once
safely: every write is one statement (an upsert that keeps the later heartbeat, the later
sample; a report stored once per id).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar

import msgspec

import wire
from hub.errors import CorruptRecord
from hub.fleet import KEPT, CabinHealth, CallQualityRecord, StoredSelfTest

Connection = Any
T = TypeVar("T")

_STATUS = msgspec.json.Decoder(wire.CabinStatus)
_REPORT = msgspec.json.Decoder(wire.SelfTestReport)
_SAMPLE = msgspec.json.Decoder(wire.CallQualitySample)


class _Pool(Protocol):
    """What these methods use of `PostgresStorage`."""

    def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the storage")
    return moment


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode("utf-8")


def _decoded(decoder: msgspec.json.Decoder[T], text: str, what: str) -> T:
    try:
        return decoder.decode(text)
    except msgspec.DecodeError:
        raise CorruptRecord(f"a stored {what} cannot be read") from None


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresFleet:
    """The `FleetStore` methods of `PostgresStorage`."""

    async def touch_cabins(self: _Pool, cabin_ids: Sequence[str], *, at: datetime) -> None:
        if not cabin_ids:
            return
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO cabin_health (cabin_id, last_seen_at)"
                " SELECT unnest($1::text[]), $2"
                " ON CONFLICT (cabin_id) DO UPDATE SET last_seen_at = greatest("
                "  cabin_health.last_seen_at, excluded.last_seen_at)",
                list(cabin_ids),
                _aware(at),
            )

    async def put_cabin_status(
        self: _Pool, cabin_id: str, status: wire.CabinStatus, *, at: datetime
    ) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO cabin_health (cabin_id, last_seen_at, status, status_at)"
                " VALUES ($1, $2, $3::jsonb, $2) ON CONFLICT (cabin_id) DO UPDATE SET"
                " last_seen_at = greatest(cabin_health.last_seen_at, excluded.last_seen_at),"
                " status = excluded.status, status_at = excluded.status_at",
                cabin_id,
                _aware(at),
                _json(status),
            )

    async def add_selftest(
        self: _Pool, cabin_id: str, report: wire.SelfTestReport, *, at: datetime
    ) -> bool:
        async with self._transaction() as c:
            added = await c.execute(
                "INSERT INTO cabin_selftests (cabin_id, report_id, finished_at, received_at,"
                " report) VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING",
                cabin_id,
                report.report_id,
                _aware(report.finished_at),
                _aware(at),
                _json(report),
            )
            await c.execute(
                "DELETE FROM cabin_selftests WHERE cabin_id = $1 AND received_at < $2",
                cabin_id,
                at - KEPT,
            )
        return _count(added) == 1

    async def put_call_quality(
        self: _Pool, cabin_id: str, quality: wire.CallQuality, *, at: datetime
    ) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO call_quality (cabin_id, consultation_id, sent_at, final, sample,"
                " received_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)"
                " ON CONFLICT (cabin_id, consultation_id) DO UPDATE SET"
                " sent_at = excluded.sent_at, final = excluded.final, sample = excluded.sample,"
                " received_at = excluded.received_at"
                " WHERE excluded.sent_at >= call_quality.sent_at",
                cabin_id,
                quality.consultation_id,
                _aware(quality.sent_at),
                quality.final,
                _json(quality.sample),
                _aware(at),
            )
            await c.execute("DELETE FROM call_quality WHERE sent_at < $1", at - KEPT)

    async def cabin_health(self: _Pool) -> list[CabinHealth]:
        async with self._connection() as c:
            reports = await c.fetch(
                "SELECT DISTINCT ON (cabin_id) cabin_id, report::text AS report, received_at"
                " FROM cabin_selftests ORDER BY cabin_id, finished_at DESC, received_at DESC"
            )
            rows = await c.fetch(
                "SELECT cabin_id, last_seen_at, status::text AS status, status_at"
                " FROM cabin_health ORDER BY cabin_id"
            )
        latest = {
            r["cabin_id"]: StoredSelfTest(
                r["cabin_id"], _decoded(_REPORT, r["report"], "self-test report"), r["received_at"]
            )
            for r in reports
        }
        found: dict[str, CabinHealth] = {}
        for row in rows:
            found[row["cabin_id"]] = CabinHealth(
                cabin_id=row["cabin_id"],
                last_seen_at=row["last_seen_at"],
                status=None
                if row["status"] is None
                else _decoded(_STATUS, row["status"], "cabin status"),
                status_received_at=row["status_at"],
                selftest=latest.pop(row["cabin_id"], None),
            )
        for cabin_id, selftest in latest.items():
            found[cabin_id] = CabinHealth(cabin_id, None, selftest=selftest)
        return [found[c] for c in sorted(found)]

    async def call_qualities(self: _Pool, *, since: datetime) -> list[CallQualityRecord]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT cabin_id, consultation_id, sent_at, sample::text AS sample, final"
                " FROM call_quality WHERE sent_at >= $1"
                " ORDER BY sent_at, cabin_id, consultation_id",
                _aware(since),
            )
        return [
            CallQualityRecord(
                cabin_id=row["cabin_id"],
                consultation_id=row["consultation_id"],
                sent_at=row["sent_at"],
                sample=_decoded(_SAMPLE, row["sample"], "call quality"),
                final=row["final"],
            )
            for row in rows
        ]

    async def consultation_counts(self: _Pool, *, since: datetime) -> dict[str, int]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT cabin_id, count(*) AS n FROM consultations WHERE joined_at >= $1"
                " GROUP BY cabin_id",
                _aware(since),
            )
        return {row["cabin_id"]: int(row["n"]) for row in rows}
