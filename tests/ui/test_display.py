"""``./cabin demo`` with a display: the kiosk window really opens, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtGui import QColor

from tests.ui.test_demo import REPO
from tests.ui.xdisplay import photograph, virtual_display


def test_the_demo_opens_its_window_and_stops_on_sigterm(tmp_path: Path, screens_dir: Path) -> None:
    with virtual_display() as display:
        environment = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        environment["DISPLAY"] = display
        log = tmp_path / "cabin.log"
        with log.open("w") as sink:
            cabin = subprocess.Popen(
                [sys.executable, "-m", "demo", "--data", str(tmp_path / "data")],
                cwd=REPO,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 60
                while "ui.window_shown" not in log.read_text():
                    assert cabin.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
                time.sleep(0.5)  # let the first frame reach the X server
                screen = photograph(display)
            finally:
                cabin.send_signal(signal.SIGTERM)
                status = cabin.wait(timeout=30)
    assert screen.save(str(screens_dir / "xvfb-demo-window.png"))
    assert status == 0, log.read_text()
    assert "core.stopped" in log.read_text()
    # The window covers the screen: white page, dark title text, the blue "Start" button.
    colours = {screen.pixelColor(x, y).name() for x in range(0, 1080, 8) for y in range(0, 1920, 8)}
    assert QColor("#ffffff").name() in colours
    assert QColor("#0b3d91").name() in colours
    assert any(QColor(c).lightness() < 60 for c in colours)
