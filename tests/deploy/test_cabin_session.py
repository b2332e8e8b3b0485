"""deploy/cabin/cabin-session, the service's ExecStart: cage in the background with the unit's
options in the service's runtime folder, then, once cage's display is up, the cabin exec'd in the
launcher's own process (the service's main process, which systemd watches and lets notify).

cage and the cabin's Python are stand-ins here (programs that report how they were started; the
stand-in cage opens a real Wayland-named Unix socket): the real pair runs in the booted container
test; this one checks the launcher's own logic."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import DEPLOY, needs

REPORT = """{
  echo "argv=$*"
  echo "pid=$$"
  echo "cwd=$(pwd)"
  echo "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR-}"
  echo "WAYLAND_DISPLAY=${WAYLAND_DISPLAY-}"
} >> "$REPORT"
"""
# cage: reports, opens its display's socket like the real one, and lives until killed
CAGE = f"""#!/bin/sh
{REPORT}
exec {sys.executable} -c '
import os, signal, socket, time
s = socket.socket(socket.AF_UNIX)
s.bind(os.path.join(os.environ["XDG_RUNTIME_DIR"], "wayland-0"))
s.listen()
time.sleep(60)
'
"""
CAGE_THAT_FAILS = f"""#!/bin/sh
{REPORT}
echo "[backend/session] could not take the seat" >&2
exit 1
"""


def layout(tmp_path: Path, cage_script: str) -> tuple[Path, dict[str, str]]:
    """/opt/cabin as the installer lays it out (the launcher; a .venv whose python reports) and
    the environment systemd gives the launcher."""
    opt = tmp_path / "opt/cabin"
    (opt / "deploy/cabin").mkdir(parents=True)
    shutil.copy2(DEPLOY / "cabin" / "cabin-session", opt / "deploy/cabin/cabin-session")
    python = opt / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n" + REPORT)
    python.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cage = bin_dir / "cage"
    cage.write_text(cage_script)
    cage.chmod(0o755)
    runtime = tmp_path / "run-cabin"
    runtime.mkdir(mode=0o700)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "REPORT": str(tmp_path / "report"),
        "RUNTIME_DIRECTORY": str(runtime),
        "STATE_DIRECTORY": "/var/lib/cabin",
        "CAGE_OPTIONS": "-d -r -r",
        "CABIN_CONFIG": "/etc/cabin/cabin.toml",
    }
    return opt, env


def report(path: Path) -> list[dict[str, str]]:
    runs: list[dict[str, str]] = []
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "argv":
            runs.append({})
        runs[-1][key] = value
    return runs


def test_cage_first_then_the_cabin_as_the_launchers_own_process(tmp_path: Path) -> None:
    needs("sh", "sleep")
    opt, env = layout(tmp_path, CAGE)
    launcher = opt / "deploy/cabin/cabin-session"
    errors = tmp_path / "stderr"
    with errors.open("wb") as stderr:
        # no pipes: the stand-in cage, left in the background, would hold them open
        process = subprocess.Popen(
            [str(launcher)], env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            process.wait(timeout=30)
        finally:
            for run in report(Path(env["REPORT"])):
                if run["argv"].startswith("-d"):  # the stand-in cage, by its pid
                    subprocess.run(["kill", run["pid"]], check=False, timeout=10)
    assert process.returncode == 0, errors.read_text()
    cage_run, cabin_run = report(Path(env["REPORT"]))
    assert cage_run["argv"].startswith("-d -r -r -- sleep ")
    assert cage_run["XDG_RUNTIME_DIR"] == env["RUNTIME_DIRECTORY"]  # not /run/user/<uid>
    assert cabin_run["argv"] == "-m ui run --config /etc/cabin/cabin.toml --data /var/lib/cabin"
    assert cabin_run["WAYLAND_DISPLAY"] == "wayland-0"
    assert cabin_run["cwd"] == str(opt)  # python -m ui finds the packages there
    # the cabin is the launcher's own process: the one systemd started and watches
    assert int(cabin_run["pid"]) == process.pid


def test_a_cage_that_fails_ends_the_launcher_with_a_message(tmp_path: Path) -> None:
    opt, env = layout(tmp_path, CAGE_THAT_FAILS)
    done = subprocess.run(
        [str(opt / "deploy/cabin/cabin-session")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "cage ended before its display was up" in done.stderr
    assert [run["argv"].split(" --")[0] for run in report(Path(env["REPORT"]))] == ["-d -r -r"]


def test_without_options_cage_draws_no_decorations_and_allows_no_vt_switch(
    tmp_path: Path,
) -> None:
    opt, env = layout(tmp_path, CAGE_THAT_FAILS)
    del env["CAGE_OPTIONS"]
    subprocess.run(
        [str(opt / "deploy/cabin/cabin-session")],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    (cage_run,) = report(Path(env["REPORT"]))
    assert cage_run["argv"].startswith("-d -- ")
    assert "-s" not in cage_run["argv"].split()
