"""A soak of the cabin: many whole consultations in one process, then a while at the idle screen.

Run ``python -m bench.bench_soak`` (100 consultations, 20 walk-aways, then 10 minutes idle) or
``--quick`` (6 consultations, 2 walk-aways, 3 minutes idle); ``--consultations``,
``--walk-aways`` and ``--idle SECONDS`` set each part (``--consultations 0`` for the idle part
alone). Prints, after each patient, the process's memory as a row of text, then the RSS curve
(every 5th consultation, and a sparkline of all), then the targets of issue 18: flat within 5 %
(the median RSS of consultations 20-30 against 90-100, for 100; the same fifths for another
count) and under 350 MB; nothing passes or fails (see bench/README.md).

What runs, all real and on loopback: the hub in a process of its own (``python -m hub serve
--demo``, see ``bench/teleconsultation_rig.py``); the cabin core in this process built by the
**product's** composition root (``kiosk.app.start_core``, the wiring a real cabin has) with what
a real cabin takes from its machine injected: its instruments (the drivers a real cabin builds,
``devices.registry``, on the simulators' ptys and virtual radio, which this bench starts like
devices plugged in), its panic board (the simulator's pty, named in the configuration as a real
serial port is), its camera and microphone (the demo's drawn cabin and looped voice, through
the product's media injection point), and the hub's address (the configuration's); the
instruments and settings are the embedded defaults' with the scripted demo's short timeouts.
The real window runs offscreen with speech synthesised into a sink (``bench.bench_ui.Cabin``),
on the default executor ``ui.main`` gives the cabin (``with_worker_pool``). Each consultation is
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
from demo.media import DemoMediaSource, patient_follows_sessions
from devices.drivers.ble_instrument import BleBackend
from devices.registry import InstrumentSpec, build_instruments
from devices.transports.virtual_ble import VirtualBleakClient, VirtualBleakScanner
from kiosk.app import KioskCore, Wiring, start_core
from kiosk.config import Config, load_config
from kiosk.native_memory import MB, MallocTotals, arenas, malloc_totals
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import PATIENT_STATES, EndReason, Overlay, SessionState
from kiosk.store import DatabaseKey
from simulators.cabin import SimulatedCabin, SimulatedEntry
from simulators.serial.panic_button import PanicButtonSimulator
from ui.main import MALLOC_ARENAS, limit_malloc_arenas, with_worker_pool
from ui.scripted_demo import (
    DemoFailed,
    Report,
    Script,
    _consultation,
    _doctor_report,
    start_doctor,
)

FLAT_AFTER = 5  # the curve is judged from this consultation on
FLAT_WITHIN = 0.05  # of the RSS after that consultation
RSS_LIMIT_MB = 350.0  # issue 18's ceiling
CURVE_EVERY = 5  # a row of the printed curve every this many consultations
SPARKS = "▁▂▃▄▅▆▇█"
MAX_FAILED = 10  # consultations that may fail (a loaded machine) before the soak gives up
NOT_FOR_WALK_INS = frozenset({"the booked doctor saw the patient booked with them"})
"""The scripted demo's checks of its booked patient: the soak's patients walk in."""
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
    return [
        name
        for name, held in script.report.checks.items()
        if not held and name not in NOT_FOR_WALK_INS
    ]


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


async def leave(script: Script) -> None:
    """After a consultation that did not finish: the patient leaves (their session ends, a call
    with it), the agent cleans, the cabin is back at its idle screen."""
    core = script.core
    if core.session.state in PATIENT_STATES:
        core.session.end(EndReason.ABANDONED)
    if core.session.state is SessionState.CLEANING:
        await script.until(SessionState.CLEANING)  # the cleaning screen shown
        script.tap("primary")
    await script.until(SessionState.IDLE, timeout_s=STEP_TIMEOUT_S)
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
    failed: list[int] = field(default_factory=list)  # consultations that did not finish


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


@dataclass
class Devices:
    """What a real cabin has plugged in, simulated: the instruments and the panic board."""

    instruments: SimulatedCabin
    panic_board: PanicButtonSimulator

    async def stop(self) -> None:
        await self.panic_board.stop()
        await self.instruments.stop()


async def product_core(
    hub: HubProcess, data: Path, env: dict[str, str]
) -> tuple[KioskCore, Devices]:
    """The core as the product's composition root builds it, its devices injected."""
    config = soak_config(hub)
    folder = data / "devices"
    cabin = SimulatedCabin(
        folder,
        [
            SimulatedEntry(
                i.id,
                i.transport,
                InstrumentSpec(i.id, i.kind, i.transport, "", i.model).resolved_model,
            )
            for i in config.instruments
        ],
    )
    await cabin.start()
    board = PanicButtonSimulator(folder / "panic-button")
    await board.start()
    devices = Devices(cabin, board)
    try:
        specs = [
            InstrumentSpec(i.id, i.kind, i.transport, cabin.address(i.id), i.model)
            for i in config.instruments
        ]
        radio = BleBackend(
            VirtualBleakClient, VirtualBleakScanner, {"radio_path": str(cabin.radio_path)}
        )
        instruments = build_instruments(specs, ble_backend=radio)
        config = msgspec.structs.replace(  # a serial port, as a real cabin names its board
            config,
            distress=msgspec.structs.replace(config.distress, panic_button=str(board.link_path)),
        )
        wiring = Wiring(media=DemoMediaSource(), on_media=patient_follows_sessions)
        core = await start_core(config, data, env=env, instruments=instruments, wiring=wiring)
    except BaseException:
        await devices.stop()
        raise
    return core, devices


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
        core, devices = await product_core(hub, data, env)
        try:
            assert core.hub is not None
            await core.hub.wait_online(10)
            cabin = Cabin(app, core)
        except BaseException:
            await core.aclose()
            await devices.stop()
            raise
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
                try:
                    failed = await consultation(script, cabin, work / "out")
                except DemoFailed as exc:
                    # A doctor's browser too slow on a loaded machine must not end 100
                    # consultations: the patient leaves, the cabin goes back to idle, on we go.
                    result.failed.append(number)
                    print(f"    consultation {number} did not finish: {exc}", flush=True)
                    await leave(script)
                    if len(result.failed) > MAX_FAILED:
                        raise
                    failed = []
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
            await devices.stop()
    return result


