"""A soak of the cabin: many whole consultations in one process, then hours at the idle screen.

Run ``python -m bench.bench_soak`` (30 consultations, 6 walk-aways, then an hour idle) or
``--quick`` (6 consultations, 2 walk-aways, 3 minutes idle); ``--consultations``,
``--walk-aways`` and ``--idle SECONDS`` set each part (``--consultations 0`` for the idle part
alone). Prints, after each patient, the process's memory as a curve of text rows, then whether
it stays flat after the 5th; nothing passes or fails (see bench/README.md).

What runs, all real and on loopback: the hub in a process of its own (``python -m hub serve
--demo``, see ``bench/teleconsultation_rig.py``); the cabin core in this process on the embedded
defaults (simulated instruments, the live synthetic camera, the looped speech as microphone) with
the scripted demo's short timeouts; the real window offscreen with speech synthesised into a sink,
as ``ui.session_runner`` runs the scripted demo (``bench.bench_ui.Cabin``), and the default
executor ``ui.main`` gives the cabin (``with_worker_pool``). Each consultation is
the scripted demo's (``ui.scripted_demo._consultation``: tapped screen by screen, the three
guided measurements, the reason, the waiting room, the call with a blood pressure asked by the
doctor, closing, survey, cleaning) with its doctor in headless Chromium (``python -m
simulators.doctor``, a process of its own per consultation: the browser's memory is not this
process's). A walk-away is a patient who starts the first measurement and leaves: "are you still
there?", then the session ends by itself (the cleaning screen, then idle).

Memory, after each patient is gone and the cabin is back at its idle screen: VmRSS; glibc's heap
(``mallinfo2``: bytes in use, free bytes kept in the arenas, and the number of arenas from
``malloc_info``); threads, open file descriptors and Python objects, for the leaks that are not
native. The allocator's settings in effect are printed first: the cabin's own (``ui.main``'s
``limit_malloc_arenas``), or ``MALLOC_ARENA_MAX`` and friends from the environment, which win
(``MALLOC_ARENA_MAX=16 python -m bench.bench_soak`` for glibc's default on 2 cores).
"""

from __future__ import annotations

import os

# Before Qt is imported: the soak runs without a screen.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import msgspec
import qasync
from PySide6.QtWidgets import QApplication

from bench.bench_ui import Cabin, quiet_offscreen
from bench.teleconsultation_rig import HubProcess, hub_process, write_token
from demo.main import SCRIPTED_TIMEOUTS
from demo.root import start_core
from kiosk.config import Config, load_config
from kiosk.native_memory import MB, MallocTotals, arenas, malloc_totals
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import Overlay, SessionState
from kiosk.store import DatabaseKey
from ui.main import MALLOC_ARENAS, limit_malloc_arenas, with_worker_pool
from ui.scripted_demo import Report, Script, _consultation, _doctor_report, start_doctor

