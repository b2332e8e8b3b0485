"""Benchmarks of a whole teleconsultation: the doctor in Chromium, the hub, the cabin core.

Run ``python -m bench.bench_teleconsultation`` (``--quick`` for a smoke run). Prints medians and
p95 beside a floor measured in the same run on the same machine, and the ratio; no pass/fail,
but each line says whether its target is met. The hub runs in a process of its own
(``python -m hub serve --demo``), the cabin core in this one, the doctor in headless Chromium
(``simulators.doctor.BrowserDoctor``, with no DNS at all): see ``bench/teleconsultation_rig.py``.
Loopback only.

- accept -> first frame: from just before the doctor's click on "accept" to (a) the first
  non-blank frame of the cabin presented in the console (a ``requestVideoFrameCallback`` in the
  page, its time mapped onto this process's monotonic clock) and (b) the first non-blank frame of
  the doctor handed to the cabin's remote-video sink. One new patient per run, in the same hub,
  cabin and browser; between runs the doctor hangs up and the cabin goes back to idle. The first
  call after the browser's start is a warm-up, printed apart. Floor: a bare aiortc-to-aiortc call
  (``bench_call.bare_call``), interleaved. The steps on the way, on both sides, are printed
  too (the cabin's bus and log events; the console's marks, from wrapped browser APIs).
- reading -> console: ``Consultation.record_reading`` (stored, published; the teleconsultation
  sends it on the data channel and through the hub) until the console's DOM shows the new count
  (a MutationObserver's time, mapped as above); beside it, the same seen from Python (the page's
  promise returned) and the floor of a no-op ``page.evaluate``.
- CPU: this process (the cabin core, its simulated instruments, Playwright's client) during a
  640x480 call, as a share of one core, beside the same process idle for as long; the hub's
  process and the browser's processes apart.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from bench.bench_call import bare_call
from bench.teleconsultation_rig import (
    DOCTOR,
    RemoteVideo,
    back_to_idle,
    browser_doctor,
    cpu_of,
    descendants,
    hub_process,
    start_cabin,
    to_waiting_room,
)
from devices.cancellation import within
from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.app import KioskCore
from kiosk.events import CallLink, CallLinkChanged, DoctorAssigned
from simulators.doctor import BrowserDoctor

FIRST_FRAME_TARGET_S = 1.0
FIRST_FRAME_TARGET_RATIO = 1.5
READING_P95_TARGET_S = 0.150
CPU_TARGET = 0.80
READING_GAP_S = 0.1  # between two readings: each is timed alone
STEP_TIMEOUT_S = 30.0

# The console's steps of a call, as performance.now() times in window.__benchMarks: its camera
# and microphone asked for and given, the cabin's offer given to the peer connection, the answer
# handed to the hub's websocket. Installed once (it wraps three prototype methods); each call's
# watcher below empties the marks.
_INSTRUMENT_JS = """
() => {
  if (window.__benchMarks) return;
  const marks = window.__benchMarks = {};
  const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (description, ...rest) {
    if (description && description.type === "offer" && marks.offer === undefined) {
      marks.offer = performance.now();
    }
    return setRemote.call(this, description, ...rest);
  };
  const getUserMedia = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = function (...args) {
    if (marks.media_asked === undefined) marks.media_asked = performance.now();
    return getUserMedia.apply(this, args).then((stream) => {
      if (marks.media === undefined) marks.media = performance.now();
      return stream;
    });
  };
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (marks.answer === undefined && typeof data === "string"
        && data.startsWith('{"type":"sdp_answer"')) {
      marks.answer = performance.now();
    }
    return send.call(this, data);
  };
}
"""

# Resolves with the performance.now() of the first non-blank frame of #remote-video, the element
# the console makes when the call is accepted: a requestVideoFrameCallback per presented frame,
# each drawn small to check it is not blank (as simulators.doctor's probe); with the marks of the
# click on an accept button, the call view's video element, and _INSTRUMENT_JS's.
_FIRST_FRAME_JS = """
() => new Promise((resolve, reject) => {
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) {
    reject(new Error("no requestVideoFrameCallback")); return;
  }
  const marks = window.__benchMarks;
  for (const key of Object.keys(marks)) delete marks[key];
  const onClick = (event) => {
    if (event.target.closest && event.target.closest("[id^=accept-]")) {
      marks.click = performance.now();
      document.removeEventListener("click", onClick, true);
    }
  };
  document.addEventListener("click", onClick, true);
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 48;
  const g = canvas.getContext("2d", {willReadFrequently: true});
  const watch = (video) => {
    marks.view = performance.now();
    const check = (now, meta) => {
      const seen = performance.now();
      if (video.videoWidth) {
        g.drawImage(video, 0, 0, 64, 48);
        const d = g.getImageData(0, 0, 64, 48).data;
        let sum = 0, sum2 = 0, n = 0;
        for (let i = 0; i < d.length; i += 4) {
          const y = (d[i] + d[i + 1] + d[i + 2]) / 3; sum += y; sum2 += y * y; n++;
        }
        const mean = sum / n;
        if (sum2 / n - mean * mean >= 20) {
          if (meta.receiveTime !== undefined) marks.received = meta.receiveTime;
          marks.frame = seen;
          resolve({marks: {...marks}, width: video.videoWidth, height: video.videoHeight});
          return;
        }
      }
      video.requestVideoFrameCallback(check);
    };
    video.requestVideoFrameCallback(check);
  };
  const observer = new MutationObserver(() => {
    const video = document.querySelector("#remote-video");
    if (video) { observer.disconnect(); watch(video); }
  });
  observer.observe(document.body, {childList: true, subtree: true});
})
"""

# Notes the performance.now() at which each new count of a vital appears in the console.
_WATCH_VITAL_JS = """
(name) => {
  const seen = new Map(), waiting = new Map();
  const note = () => {
    const element = document.querySelector(`[data-vital="${name}"]`);
    const count = element && element.dataset.count ? Number(element.dataset.count) : 0;
    if (count && !seen.has(count)) {
      seen.set(count, performance.now());
      const resolve = waiting.get(count);
      if (resolve) { waiting.delete(count); resolve(seen.get(count)); }
    }
  };
  new MutationObserver(note).observe(document.body,
    {childList: true, subtree: true, attributes: true, attributeFilter: ["data-count"]});
  window.__benchVitalSeen = (count) => seen.has(count)
    ? Promise.resolve(seen.get(count))
    : new Promise((resolve) => waiting.set(count, resolve));
}
"""
_VITAL_SEEN_JS = "(count) => window.__benchVitalSeen(count)"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:7.1f} ms"


def line(label: str, values: list[float], tail: str = "") -> str:
    return (
        f"  {label:<44} median {ms(statistics.median(values))}   p95 {ms(p95(values))}"
        f"{'   ' + tail if tail else ''}"
    )


# --- the page's clock ----------------------------------------------------------------------------


async def page_clock_offset_s(page: Page, rounds: int = 15) -> float:
    """``performance.now()`` of the page (in s) minus ``time.monotonic()`` here, from the quickest
    of a few round trips (both clocks are CLOCK_MONOTONIC-based: only the origin differs)."""
    best: tuple[float, float] | None = None
    for _ in range(rounds):
        before = time.monotonic()
        page_ms: float = await page.evaluate("performance.now()")
        after = time.monotonic()
        if best is None or after - before < best[0]:
            best = (after - before, page_ms / 1000 - (before + after) / 2)
    assert best is not None
    return best[1]


async def evaluate_round_trips(page: Page, count: int) -> list[float]:
    trips = []
    for _ in range(count):
        before = time.monotonic()
        await page.evaluate("0")
        trips.append(time.monotonic() - before)
    return trips


# --- the cabin's steps ---------------------------------------------------------------------------


class Steps(logging.Handler):
    """The monotonic time of the cabin's call events (bus events and the call client's stable
    log events), the first of each since ``reset``."""

    LOG_EVENTS = ("call.offer_sent", "call.answered")

    def __init__(self, core: KioskCore) -> None:
        super().__init__(logging.INFO)
        self.at: dict[str, float] = {}
        core.bus.subscribe(DoctorAssigned, lambda _event: self._note("accepted"))
        core.bus.subscribe(CallLinkChanged, self._link)
        self._logger = logging.getLogger("kiosk.call.client")
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self)

    def detach(self) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)

    def reset(self) -> None:
        self.at.clear()

    def _note(self, name: str) -> None:
        self.at.setdefault(name, time.monotonic())

    def _link(self, event: CallLinkChanged) -> None:
        if event.link is CallLink.CONNECTED:
            self._note("connected")

    def emit(self, record: logging.LogRecord) -> None:
        name = str(record.msg).split(" ", 1)[0]
        if name in self.LOG_EVENTS:
            self._note(name)


# --- one call ------------------------------------------------------------------------------------


@dataclass
class CallTimes:
    """Seconds from just before the doctor's click."""

    console_frame: float
    cabin_frame: float
    steps: dict[str, float] = field(default_factory=dict)


