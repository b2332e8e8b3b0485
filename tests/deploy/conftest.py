"""A Debian 12 root in a folder, for deploy/install-cabin --root: this machine's account files
and systemd's units (systemd-analyze verify needs the units the cabin's depends on), BlueZ's
and CUPS's configuration files as Debian 12's packages install them (tests/deploy/fixtures)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
INSTALLER = DEPLOY / "install-cabin"
UNINSTALLER = DEPLOY / "uninstall-cabin"
FIXTURES = Path(__file__).parent / "fixtures"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
RUN_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Run:
    status: int
    output: str


def run(command: list[str | Path], env: dict[str, str] | None = None) -> Run:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        env=env,
    )
    return Run(done.returncode, done.stdout + done.stderr)


def needs(*programs: str) -> None:
    """Skip the test where this machine lacks a program (deploy/debian-packages.txt has them)."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"missing here: {' '.join(missing)} (deploy/debian-packages.txt)")


@pytest.fixture
def debian_root(tmp_path: Path) -> Path:
    """A folder laid out like a Debian 12 system before the installer (as root: useradd --root)."""
    if os.geteuid() != 0:
        pytest.skip("the installer's --root mode makes the user with useradd --root: root only")
    needs("useradd", "systemctl", "systemd-creds")
    root = tmp_path / "root"
    etc = root / "etc"
    etc.mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs", "os-release"):
        source = Path("/etc") / name
        if source.exists():
            shutil.copy2(source.resolve(), etc / name)
    units = root / "usr/lib/systemd/system"
    shutil.copytree(SYSTEM_UNITS, units, symlinks=True)
    (etc / "bluetooth").mkdir()
    shutil.copy(FIXTURES / "bluez-5.66-main.conf", etc / "bluetooth/main.conf")
    (etc / "cups").mkdir()
    shutil.copy(FIXTURES / "cups-2.4.2-cupsd.conf", etc / "cups/cupsd.conf")
    return root


def install(root: Path, *options: str | Path, env: dict[str, str] | None = None) -> Run:
    return run([INSTALLER, "--root", root, "--no-python", *options], env=env)


def uninstall(root: Path, *options: str) -> Run:
    return run([UNINSTALLER, "--root", root, *options])
