"""Benchmarks of the cabin core: cold start to ready, and one reading's store round trip.

Run ``python -m bench.bench_core`` (``--quick`` for a smoke run). Prints medians and their ratio
to a floor measured in the same run, on the same machine; no pass/fail (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.patient import PatientIdentity
from kiosk.store import DatabaseKey, Store
from kiosk.store.migrations import MIGRATIONS

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = "CABIN_DB_KEY"  # the embedded defaults' [store] key_env

READY_TARGET_S = 0.5
ROUND_TRIP_TARGET_RATIO = 3.0

# The child process: imports the core, opens it with the embedded defaults (ready: what a
# patient touches first works), warms it up as the cabin does once its first screen is painted
# (the camera and microphone, the hub, the printer), stops it, and prints its own timings.
# CLOCK_MONOTONIC is system-wide on Linux, so the parent can subtract the moment it spawned the
# child from the moment the child was ready.
CHILD = """\
import time
t_start = time.monotonic()
import asyncio, json, sys
from pathlib import Path
from demo.root import open_core
from kiosk.config import load_config
t_imported = time.monotonic()
async def main():
    core = await open_core(load_config(None), Path(sys.argv[1]), instruments={})
    ready = time.monotonic()
    core.start_warm_up()
    await core.warmed_up()
    warmed = time.monotonic()
    await core.aclose()
    return ready, warmed
t_ready, t_warmed = asyncio.run(main())
print(json.dumps({"start": t_start, "imported": t_imported, "ready": t_ready, "warmed": t_warmed}))
"""
FLOOR = "pass"


@dataclass(frozen=True, slots=True)
class ColdStart:
    spawn_to_ready_s: float
    spawn_to_warmed_s: float
    spawn_to_exit_s: float
    import_s: float
    import_to_ready_s: float


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def ratio(value: float, floor: float) -> str:
    return f"x{value / floor:.1f}" if floor > 0 else "x?"


# --- cold start ------------------------------------------------------------------------------
def run_floor(env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", FLOOR], env=env, cwd=REPO_ROOT, check=True)
    return time.monotonic() - started


def run_core(template: Path, work: Path, key_hex: str, env: dict[str, str]) -> ColdStart:
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=work))
    shutil.copy2(template / "cabin.db", data_dir / "cabin.db")
    child_env = dict(env)
    child_env[KEY_ENV] = key_hex
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir)],
        env=child_env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    ended = time.monotonic()
    shutil.rmtree(data_dir)
    times = json.loads(result.stdout.strip().splitlines()[-1])
    return ColdStart(
        spawn_to_ready_s=times["ready"] - started,
        spawn_to_warmed_s=times["warmed"] - started,
        spawn_to_exit_s=ended - started,
        import_s=times["imported"] - times["start"],
        import_to_ready_s=times["ready"] - times["start"],
    )


def bench_cold_start(work: Path, runs: int) -> None:
    key = DatabaseKey.generate()
    template = work / "template"
    store = Store.open(template / "cabin.db", key)  # an existing database, as on a real cabin
    patient_id = store.add_patient(PatientIdentity("Bench", "Patient", date(1960, 1, 1)))
    store.start_consultation(patient_id, "fr")
    store.close()
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    # A cabin runs with its bytecode compiled: even where the shell forbids writing it next to
    # the sources (PYTHONDONTWRITEBYTECODE), the children keep a cache of their own.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")

    run_floor(env)  # warm the page cache for both
    run_core(template, work, key.hex(), env)
    floors: list[float] = []
    cores: list[ColdStart] = []
    for _ in range(runs):  # interleaved, so a slow moment of the machine hits both
        floors.append(run_floor(env))
        cores.append(run_core(template, work, key.hex(), env))

    floor = statistics.median(floors)
    ready = statistics.median(c.spawn_to_ready_s for c in cores)
    warmed = statistics.median(c.spawn_to_warmed_s for c in cores)
    exited = statistics.median(c.spawn_to_exit_s for c in cores)
    imported = statistics.median(c.import_s for c in cores)
    in_process = statistics.median(c.import_to_ready_s for c in cores)
    print(f"cold start: {runs} runs each, medians (python -c; embedded defaults; existing db)")
    print(f"  floor  python -c pass, spawn -> exit      {floor * 1000:8.1f} ms")
    print(
        f"  core   spawn -> ready                   {ready * 1000:8.1f} ms"
        f"   {ratio(ready, floor)} floor   target <= {READY_TARGET_S * 1000:.0f} ms"
    )
    print(
        f"  core   spawn -> warmed up (background)  {warmed * 1000:8.1f} ms"
        f"   {ratio(warmed, floor)} floor   (camera, microphone, hub, printer: in the background)"
    )
    print(
        f"  core   spawn -> exit (after aclose)     {exited * 1000:8.1f} ms   x{exited / floor:.1f}"
    )
    print(
        f"  core   in process, import -> ready      {in_process * 1000:8.1f} ms"
        f"   (imports {imported * 1000:.1f} ms, open_core {(in_process - imported) * 1000:.1f} ms)"
    )


# --- one reading's store round trip ------------------------------------------------------------
def a_reading(n: int) -> Reading:
    values = (
        Value(Quantity.SYSTOLIC_MMHG, 110.0 + n % 30),
        Value(Quantity.DIASTOLIC_MMHG, 70.0 + n % 20),
        Value(Quantity.PULSE_BPM, 60.0 + n % 25),
    )
    return Reading("bp-1", ReadingKind.BLOOD_PRESSURE, values, datetime.now(UTC))


def plain_sqlite(path: Path) -> tuple[sqlite3.Connection, str]:
    """The floor: stdlib sqlite3 (no encryption), same schema, same durability pragmas."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    for migration in MIGRATIONS:
        for statement in migration:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO patients VALUES ('p', 'Bench', 'Patient', '1960-01-01', 'unknown', NULL, ?)",
        (datetime.now(UTC).isoformat(),),
    )
    conn.execute(
        "INSERT INTO consultations (id, patient_id, language, started_at)"
        " VALUES ('c', 'p', 'fr', ?)",
        (datetime.now(UTC).isoformat(),),
    )
    return conn, "c"


