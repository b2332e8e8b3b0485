"""What the screen says of the cabin's camera, microphone and doctor service.

- `MediaIndicator`: a small camera with a red dot and "Camera and microphone on", shown on every
  page while the camera or the microphone is open (``CameraMicrophoneChanged``).
- `last_seen_text`: when the cabin last had the hub, in words, in the cabin's time zone ("Last
  connection: today at 14:05"; "Dernière connexion : aujourd'hui à 14 h 05").
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from PySide6.QtCore import QCoreApplication, QDate, QLocale, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

ICON_PX = 44
RED = "#c40000"


def camera_icon(size: int, colour: str) -> QPixmap:
    """A camera's body and lens in ``colour``, with a red dot: recording."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    unit = size / 12
    painter.drawRoundedRect(QRectF(0, 3 * unit, 8 * unit, 7 * unit), unit, unit)  # the body
    lens = [(8, 5.5), (11, 3.5), (11, 9.5), (8, 7.5)]  # a cone to the right of the body
    painter.drawPolygon([QPointF(x * unit, y * unit) for x, y in lens])
    painter.setBrush(QColor(RED))
    painter.drawEllipse(QRectF(7.5 * unit, 0, 4.5 * unit, 4.5 * unit))
    painter.end()
    return pixmap


class MediaIndicator(QWidget):
    """The camera-and-microphone-on sign, for the top of every page."""

    def __init__(self, colour: str) -> None:
        super().__init__()
        self.setObjectName("media_indicator")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(12)
        self._icon = QLabel()
        self._icon.setObjectName("media_icon")
        self._icon.setFixedSize(ICON_PX, ICON_PX)
        self.text = QLabel()
        self.text.setObjectName("media_on")
        row.addWidget(self._icon)
        row.addWidget(self.text)
        self.set_colour(colour)
        self.retranslate()

    def set_colour(self, colour: str) -> None:
        self._icon.setPixmap(camera_icon(ICON_PX, colour))

    def retranslate(self) -> None:
        self.text.setText(self.tr("Camera and microphone on"))


def last_seen_text(
    last_seen: datetime | None, now: datetime, zone: tzinfo | None, language: str
) -> str:
    """When the cabin last had the hub, for the patients, in the cabin's time zone (``zone``;
    None: the machine's)."""
    if last_seen is None:
        return ""
    seen, today = last_seen.astimezone(zone), now.astimezone(zone).date()
    clock = (
        QCoreApplication.translate("LastSeen", "%1:%2", "hour and minute")
        .replace("%1", str(seen.hour))
        .replace("%2", f"{seen.minute:02d}")
    )
    day = seen.date()
    if day == today:
        text = QCoreApplication.translate("LastSeen", "Last connection: today at %1")
    elif day == today - timedelta(days=1):
        text = QCoreApplication.translate("LastSeen", "Last connection: yesterday at %1")
    else:
        text = QCoreApplication.translate("LastSeen", "Last connection: %2 at %1").replace(
            "%2", _long_date(day, language)
        )
    return text.replace("%1", clock)


def _long_date(day: date, language: str) -> str:
    locale = QLocale(QLocale.Language.French if language == "fr" else QLocale.Language.English)
    return locale.toString(QDate(day.year, day.month, day.day), "d MMMM yyyy")
