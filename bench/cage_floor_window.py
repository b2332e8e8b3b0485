"""The floor of ``bench_cabin_service``: a bare PySide6 window under cage, as a systemd service.

It does what the cabin does around its first screen, and nothing else: a full-screen window with
one label; once that window has painted, READY=1 and MAINPID=<its pid> to systemd (so that the
service's main process is this one, as the cabin's is), then WATCHDOG=1 every 5 s from Qt's loop.
Run inside the container by cage, as the cabin's user, with the cabin's venv:
``cage -d -r -r -- python bench/cage_floor_window.py``. Only PySide6 and the standard library.
"""

from __future__ import annotations

import os
import socket
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QApplication, QLabel

WATCHDOG_EVERY_MS = 5000


def notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


class FloorWindow(QLabel):
    def __init__(self) -> None:
        super().__init__("floor: a bare PySide6 window")
        self.setStyleSheet("background: #204f9f; color: white; font-size: 48px")
        self._ready = False

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._ready:
            self._ready = True
            # After this paint's buffer goes to the compositor (the next turn of the loop).
            QTimer.singleShot(0, lambda: notify(f"READY=1\nMAINPID={os.getpid()}"))


def main() -> int:
    app = QApplication(sys.argv)
    window = FloorWindow()
    window.showFullScreen()
    pings = QTimer()
    pings.timeout.connect(lambda: notify("WATCHDOG=1"))
    pings.start(WATCHDOG_EVERY_MS)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