FLAT_AFTER = 5  # the curve is judged from this consultation on
FLAT_WITHIN = 0.05  # of the RSS after that consultation
IDLE_EVERY_S = 60.0
STEP_TIMEOUT_S = 60.0
WALKER = PatientIdentity("LE GALL", "Yann", date(1950, 7, 14), Sex.MALE)
ALLOCATOR_ENV = ("MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


# --- what the process holds ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Memory:
    rss_mb: float
    in_use_mb: float  # malloc's bytes handed out: in the arenas, and mapped apart
    free_mb: float  # free bytes kept in the arenas (not given back to the system)
    arenas: list[tuple[float, float]]  # each arena's size and free bytes kept, MB
    threads: int
    fds: int
    objects: int  # Python objects the collector tracks


def memory_now(scratch: Path) -> Memory:
    gc.collect()
    with open("/proc/self/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    totals = malloc_totals() or MallocTotals(0, 0)
    return Memory(
        rss_mb=rss_kb / 1024,
        in_use_mb=totals.in_use_bytes / MB,
        free_mb=totals.free_bytes / MB,
        arenas=arenas(scratch),
        threads=len(os.listdir("/proc/self/task")),  # Qt's and FFmpeg's too
        fds=len(os.listdir("/proc/self/fd")),
        objects=len(gc.get_objects()),
    )


# --- the patients --------------------------------------------------------------------------------
class QuietScript(Script):
    """The scripted demo's player, without its screenshots: the soak measures the cabin."""

    async def shot(self, name: str, played_by_script: str | None = None) -> None:
        del name, played_by_script


async def consultation(script: Script, cabin: Cabin, out: Path) -> list[str]:
    """One whole consultation, the doctor in Chromium (a process of its own, one per patient);
    the scripted demo's checks that did not hold."""
    script.report = Report()  # this patient's checks only
    doctor = await start_doctor(cabin.core, out)
    try:
        await _consultation(script, cabin.languages)
        await _doctor_report(script, doctor, out)
    finally:
        if doctor.returncode is None:
            doctor.kill()
            await doctor.wait()
    return [name for name, held in script.report.checks.items() if not held]


async def walk_away(script: Script) -> None:
    """A patient comes in, starts the first measurement, and leaves: the session ends alone."""
    core = script.core
    script.tap("primary")
    await script.until(SessionState.WELCOME)
    c = core.consultation
    await c.choose_identify()
    await c.identify(WALKER)
    await c.consent(True)
    await script.until(SessionState.VITALS)
    script.tap("primary")  # Start; then nobody touches the screen again
    await script.until(SessionState.VITALS, Overlay.STILL_THERE, timeout_s=STEP_TIMEOUT_S)
    await script.until(SessionState.CLEANING, timeout_s=STEP_TIMEOUT_S)  # instruments touched
    script.tap("primary")  # the agent cleans, as after any patient
    await script.until(SessionState.IDLE)
    await core.consultation.settled()


# --- the run -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Row:
    label: str
    seconds: float
    memory: Memory


@dataclass
class Soak:
    before: Memory | None = None  # at the idle screen, before the first patient
    patients: list[Row] = field(default_factory=list)
    idle: list[Row] = field(default_factory=list)


def soak_config(hub: HubProcess) -> Config:
    config = load_config(None)
    assert config.call.loopback_only, "the soak never sends a packet off loopback"
    from hub.demo import DEMO_CABIN_ID  # noqa: PLC0415 - the demo hub's cabin

    return msgspec.structs.replace(
        config,
        cabin=msgspec.structs.replace(config.cabin, id=DEMO_CABIN_ID),
        hub=msgspec.structs.replace(config.hub, url=hub.url),
        session=msgspec.structs.replace(config.session, **SCRIPTED_TIMEOUTS),
    )


def print_row(row: Row, first: Memory | None) -> None:
    m = row.memory
    bar = ""
    if first is not None:
        bar = "#" * max(0, round((m.rss_mb - first.rss_mb) / 2))  # one # per 2 MB above the first
    print(
        f"  {row.label:<18} {row.seconds:6.0f} s   RSS {m.rss_mb:6.1f} MB   malloc in use"
        f" {m.in_use_mb:6.1f} MB, free in arenas {m.free_mb:6.1f} MB, {len(m.arenas):2d} arenas   "
        f"threads {m.threads:3d}  fds {m.fds:3d}  objects {m.objects:7d}  {bar}",
        flush=True,
    )


async def run_soak(
    app: QApplication, consultations: int, walk_aways: int, idle_s: float, work: Path
) -> Soak:
    result = Soak()
    (work / "hub").mkdir()
    async with hub_process(work / "hub") as hub:
        data = work / "cabin"
        await asyncio.to_thread(write_token, data, hub.cabin_token)
        env = {"CABIN_DB_KEY": DatabaseKey.generate().hex()}
        core = await start_core(soak_config(hub), data, env=env)
        assert core.hub is not None
        await core.hub.wait_online(10)
        cabin = Cabin(app, core)
        script = QuietScript(cabin.window, core, work / "out")
        (work / "out").mkdir()
        started = time.monotonic()
        try:
            await script.until(SessionState.IDLE)
            result.before = memory_now(work)
            print_row(Row("idle, before", 0.0, result.before), None)
            walk_every = consultations // walk_aways if walk_aways else 0
            walked = 0
            for number in range(1, consultations + 1):
                failed = await consultation(script, cabin, work / "out")
                row = Row(f"consultation {number}", time.monotonic() - started, memory_now(work))
                result.patients.append(row)
                print_row(row, result.before)
                if failed:
                    print(f"    checks that did not hold: {', '.join(failed)}", flush=True)
                if walk_every and number % walk_every == 0 and walked < walk_aways:
                    walked += 1
                    await walk_away(script)
                    row = Row(f"  walk-away {walked}", time.monotonic() - started, memory_now(work))
                    print_row(row, result.before)
            idle_started = time.monotonic()
            while True:
                row = Row(
                    f"idle {(time.monotonic() - idle_started) / 60:4.0f} min",
                    time.monotonic() - started,
                    memory_now(work),
                )
                result.idle.append(row)
                print_row(row, result.before)
                if time.monotonic() - idle_started >= idle_s:
                    break
                await asyncio.sleep(min(IDLE_EVERY_S, idle_s))
        finally:
            await cabin.aclose()
    return result


def report(soak: Soak) -> None:
    rss = [row.memory.rss_mb for row in soak.patients]
    if len(rss) > FLAT_AFTER:
        base = rss[FLAT_AFTER - 1]
        later = rss[FLAT_AFTER:]
        worst = max(later, key=lambda value: abs(value - base))
        share = (worst - base) / base
        slope = statistics.linear_regression(range(FLAT_AFTER, len(rss) + 1), rss[FLAT_AFTER - 1 :])
        print(
            f"after the {FLAT_AFTER}th consultation ({base:.1f} MB): furthest {worst:.1f} MB"
            f" ({share * 100:+.1f} %), trend {slope.slope:+.2f} MB per consultation;"
            f" flat within {FLAT_WITHIN * 100:.0f} %:"
            f" {'yes' if abs(share) <= FLAT_WITHIN else 'NO'}"
        )
    for label, rows in (("consultations", soak.patients), ("idle", soak.idle)):
        if len(rows) < 2:
            continue
        if label == "consultations":
            start = rows[0]
            count, per = float(len(rows) - 1), "consultation"
        else:  # from the first minute: the last call's buffers are let go in the first
            start = rows[1] if len(rows) > 2 else rows[0]
            count, per = (rows[-1].seconds - start.seconds) / 3600, "hour"
        first, last = start.memory, rows[-1].memory
        count = max(count, 1e-9)
        print(
            f"{label}, from {' '.join(start.label.split())} to the end: RSS {first.rss_mb:.1f} ->"
            f" {last.rss_mb:.1f}"
            f" MB ({(last.rss_mb - first.rss_mb) / count:+.2f} MB per {per}), malloc in use"
            f" {first.in_use_mb:.1f} -> {last.in_use_mb:.1f} MB"
            f" ({(last.in_use_mb - first.in_use_mb) / count:+.2f} MB per {per}), free in arenas"
            f" {first.free_mb:.1f} -> {last.free_mb:.1f} MB"
        )
    rows = soak.idle or soak.patients
    if rows:
        sizes = sorted(rows[-1].memory.arenas, reverse=True)
        listed = ", ".join(f"{size:.0f}/{free:.0f}" for size, free in sizes)
        print(f"malloc arenas at the end, size/free MB: {listed}")


def allocator_settings() -> str:
    found = [f"{name}={os.environ[name]}" for name in ALLOCATOR_ENV if name in os.environ]
    if "MALLOC_ARENA_MAX" not in os.environ:
        found.append(f"{MALLOC_ARENAS} arenas (ui.main.limit_malloc_arenas, as the cabin)")
    return ", ".join(found)


def run(consultations: int, walk_aways: int, idle_s: float) -> Soak:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app, already_running=False)
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as work, quiet_offscreen():
            soak: Soak = loop.run_until_complete(
                with_worker_pool(run_soak(app, consultations, walk_aways, idle_s, Path(work)))
            )
            return soak
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_soak")
    parser.add_argument("--quick", action="store_true", help="6 patients, 2 walk-aways, 3 min idle")
    parser.add_argument("--consultations", type=int)
    parser.add_argument("--walk-aways", type=int)
    parser.add_argument("--idle", type=float, metavar="SECONDS", help="at the idle screen after")
    args = parser.parse_args(argv)
    limit_malloc_arenas()  # as ui.main does, before Qt starts its threads
    quick, full = (6, 2, 180.0), (30, 6, 3600.0)
    default = quick if args.quick else full
    consultations = default[0] if args.consultations is None else args.consultations
    walk_aways = default[1] if args.walk_aways is None else args.walk_aways
    idle_s = default[2] if args.idle is None else args.idle
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    print(
        f"soak: {consultations} consultations (the call included), {walk_aways} walk-aways, then"
        f" {idle_s / 60:.0f} min at the idle screen; one process;"
        f" allocator: {allocator_settings()}",
        flush=True,
    )
    began = time.perf_counter()
    soak = run(consultations, walk_aways, idle_s)
    report(soak)
    print(f"(bench took {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
