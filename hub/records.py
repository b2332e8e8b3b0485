"""The cabins' consultation records (HL7 FHIR R4 Bundles): read, checked, stored once, indexed.

A cabin sends the record of each consultation it finishes, online or not, and again until the
hub acknowledges it. The hub reads it with `wire.fhir_record.parse_record` (a record it cannot
read is refused and not stored), checks that it is the sending cabin's, keeps the Bundle as
received with its digest (`RecordDigest`: what a history shows of it, no PDF), and indexes it
by the patient's match key and the consultation's start, so that the
next doctor sees it in the patient's history even if the hub never saw that consultation live
(a cabin offline, a hub down). Nothing of a record's content is logged; the refusal's text
names what is wrong and where, never a value.

A cabin is not trusted to tell the hub what the hub knows better. A record of a consultation
the hub held must be of the cabin that held it, and its times must fit the hub's own (joined,
ended): else it is refused. It is then indexed under the hub's patient (the match key of the
waiting room's patient, not the record's) and the hub's start; the doctor shown is the one who
took the consultation on the hub, whatever the record names (a mismatch is logged; the hub's
value wins). A record of a consultation the hub never saw is kept (a cabin cut off from the
hub still measures and prints), and shown as the cabin's word only (`seen_by_hub` false, no
doctor, its prescriptions not verified).

Reading is CPU work and a record may be a few megabytes: it runs on the records' own bounded
worker pool (`RecordDesk`), never on the default pool (which hashes passwords) nor on the event
loop, with a bounded number waiting; each cabin has a quota of records per hour and of bytes
per day (in memory: a restart forgets it). A refused upload gets `rate_limited` and the number
of seconds to wait in its text; the cabin keeps the record and sends it again later.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec

import wire
from hub.clock import Clock
from hub.errors import InvalidRecord, RecordContradicted, RecordLimited, RecordOfAnotherCabin
from hub.log_safe import log_safe
from hub.patients import match_key
from hub.storage import ConsultationRecord, ConsultationRecordUpload, Storage
from wire.fhir_record import RecordContent, RecordError, parse_record

log = logging.getLogger(__name__)

T = TypeVar("T")

REINDEX_BATCH = 10
REKEY_BATCH = 500
CLOCK_SKEW = timedelta(minutes=5)
"""How far a cabin's clock may be from the hub's (both keep NTP time)."""
_HOUR_S = 3600.0
_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """How much a cabin may send, and how much the hub reads at once (`HubConfig`'s keys)."""

    uploads_per_hour: int = 60
    """Records per cabin in any hour (a cabin back after days offline catches up in hours)."""
    bytes_per_day: int = 64 * 1024 * 1024
    """Bytes of records per cabin in any 24 hours (a record with its PDFs is ~0.1-0.5 MB)."""
    session_margin_s: float = 7200.0
    """How long before the hub's join a record's consultation may start (identity, consent
    and vitals come first), and after the hub's end it may end (printing, survey)."""
    intake_workers: int = 2
    """Threads reading records (and the records of a history); their own pool."""
    intake_waiting: int = 16
    """Records waiting for a reader at most; more: `rate_limited` (retry in a minute)."""
    history_readers: int = 2
    """Histories built at once at most (each holds one record's Bundle at a time)."""


class RecordDigest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a patient's history shows of a record, kept beside it (no PDF, no patient): made
    once when the record is read, so that a history never parses the Bundles."""

    consultation_id: str
    started_at: datetime
    ended_at: datetime | None
    reason: str
    vitals: tuple[wire.Vital, ...]
    prescriptions: tuple[wire.PastPrescription, ...]
    advice: str


DIGEST_VITALS = 64
DIGEST_PRESCRIPTIONS = 20
_DIGEST_DECODER = msgspec.json.Decoder(RecordDigest)


def make_digest(content: RecordContent) -> RecordDigest:
    return RecordDigest(
        consultation_id=content.consultation_id,
        started_at=content.started_at,
        ended_at=content.ended_at,
        reason=content.reason,
        vitals=content.vitals[-DIGEST_VITALS:],
        prescriptions=content.prescriptions[-DIGEST_PRESCRIPTIONS:],
        advice=content.advice,
    )


def digest_of(content: RecordContent) -> bytes:
    """`content`'s digest, as stored (JSON)."""
    return msgspec.json.encode(make_digest(content))


def read_digest(data: bytes) -> RecordDigest | None:
    """A stored digest; None if it no longer reads (the Bundle is read instead)."""
    try:
        return _DIGEST_DECODER.decode(data)
    except msgspec.DecodeError:
        return None


def read_upload_with_digest(
    upload: wire.RecordUpload, cabin_id: str
) -> tuple[RecordContent, bytes]:
    """`read_upload`, and the record's digest. Blocking (CPU): on the records' pool."""
    content = read_upload(upload, cabin_id)
    return content, digest_of(content)


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """A stored record and what it says."""

    stored: ConsultationRecordUpload
    content: RecordContent


def read_upload(upload: wire.RecordUpload, cabin_id: str) -> RecordContent:
    """What `upload`'s Bundle says, once checked against the upload and the sending cabin;
    `InvalidRecord` if it cannot be read or contradicts them. Blocking (CPU): call it on a
    worker thread."""
    try:
        content = parse_record(bytes(upload.bundle))
    except RecordError as exc:
        raise InvalidRecord(str(exc)) from None
    if content.record_id != upload.record_id:
        raise InvalidRecord("the Bundle's record id is not the upload's `record_id`")
    if content.consultation_id != upload.consultation_id:
        raise InvalidRecord("the Bundle's consultation is not the upload's `consultation_id`")
    if content.cabin_id != cabin_id:
        raise InvalidRecord("the Bundle names another cabin than the one sending it")
    return content


def check_against_hub(
    content: RecordContent,
    known: ConsultationRecord | None,
    *,
    cabin_id: str,
    now: datetime,
    margin: timedelta,
) -> None:
    """`RecordContradicted` if the record cannot be of the consultation the hub knows (or, if
    the hub never saw it, if it ends in the future)."""
    latest = now + CLOCK_SKEW
    if content.started_at > latest or (content.ended_at is not None and content.ended_at > latest):
        raise RecordContradicted("the record's consultation is dated in the future")
    if content.ended_at is not None and content.ended_at < content.started_at:
        raise RecordContradicted("the record's consultation ends before it starts")
    if known is None:
        return
    if known.cabin_id != cabin_id:
        raise RecordOfAnotherCabin("not this cabin's consultation")
    if not known.joined_at - margin <= content.started_at <= known.joined_at + CLOCK_SKEW:
        raise RecordContradicted("the record's start does not fit the hub's consultation")
    if content.ended_at is not None:
        hub_end = known.ended_at or now
        if not known.joined_at - CLOCK_SKEW <= content.ended_at <= hub_end + margin:
            raise RecordContradicted("the record's end does not fit the hub's consultation")


def read_stored(records: Sequence[ConsultationRecordUpload]) -> list[ReadRecord]:
    """What each stored record says; those that cannot be read are left out (logged by id).
    Blocking (CPU): call it on a worker thread."""
    read: list[ReadRecord] = []
    for stored in records:
        try:
            read.append(ReadRecord(stored, parse_record(stored.bundle)))
        except RecordError as exc:
            log.error("hub.record_unreadable record=%s error=%s", stored.record_id, log_safe(exc))
    return read


class CabinQuota:
    """Records per hour and bytes per day, per cabin, over sliding windows (in memory)."""

    def __init__(self, limits: RecordLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._sent: dict[str, deque[tuple[float, int]]] = {}

    def admit(self, cabin_id: str, size: int) -> None:
        """Count an upload of `size` bytes; `RecordLimited` (nothing counted) if over."""
        now = self._clock.monotonic()
        sent = self._sent.setdefault(cabin_id, deque())
        while sent and sent[0][0] <= now - _DAY_S:
            sent.popleft()
        in_hour = [at for at, _ in sent if at > now - _HOUR_S]
        if len(in_hour) >= self._limits.uploads_per_hour:
            wait = in_hour[0] + _HOUR_S - now
            raise RecordLimited(
                f"too many records from this cabin; retry in {math.ceil(wait)} s",
                retry_after_s=wait,
            )
        total = sum(size for _, size in sent)
        if total + size > self._limits.bytes_per_day:
            wait = _DAY_S
            for at, earlier in sent:  # when enough of the window will have passed
                total -= earlier
                if total + size <= self._limits.bytes_per_day:
                    wait = at + _DAY_S - now
                    break
            raise RecordLimited(
                f"too many bytes of records from this cabin; retry in {math.ceil(wait)} s",
                retry_after_s=wait,
            )
        sent.append((now, size))


class RecordDesk:
    """The records' own bounded worker pool, its queue bound, and the cabins' quotas."""

    def __init__(self, limits: RecordLimits, clock: Clock) -> None:
        self.limits = limits
        self.quota = CabinQuota(limits, clock)
        self._executor = ThreadPoolExecutor(
            max_workers=limits.intake_workers, thread_name_prefix="hub-records"
        )
        self._waiting = 0
        self.history_slots = asyncio.Semaphore(limits.history_readers)

    def run(self, work: Callable[[], T], *, bounded: bool = True) -> asyncio.Future[T]:
        """`work` on the records' pool, to await; `RecordLimited` at once if too many are
        there already (running or waiting), unless not `bounded` (a history's reads, bounded
        by `history_slots`)."""
        if bounded and self._waiting >= self.limits.intake_waiting + self.limits.intake_workers:
            raise RecordLimited("the hub is reading many records; retry in 60 s", retry_after_s=60)
        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        self._waiting += 1
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: asyncio.Future[Any]) -> None:
        self._waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


async def index_old_records(storage: Storage) -> int:
    """Index the records stored before records were indexed (or whose key must be computed
    again); how many. A record that cannot be read is marked so (match key "") and left out
    of histories. A record of a consultation the hub held, by the cabin that held it, is
    indexed under the hub's patient and start, as when it arrives."""
    indexed = 0
    while batch := await storage.unindexed_records(limit=REINDEX_BATCH):
        contents = await asyncio.to_thread(_read_for_index, batch)
        for stored, content in zip(batch, contents, strict=True):
            key = "" if content is None else match_key(content.patient)
            started_at = None if content is None else content.started_at
            known = await storage.consultation(stored.consultation_id)
            if content is not None and known is not None and known.cabin_id == stored.cabin_id:
                key, started_at = known.match_key, known.joined_at
            await storage.index_record(
                stored.record_id,
                match_key=key,
                started_at=started_at,
                cabin_id=stored.cabin_id,
                digest=None if content is None else digest_of(content),
            )
        indexed += len(batch)
    if indexed:
        log.info("hub.records_indexed count=%d", indexed)
    return indexed


async def rekey_patients(storage: Storage) -> int:
    """Recompute the match keys a migration queued (`hub.patients` changed); how many. Runs
    before `index_old_records`, which then finds the consultations' new keys."""
    rekeyed = 0
    while batch := await storage.consultations_to_rekey(limit=REKEY_BATCH):
        for stored in batch:
            key = stored.match_key if stored.patient is None else match_key(stored.patient)
            await storage.set_match_key(stored.consultation_id, key)
        rekeyed += len(batch)
    if rekeyed:
        log.info("hub.match_keys_migrated consultations=%d", rekeyed)
    return rekeyed


def _read_for_index(batch: Sequence[ConsultationRecordUpload]) -> list[RecordContent | None]:
    contents: list[RecordContent | None] = []
    for stored in batch:
        try:
            contents.append(parse_record(stored.bundle))
        except RecordError as exc:
            log.error("hub.record_unreadable record=%s error=%s", stored.record_id, log_safe(exc))
            contents.append(None)
    return contents
