"""``./cabin fleet`` as a person runs it (``python -m fleet --out DIR``): a process, its exit
status, its report and its pictures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageStat

REPO = Path(__file__).resolve().parents[2]
# A whole run takes about a minute here, up to several on a loaded machine: the bound only
# turns a hang into a failure (the command bounds itself too, with --limit).
FLEET_LIMIT_S = 480
pytestmark = pytest.mark.timeout(FLEET_LIMIT_S + 60)

CABIN_SCREENS = {"call", "call-hub-lost", "call-hub-back", "call-request", "closing"}
CONSOLE_SCREENS = {
    "console-call.png",
    "console-failover.png",
    "console-after-failover.png",
    "console-vitals.png",
    "console-prescription.png",
}


def not_blank(path: Path) -> bool:
    """More than one colour, and some spread of them: a picture, not an empty canvas."""
    with Image.open(path) as image:
        grey = image.convert("L")
        low, high = grey.getextrema()
        assert isinstance(low, int) and isinstance(high, int)
        return bool(high - low > 40 and ImageStat.Stat(grey).stddev[0] > 5)


def test_a_consultation_through_the_fleet_survives_a_replica_killed_mid_call(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-m", "fleet", "--out", str(out), "--limit", str(FLEET_LIMIT_S - 60)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=FLEET_LIMIT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "[fleet] passed" in result.stdout
    report = json.loads((out / "fleet-report.json").read_text(encoding="utf-8"))
    assert report["ok"] is True and report["reason"] == ""
    assert report["guarantees"] and all(report["guarantees"].values()), report["guarantees"]
    names = [step["name"] for step in report["steps"]]
    assert "replica killed (SIGKILL)" in names
    assert names.index("replica killed (SIGKILL)") < names.index(
        "blood pressure in the console after the kill"
    )
    times = [step["t_s"] for step in report["steps"]]
    assert times == sorted(times)
    assert report["replicas"]["cabin_after"] != report["replicas"]["cabin_before"]
    assert "failover_s" in report["numbers"]
    assert {"prescription.pdf", "summary.pdf"} <= set(report["pdfs"])
    for pdf in report["pdfs"]:
        assert (out / pdf).read_bytes()[:5] == b"%PDF-"
    cabin = {p.name[3:-4] for p in out.glob("[0-9]*.png")}
    assert cabin >= CABIN_SCREENS
    assert {p.name for p in out.glob("console-*.png")} >= CONSOLE_SCREENS
    assert set(report["screenshots"]) == {p.name for p in out.glob("*.png")}
    for picture in out.glob("*.png"):
        assert not_blank(picture), picture.name
    assert (out / "logs" / "hub-1.log").stat().st_size > 0
    # everything it started is gone: no replica, proxy, Redis nor cabin left behind
    assert not Path(report["folder"]).exists()
    left = subprocess.run(["pgrep", "-a", "-f", report["folder"]], capture_output=True, check=False)
    assert left.returncode == 1, left.stdout
