"""deploy/cabin/cabin-session, the service's ExecStart: cage with the unit's options and the
service's runtime folder, then the cabin as cage's client, named as the watchdog's pinger.

cage and the cabin's Python are stand-ins here (scripts that report how they were started):
the real pair runs in the booted container test; this one checks the launcher's own logic."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.deploy.conftest import DEPLOY, needs

REPORTER = """#!/bin/sh
{
  echo "argv=$*"
  echo "pid=$$"
  echo "cwd=$(pwd)"
  echo "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR-}"
  echo "WATCHDOG_PID=${WATCHDOG_PID-}"
} >> "$REPORT"
"""


def installed_copy(tmp_path: Path) -> Path:
    """/opt/cabin as the installer lays it out: the launcher, and a .venv whose python reports."""
    opt = tmp_path / "opt/cabin"
    (opt / "deploy/cabin").mkdir(parents=True)
    shutil.copy2(DEPLOY / "cabin" / "cabin-session", opt / "deploy/cabin/cabin-session")
    python = opt / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text(REPORTER)
    python.chmod(0o755)
    return opt


def report(path: Path) -> list[dict[str, str]]:
    runs: list[dict[str, str]] = []
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "argv":
            runs.append({})
        runs[-1][key] = value
    return runs


def test_cage_then_the_cabin_as_its_client_which_pings_the_watchdog(tmp_path: Path) -> None:
    needs("sh")
    opt = installed_copy(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cage = bin_dir / "cage"
    # a cage that reports, then runs its client as the real one does (after "--")
    cage.write_text(REPORTER + 'while [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n')
    cage.chmod(0o755)
    report_file = tmp_path / "report"
    runtime = tmp_path / "run-cabin"
    runtime.mkdir()
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "REPORT": str(report_file),
        "RUNTIME_DIRECTORY": str(runtime),
        "STATE_DIRECTORY": "/var/lib/cabin",
        "CAGE_OPTIONS": "-d -r -r",
        "CABIN_CONFIG": "/etc/cabin/cabin.toml",
        "WATCHDOG_PID": "4242",  # systemd's: the pid it started (cage, after the exec)
        "WATCHDOG_USEC": "15000000",
    }
    launcher = opt / "deploy/cabin/cabin-session"
    done = subprocess.run(
        [str(launcher)], env=env, cwd="/", capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    cage_run, cabin_run = report(report_file)
    assert cage_run["argv"] == f"-d -r -r -- {launcher} --client"
    assert cage_run["XDG_RUNTIME_DIR"] == str(runtime)  # not /run/user/<uid>
    assert cabin_run["argv"] == ("-m ui run --config /etc/cabin/cabin.toml --data /var/lib/cabin")
    assert cabin_run["cwd"] == str(opt)  # python -m ui finds the packages there
    # the cabin (the launcher's pid, kept through exec) is the one that pings
    assert cabin_run["WATCHDOG_PID"] == cabin_run["pid"]
    assert cabin_run["WATCHDOG_PID"] != "4242"


def test_without_options_cage_draws_no_decorations(tmp_path: Path) -> None:
    opt = installed_copy(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cage = bin_dir / "cage"
    cage.write_text(REPORTER)
    cage.chmod(0o755)
    report_file = tmp_path / "report"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "REPORT": str(report_file)}
    subprocess.run([str(opt / "deploy/cabin/cabin-session")], env=env, timeout=30, check=True)
    (cage_run,) = report(report_file)
    assert cage_run["argv"].startswith("-d -- ")
    assert "-s" not in cage_run["argv"].split()  # VT switching stays off