def windows(count: int) -> tuple[range, range] | None:
    """The consultations (numbered from 1) compared for "flat": the 20th-30th against the
    90th-100th of 100, the same fifths of another count; None when too few to judge."""
    if count < 10:
        return None
    early = range(count // 5, count * 3 // 10 + 1)
    late = range(count - count // 10, count + 1)
    return early, late


def sparkline(values: list[float]) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values)


def print_curve(soak: Soak) -> None:
    """RSS after every CURVE_EVERY-th consultation, a bar each, and the whole as a sparkline."""
    rows = soak.patients
    if not rows:
        return
    rss = [row.memory.rss_mb for row in rows]
    low = min(rss) - 5
    print(f"RSS after each {CURVE_EVERY}th consultation (one # per MB above {low:.0f} MB):")
    for number in [1, *range(CURVE_EVERY, len(rows) + 1, CURVE_EVERY)]:
        value = rss[number - 1]
        print(f"  {number:4d}  {value:6.1f} MB  {'#' * round(value - low)}")
    print(f"all {len(rss)} ({min(rss):.1f}-{max(rss):.1f} MB): {sparkline(rss)}")


def print_targets(soak: Soak) -> None:
    """Issue 18's targets: flat within 5 % after the warm-up, and under 350 MB."""
    rss = [row.memory.rss_mb for row in soak.patients]
    chosen = windows(len(rss))
    if chosen is not None:
        early, late = chosen
        first = statistics.median(rss[n - 1] for n in early)
        last = statistics.median(rss[n - 1] for n in late)
        change = (last - first) / first
        print(
            f"median RSS of consultations {early.start}-{early.stop - 1}: {first:.1f} MB,"
            f" of {late.start}-{late.stop - 1}: {last:.1f} MB ({change * 100:+.1f} %);"
            f" flat within {FLAT_WITHIN * 100:.0f} %:"
            f" {'yes' if abs(change) <= FLAT_WITHIN else 'NO'}"
        )
    every = [row.memory.rss_mb for row in (*soak.patients, *soak.idle)]
    if every:
        peak = max(every)
        print(
            f"largest RSS over the soak: {peak:.1f} MB; under {RSS_LIMIT_MB:.0f} MB:"
            f" {'yes' if peak < RSS_LIMIT_MB else 'NO'}"
        )


def report(soak: Soak) -> None:
    print_curve(soak)
    print_targets(soak)
    if soak.failed:
        numbers = ", ".join(str(n) for n in soak.failed)
        print(f"consultations that did not finish (the patient left, the soak went on): {numbers}")
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
    parser.add_argument("--consultations", type=int, help="how many (default 100)")
    parser.add_argument("--walk-aways", type=int)
    parser.add_argument("--idle", type=float, metavar="SECONDS", help="at the idle screen after")
    args = parser.parse_args(argv)
    limit_malloc_arenas()  # as ui.main does, before Qt starts its threads
    quick, full = (6, 2, 180.0), (100, 20, 600.0)
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
