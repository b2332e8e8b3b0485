"""Cabins' FHIR records of finished consultations, and the patients' match keys."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import timedelta

from hub.storage import ConsultationRecordUpload, RecordHead, Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import (
    KEY,
    NOW,
    PATIENT,
    assert_utc,
    consultation,
    record,
)


def _head(stored: ConsultationRecordUpload) -> RecordHead:
    return RecordHead(
        record_id=stored.record_id,
        consultation_id=stored.consultation_id,
        cabin_id=stored.cabin_id,
        received_at=stored.received_at,
        started_at=stored.started_at,
        bundle_bytes=len(stored.bundle),
        digest=stored.digest,
    )


def _without_digest(stored: ConsultationRecordUpload) -> ConsultationRecordUpload:
    """What a full record read back must equal (see the test of its digest below)."""
    return dataclasses.replace(stored, digest=None)


def test_a_record_is_stored_once_per_cabin_and_kept_to_the_byte(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        sent = record("rec-1", "c-1")
        assert await storage.add_record(sent)
        assert not await storage.add_record(dataclasses.replace(sent, bundle=b"{}"))
        # another cabin's record of the same id is another record
        theirs = record("rec-1", "c-9", cabin_id="cabin-2", bundle=b'{"theirs":"\xc5\x81"}')
        assert await storage.add_record(theirs)
        assert await storage.record_bundle("cabin-1", "rec-1") == sent.bundle
        assert await storage.record_bundle("cabin-2", "rec-1") == theirs.bundle
        assert await storage.record_bundle("cabin-3", "rec-1") is None
        assert await storage.record_bundle("cabin-1", "rec-9") is None
        head = await storage.record_head_of_consultation("c-1", cabin_id="cabin-1")
        assert head == _head(sent)
        assert head is not None
        assert_utc(head.received_at)
        assert_utc(head.started_at)
        assert await storage.record_head_of_consultation("c-1", cabin_id="cabin-2") is None
        stored = await storage.record_of_consultation("c-1")
        assert stored is not None
        assert _without_digest(stored) == _without_digest(sent)
        assert_utc(stored.created_at)
        assert await storage.record_of_consultation("c-unknown") is None

    storage.run(scenario)


def test_a_full_record_carries_the_digest_it_was_stored_with(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        sent = record("rec-1", "c-1")
        await storage.add_record(sent)
        assert await storage.record_of_consultation("c-1") == sent
        assert await storage.earlier_records(KEY, before=NOW, exclude="", limit=1) == [sent]

    storage.run(scenario)


def test_a_two_megabyte_bundle_comes_back_to_the_byte(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        bundle = random.Random(16).randbytes(2 * 1024 * 1024)
        assert await storage.add_record(record("rec-big", "c-1", bundle=bundle))
        assert await storage.record_bundle("cabin-1", "rec-big") == bundle
        head = await storage.record_head_of_consultation("c-1", cabin_id="cabin-1")
        assert head is not None and head.bundle_bytes == len(bundle)
        stored = await storage.record_of_consultation("c-1")
        assert stored is not None and stored.bundle == bundle

    storage.run(scenario)


def test_the_record_of_a_consultation_is_the_last_received(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        first = record("rec-1", "c-1", received_at=NOW)
        later = record("rec-2", "c-1", received_at=NOW + timedelta(minutes=1), bundle=b"2")
        other_cabins = record(
            "rec-3", "c-1", cabin_id="cabin-2", received_at=NOW + timedelta(minutes=2), bundle=b"3"
        )
        for each in (later, first):
            await storage.add_record(each)
        stored = await storage.record_of_consultation("c-1")
        assert stored is not None and stored.record_id == "rec-2"
        assert await storage.record_head_of_consultation("c-1", cabin_id="cabin-1") == _head(later)
        await storage.add_record(other_cabins)
        stored = await storage.record_of_consultation("c-1")  # whichever cabin sent it
        assert stored is not None and (stored.record_id, stored.cabin_id) == ("rec-3", "cabin-2")
        assert await storage.record_head_of_consultation("c-1", cabin_id="cabin-1") == _head(later)
        assert await storage.record_head_of_consultation("c-1", cabin_id="cabin-2") == _head(
            other_cabins
        )

    storage.run(scenario)


def test_earlier_records_are_the_same_patients_before_this_one_newest_first(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        sent = {
            f"rec-{day}": record(
                f"rec-{day}",
                f"c-{day}",
                started_at=NOW + timedelta(days=day),
                received_at=NOW + timedelta(days=day, minutes=30),
            )
            for day in (2, 0, 3, 1)
        }
        for each in sent.values():
            await storage.add_record(each)
        await storage.add_record(record("rec-x", "c-x", match_key="quelennec|yves|1951-12-31"))
        await storage.add_record(record("rec-n", "c-n", match_key=None))
        await storage.add_record(record("rec-u", "c-u", match_key=""))

        def ids(found: list[ConsultationRecordUpload] | list[RecordHead]) -> list[str]:
            return [r.record_id for r in found]

        before = NOW + timedelta(days=3)
        assert ids(await storage.earlier_records(KEY, before=before, exclude="c-1", limit=9)) == [
            "rec-2",
            "rec-0",
        ]
        assert ids(
            await storage.earlier_record_heads(KEY, before=before, exclude="c-1", limit=9)
        ) == ["rec-2", "rec-0"]
        later = NOW + timedelta(days=9)
        assert ids(await storage.earlier_records(KEY, before=later, exclude="", limit=2)) == [
            "rec-3",
            "rec-2",
        ]
        heads = await storage.earlier_record_heads(KEY, before=later, exclude="", limit=2)
        assert heads == [_head(sent["rec-3"]), _head(sent["rec-2"])]
        full = await storage.earlier_records(KEY, before=later, exclude="", limit=2)
        assert [_without_digest(r) for r in full] == [
            _without_digest(sent["rec-3"]),
            _without_digest(sent["rec-2"]),
        ]
        # `before` is strict
        at_rec_2 = NOW + timedelta(days=2)
        assert ids(await storage.earlier_records(KEY, before=at_rec_2, exclude="", limit=9)) == [
            "rec-1",
            "rec-0",
        ]
        assert await storage.earlier_records("nobody", before=later, exclude="", limit=9) == []
        assert await storage.earlier_record_heads("nobody", before=later, exclude="", limit=9) == []

    storage.run(scenario)


def test_records_stored_before_indexing_are_indexed_once(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        for minute, (record_id, cabin_id) in enumerate(
            [("rec-2", "cabin-1"), ("rec-1", "cabin-1"), ("rec-1", "cabin-2"), ("rec-3", "cabin-1")]
        ):
            await storage.add_record(
                record(
                    record_id,
                    f"c-{record_id}-{cabin_id}",
                    cabin_id=cabin_id,
                    received_at=NOW + timedelta(minutes=minute),
                    match_key=None,
                    started_at=None,
                    digest=None,
                )
            )
        await storage.add_record(record("rec-indexed", "c-indexed"))
        waiting = await storage.unindexed_records(limit=10)
        assert [(r.record_id, r.cabin_id) for r in waiting] == [
            ("rec-2", "cabin-1"),
            ("rec-1", "cabin-1"),
            ("rec-1", "cabin-2"),
            ("rec-3", "cabin-1"),
        ]
        assert waiting[0].bundle == record("rec-2", "x").bundle
        assert len(await storage.unindexed_records(limit=2)) == 2

        started_at = NOW - timedelta(days=1, microseconds=9)
        await storage.index_record(
            "rec-1", match_key=KEY, started_at=started_at, cabin_id="cabin-1", digest=b"d\x00"
        )
        assert [(r.record_id, r.cabin_id) for r in await storage.unindexed_records(limit=10)] == [
            ("rec-2", "cabin-1"),
            ("rec-1", "cabin-2"),
            ("rec-3", "cabin-1"),
        ]
        head = await storage.record_head_of_consultation("c-rec-1-cabin-1", cabin_id="cabin-1")
        assert head is not None and (head.started_at, head.digest) == (started_at, b"d\x00")
        # without a cabin: every cabin's record of that id
        await storage.index_record("rec-1", match_key="", started_at=None)
        await storage.index_record("rec-2", match_key=KEY, started_at=None, cabin_id="cabin-1")
        remaining = await storage.unindexed_records(limit=10)
        assert [(r.record_id, r.cabin_id) for r in remaining] == [("rec-3", "cabin-1")]
        found = await storage.earlier_records(KEY, before=NOW, exclude="", limit=10)
        assert [r.record_id for r in found] == ["rec-indexed"]  # rec-2 has no start

    storage.run(scenario)


def test_a_fresh_database_queues_no_match_key_and_a_new_key_is_stored(storage: Backend) -> None:
    """The queue is filled by a migration (`hub.patients` changed); a new database's
    consultations are keyed when they are opened."""

    async def scenario(storage: Storage) -> None:
        await storage.open_consultation(consultation("c-1"))
        assert await storage.consultations_to_rekey(limit=10) == []
        await storage.set_match_key("c-1", "łukaszewska-groß|zoé ærin|1938-05-02")
        stored = await storage.consultation("c-1")
        assert stored is not None
        assert stored.match_key == "łukaszewska-groß|zoé ærin|1938-05-02"
        assert stored.patient == PATIENT
        assert (
            await storage.earlier_consultations(KEY, before=NOW + timedelta(1), exclude="", limit=9)
            == []
        )
        found = await storage.earlier_consultations(
            stored.match_key, before=NOW + timedelta(days=1), exclude="", limit=9
        )
        assert [c.consultation_id for c in found] == ["c-1"]
        assert await storage.consultations_to_rekey(limit=10) == []

    storage.run(scenario)


def test_twenty_copies_of_one_record_at_once_are_stored_once(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        sent = record("rec-1", "c-1")
        stored = await asyncio.gather(*(storage.add_record(sent) for _ in range(20)))
        assert sorted(stored) == [False] * 19 + [True]

    storage.run(scenario)
