"""deploy/install-cabin in a Debian 12 that boots systemd (systemd-nspawn), as on a fresh cabin PC.

One container for the module (``tests/deploy/container.py``): the installer runs once with
``--start``, then each test checks one promise of issue 18, in order: the units, the welcome screen
on cage's headless backend (a ``grim`` screenshot), the watchdog restarting a frozen cabin, a
``kill -9`` bringing it back with the session wiped, a second install that changes nothing, and
the uninstaller. Artifacts in ``test-out/container/``: the screenshots, ``systemd-analyze
verify`` and ``security`` outputs, the installer's output and the cabin's journal.

Needs root, systemd-nspawn and the root prepared by ``python -m tests.deploy.container prepare``
(``./cabin test`` does it before the tests enter their network namespace): skipped with the
reason elsewhere, a failure in CI (``CI`` set).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.deploy import cabin_install, kiosk_service
from tests.deploy.cabin_install import CABIN_USER, RUNTIME_DIR, UNIT
from tests.deploy.container import REPO, Container, why_not

ARTIFACTS = REPO / "test-out" / "container"
RESTART_MARGIN_S = 8.0  # RestartSec (1 s) and a start to the idle screen on a loaded machine
KILL_RESTART_LIMIT_S = 10.0  # the bound

pytestmark = pytest.mark.timeout(600)


def _reason_or_fail() -> None:
    reason = why_not()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the container acceptance must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def box() -> Iterator[Container]:
    _reason_or_fail()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with Container.boot() as container:
        booted = time.monotonic()
        try:
            result = cabin_install.install(container)
            (ARTIFACTS / "install-1.txt").write_text(result.stdout + result.stderr)
            print(
                f"container: booted in {booted - started:.1f} s, installed and started in "
                f"{time.monotonic() - booted:.1f} s"
            )
            yield container
        finally:
            (ARTIFACTS / "cabin-journal.txt").write_text(container.journal(UNIT, 400))


PAINT_PATIENCE_S = 15.0
"""READY=1 comes after the first paint, and cage then gives the window the whole output: a
screenshot in between shows the window at its first size on black (seen once under load, at
853x480). The screen is taken again until it shows the whole idle page, or this runs out."""


def welcome_png(box: Container, name: str) -> bytes:
    """A grim screenshot as the cabin's user, kept as an artifact; checked to be painted."""
    deadline = time.monotonic() + PAINT_PATIENCE_S
    while True:
        png = kiosk_service.screenshot(box, CABIN_USER, RUNTIME_DIR)
        (ARTIFACTS / name).write_bytes(png)
        colours = kiosk_service.distinct_colours(png)
        brightness = kiosk_service.mean_brightness(png)
        # The idle screen: a light background, dark and coloured text and buttons (not a blank,
        # black or one-colour output, nor the window's first size on a black output).
        if (colours > 50 and brightness > 100) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert colours > 50, f"{name}: {colours} colours: not a painted screen"
    assert brightness > 100, f"{name}: mean brightness {brightness:.0f}: a dark screen"
    return png


def test_units_active_and_verified(box: Container) -> None:
    assert box.systemctl("is-active", UNIT, check=False) == "active", box.journal(UNIT, 80)
    assert box.systemctl("is-enabled", UNIT, check=False) == "enabled"
    for masked in ("getty@tty1.service", "ctrl-alt-del.target"):
        assert box.systemctl("is-enabled", masked, check=False) == "masked"
    assert box.systemctl("is-active", "cups.service", check=False) == "active"
    assert box.systemctl("get-default") == "graphical.target"
    verify = box.run(
        ["systemd-analyze", "verify", f"/etc/systemd/system/{UNIT}"], check=False, timeout_s=120
    )
    (ARTIFACTS / "systemd-analyze-verify.txt").write_text(verify.stdout + verify.stderr)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    cabin_lines = [line for line in verify.stderr.splitlines() if "cabin" in line]
    assert not cabin_lines, "\n".join(cabin_lines)
    security = box.run(["systemd-analyze", "security", "--no-pager", UNIT], check=False)
    (ARTIFACTS / "systemd-analyze-security.txt").write_text(security.stdout + security.stderr)
    print(security.stdout.splitlines()[-1] if security.stdout else security.stderr)
    assert f"Overall exposure level for {UNIT}" in security.stdout


