"""Benchmark of a call on a rural link: frames a second each way when loopback is shaped.

Run ``python -m bench.bench_slow_link`` (``--quick`` for a smoke run), as root: it shapes the
loopback of a network namespace of its own (``unshare --net``, only ``lo`` in it, brought up),
so it starts itself again inside one and nothing else on the machine is slowed. Prints medians
beside a floor measured in the same run, and the ratios; no pass/fail, but each line says
whether the level ``tests/e2e/test_slow_link.py`` once asserted is met (that test now checks
that the frames keep coming, not how many a second).

The whole teleconsultation of the end-to-end tests (``tests/e2e/rig.py``: the hub and the cabin
core in this process, the doctor in headless Chromium). Calls one after the other, a new patient
each, alternately on the bare loopback (the floor) and on loopback shaped to 1 Mbit/s in all
(``tc`` token bucket: both directions together, about 500 kbit/s each way, an Ethernet MTU).
In each call, after the first frame and a few seconds for the congestion control to settle,
once a second: the frames the console's video element decoded (its playback quality), the
frames handed to the cabin's screen, and the kbit/s of the cabin's video the console rates the
link with. Also the time from the doctor's click to the console's first frame.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.teleconsultation_rig import back_to_idle
from kiosk.events import CallLink
from tests.e2e.rig import Consultation, shape_loopback, teleconsultation, until

RATE = "1000kbit"
CONSOLE_FPS_LEVEL = 8.0  # what the test once asserted, on the shaped link
CABIN_FPS_LEVEL = 5.0
KBPS_LEVEL = 450  # the cabin's video as the console receives it: under the link's ~500
IN_NETNS = "CABIN_BENCH_NETNS"


@dataclass
class Samples:
    console_fps: list[float] = field(default_factory=list)
    cabin_fps: list[float] = field(default_factory=list)
    kbps: list[float] = field(default_factory=list)
    first_frame_s: list[float] = field(default_factory=list)


async def console_frames(c: Consultation) -> int:
    frames = (await c.doctor.wait_for_video()).frames
    assert frames is not None, "the console's video gives no playback quality"
    return frames


async def one_call(c: Consultation, rate: str | None, settle_s: float, window_s: int) -> Samples:
    cabin, doctor = c.cabin, c.doctor
    samples = Samples()
    shape_loopback(rate)
    try:
        consultation_id = await cabin.to_waiting_room()
        await doctor.wait_for_patient(consultation_id)
        clicked = await doctor.accept(consultation_id)
        await doctor.wait_for_video(timeout_s=60)
        samples.first_frame_s.append(time.monotonic() - clicked)
        await until(lambda: cabin.link is CallLink.CONNECTED, "the call connected")
        await asyncio.sleep(settle_s)  # congestion control settles
        before, shown, at = await console_frames(c), cabin.frames_shown, time.monotonic()
        for _ in range(window_s):
            await asyncio.sleep(1.0)
            now_frames, now_shown, now = (
                await console_frames(c),
                cabin.frames_shown,
                time.monotonic(),
            )
            seconds = now - at
            samples.console_fps.append((now_frames - before) / seconds)
            samples.cabin_fps.append((now_shown - shown) / seconds)
            kbps = await doctor.page.get_attribute("#link-quality", "data-kbps")
            if kbps:
                samples.kbps.append(float(kbps))
            before, shown, at = now_frames, now_shown, now
        await doctor.hang_up()
        await back_to_idle(cabin.core, timeout_s=60)
    finally:
        shape_loopback(None)
    return samples


def merge(into: Samples, more: Samples) -> None:
    into.console_fps += more.console_fps
    into.cabin_fps += more.cabin_fps
    into.kbps += more.kbps
    into.first_frame_s += more.first_frame_s


def row(label: str, values: list[float], unit: str, floor: list[float] | None, level: str) -> str:
    median = statistics.median(values) if values else float("nan")
    ratio = f"   x{median / statistics.median(floor):.2f} floor" if floor else " " * 15
    return f"  {label:<40} median {median:7.1f} {unit:<9}{ratio}   {level}"


def level(values: list[float], at_least: float | None = None, at_most: float | None = None) -> str:
    median = statistics.median(values) if values else float("nan")
    if at_least is not None:
        return f"level >= {at_least:g}: {'met' if median >= at_least else 'NOT met'}"
    assert at_most is not None
    return f"level <= {at_most:g}: {'met' if median <= at_most else 'NOT met'}"


async def main_async(quick: bool) -> None:
    calls, settle_s, window_s = (1, 3.0, 5) if quick else (2, 5.0, 10)
    floor, shaped = Samples(), Samples()
    with tempfile.TemporaryDirectory(prefix="bench-slow-link-") as work:
        async with teleconsultation(Path(work)) as c:
            c.cabin.measure_when_asked()
            for _ in range(calls):  # interleaved
                merge(floor, await one_call(c, None, settle_s, window_s))
                merge(shaped, await one_call(c, RATE, settle_s, window_s))
    print(
        f"call on a shaped loopback (tc tbf {RATE}, both directions together: ~500 kbit/s each"
        f" way), {calls} call(s) each, 1 s samples over {window_s} s after {settle_s:g} s of"
        " settling; the doctor in headless Chromium"
    )
    print(row("floor  bare lo   console: cabin's video", floor.console_fps, "frames/s", None, ""))
    print(
        row(
            f"shaped {RATE} console: cabin's video",
            shaped.console_fps,
            "frames/s",
            floor.console_fps,
            level(shaped.console_fps, at_least=CONSOLE_FPS_LEVEL),
        )
    )
    print(row("floor  bare lo   cabin: doctor's video", floor.cabin_fps, "frames/s", None, ""))
    print(
        row(
            f"shaped {RATE} cabin: doctor's video",
            shaped.cabin_fps,
            "frames/s",
            floor.cabin_fps,
            level(shaped.cabin_fps, at_least=CABIN_FPS_LEVEL),
        )
    )
    print(row("floor  bare lo   console rates kbit/s", floor.kbps, "kbit/s", None, ""))
    print(
        row(
            f"shaped {RATE} console rates kbit/s",
            shaped.kbps,
            "kbit/s",
            floor.kbps,
            level(shaped.kbps, at_most=KBPS_LEVEL),
        )
    )
    first_floor = [s * 1000 for s in floor.first_frame_s]
    first_shaped = [s * 1000 for s in shaped.first_frame_s]
    print(row("floor  bare lo   click -> console frame", first_floor, "ms", None, ""))
    print(row(f"shaped {RATE} click -> console frame", first_shaped, "ms", first_floor, ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_slow_link", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one call each: a smoke run")
    args = parser.parse_args(argv)
    if os.environ.get(IN_NETNS) != "1":
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("tc") is None:
            print("bench_slow_link: skipped (needs root, unshare and tc to shape a loopback)")
            return 0
        started = time.monotonic()
        again = [
            sys.executable,
            "-m",
            "bench.bench_slow_link",
            *(["--quick"] if args.quick else []),
        ]
        inside = 'ip link set lo up && exec "$@"'
        result = subprocess.run(
            ["unshare", "--net", "sh", "-c", inside, "sh", *again],
            env={**os.environ, IN_NETNS: "1"},
            check=False,
        )
        print(f"(bench took {time.monotonic() - started:.1f} s)")
        return result.returncode
    logging.getLogger("kiosk").setLevel(logging.ERROR)  # the calls' own warnings
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
