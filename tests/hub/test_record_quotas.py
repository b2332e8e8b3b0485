"""A cabin cannot flood the hub with records, a history never holds every record's PDFs, and
reading records does not wait behind password hashing (issue 15, items 6 and 11), against a
real hub.

The attacks: one cabin stored 200 records of 1.9 MB in seconds; five concurrent history reads
took the hub from 512 MB to 2 GB (every record's Bundle, PDFs included, read at once); record
uploads stalled while logins hashed passwords on the default thread pool."""

from __future__ import annotations

import asyncio
import os
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

import wire
from hub.errors import RecordLimited
from hub.patients import match_key
from hub.records import RecordDesk, RecordLimits
from hub.storage import ConsultationRecordUpload
from tests.hub.hub_key import connect
from tests.hub.hub_rig import FakeClock, decode_as, new_id, patient, run, running_hub
from tests.hub.test_record_forgery import send, upload

YVONNE = patient("Quélennec", "Yvonne", date(1938, 5, 2))


def _stored_count(database: Path) -> int:
    with connect(database) as db:
        (count,) = db.execute("SELECT count(*) FROM records").fetchone()
    db.close()
    return int(count)


def test_a_cabin_over_its_hourly_record_quota_is_told_when_to_retry(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, records_per_cabin_per_hour=3) as rig:
            cabin_1, cabin_2 = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")
            start = clock.now() - timedelta(days=2)
            records = [
                upload(f"c-{index}", who=YVONNE, started_at=start + timedelta(hours=index))
                for index in range(4)
            ]
            for record in records[:3]:
                assert isinstance(await send(cabin_1, record), wire.RecordAck)
            refused = await send(cabin_1, records[3])
            assert isinstance(refused, wire.ErrorMessage)
            assert refused.code is wire.ErrorCode.RATE_LIMITED
            assert refused.in_reply_to == records[3].msg_id
            assert refused.text.startswith("too many records from this cabin; retry in")
            assert _stored_count(rig.database) == 3
            # another cabin has its own quota
            other = upload("c-other", cabin_id="cabin-2", who=YVONNE, started_at=start)
            assert isinstance(await send(cabin_2, other), wire.RecordAck)
            # an hour later the cabin's retry is taken
            clock.advance(3600)
            assert isinstance(await send(cabin_1, records[3]), wire.RecordAck)
            assert _stored_count(rig.database) == 5

    run(scenario())


def test_a_cabin_over_its_daily_bytes_is_refused_until_the_day_has_passed(
    tmp_path: Path,
) -> None:
    big_pdf = b"%PDF-1.4\n" + os.urandom(300_000)
    clock = FakeClock()
    start = clock.now() - timedelta(days=2)
    records = [
        upload(f"c-{index}", who=YVONNE, started_at=start, summary_pdf=big_pdf)
        for index in range(3)
    ]
    one_record = max(len(record.bundle) for record in records)

    async def scenario() -> None:
        async with running_hub(
            tmp_path, clock=clock, record_bytes_per_cabin_per_day=2 * one_record + 1000
        ) as rig:
            cabin = await rig.cabin()
            for record in records[:2]:
                assert isinstance(await send(cabin, record), wire.RecordAck)
            refused = await send(cabin, records[2])
            assert isinstance(refused, wire.ErrorMessage)
            assert refused.code is wire.ErrorCode.RATE_LIMITED
            assert refused.text.startswith("too many bytes of records from this cabin")
            clock.advance(3600)
            assert isinstance(await send(cabin, records[2]), wire.ErrorMessage)
            clock.advance(86_400)
            assert isinstance(await send(cabin, records[2]), wire.RecordAck)
            assert _stored_count(rig.database) == 3

    run(scenario())