def test_the_configuration_is_a_real_cabins(box: Container) -> None:
    """No demo setting: the product's own check passes (the cabin would refuse to start)."""
    check = box.run(
        ["/opt/cabin/.venv/bin/python", "-m", "kiosk", "check-config", "/etc/cabin/cabin.toml"],
        check=False,
        env={"PYTHONPATH": "/opt/cabin"},
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "configuration OK" in check.stdout


def test_welcome_screen_on_cage_headless(box: Container) -> None:
    times = kiosk_service.unit_times(box, UNIT)
    # The service's main process is the cabin (its MAINPID=), a child of cage.
    comm = box.run(["ps", "-o", "args=", "-p", str(times.main_pid)]).stdout
    assert "ui run" in comm, comm
    assert "systemd.ready" in box.journal(UNIT, 400)
    welcome_png(box, "welcome.png")


def test_watchdog_restarts_a_frozen_cabin(box: Container) -> None:
    watchdog_s = int(box.systemctl("show", "-P", "WatchdogUSec", UNIT).removesuffix("s") or 0)
    assert watchdog_s > 0, "cabin.service has no WatchdogSec="
    pid, stopped_at = kiosk_service.signal_main(box, UNIT, "SIGSTOP")
    back_s = kiosk_service.back_after_s(box, UNIT, stopped_at, pid, timeout_s=watchdog_s + 60)
    print(f"frozen cabin (SIGSTOP) back after {back_s:.1f} s (WatchdogSec={watchdog_s}s)")
    journal = box.journal(UNIT, 300)
    trips = [
        float(line[1 : line.index("]")])  # short-monotonic: CLOCK_MONOTONIC, the test's clock
        for line in journal.splitlines()
        if "Watchdog timeout" in line and line.startswith("[")
    ]
    tripped = [at - stopped_at for at in trips if at > stopped_at]
    assert tripped, f"no watchdog timeout in the journal:\n{journal}"
    print(f"watchdog tripped {tripped[0]:.1f} s after the freeze")
    assert tripped[0] <= watchdog_s + 1.0, f"tripped {tripped[0]:.1f} s after the freeze"
    assert back_s <= watchdog_s + RESTART_MARGIN_S, f"back after {back_s:.1f} s"
    welcome_png(box, "welcome-after-watchdog.png")


def test_kill_9_brings_it_back_with_the_session_wiped(box: Container) -> None:
    consultation = open_a_consultation(box)
    pid, killed_at = kiosk_service.signal_main(box, UNIT, "SIGKILL")
    back_s = kiosk_service.back_after_s(box, UNIT, killed_at, pid, timeout_s=30)
    print(f"killed cabin (SIGKILL) back after {back_s:.1f} s")
    assert back_s <= KILL_RESTART_LIMIT_S, f"back after {back_s:.1f} s"
    welcome_png(box, "welcome-after-kill.png")
    # The consultation the crash left open was closed at the start (kiosk/app.py).
    assert consultation_end_reason(box, consultation) == "restart"


def test_second_install_changes_nothing(box: Container) -> None:
    before = kiosk_service.unit_times(box, UNIT)
    result = cabin_install.run_installer(box, "--start")
    (ARTIFACTS / "install-2.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed:" not in result.stdout, result.stdout
    assert "nothing to do" in result.stdout, result.stdout
    after = kiosk_service.unit_times(box, UNIT)
    assert (after.main_pid, after.ready_us) == (before.main_pid, before.ready_us), "restarted"


def test_uninstall_removes_it(box: Container) -> None:
    uninstall = REPO / "deploy" / "uninstall-cabin"
    result = box.run(
        [f"/opt/cabin-src/deploy/{uninstall.name}"], check=False, timeout_s=120, input="y\n"
    )
    (ARTIFACTS / "uninstall.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert box.systemctl("is-active", UNIT, check=False) != "active"
    assert not box.path("/etc/systemd/system/cabin.service").exists()
    assert not box.path("/opt/cabin").exists()
    assert box.systemctl("is-enabled", "getty@tty1.service", check=False) != "masked"


# --- the store, as the cabin's user, with the key systemd gives the cabin ---------------------

STORE_SCRIPT = """
import os, sys
from datetime import date
from pathlib import Path
from kiosk.patient import PatientIdentity
from kiosk.store.key import load_key
from kiosk.store.store import Store
key = load_key(
    env=os.environ, env_name="CABIN_DB_KEY", credential="", key_file=Path("/nonexistent")
)
store = Store.open(Path("/var/lib/cabin/cabin.db"), key)
if sys.argv[1] == "open":
    patient = PatientIdentity("Container", "Test", date(1950, 1, 2))
    print(store.open_consultation(patient, "fr")[1])
else:
    print(store.consultation_ended(sys.argv[2]))
"""


def _store(box: Container, *args: str) -> str:
    key = box.run(
        ["systemd-creds", "decrypt", "--name=cabin-db-key", "/etc/credstore.encrypted/cabin-db-key"]
    ).stdout.strip()
    return box.run(
        ["/opt/cabin/.venv/bin/python", "-c", STORE_SCRIPT, *args],
        user=CABIN_USER,
        env={"CABIN_DB_KEY": key, "PYTHONPATH": "/opt/cabin", "HOME": "/var/lib/cabin"},
    ).stdout.strip()


def open_a_consultation(box: Container) -> str:
    """A consultation left open, as a patient in the middle of one when the cabin dies."""
    return _store(box, "open")


def consultation_end_reason(box: Container, consultation: str) -> str:
    return _store(box, "ended", consultation)