def plain_insert(conn: sqlite3.Connection, consultation_id: str, reading: Reading) -> int:
    """The same rows as Store.add_reading, one transaction per reading."""
    conn.execute("BEGIN IMMEDIATE")
    cursor = conn.execute(
        "INSERT INTO readings (consultation_id, device_id, kind, measured_at, stored_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            consultation_id,
            reading.device_id,
            reading.kind.value,
            reading.measured_at.isoformat(),
            datetime.now(UTC).isoformat(),
        ),
    )
    reading_id = int(cursor.lastrowid or 0)
    conn.executemany(
        "INSERT INTO reading_values VALUES (?, ?, ?)",
        [(reading_id, v.quantity.value, v.value) for v in reading.values],
    )
    conn.execute("COMMIT")
    return reading_id


def bench_round_trip(work: Path, calls: int) -> None:
    store = Store.open(work / "cabin.db", DatabaseKey.generate())
    patient_id = store.add_patient(PatientIdentity("Bench", "Patient", date(1960, 1, 1)))
    consultation_id = store.start_consultation(patient_id, "fr")
    plain, plain_consultation = plain_sqlite(work / "plain.db")
    store_times: list[float] = []
    plain_times: list[float] = []
    try:
        for n in range(calls + 10):  # interleaved; the first 10 of each are warm-up
            reading = a_reading(n)
            started = time.perf_counter()
            store.add_reading(consultation_id, reading)
            store_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            plain_insert(plain, plain_consultation, reading)
            plain_times.append(time.perf_counter() - started)
        assert store.count("readings") == calls + 10
        assert store.integrity_ok()
    finally:
        store.close()
        plain.close()
    floor = median_ms(plain_times[10:])
    ours = median_ms(store_times[10:])
    print(f"store round trip: {calls} readings each (3 values, WAL, synchronous=FULL), medians")
    print(f"  floor  stdlib sqlite3 insert + commit     {floor:8.3f} ms")
    print(
        f"  store  Store.add_reading (SQLCipher)     {ours:8.3f} ms"
        f"   {ratio(ours, floor)} floor   target <= x{ROUND_TRIP_TARGET_RATIO:.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few runs: a smoke test")
    args = parser.parse_args(argv)
    runs, calls = (4, 60) if args.quick else (15, 300)
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, {sys.executable}")
    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        work = Path(tmp)
        (work / "cold").mkdir()
        (work / "round-trip").mkdir()
        bench_cold_start(work / "cold", runs)
        bench_round_trip(work / "round-trip", calls)
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
