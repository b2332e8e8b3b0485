"""A patient's history built from many large records: time and peak memory (issue 15, item 6);
and reading a record while logins hash passwords (item 11).

Run ``python -m bench.bench_history`` (``--quick`` for a smoke run). Stores N records of about
1.9 MB each (their PDFs) for one patient in a fresh SQLite file, then builds the history three
ways, each several times, and prints the medians:

- ``all Bundles at once``: what the hub did before issue 15 (every record read, then parsed);
- ``one Bundle at a time``: the fallback for a record without a digest;
- ``digests``: what the hub does now (the digest kept with each record; no Bundle read).

Peak memory is tracemalloc's (Python's allocations, which hold the Bundles).

Then one 1.9 MB record is read (parsed and checked, as on arrival) while a burst of logins
hashes passwords (argon2id at the hub's standard cost) on the event loop's default pool: on
that same pool (before issue 15) and on the records' own pool (now). Nothing passes or fails
here: read the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import wire
from hub.clock import SystemClock
from hub.database_key import HubDatabaseKey
from hub.history import patient_history
from hub.passwords import PasswordHasher
from hub.patients import match_key
from hub.records import RecordDesk, RecordLimits, digest_of, read_stored, read_upload
from hub.sqlite_storage import SqliteStorage
from hub.storage import ConsultationRecord, ConsultationRecordUpload, ConsultationStatus
from wire.fhir_record import RecordInput, build_bundle, parse_record, record_id_for

PATIENT = wire.PatientSummary(
    family_name="Quélennec", given_names="Yvonne", birth_date=date(1938, 5, 2)
)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _bundle(index: int, pdf_bytes: int) -> tuple[str, bytes, datetime]:
    consultation_id = f"c-{index:04d}"
    started_at = NOW - timedelta(days=index + 1)
    record = RecordInput(
        record_id=record_id_for(consultation_id),
        consultation_id=consultation_id,
        cabin_id="cabin-1",
        cabin_name="Cabine",
        patient_local_id="patient-1",
        patient=PATIENT,
        language=wire.Language.FR,
        started_at=started_at,
        ended_at=started_at + timedelta(minutes=20),
        end_reason="completed",
        reason="toux",
        doctor=None,
        doctor_id=None,
        vitals=(),
        prescriptions=(),
        prescription_pdfs={},
        summary_pdf=b"%PDF-1.4\n" + os.urandom(pdf_bytes),
        advice="",
    )
    return consultation_id, build_bundle(record), started_at


async def _fill(storage: SqliteStorage, count: int, pdf_bytes: int, *, digests: bool) -> float:
    total = 0
    for index in range(count):
        consultation_id, bundle, started_at = _bundle(index, pdf_bytes)
        total += len(bundle)
        await storage.add_record(
            ConsultationRecordUpload(
                record_id=record_id_for(consultation_id),
                consultation_id=consultation_id,
                cabin_id="cabin-1",
                created_at=started_at,
                received_at=started_at,
                bundle=bundle,
                match_key=match_key(PATIENT),
                started_at=started_at,
                digest=digest_of(parse_record(bundle)) if digests else None,
            )
        )
    return total / 1e6


def _current() -> ConsultationRecord:
    return ConsultationRecord(
        consultation_id="c-now",
        cabin_id="cabin-1",
        patient=PATIENT,
        match_key=match_key(PATIENT),
        reason="",
        age_years=88,
        sex=wire.Sex.FEMALE,
        language=wire.Language.FR,
        status=ConsultationStatus.TAKEN,
        doctor="dr.a",
        joined_at=NOW,
    )


async def _measure(run: Callable[[], Awaitable[int]], runs: int) -> tuple[float, float, int]:
    """Median seconds, median peak MB, and the entries of the last run."""
    seconds: list[float] = []
    peaks: list[float] = []
    entries = 0
    for _ in range(runs):
        tracemalloc.start()
        started = time.perf_counter()
        entries = await run()
        seconds.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1] / 1e6)
        tracemalloc.stop()
    return statistics.median(seconds), statistics.median(peaks), entries


async def _all_at_once(storage: SqliteStorage, current: ConsultationRecord) -> int:
    """The hub before issue 15: every record of the patient read, then parsed."""
    stored = await storage.earlier_records(
        current.match_key, before=NOW, exclude=current.consultation_id, limit=200
    )
    return len(await asyncio.to_thread(read_stored, stored))


async def _history(
    storage: SqliteStorage,
    current: ConsultationRecord,
    keys: dict[str, Ed25519PublicKey],
    desk: RecordDesk,
) -> int:
    history = await patient_history(storage, current, public_keys=keys, desk=desk)
    return len(history.entries)


async def _bench(folder: Path, count: int, pdf_bytes: int, runs: int) -> None:
    keys = {"bench": Ed25519PrivateKey.generate().public_key()}
    desk = RecordDesk(RecordLimits(), SystemClock())
    current = _current()
    key = HubDatabaseKey.generate()  # the hub's database is encrypted: measured as it runs
    try:
        for digests in (False, True):
            storage = await SqliteStorage.open(folder / f"hub-{digests}.db", key)
            try:
                megabytes = await _fill(storage, count, pdf_bytes, digests=digests)
                if not digests:
                    result = await _measure(partial(_all_at_once, storage, current), runs)
                    _print("all Bundles at once", count, megabytes, result)
                result = await _measure(partial(_history, storage, current, keys, desk), runs)
                _print("digests" if digests else "one Bundle at a time", count, megabytes, result)
            finally:
                await storage.close()
    finally:
        desk.close()


def _print(label: str, count: int, megabytes: float, result: tuple[float, float, int]) -> None:
    median_s, peak_mb, entries = result
    print(
        f"{label:22} {count} records, {megabytes:6.1f} MB stored: median"
        f" {median_s * 1000:8.1f} ms, peak {peak_mb:8.2f} MB ({entries} entries)"
    )


async def _intake(pdf_bytes: int, runs: int, logins: int) -> None:
    consultation_id, bundle, _ = _bundle(0, pdf_bytes)
    upload = wire.RecordUpload(
        msg_id="record-1",
        record_id=record_id_for(consultation_id),
        consultation_id=consultation_id,
        created_at=NOW,
        bundle=msgspec.Raw(bundle),
    )
    hasher = PasswordHasher("standard")
    desk = RecordDesk(RecordLimits(), SystemClock())
    try:
        for label, own_pool in (("default pool (before)", False), ("records' pool (now)", True)):
            seconds: list[float] = []
            for _ in range(runs):
                hashing = [
                    asyncio.ensure_future(hasher.hash("a passphrase")) for _ in range(logins)
                ]
                await asyncio.sleep(0)  # the burst is queued on the default pool first
                started = time.perf_counter()
                if own_pool:
                    await desk.run(lambda: read_upload(upload, "cabin-1"))
                else:
                    await asyncio.to_thread(read_upload, upload, "cabin-1")
                seconds.append(time.perf_counter() - started)
                await asyncio.gather(*hashing)
            print(
                f"a record read during {logins} logins, {label:22}: median"
                f" {statistics.median(seconds) * 1000:8.1f} ms"
            )
    finally:
        desk.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few records, few runs")
    args = parser.parse_args(argv)
    count, runs = (10, 3) if args.quick else (60, 5)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        asyncio.run(_bench(Path(folder), count, 1_400_000, runs))
    asyncio.run(_intake(1_400_000, runs, logins=20))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
