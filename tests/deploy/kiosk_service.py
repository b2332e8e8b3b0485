"""A kiosk service under cage in the booted container: start it, kill it, freeze it, photograph it.

Shared by the acceptance test (``test_container_install.py``) and the benchmark
(``bench/bench_cabin_service.py``). Times come from systemd's own timestamps
(``InactiveExitTimestampMonotonic``: the start begins; ``ActiveEnterTimestampMonotonic``: READY=1
arrived) and from ``CLOCK_MONOTONIC`` read inside the container right after a signal is sent: the
container has no time namespace, so all of them are one clock.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

from PIL import Image

from tests.deploy.container import HEADLESS_ENVIRONMENT, SOURCE_IN_CONTAINER, Container

FLOOR_UNIT = "cage-floor.service"
FLOOR_USER = "cabin-floor"
FLOOR_RUNTIME = "/run/cage-floor"
FLOOR_HOME = "/var/lib/cage-floor"
FLOOR_WINDOW = f"{SOURCE_IN_CONTAINER}/bench/cage_floor_window.py"


@dataclass(frozen=True, slots=True)
class UnitTimes:
    state: str
    main_pid: int
    start_began_us: int
    ready_us: int
    restarts: int


def unit_times(box: Container, unit: str) -> UnitTimes:
    names = (
        "ActiveState",
        "MainPID",
        "InactiveExitTimestampMonotonic",
        "ActiveEnterTimestampMonotonic",
        "NRestarts",
    )
    values = dict(
        line.split("=", 1)
        for line in box.systemctl(
            "show", *(f"--property={name}" for name in names), unit
        ).splitlines()
        if "=" in line
    )
    return UnitTimes(
        state=values.get("ActiveState", ""),
        main_pid=int(values.get("MainPID") or 0),
        start_began_us=int(values.get("InactiveExitTimestampMonotonic") or 0),
        ready_us=int(values.get("ActiveEnterTimestampMonotonic") or 0),
        restarts=int(values.get("NRestarts") or 0),
    )


def start_to_ready_s(box: Container, unit: str, timeout_s: float = 90.0) -> float:
    """Stop the unit, start it, and return start -> READY=1 on systemd's clock."""
    box.systemctl("stop", unit, timeout_s=timeout_s)
    box.systemctl("start", unit, timeout_s=timeout_s)
    times = unit_times(box, unit)
    if times.state != "active":
        raise AssertionError(f"{unit} is {times.state} after start:\n{box.journal(unit, 60)}")
    return (times.ready_us - times.start_began_us) / 1e6


def signal_main(box: Container, unit: str, signal_name: str) -> tuple[int, float]:
    """Send a signal to the unit's main process (the kiosk, after its MAINPID=); (pid, when)."""
    pid = unit_times(box, unit).main_pid
    if pid <= 0:
        raise AssertionError(f"{unit} has no main process")
    sent = box.run(
        [
            "python3",
            "-c",
            "import os, signal, sys, time; "
            "os.kill(int(sys.argv[1]), getattr(signal, sys.argv[2])); print(time.monotonic())",
            str(pid),
            signal_name,
        ]
    ).stdout
    return pid, float(sent)


def back_after_s(
    box: Container, unit: str, since_s: float, old_pid: int, timeout_s: float = 60.0
) -> float:
    """Wait until the unit is active again with a new main process; seconds since ``since_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        times = unit_times(box, unit)
        if (
            times.state == "active"
            and times.ready_us > since_s * 1e6
            and times.main_pid not in (0, old_pid)
        ):
            return times.ready_us / 1e6 - since_s
        time.sleep(0.05)
    raise AssertionError(
        f"{unit} not back {timeout_s:.0f} s after the signal: {unit_times(box, unit)}\n"
        f"{box.journal(unit, 80)}"
    )


def screenshot(box: Container, user: str, runtime_dir: str, display: str = "wayland-0") -> bytes:
    """grim, as the compositor's user, inside the container: the PNG's bytes."""
    inside = f"{runtime_dir}/grim-shot.png"
    box.run(
        ["grim", inside],
        user=user,
        env={"XDG_RUNTIME_DIR": runtime_dir, "WAYLAND_DISPLAY": display},
    )
    png = box.path(inside).read_bytes()
    box.run(["rm", "-f", inside])
    return png


def distinct_colours(png: bytes) -> int:
    """How many colours the screenshot has (1: a blank output; a painted screen has hundreds)."""
    with Image.open(io.BytesIO(png)) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return len(colours) if colours is not None else 1 << 16


def mean_brightness(png: bytes) -> float:
    with Image.open(io.BytesIO(png)) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
    return sum(level * count for level, count in enumerate(histogram)) / max(1, sum(histogram))


def install_floor(box: Container, python: str) -> None:
    """A unit like cabin.service: cage headless running the bare window, Type=notify, watchdog."""
    box.run(["sh", "-c", f"id -u {FLOOR_USER} >/dev/null 2>&1 || useradd -r -M {FLOOR_USER}"])
    environment = {
        **HEADLESS_ENVIRONMENT,
        "XDG_RUNTIME_DIR": FLOOR_RUNTIME,
        "HOME": FLOOR_HOME,
        "QT_QPA_PLATFORM": "wayland",
        "XDG_SESSION_TYPE": "wayland",
    }
    unit = "\n".join(
        [
            "[Unit]",
            "Description=floor of bench_cabin_service: a bare PySide6 window in cage",
            "StartLimitIntervalSec=0",
            "[Service]",
            "Type=notify",
            "NotifyAccess=all",
            "WatchdogSec=15s",
            "Restart=always",
            "RestartSec=1s",
            "KillMode=mixed",
            "TimeoutStopSec=10s",
            f"User={FLOOR_USER}",
            f"RuntimeDirectory={FLOOR_RUNTIME.removeprefix('/run/')}",
            "RuntimeDirectoryMode=0700",
            f"StateDirectory={FLOOR_HOME.removeprefix('/var/lib/')}",
            *(f"Environment={key}={value}" for key, value in environment.items()),
            f"ExecStart=/usr/bin/cage -d -r -r -- {python} {FLOOR_WINDOW}",
            "",
        ]
    )
    box.path(f"/etc/systemd/system/{FLOOR_UNIT}").write_text(unit)
    box.systemctl("daemon-reload")
