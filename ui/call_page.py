"""The call: the doctor large, the patient's own image small, and the doctor's requests.

Before the first image arrives, the page shows who the doctor is (photo, name, specialty): a
patient is more at ease with a doctor they do not know when they see them named. The page shows
frames it is given (``show_frame``, fed by the call client) and keeps none after it is
destroyed. When the doctor asks for a measurement, the guided measurement for that instrument
appears under the video, one step at a time. While the link is down the page says, calmly, that
the call comes back by itself.

The patient can end the call themselves ("End the call", large, beside the doctor's name). A
stray touch must not cut a doctor off: the button asks first ("Do you really want to end the
call with the doctor?", Yes / No, big targets, in the videos' place); Yes ends it the normal
way (the doctor's console says that the patient ended it) and the session goes on to closing,
as after the doctor's hang-up.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kiosk.events import CallLink, DoctorAssigned

PHOTO_PX = 160


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


class DoctorCard(QWidget):
    """The doctor's photo, name and specialty."""

    def __init__(self, doctor: DoctorAssigned) -> None:
        super().__init__()
        self.setObjectName("doctor_card")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(24)
        photo = QLabel()
        photo.setObjectName("doctor_photo")
        photo.setFixedSize(PHOTO_PX, PHOTO_PX)
        pixmap = QPixmap()
        if doctor.photo is not None and pixmap.loadFromData(doctor.photo):
            photo.setPixmap(
                pixmap.scaled(
                    PHOTO_PX,
                    PHOTO_PX,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
            row.addWidget(photo)
        names = QVBoxLayout()
        name = QLabel(doctor.display_name)
        name.setObjectName("doctor_name")
        name.setWordWrap(True)
        specialty = QLabel(doctor.specialty)
        specialty.setObjectName("doctor_specialty")
        specialty.setWordWrap(True)
        names.addStretch(1)
        names.addWidget(name)
        names.addWidget(specialty)
        names.addStretch(1)
        row.addLayout(names, 1)


class CallPage(QWidget):
    def __init__(
        self,
        request: QWidget | None,
        doctor: DoctorAssigned | None = None,
        link: CallLink = CallLink.CONNECTING,
        on_end: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self._on_end = on_end
        layout = QVBoxLayout(self)
        layout.setSpacing(16)
        self._doctor = doctor
        # The end of the call beside who the doctor is: in reach, and no room taken from the
        # video (a landscape screen has none to spare).
        layout.addLayout(self._header(doctor, visible_end=on_end is not None))
        self.link_state = QLabel()
        self.link_state.setObjectName("link_state")
        self.link_state.setWordWrap(True)
        layout.addWidget(self.link_state)
        self.remote = VideoView(self.tr("The doctor's image will appear here."), "remote_video")
        self.local = VideoView(self.tr("Your image"), "local_video")
        self._body = QWidget()  # the videos and the request; the question takes their place
        body = QVBoxLayout(self._body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(16)
        if request is not None:
            # The doctor asked for a measurement: the guidance takes the room, the doctor stays
            # in view beside the patient's own image.
            self.remote.setMinimumHeight(300)
            self.local.setFixedSize(240, 180)
            videos = QHBoxLayout()
            videos.addWidget(self.remote, 1)
            videos.addWidget(self.local, 0, Qt.AlignmentFlag.AlignBottom)
            body.addLayout(videos, 2)
            body.addWidget(request, 5)
        else:
            self.remote.setMinimumHeight(480)
            self.local.setFixedSize(320, 240)
            body.addWidget(self.remote, 3)
            body.addWidget(self.local, 0, Qt.AlignmentFlag.AlignRight)
            hint = QLabel(self.tr("Speak normally; the doctor sees and hears you."))
            hint.setWordWrap(True)
            body.addWidget(hint)
        layout.addWidget(self._body, 1)
        self.confirm = self._confirmation()
        self.confirm.hide()
        layout.addWidget(self.confirm, 1)
        self.set_link(link)

    def _header(self, doctor: DoctorAssigned | None, *, visible_end: bool) -> QHBoxLayout:
        header = QHBoxLayout()
        header.setSpacing(24)
        if doctor is not None:
            header.addWidget(DoctorCard(doctor), 1)
        else:
            title = QLabel(self.tr("With the doctor"))
            title.setObjectName("title")
            title.setWordWrap(True)
            header.addWidget(title, 1)
        self.end_call = QPushButton(self.tr("End the call"))
        self.end_call.setObjectName("end_call")
        self.end_call.clicked.connect(self._ask_to_end)
        self.end_call.setVisible(visible_end)
        header.addWidget(self.end_call, 0, Qt.AlignmentFlag.AlignVCenter)
        return header

    def _confirmation(self) -> QWidget:
        panel = QWidget()
        panel.setObjectName("end_call_confirm")
        panel.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        column = QVBoxLayout(panel)
        column.setContentsMargins(32, 32, 32, 32)
        column.setSpacing(48)
        column.addStretch(1)
        question = QLabel(self.tr("Do you really want to end the call with the doctor?"))
        question.setObjectName("end_call_question")
        question.setWordWrap(True)
        column.addWidget(question)
        row = QHBoxLayout()
        row.setSpacing(48)
        yes = QPushButton(self.tr("Yes"))
        yes.setObjectName("end_call_yes")
        yes.clicked.connect(self._end)
        no = QPushButton(self.tr("No"))
        no.setObjectName("end_call_no")
        no.setProperty("emphasis", True)  # staying in the call is the safe choice
        no.clicked.connect(self._keep_call)
        row.addWidget(yes)
        row.addWidget(no)
        column.addLayout(row)
        column.addStretch(1)
        return panel

    def _ask_to_end(self) -> None:
        """The question in place of the videos (the call goes on meanwhile)."""
        self.end_call.hide()
        self._body.hide()
        self.confirm.show()

    def _keep_call(self) -> None:
        self.confirm.hide()
        self._body.show()
        self.end_call.show()

    def _end(self) -> None:
        self.confirm.hide()
        if self._on_end is not None:
            self._on_end()

    def set_link(self, link: CallLink) -> None:
        """Say what the link is doing; nothing while the call runs well."""
        self.link = link
        if link is CallLink.CONNECTING:
            if self._doctor is not None:
                text = self.tr("%1 will see you. Connecting…").replace(
                    "%1", self._doctor.display_name
                )
            else:
                text = self.tr("Connecting to the doctor…")
        elif link is CallLink.RECONNECTING:
            text = self.tr(
                "The connection is interrupted. Stay seated: the call comes back by itself."
            )
        else:
            text = ""
        self.link_state.setText(text)
        self.link_state.setVisible(bool(text))
