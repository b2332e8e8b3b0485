"""The call: the doctor large, the patient's own image small, and the doctor's requests.

The page shows frames it is given (``show_remote`` / ``show_local``, fed by the call client)
and keeps none after it is destroyed. When the doctor asks for a measurement, the guided
measurement for that instrument appears under the video, one step at a time.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


class VideoView(QLabel):
    """A frame, scaled to fit with its proportions kept; a calm text until the first one."""

    def __init__(self, placeholder: str, name: str) -> None:
        super().__init__(placeholder)
        self.setObjectName(name)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.frames = 0

    def show_frame(self, frame: QImage) -> None:
        self.frames += 1
        self.setPixmap(
            QPixmap.fromImage(frame).scaled(
                self.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )


class CallPage(QWidget):
    def __init__(self, request: QWidget | None) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setSpacing(16)
        title = QLabel(self.tr("With the doctor"))
        title.setObjectName("title")
        layout.addWidget(title)
        self.remote = VideoView(self.tr("The doctor's image will appear here."), "remote_video")
        self.remote.setMinimumHeight(480)
        layout.addWidget(self.remote, 3)
        self.local = VideoView(self.tr("Your image"), "local_video")
        self.local.setFixedSize(320, 240)
        layout.addWidget(self.local, 0, Qt.AlignmentFlag.AlignRight)
        if request is not None:
            layout.addWidget(request, 4)
        else:
            hint = QLabel(self.tr("Speak normally; the doctor sees and hears you."))
            hint.setWordWrap(True)
            layout.addWidget(hint)