STEP_NAMES = {
    "console.click": "console: the click event (Playwright's delay)",
    "accepted": "cabin: CallAccepted (the doctor shown)",
    "console.view": "console: the call view built",
    "call.offer_sent": "cabin: offer sent to the hub (gathered)",
    "console.media_asked": "console: camera and microphone asked for",
    "console.media": "console: camera and microphone given",
    "console.offer": "console: offer given to its peer connection",
    "console.answer": "console: answer sent to the hub (gathered)",
    "call.answered": "cabin: answer applied",
    "connected": "cabin: connected (the data channel open)",
    "console.received": "console: first frame's packets in",
    "console.frame": "console: first frame presented",
    "cabin.frame": "cabin: first frame shown",
}


async def until(
    predicate: Callable[[], bool], what: str, timeout_s: float = STEP_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def accept_call(
    core: KioskCore, doctor: BrowserDoctor, video: RemoteVideo, steps: Steps
) -> CallTimes:
    """A new patient queued and taken by the doctor, until both sides show a frame."""
    consultation_id = await to_waiting_room(core)
    await doctor.wait_for_patient(consultation_id)
    offset = await page_clock_offset_s(doctor.page)
    video.new_call()
    steps.reset()
    first_frame = asyncio.ensure_future(doctor.page.evaluate(_FIRST_FRAME_JS))
    await doctor.page.evaluate("0")  # the watcher is in place before the click
    clicked = await doctor.accept(consultation_id)
    seen: dict[str, Any] = await within(first_frame, STEP_TIMEOUT_S)
    assert (seen["width"], seen["height"]) == (640, 480), seen
    await until(lambda: video.first_shown_at is not None, "the doctor's video in the cabin")
    await until(lambda: "connected" in steps.at, "the call connected")
    assert video.first_shown_at is not None
    times = {name: at - clicked for name, at in steps.at.items()}
    for name, page_ms in seen["marks"].items():
        times[f"console.{name}"] = page_ms / 1000 - offset - clicked
    times["cabin.frame"] = video.first_shown_at - clicked
    return CallTimes(times["console.frame"], times["cabin.frame"], times)


async def hang_up(core: KioskCore, doctor: BrowserDoctor) -> None:
    await doctor.hang_up()
    await back_to_idle(core)


# --- readings ------------------------------------------------------------------------------------


@dataclass
class ReadingTimes:
    net: list[float] = field(default_factory=list)  # record_reading -> DOM (page clock)
    raw: list[float] = field(default_factory=list)  # record_reading -> evaluate returned
    stored: list[float] = field(default_factory=list)  # record_reading itself
    evaluate_floor: list[float] = field(default_factory=list)


def temperature(index: int) -> Reading:
    return Reading(
        device_id="thermo-1",
        kind=ReadingKind.TEMPERATURE,
        values=(Value(Quantity.TEMPERATURE_C, 36.0 + (index % 15) / 10),),
        measured_at=datetime.now(UTC),
    )


async def readings_to_console(core: KioskCore, page: Page, count: int) -> ReadingTimes:
    times = ReadingTimes(evaluate_floor=await evaluate_round_trips(page, 50))
    await page.evaluate(_WATCH_VITAL_JS, "temperature_c")
    offset = await page_clock_offset_s(page)
    for index in range(1, count + 1):
        start = time.monotonic()
        await core.consultation.record_reading(temperature(index))
        stored = time.monotonic()
        seen_ms: float = await within(page.evaluate(_VITAL_SEEN_JS, index), STEP_TIMEOUT_S)
        returned = time.monotonic()
        times.net.append(seen_ms / 1000 - offset - start)
        times.raw.append(returned - start)
        times.stored.append(stored - start)
        await asyncio.sleep(READING_GAP_S)
    return times


# --- CPU -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuShare:
    """Shares of one core over a wall-clock window."""

    cabin: float
    hub: float
    browser: float
    frames_shown_per_s: float


async def cpu_share(seconds: float, hub_pid: int, video: RemoteVideo) -> CpuShare:
    browser = [pid for pid in descendants(os.getpid()) if pid != hub_pid]
    cabin, hub, others = time.process_time(), cpu_of([hub_pid]), cpu_of(browser)
    frames, wall = video.frames, time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - wall
    browser_now = cpu_of(browser)
    return CpuShare(
        cabin=(time.process_time() - cabin) / elapsed,
        hub=(cpu_of([hub_pid])[hub_pid] - hub[hub_pid]) / elapsed,
        browser=sum(browser_now[pid] - others[pid] for pid in browser_now if pid in others)
        / elapsed,
        frames_shown_per_s=(video.frames - frames) / elapsed,
    )


# --- the whole run -------------------------------------------------------------------------------


@dataclass
class Results:
    runs: int
    warm_up: CallTimes | None = None
    calls: list[CallTimes] = field(default_factory=list)
    floor_frame: list[float] = field(default_factory=list)
    floor_connect: list[float] = field(default_factory=list)
    readings: ReadingTimes | None = None
    in_call: CpuShare | None = None
    idle: CpuShare | None = None
    cpu_seconds: float = 0.0


async def main_async(quick: bool) -> Results:
    results = Results(runs=3 if quick else 7)
    reading_count = 10 if quick else 30
    seconds = results.cpu_seconds = 5.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-teleconsultation-") as work:
        folder = Path(work)
        (folder / "hub").mkdir()
        async with hub_process(folder / "hub") as hub:
            core = await start_cabin(folder / "cabin", hub)
            assert core.teleconsultation is not None
            video = RemoteVideo()
            core.teleconsultation.video.remote = video
            steps = Steps(core)
            try:
                async with browser_doctor(hub.url, folder / "chromium") as doctor:
                    await doctor.login(DOCTOR.username, DOCTOR.password)
                    await doctor.page.evaluate(_INSTRUMENT_JS)
                    results.warm_up = await accept_call(core, doctor, video, steps)
                    await hang_up(core, doctor)
                    for index in range(results.runs):
                        connected, frame = await bare_call()  # interleaved, cabin idle
                        results.floor_connect.append(connected)
                        results.floor_frame.append(frame)
                        results.calls.append(await accept_call(core, doctor, video, steps))
                        if index == results.runs - 1:
                            results.readings = await readings_to_console(
                                core, doctor.page, reading_count
                            )
                            await asyncio.sleep(1.0)
                            results.in_call = await cpu_share(seconds, hub.pid, video)
                        await hang_up(core, doctor)
                    await asyncio.sleep(1.0)
                    results.idle = await cpu_share(seconds, hub.pid, video)
            finally:
                steps.detach()
                await core.aclose()
    return results


def report(r: Results) -> None:
    console = [c.console_frame for c in r.calls]
    cabin = [c.cabin_frame for c in r.calls]
    floor = statistics.median(r.floor_frame)
    print(
        f"accept -> first frame: {r.runs} calls (a new patient each), p95 of {r.runs} is their"
        " max; hub in its own process, doctor in headless Chromium"
    )
    print(line("floor  bare aiortc offer -> data channel open", r.floor_connect))
    print(line("floor  bare aiortc offer -> first frame", r.floor_frame))
    for label, values in (
        ("console  click -> cabin's frame presented", console),
        ("cabin    click -> doctor's frame shown", cabin),
    ):
        median = statistics.median(values)
        print(
            line(
                label,
                values,
                f"x{median / floor:.2f} floor   target median <= {FIRST_FRAME_TARGET_S:.1f} s:"
                f" {verdict(median <= FIRST_FRAME_TARGET_S)}, <= x{FIRST_FRAME_TARGET_RATIO}"
                f" floor: {verdict(median <= FIRST_FRAME_TARGET_RATIO * floor)}",
            )
        )
    clicks = [c.steps["console.click"] for c in r.calls if "console.click" in c.steps]
    if len(clicks) == len(r.calls):
        for label, values in (
            ("console  page's click event -> frame", console),
            ("cabin    page's click event -> frame", cabin),
        ):
            since = [value - click for value, click in zip(values, clicks, strict=True)]
            median = statistics.median(since)
            print(line(label, since, f"x{median / floor:.2f} floor   (without Playwright's click)"))
    print("  the way there, medians from just before the click (+ since the line above):")
    medians = {
        name: statistics.median(values)
        for name in STEP_NAMES
        if (values := [c.steps[name] for c in r.calls if name in c.steps])
    }
    previous = 0.0
    for name, median in sorted(medians.items(), key=lambda item: item[1]):
        print(f"    {STEP_NAMES[name]:<46} {ms(median)}   (+{(median - previous) * 1e3:.1f} ms)")
        previous = median
    if r.warm_up is not None:
        print(
            f"  warm-up (first call after the browser's start, not counted): console"
            f" {ms(r.warm_up.console_frame)}, cabin {ms(r.warm_up.cabin_frame)}"
        )
    if r.readings is not None:
        t = r.readings
        print(f"reading -> console: {len(t.net)} readings, one at a time, during a call")
        print(line("floor  no-op page.evaluate round trip", t.evaluate_floor))
        print(line("cabin  record_reading (store, publish)", t.stored))
        print(
            line(
                "net    record_reading -> console DOM",
                t.net,
                f"target p95 <= {READING_P95_TARGET_S * 1e3:.0f} ms:"
                f" {verdict(p95(t.net) <= READING_P95_TARGET_S)}",
            )
        )
        print(line("raw    record_reading -> evaluate returned", t.raw))
    if r.in_call is not None and r.idle is not None:
        cores = os.cpu_count() or 1
        print(f"CPU over {r.cpu_seconds:.0f} s, % of one core ({cores} cores: all is {cores}00 %):")
        print(f"  floor  this process, idle (cabin idle, hub online)   {r.idle.cabin * 100:5.1f} %")
        print(
            f"  cabin  this process, in a 640x480 call             {r.in_call.cabin * 100:5.1f} %"
            f"   +{(r.in_call.cabin - r.idle.cabin) * 100:.1f} over idle"
            f"   target <= {CPU_TARGET * 100:.0f} %: {verdict(r.in_call.cabin <= CPU_TARGET)}"
        )
        print(
            f"  apart: hub process {r.in_call.hub * 100:.2f} % (idle {r.idle.hub * 100:.2f} %),"
            f" browser and Playwright's driver {r.in_call.browser * 100:.1f} %"
            f" (idle {r.idle.browser * 100:.1f} %);"
            f" doctor's frames shown in the cabin {r.in_call.frames_shown_per_s:.1f}/s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_teleconsultation")
    parser.add_argument("--quick", action="store_true", help="fewer calls: a smoke run")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report(asyncio.run(main_async(args.quick)))
    print(f"(bench took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
