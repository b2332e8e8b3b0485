"""The cabin as a systemd service under cage (headless), in a booted Debian 12 container.

Run ``python -m bench.bench_cabin_service`` (``--quick`` for a smoke run) as root after
``python -m tests.deploy.container prepare``; it says why not when it cannot. It boots the
container of the acceptance test (``tests/deploy/container.py``), installs the cabin with
``deploy/install-cabin --headless --offline`` and measures, beside a floor measured in the same
container, the same minutes (a bare PySide6 window under cage, in a unit with cabin.service's
start, notify, watchdog and restart settings: ``bench/cage_floor_window.py``):

- **start → welcome screen**: ``systemctl start`` to READY=1, on systemd's own timestamps
  (``InactiveExitTimestampMonotonic`` → ``ActiveEnterTimestampMonotonic``). The cabin sends
  READY=1 once its idle (welcome) screen is painted; a ``grim`` screenshot after each start
  confirms a painted screen. Target: ≤ 3 s.
- **restart after kill -9**: SIGKILL to the service's main process (the kiosk) → the new
  instance's READY=1 (``RestartSec=1s`` included).
- **restart after a watchdog trip**: SIGSTOP → systemd's watchdog (``WatchdogSec=15s``) kills it
  → the new instance's READY=1. Mostly WatchdogSec itself; fewer runs (each takes ~17 s).

Prints medians and the ratio to the floor; no pass/fail (CONVENTIONS.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from tests.deploy import cabin_install, kiosk_service
from tests.deploy.cabin_install import CABIN_USER, RUNTIME_DIR, UNIT
from tests.deploy.container import Container, why_not
from tests.deploy.kiosk_service import FLOOR_RUNTIME, FLOOR_UNIT, FLOOR_USER

CABIN_PYTHON = "/opt/cabin/.venv/bin/python"
TARGET_START_S = 3.0


def painted(box: Container, user: str, runtime_dir: str) -> None:
    png = kiosk_service.screenshot(box, user, runtime_dir)
    colours = kiosk_service.distinct_colours(png)
    if colours < 50:
        raise AssertionError(f"{user}'s screen is not painted ({colours} colours)")


# The cabin's log lines that mark its start, in order (kiosk/app.py, ui/session_runner.py,
# kiosk/systemd_notify.py); timed from the journal's CLOCK_MONOTONIC stamps.
START_MARKS = (
    ("secret.found what=database key", "python, imports -> open_core"),
    ("core.ready", "store opened, core ready"),
    ("ui.window_shown", "window shown"),
    ("systemd.ready", "painted -> READY=1"),
)


def start_marks_s(box: Container, began_us: int) -> list[float | None]:
    """Seconds from the start's beginning to each of START_MARKS in the cabin's journal."""
    journal = box.run(
        ["journalctl", "--no-pager", "-o", "short-monotonic", "-u", UNIT, "-n", "400"]
    ).stdout
    marks: list[float | None] = []
    for needle, _ in START_MARKS:
        found = None
        for text in journal.splitlines():
            if needle in text and text.startswith("["):
                at = float(text[1 : text.index("]")])
                if at * 1e6 >= began_us:
                    found = at - began_us / 1e6
                    break
        marks.append(found)
    return marks


def line(label: str, values: list[float], floor: list[float] | None, beside: str = "") -> str:
    median = statistics.median(values)
    ratio = f"   x{median / statistics.median(floor):.1f} floor" if floor else ""
    spread = f"(min {min(values):.2f}, max {max(values):.2f})"
    return f"  {label:<42} {median:7.2f} s  {spread:<22}{ratio}{beside}"


def measure(runs: int, one: Callable[[str, str, str], float]) -> tuple[list[float], list[float]]:
    """``runs`` of ``one(unit, user, runtime)``, the floor and the cabin interleaved."""
    floor: list[float] = []
    cabin: list[float] = []
    for _ in range(runs):
        floor.append(one(FLOOR_UNIT, FLOOR_USER, FLOOR_RUNTIME))
        cabin.append(one(UNIT, CABIN_USER, RUNTIME_DIR))
    return floor, cabin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_cabin_service", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke run")
    args = parser.parse_args(argv)
    reason = why_not()
    if reason is not None:
        print(f"bench_cabin_service: skipped ({reason})")
        return 0
    start_runs, kill_runs, watchdog_runs = (2, 2, 1) if args.quick else (7, 5, 3)
    began = time.monotonic()
    with Container.boot() as box:
        booted_s = time.monotonic() - began
        cabin_install.install(box)
        installed_s = time.monotonic() - began - booted_s
        kiosk_service.install_floor(box, CABIN_PYTHON)
        box.systemctl("start", FLOOR_UNIT, timeout_s=90)  # warm: the first start fills caches
        box.systemctl("stop", UNIT, FLOOR_UNIT, timeout_s=90)

        breakdown: list[list[float | None]] = []

        def start(unit: str, user: str, runtime: str) -> float:
            seconds = kiosk_service.start_to_ready_s(box, unit)
            if unit == UNIT:
                began_us = kiosk_service.unit_times(box, unit).start_began_us
                breakdown.append(start_marks_s(box, began_us))
            painted(box, user, runtime)  # READY=1 meant a painted screen
            box.systemctl("stop", unit, timeout_s=60)  # one kiosk on the output at a time
            return seconds

        def after(signal_name: str, timeout_s: float) -> Callable[[str, str, str], float]:
            def one(unit: str, user: str, runtime: str) -> float:
                box.systemctl("start", unit, timeout_s=90)
                pid, sent_at = kiosk_service.signal_main(box, unit, signal_name)
                seconds = kiosk_service.back_after_s(box, unit, sent_at, pid, timeout_s=timeout_s)
                painted(box, user, runtime)
                box.systemctl("stop", unit, timeout_s=60)
                return seconds

            return one

        start_floor, start_cabin = measure(start_runs, start)
        kill_floor, kill_cabin = measure(kill_runs, after("SIGKILL", 30))
        watchdog_s = int(box.systemctl("show", "-P", "WatchdogUSec", UNIT).removesuffix("s"))
        dog_floor, dog_cabin = measure(watchdog_runs, after("SIGSTOP", watchdog_s + 60))
    print(
        f"cabin service under cage (headless) in a booted Debian 12 container: container booted "
        f"in {booted_s:.1f} s, cabin installed and started in {installed_s:.1f} s"
    )
    print(f" start -> welcome screen (READY=1, then grim): {start_runs} runs each, medians")
    print(line("floor  cage + bare PySide6 window", start_floor, None))
    print(
        line(
            "cabin  cage + the cabin",
            start_cabin,
            start_floor,
            f"   target <= {TARGET_START_S:.0f} s",
        )
    )
    print("  the cabin's start, from its journal (medians, seconds since the start began):")
    for index, (_, label) in enumerate(START_MARKS):
        values = [mark for marks in breakdown if (mark := marks[index]) is not None]
        if values:
            print(f"    {label:<40} {statistics.median(values):7.2f} s")
    print(f" restart after kill -9 (RestartSec=1s included): {kill_runs} runs each, medians")
    print(line("floor  bare window", kill_floor, None))
    print(line("cabin", kill_cabin, kill_floor, "   issue's bound: 10 s"))
    print(
        f" restart after a watchdog trip (SIGSTOP, WatchdogSec={watchdog_s}s):"
        f" {watchdog_runs} run(s) each"
    )
    print(line("floor  bare window", dog_floor, None))
    print(
        line(
            "cabin", dog_cabin, dog_floor, f"   bound: WatchdogSec + start = {watchdog_s} s + ~2 s"
        )
    )
    print(f"(bench took {time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
