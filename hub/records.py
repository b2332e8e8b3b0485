"""The cabins' consultation records (HL7 FHIR R4 Bundles): read, checked, stored once, indexed.

A cabin sends the record of each consultation it finishes, online or not, and again until the
hub acknowledges it. The hub reads it with `wire.fhir_record.parse_record` (a record it cannot
read is refused and not stored), checks that it is the sending cabin's, keeps the Bundle as
received, and indexes it by the patient's match key and the consultation's start, so that the
next doctor sees it in the patient's history even if the hub never saw that consultation live
(a cabin offline, a hub down). Reading is CPU work: it runs on a worker thread. Nothing of a
record's content is logged; the refusal's text names what is wrong and where, never a value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import wire
from hub.errors import InvalidRecord
from hub.log_safe import log_safe
from hub.patients import match_key
from hub.storage import ConsultationRecordUpload, Storage
from wire.fhir_record import RecordContent, RecordError, parse_record

log = logging.getLogger(__name__)

REINDEX_BATCH = 100


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


async def index_old_records(storage: Storage) -> int:
    """Index the records stored before records were indexed; how many. A record that cannot be
    read is marked so (match key "") and left out of histories."""
    indexed = 0
    while batch := await storage.unindexed_records(limit=REINDEX_BATCH):
        contents = await asyncio.to_thread(_read_for_index, batch)
        for stored, content in zip(batch, contents, strict=True):
            await storage.index_record(
                stored.record_id,
                match_key="" if content is None else match_key(content.patient),
                started_at=None if content is None else content.started_at,
            )
        indexed += len(batch)
    if indexed:
        log.info("hub.records_indexed count=%d", indexed)
    return indexed


def _read_for_index(batch: Sequence[ConsultationRecordUpload]) -> list[RecordContent | None]:
    contents: list[RecordContent | None] = []
    for stored in batch:
        try:
            contents.append(parse_record(stored.bundle))
        except RecordError as exc:
            log.error("hub.record_unreadable record=%s error=%s", stored.record_id, log_safe(exc))
            contents.append(None)
    return contents