def test_a_history_holds_one_records_pdfs_at_a_time(tmp_path: Path) -> None:
    """24 records of ~0.8 MB each (their PDFs) for one patient: the history answers with all
    24 entries and no PDF, and the memory it takes at its peak stays below a few records'
    worth (the hub used to read every Bundle at once: 19 MB here, 380 MB in the attack)."""
    count, pdf_bytes = 24, 600_000

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            start = clock.now() - timedelta(days=60)
            total = 0
            for index in range(count):
                started_at = start + timedelta(days=index)
                record = upload(
                    f"c-old-{index}",
                    who=YVONNE,
                    started_at=started_at,
                    summary_pdf=b"%PDF-1.4\n" + os.urandom(pdf_bytes),
                )
                total += len(record.bundle)
                await rig.hub.storage.add_record(
                    ConsultationRecordUpload(
                        record_id=record.record_id,
                        consultation_id=record.consultation_id,
                        cabin_id="cabin-1",
                        created_at=started_at,
                        received_at=started_at,
                        bundle=bytes(record.bundle),
                        match_key=match_key(YVONNE),
                        started_at=started_at,
                    )
                )
                del record
            cabin = await rig.cabin()
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            await rig.join(cabin, "c-now", YVONNE)
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-now"))
            await console.expect(wire.CallAccepted)

            tracemalloc.start()
            try:
                response = await doctor.history("c-now")
                body = await response.read()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            history = decode_as(body, wire.PatientHistory)
            assert len(history.entries) == count
            assert len(body) < 100_000  # no PDF in it
            print(f"history of {count} records ({total / 1e6:.1f} MB): peak {peak / 1e6:.1f} MB")
            assert peak < total / 3

    run(scenario())


def test_record_intake_does_not_wait_for_the_default_thread_pool(tmp_path: Path) -> None:
    """Password hashing runs on the event loop's default pool. Every thread of that pool
    busy (as during a burst of logins), a record is still read, stored and acknowledged."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            loop = asyncio.get_running_loop()
            busy = ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-busy-default")
            loop.set_default_executor(busy)
            release = threading.Event()
            hashing = [loop.run_in_executor(None, release.wait) for _ in range(4)]
            try:
                record = upload("c-offline", who=YVONNE, started_at=FakeClock().now())
                answer = await send(cabin, record)
                assert isinstance(answer, wire.RecordAck)
                assert not release.is_set() and not any(job.done() for job in hashing)
            finally:
                release.set()
                await asyncio.gather(*hashing)

    run(scenario())


def test_records_waiting_for_a_reader_are_bounded() -> None:
    """Beyond `intake_waiting` records queued for the records' pool, an upload is refused
    (rate_limited, retry in a minute) instead of piling up in memory."""

    async def scenario() -> None:
        desk = RecordDesk(RecordLimits(intake_workers=1, intake_waiting=1), FakeClock())
        release = threading.Event()
        try:
            running = [desk.run(release.wait) for _ in range(2)]  # one runs, one waits
            with pytest.raises(RecordLimited) as refused:
                desk.run(release.wait)
            assert refused.value.retry_after_s == 60
            release.set()
            assert await asyncio.gather(*running) == [True, True]
            assert await desk.run(lambda: 42) == 42  # room again
        finally:
            release.set()
            desk.close()

    asyncio.run(scenario())


def test_a_history_reads_the_digest_kept_with_a_record_not_its_bundle(tmp_path: Path) -> None:
    """What a history shows of a record is kept beside it when it arrives: with the Bundle
    gone from under it, the history still shows the record (no Bundle is parsed)."""

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            record = upload("c-offline", who=YVONNE, started_at=clock.now() - timedelta(days=9))
            assert isinstance(await send(cabin, record), wire.RecordAck)
            with connect(rig.database) as db:
                db.execute("UPDATE records SET bundle = x'00'")
            db.close()
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            await rig.join(cabin, "c-now", YVONNE)
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-now"))
            await console.expect(wire.CallAccepted)
            response = await doctor.history("c-now")
            history = decode_as(await response.read(), wire.PatientHistory)
            assert [(e.consultation_id, e.reason) for e in history.entries] == [
                ("c-offline", "toux")
            ]

    run(scenario())
