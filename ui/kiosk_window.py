"""The cabin's patient screen: one page per session state, one action at a time.

The window shows the state the core gives it and sends the patient's intents back; it holds no
patient data of its own. Every state change rebuilds the page from nothing, so whatever a page
showed (a name typed, a reading) is destroyed with it: the next patient starts from a clean
screen. All text goes through ``self.tr`` (English source, French translation loaded first).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol, cast

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QTranslator
from PySide6.QtGui import QCloseEvent, QImage, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from devices.reading import ReadingKind
from kiosk.app import KioskCore
from kiosk.bus import Subscription
from kiosk.errors import KioskError
from kiosk.events import (
    AlertCleared,
    AlertRaised,
    CallLink,
    CallLinkChanged,
    CameraMicrophoneChanged,
    CorePart,
    DoctorAssigned,
    DoctorServiceChanged,
    HelpComing,
    MeasurementRequested,
    PartState,
    PartStatus,
    PrescriptionReceived,
    PrintProgress,
    PrintState,
    QueueStatus,
    SessionStateChanged,
)
from kiosk.session_states import PATIENT_STATES, EndReason, Overlay, SessionState
from kiosk.visit_reasons import VisitReason
from ui.assistant_panel import AssistantPanel, PinPage
from ui.call_page import CallPage
from ui.i18n import qm_file
from ui.identify_page import IdentifyPage
from ui.intents import IntentRunner
from ui.media_indicator import MediaIndicator, last_seen_text
from ui.theme import CALM, HIGH_CONTRAST, Theme, gap
from ui.vitals_page import VitalsPage, describe
from wire.messages import AlertKind

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)


LANGUAGE_NAMES = {"fr": "Français", "en": "English"}

PORTRAIT_REFERENCE = (1080, 1920)
LANDSCAPE_REFERENCE = (1920, 1080)
"""The screens the pages are drawn for at full size (scale 1.0)."""
MIN_SCALE = 0.55
"""Below it the text would be too small for an old patient's eyes: a page may then scroll off."""


def fit_scale(width: int, height: int) -> float:
    """How much to shrink the pages' sizes so that they fit a ``width`` x ``height`` window:
    1.0 on the reference screen of its orientation or a larger one, never below MIN_SCALE
    (1280x720 gives 0.67, 1366x768 0.71). Rounded to hundredths: a pixel more or less of
    window does not restyle the screen."""
    if width <= 0 or height <= 0:
        return 1.0
    ref_width, ref_height = LANDSCAPE_REFERENCE if width > height else PORTRAIT_REFERENCE
    return round(max(MIN_SCALE, min(1.0, width / ref_width, height / ref_height)), 2)


class SpeakerLike(Protocol):
    """What the window needs of a voice (ui.speech.Speaker)."""

    @property
    def muted(self) -> bool: ...

    def set_muted(self, muted: bool) -> None: ...

    def speak(self, text: str, language: str) -> None: ...


class LanguageSwitcher:
    """Loads the French translation, or none for English (the source language)."""

    def __init__(self, app: QApplication) -> None:
        self._app = app
        self._translator = QTranslator()
        self.language = "en"

    def set(self, language: str) -> None:
        self._app.removeTranslator(self._translator)
        if language != "en":
            if not self._translator.load(str(qm_file(language))):
                log.error("ui.translation_missing language=%s", language)
            self._app.installTranslator(self._translator)
        self.language = language  # Qt sends LanguageChange to every widget


class TouchWatcher(QObject):
    """Every press anywhere on the screen counts as the patient being there."""

    def __init__(self, on_touch: Callable[[], None]) -> None:
        super().__init__()
        self._on_touch = on_touch

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin):
            self._on_touch()
        return False


class KioskWindow(QWidget):
    def __init__(
        self, core: KioskCore, languages: LanguageSwitcher, speaker: SpeakerLike | None = None
    ) -> None:
        super().__init__()
        self.setObjectName("kiosk")
        self._theme = CALM
        self._scale = 1.0  # set to the window's size by resizeEvent (fit_scale)
        self.setStyleSheet(self._theme.stylesheet(self._scale))
        self._speaker = speaker
        self._core = core
        self._languages = languages
        self._intents = IntentRunner(self._show_error)
        self._page: QWidget | None = None
        self._banner_text: str | None = None

        self._cabin = QLabel(core.config.cabin.name)
        self._cabin.setObjectName("cabin")
        # The camera and microphone are on: said on every page (off between patients when
        # distress detection does not watch the empty cabin).
        self._media_on = MediaIndicator(self._theme.muted_text)
        self._media_on.setVisible(core.media_power is not None and core.media_power.on)
        self.zone: tzinfo | None = None
        """The cabin's time zone for "last connection" (None: the machine's, as set up)."""
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._content = QVBoxLayout()
        self._lay_out(self._toolbar(speaker is not None))
        self._pin_requested = False
        self._asking_reason = False  # the vitals are done: why does the patient come?
        self._queue: QueueStatus | None = None  # what the hub says of the waiting room
        self._requested: ReadingKind | None = None  # the doctor's request during the call
        self._print: PrintProgress | None = None
        self._call_page: CallPage | None = None
        self._doctor: DoctorAssigned | None = None  # who took the patient
        self._link = CallLink.CONNECTING
        self._prescription: PrescriptionReceived | None = None
        self._distress_kind: AlertKind | None = None  # what the overlay is about
        self._help_coming = False  # an agent or a doctor answered the alert
        self._subscriptions = self._subscribe(core)
        self._attach_video()  # now, or once the core's warm-up has brought the call up
        self.show_state()

    def _toolbar(self, has_speaker: bool) -> QHBoxLayout:
        top = QHBoxLayout()
        self._top = top
        top.setSpacing(12)
        for language, name in LANGUAGE_NAMES.items():
            button = QPushButton(name)
            button.setObjectName("language")
            button.setProperty("language", language)
            button.clicked.connect(lambda _=False, lang=language: self._switch_language(lang))
            top.addWidget(button)
        self._mute = QPushButton()
        self._mute.setObjectName("toolbar")
        self._mute.clicked.connect(self._toggle_mute)
        self._contrast = QPushButton()
        self._contrast.setObjectName("toolbar")
        self._contrast.clicked.connect(self._toggle_theme)
        top.addWidget(self._mute)
        self._mute.setVisible(has_speaker)
        top.addWidget(self._contrast)
        # The panic button, on every screen, beside the cabin's name: the agent is called at once.
        self._help = QPushButton()
        self._help.setObjectName("help")
        self._help.clicked.connect(self._call_for_help)
        self._help.setVisible(self._core.distress is not None)
        return top

    def _lay_out(self, top: QHBoxLayout) -> None:
        self._banner = QLabel()
        self._banner.setObjectName("banner")
        self._banner.setWordWrap(True)
        self._banner.hide()
        root = QVBoxLayout(self)
        self._root = root
        # The window is the screen's size, never more: what the pages need does not grow it past
        # the screen (resizeEvent then shrinks their sizes to it: fit_scale).
        root.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        root.setContentsMargins(32, 24, 32, 32)
        root.setSpacing(16)
        # The cabin's name, under it the camera-and-microphone sign (in the panic button's
        # height: no room taken from the page), and the panic button on every screen.
        self._heading = QGridLayout()
        self._heading.setVerticalSpacing(4)
        self._heading.addWidget(self._cabin, 0, 0)
        self._heading.addWidget(self._help, 0, 2, 2, 1)
        self._heading.setColumnStretch(0, 1)
        self._place_media_sign(beside_help=not self._help.isHidden())
        root.addLayout(self._heading)
        root.addLayout(top)
        root.addLayout(self._content, 1)
        root.addWidget(self._banner)

    def _place_media_sign(self, *, beside_help: bool) -> None:
        """Under the cabin's name beside the panic button (in its height); beside the name when
        the button is not shown (the call), so that no page loses a line to it."""
        self._heading.removeWidget(self._media_on)
        if beside_help:
            self._heading.addWidget(self._media_on, 1, 0, Qt.AlignmentFlag.AlignLeft)
        else:
            self._heading.addWidget(self._media_on, 0, 1, Qt.AlignmentFlag.AlignRight)
        self._heading.setColumnStretch(1, 0 if beside_help else 1)  # room for one line

    def _subscribe(self, core: KioskCore) -> list[Subscription]:
        return [
            core.bus.subscribe(SessionStateChanged, self._on_state),
            core.bus.subscribe(QueueStatus, self._on_queue),
            core.bus.subscribe(MeasurementRequested, self._on_request),
            core.bus.subscribe(PrintProgress, self._on_print),
            core.bus.subscribe(DoctorAssigned, self._on_doctor),
            core.bus.subscribe(CallLinkChanged, self._on_link),
            core.bus.subscribe(PrescriptionReceived, self._on_prescription),
            core.bus.subscribe(AlertRaised, self._on_alert),
            core.bus.subscribe(HelpComing, self._on_help_coming),
            core.bus.subscribe(AlertCleared, self._on_alert_cleared),
            core.bus.subscribe(PartStatus, self._on_part),
            core.bus.subscribe(DoctorServiceChanged, self._on_doctor_service),
            core.bus.subscribe(CameraMicrophoneChanged, self._on_media),
        ]

    @property
    def intents(self) -> IntentRunner:
        return self._intents

    @property
    def call_page(self) -> CallPage | None:
        """The call page while it is on screen."""
        return self._call_page

    @property
    def page(self) -> QWidget | None:
        """The page on screen now (tests and the scripted demo look for buttons in it)."""
        return self._page

    # --- Qt events -------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.show_state()
        super().changeEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        size = event.size()
        landscape = size.width() > size.height()
        rescaled = self._set_scale(fit_scale(size.width(), size.height()))
        if rescaled or landscape != (event.oldSize().width() > event.oldSize().height()):
            self.show_state()  # a page lays itself out for the orientation it is built in
        super().resizeEvent(event)

    @property
    def scale(self) -> float:
        """The sizes' factor for this window's screen (1.0 on 1080x1920 and 1920x1080)."""
        return self._scale

    def _set_scale(self, scale: float) -> bool:
        """Every size in pixels times ``scale``: the style sheet and the window's margins (the
        pages take it when they are built). True if it changed."""
        if scale == self._scale:
            return False
        self._scale = scale
        self.setStyleSheet(self._theme.stylesheet(scale))
        gap = self._gap
        self._root.setContentsMargins(gap(32), gap(24), gap(32), gap(32))
        self._root.setSpacing(gap(16))
        self._heading.setVerticalSpacing(gap(4))
        self._top.setSpacing(gap(12))
        self._media_on.set_scale(scale)
        log.info("ui.scale scale=%.2f width=%d height=%d", scale, self.width(), self.height())
        return True

    def _gap(self, px: int) -> int:
        return gap(px, self._scale)

    def closeEvent(self, event: QCloseEvent) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        if self._core.teleconsultation is not None:
            self._core.teleconsultation.video.remote = None
            self._core.teleconsultation.video.local = None
        self._intents.cancel_all()
        super().closeEvent(event)

    def _on_state(self, event: SessionStateChanged) -> None:
        self._pin_requested = False  # a PIN typed for another screen is not carried over
        if event.state is not event.previous:  # what a screen showed stays with that screen
            self._queue = self._print = self._requested = None
            self._asking_reason = False
            if event.state is SessionState.CALL:
                self._link = CallLink.CONNECTING
        if event.end_reason is not None or event.state is SessionState.IDLE:
            self._doctor = None
            self._prescription = None
        self.show_state()

    def _attach_video(self) -> None:
        teleconsultation = self._core.teleconsultation
        if teleconsultation is not None:
            teleconsultation.video.remote = self._remote_array
            teleconsultation.video.local = self._local_array

    def _on_part(self, event: PartStatus) -> None:
        """A part of the core came up (or will not): a page that said it was on its way
        shows what it does now."""
        if event.part is CorePart.HUB:
            self._attach_video()
        state = self._core.session.state
        if state is SessionState.WAITING_ROOM or (
            state is SessionState.CLOSING and event.part is CorePart.PRINTER
        ):
            self.show_state()

    def _on_doctor_service(self, _event: DoctorServiceChanged) -> None:
        if self._core.session.state in (SessionState.IDLE, SessionState.WAITING_ROOM):
            self._refresh_state_page()

    def _on_media(self, event: CameraMicrophoneChanged) -> None:
        self._media_on.setVisible(event.on)
        if self._core.session.state is SessionState.IDLE:
            self._refresh_state_page()  # the idle page says what watches the cabin

    def _refresh_state_page(self) -> None:
        """Build the state's page again for news it shows (the hub gone, the camera on), but
        only when that page is on screen: never under an overlay or the agents' PIN page,
        which would be thrown away with what was typed there and an answer on its way (a
        wrong PIN's "tries left" once landed on a deleted label)."""
        if self._core.session.overlay is Overlay.NONE and not self._pin_requested:
            self.show_state()

    def _doctor_reachable(self) -> bool:
        service = self._core.doctor_service
        return service is None or service.reachable

    def _watching_line(self) -> QLabel | None:
        """The honest line under the idle page while distress detection watches the cabin."""
        power = self._core.media_power
        if power is None or not power.always_on or not power.on:
            return None
        line = QLabel(
            self.tr(
                "This cabin watches for falls and calls for help; no image and no sound leaves it."
            )
        )
        line.setObjectName("privacy")
        line.setWordWrap(True)
        return line

    def _unavailable_advice(self) -> str:
        return self.tr(
            "The doctor service cannot be reached at the moment. For an emergency, call 15"
            " or 112. Otherwise, please come back later."
        )

    def _warming(self, *parts: CorePart) -> bool:
        return any(self._core.part_state(part) is PartState.WARMING for part in parts)

    def _on_alert(self, event: AlertRaised) -> None:
        if event.alert_id in self._core.session.active_alerts:
            self._distress_kind = event.kind
            self._help_coming = False
            if self._core.session.overlay is Overlay.DISTRESS:
                self.show_state()

    def _on_help_coming(self, event: HelpComing) -> None:
        if event.alert_id in self._core.session.active_alerts:
            self._help_coming = True
            if self._core.session.overlay is Overlay.DISTRESS:
                self.show_state()

    def _on_alert_cleared(self, _event: AlertCleared) -> None:
        if not self._core.session.active_alerts:
            self._distress_kind = None
            self._help_coming = False

    def _call_for_help(self) -> None:
        distress = self._core.distress
        if distress is not None:
            self._intents.run(distress.panic("screen"))

    def _i_am_fine(self) -> None:
        alerts = self._core.alerts
        if alerts is None:
            self._core.session.clear_distress()
        else:
            self._intents.run(alerts.patient_is_fine())

    def _on_doctor(self, event: DoctorAssigned) -> None:
        self._doctor = event  # shown by the call page, built when the session enters the call

    def _on_link(self, event: CallLinkChanged) -> None:
        self._link = event.link
        if self._call_page is not None:
            self._call_page.set_link(event.link)

    def _on_prescription(self, event: PrescriptionReceived) -> None:
        self._prescription = event
        if self._core.session.state is SessionState.CLOSING:
            self.show_state()

    def _remote_array(self, frame: object) -> None:
        if self._call_page is not None:
            self.show_remote_frame(image_of(frame))

    def _local_array(self, frame: object) -> None:
        if self._call_page is not None:
            self.show_local_frame(image_of(frame))

    def _on_queue(self, event: QueueStatus) -> None:
        self._queue = event
        if self._core.session.state is SessionState.WAITING_ROOM:
            self.show_state()

    def _on_request(self, event: MeasurementRequested) -> None:
        if self._core.session.state is SessionState.CALL:
            self._requested = event.kind
            self.show_state()

    def _on_print(self, event: PrintProgress) -> None:
        self._print = event
        if self._core.session.state is SessionState.CLOSING:
            self.show_state()

    def show_remote_frame(self, frame: QImage) -> None:
        """A frame of the doctor's video (the call client calls this)."""
        if self._call_page is not None:
            self._call_page.remote.show_frame(frame)

    def show_local_frame(self, frame: QImage) -> None:
        """A frame of the cabin's own camera, shown small."""
        if self._call_page is not None:
            self._call_page.local.show_frame(frame)

    def _ask_pin(self) -> None:
        self._pin_requested = True
        self.show_state()

    def _cancel_pin(self) -> None:
        self._pin_requested = False
        self.show_state()

    def _pin_allowed(self) -> bool:
        session = self._core.session
        return session.overlay is Overlay.DISTRESS or (
            session.overlay is Overlay.NONE
            and session.state in (SessionState.IDLE, SessionState.CLEANING)
        )

    # --- rendering -------------------------------------------------------------------------------
    def show_state(self) -> None:
        """Throw the page away and build the one for the current state and overlay."""
        self._call_page = None  # frames go to the call page only while it is on screen
        if self._page is not None:
            self._content.removeWidget(self._page)
            self._page.hide()
            self._page.deleteLater()
        session = self._core.session
        overlay = {
            Overlay.STILL_THERE: self._still_there,
            Overlay.DISTRESS: self._distress,
            Overlay.ASSISTANT: self._assistant,
        }.get(session.overlay)
        if self._pin_requested and self._pin_allowed():
            self._page = PinPage(
                self._core.assistant,
                self._intents,
                self._cancel_pin,
                scale=self._scale,
                landscape=self.width() > self.height(),
            )
        else:
            self._page = overlay() if overlay else _STATE_PAGES[session.state](self)
        self._content.addWidget(self._page)
        self._page.show()
        self._mute.setText(self.tr("Sound on") if self._muted() else self.tr("Mute"))
        self._contrast.setText(self.tr("Contrast"))
        self._help.setText(self.tr("Call for help"))
        self._media_on.retranslate()
        # Not over the alert itself, nor in the assistant mode (an agent is in the cabin), nor
        # during the call (the doctor sees and hears the patient; the screen is full there).
        help_shown = (
            self._core.distress is not None
            and session.overlay not in (Overlay.DISTRESS, Overlay.ASSISTANT)
            and session.state is not SessionState.CALL
        )
        self._place_media_sign(beside_help=help_shown)  # first: never both on one line
        self._help.setVisible(help_shown)
        self._speak_page()
        if self._banner_text is None:
            self._banner.hide()
        self._banner_text = None

    def _show_error(self, error: KioskError) -> None:
        del error  # the detail is in the log; the patient gets words to act on
        self._banner_text = self.tr(
            "Something did not work. Please try again, or press the help button."
        )
        self._banner.setText(self._banner_text)
        self._banner.show()

    # --- speech, contrast ------------------------------------------------------------------
    def _muted(self) -> bool:
        return self._speaker is None or self._speaker.muted

    def _toggle_mute(self) -> None:
        if self._speaker is not None:
            self._speaker.set_muted(not self._speaker.muted)
            self._mute.setText(self.tr("Sound on") if self._muted() else self.tr("Mute"))
            self._speak_page()

    def _say(self, text: str) -> None:
        if self._speaker is not None:
            self._speaker.speak(text, self._languages.language)

    def _speak_page(self) -> None:
        """Say the page's title and first text, in the screen's language."""
        if self._speaker is None or self._page is None:
            return
        labels = [label.text() for label in self._page.findChildren(QLabel) if label.text()]
        self._speaker.speak(" ".join(labels[:2]), self._languages.language)

    def _toggle_theme(self) -> None:
        self._theme = HIGH_CONTRAST if self._theme is CALM else CALM
        self.setStyleSheet(self._theme.stylesheet(self._scale))
        self._media_on.set_colour(self._theme.muted_text)

    @property
    def theme(self) -> Theme:
        return self._theme

    def _switch_language(self, language: str) -> None:
        self._languages.set(language)
        if self._core.session.state in PATIENT_STATES:
            self._core.session.set_language(language)

    def _page_of(
        self,
        title: str,
        body: str,
        actions: list[tuple[str, str, Callable[[], object]]],
        extra: QWidget | None = None,
        overlay: bool = False,
    ) -> QWidget:
        page = QWidget()
        if overlay:
            page.setObjectName("overlay")
            page.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(page)
        # Landscape has little height: tighter gaps keep a notice and two buttons whole.
        layout.setSpacing(self._gap(24 if self.width() > self.height() else 40))
        heading = QLabel(title)
        heading.setObjectName("title")
        heading.setWordWrap(True)
        layout.addWidget(heading)
        text = QLabel(body)
        text.setWordWrap(True)
        layout.addWidget(text)
        if extra is not None:
            layout.addWidget(extra)
        layout.addStretch(1)
        for name, label, handler in actions:
            button = QPushButton(label)
            button.setObjectName(name)
            button.clicked.connect(lambda _=False, h=handler: h())
            layout.addWidget(button)
        return page

    # --- one page per state ----------------------------------------------------------------------
    def _idle(self) -> QWidget:
        actions: list[tuple[str, str, Callable[[], object]]] = [
            ("primary", self.tr("Start"), self._start),
            ("agent", self.tr("Agent"), self._ask_pin),
        ]
        extra = QWidget()
        column = QVBoxLayout(extra)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(self._gap(24))
        if self._doctor_reachable():
            title = self.tr("Welcome to the medical cabin")
            body = self.tr("A doctor can see you by video here. Touch the button to begin.")
        else:
            # The link has been down for the grace: say so before anyone sits down. A patient
            # may still start: the measurements and their printing need no hub.
            title = self.tr("No doctor available at the moment")
            body = self._unavailable_advice()
            lines = [self.tr("You can still take your measurements and print them.")]
            service = self._core.doctor_service
            seen = last_seen_text(
                None if service is None else service.last_seen,
                self.now(),
                self.zone,
                self._languages.language,
            )
            if seen:
                lines.append(seen)
            notice = QLabel("\n".join(lines))
            notice.setObjectName("service_notice")
            notice.setWordWrap(True)
            column.addWidget(notice)
        watching = self._watching_line()
        if watching is not None:
            column.addWidget(watching)
        return self._page_of(title, body, actions, extra=extra)

    def _start(self) -> None:
        self._intents.run(self._core.consultation.start(self._languages.language))

    def _welcome(self) -> QWidget:
        c = self._core.consultation
        return self._page_of(
            self.tr("Hello"),
            self.tr(
                "The consultation takes about twenty minutes: a few measurements, then a"
                " video call with a doctor."
            ),
            [
                ("primary", self.tr("Continue"), lambda: self._intents.run(c.choose_identify())),
                ("stop", self.tr("Stop"), self._abandon),
            ],
        )

    def _identify(self) -> QWidget:
        return IdentifyPage(
            lambda patient, appointment: self._intents.run(
                self._core.consultation.identify(patient, appointment)
            ),
            lambda: self._core.session.advance(SessionState.WELCOME),
            self._show_problem,
            appointments=self._core.appointments,
            run=self._intents.run,
            landscape=self.width() > self.height(),
            scale=self._scale,
        )

    def _show_problem(self, text: str) -> None:
        self._banner_text = text
        self._banner.setText(text)
        self._banner.show()

    def _consent(self) -> QWidget:
        c = self._core.consultation
        return self._page_of(
            self.tr("Your agreement"),
            self.tr(
                "Your measurements and the consultation are recorded in your medical file,"
                " encrypted, and shared only with the doctors who treat you. Nothing is"
                " shown to the next person."
            ),
            [
                ("primary", self.tr("I agree"), lambda: self._intents.run(c.consent(True))),
                ("refuse", self.tr("I do not agree"), lambda: self._intents.run(c.consent(False))),
            ],
        )

    def _vitals(self) -> QWidget:
        if self._asking_reason:
            return self._reason()
        return VitalsPage(
            self._core,
            self._intents,
            self._ask_reason,
            self._abandon,
            self._theme,
            say=self._say,
            scale=self._scale,
            landscape=self.width() > self.height(),
        )

    def _ask_reason(self) -> None:
        self._asking_reason = True
        self.show_state()

    def _reason(self) -> QWidget:
        """Why the patient comes today: six large choices, told to the doctor in the queue."""
        labels = {
            VisitReason.FEVER: self.tr("Fever"),
            VisitReason.COUGH_COLD: self.tr("Cough, cold or sore throat"),
            VisitReason.PAIN: self.tr("Pain"),
            VisitReason.SKIN: self.tr("Skin problem"),
            VisitReason.RENEWAL: self.tr("Renew a prescription"),
            VisitReason.OTHER: self.tr("Something else"),
        }
        choices = QWidget()
        grid = QGridLayout(choices)
        grid.setSpacing(self._gap(16))
        columns = 2 if self.width() > self.height() else 1  # each label on one line
        for index, (reason, label) in enumerate(labels.items()):
            button = QPushButton(label)
            button.setObjectName(f"reason_{reason.value}")
            button.clicked.connect(lambda _=False, r=reason: self._chose_reason(r))
            grid.addWidget(button, index // columns, index % columns)
        return self._page_of(
            self.tr("Why do you come today?"),
            self.tr("Touch the answer closest to it. You will tell the doctor more."),
            [],
            extra=choices,
        )

    def _chose_reason(self, reason: VisitReason) -> None:
        session = self._core.session
        session.set_reason(reason)
        self._asking_reason = False
        session.advance(SessionState.WAITING_ROOM)

    def _waiting_room(self) -> QWidget:
        if not self._warming(CorePart.HUB) and not self._doctor_reachable():
            return self._no_doctor()
        lines = []
        if self._warming(CorePart.MEDIA, CorePart.HUB):
            # The cabin has just started: the patient is queued as soon as the camera, the
            # microphone and the link to the doctors are up.
            lines.append(self.tr("Connecting to the doctors, one moment please."))
        elif self._queue is not None:
            lines.append(
                self.tr("You are number %1 in the queue.").replace("%1", str(self._queue.position))
            )
            if self._queue.estimated_wait_s is not None:
                minutes = max(1, round(self._queue.estimated_wait_s / 60))
                lines.append(self.tr("Estimated wait: about %n minutes.", "", minutes))
        lines.append(
            self.tr(
                "While you wait, you can prepare: your carte Vitale, the list or the boxes of"
                " the medicines you take, your glasses."
            )
        )
        prepare = QLabel("\n".join(lines))
        prepare.setObjectName("queue")
        prepare.setWordWrap(True)
        return self._page_of(
            self.tr("A doctor will answer you"),
            self.tr("Please stay seated. The doctor will appear on this screen."),
            [("stop", self.tr("Stop"), self._abandon)],
            extra=prepare,
        )

    def _no_doctor(self) -> QWidget:
        """The waiting room while the hub is away: no doctor can take the patient. They keep
        their place (queued as soon as the hub is back), or leave with their measurements
        printed; either way they know what to do if it is urgent."""
        notice = QLabel(
            self.tr(
                "Your measurements are kept. You can print them now, to show them to your"
                " doctor. If the service comes back while you wait, a doctor will answer you here."
            )
        )
        notice.setObjectName("service_notice")
        notice.setWordWrap(True)
        return self._page_of(
            self.tr("No doctor can be reached at the moment"),
            self._unavailable_advice(),
            [
                ("primary", self.tr("Print my measurements"), self._leave_without_doctor),
                ("stop", self.tr("Stop"), self._abandon),
            ],
            extra=notice,
        )

    def _leave_without_doctor(self) -> None:
        session = self._core.session
        if session.state is SessionState.WAITING_ROOM:
            session.advance(SessionState.CLOSING)

    def _end_call(self) -> None:
        """The patient confirmed: the call ends, the session goes on to closing."""
        teleconsultation = self._core.teleconsultation
        if teleconsultation is not None:
            self._intents.run(teleconsultation.hang_up())
        elif self._core.session.state is SessionState.CALL:
            self._core.session.advance(SessionState.CLOSING)

    def _call(self) -> QWidget:
        request = None
        if self._requested is not None:
            request = VitalsPage(
                self._core,
                self._intents,
                self._request_done,
                self._request_done,
                self._theme,
                kinds=frozenset({self._requested}),
                say=self._say,
                scale=self._scale,
                landscape=self.width() > self.height(),
                in_call=True,
            )
        self._call_page = CallPage(
            request,
            self._doctor,
            self._link,
            on_end=self._end_call,
            scale=self._scale,
            landscape=self.width() > self.height(),
        )
        return self._call_page

    def _request_done(self) -> None:
        self._requested = None
        self.show_state()

    def _closing(self) -> QWidget:
        lines = [describe(r) for r in self._core.session.context.readings]
        if self._print is not None:
            lines.insert(0, self._print_text(self._print))
        elif self._warming(CorePart.PRINTER):  # the cabin has just started: printing waits
            lines.insert(0, self.tr("Getting the printer ready, one moment please."))
        if self._prescription is not None:
            lines.insert(0, self._prescription_text())
        summary = QLabel("\n".join(lines))
        summary.setObjectName("summary")
        summary.setWordWrap(True)
        return self._page_of(
            self.tr("The consultation is over"),
            self.tr("Your documents are printed below the screen."),
            [
                (
                    "primary",
                    self.tr("Continue"),
                    lambda: self._core.session.advance(SessionState.SURVEY),
                )
            ],
            extra=summary,
        )

    def _prescription_text(self) -> str:
        if self._prescription is None:
            return ""
        return self.tr(
            "The doctor sent you a prescription of %n medicine(s).", "", self._prescription.lines
        )

    def _print_text(self, progress: PrintProgress) -> str:
        if progress.state is PrintState.PRINTING:
            return (
                self.tr("Printing: page %1 of %2.")
                .replace("%1", str(progress.pages_done + 1))
                .replace("%2", str(max(progress.pages_total, 1)))
            )
        if progress.state is PrintState.DONE:
            return self.tr("Your documents are printed: take them below the screen.")
        return self.tr(
            "The printer cannot print now. The agent has been told: your prescription is kept"
            " and will be printed for you."
        )

    def _survey(self) -> QWidget:
        def answer() -> None:
            self._core.session.end(EndReason.COMPLETED)

        return self._page_of(
            self.tr("How was your consultation?"),
            self.tr("One touch is enough."),
            [
                ("good", self.tr("Good"), answer),
                ("average", self.tr("Average"), answer),
                ("bad", self.tr("Bad"), answer),
            ],
        )

    def _cleaning(self) -> QWidget:
        c = self._core.consultation
        return self._page_of(
            self.tr("Thank you, goodbye"),
            self.tr(
                "Please wipe the cuff, the thermometer and the finger clip with a wipe from"
                " the box, then press Done."
            ),
            [
                ("primary", self.tr("Done"), lambda: self._intents.run(c.cleaning_done("patient"))),
                ("agent", self.tr("Agent"), self._ask_pin),
            ],
        )

    def _abandon(self) -> None:
        self._core.session.end(EndReason.ABANDONED)

    # --- overlays --------------------------------------------------------------------------------
    def _still_there(self) -> QWidget:
        session = self._core.session

        def countdown() -> str:
            left = math.ceil(session.still_there_seconds_left() or 0.0)
            return self.tr("Without an answer, the consultation stops in %n seconds.", "", left)

        page = self._page_of(
            self.tr("Are you still there?"),
            countdown(),
            [("primary", self.tr("I am here"), session.touch)],
            overlay=True,
        )
        body = page.findChildren(QLabel)[1]
        ticker = QTimer(page)  # dies with the page
        ticker.timeout.connect(lambda: body.setText(countdown()))
        ticker.start(250)
        return page

    def _distress(self) -> QWidget:
        """Calm words for a person who may be on the floor: help is called, do not get up."""
        if self._help_coming:
            title = self.tr("Someone is on the way")
            text = self.tr("An agent answered and is coming to you. Stay where you are.")
        else:
            title = self.tr("Help is coming")
            text = self.tr("Stay calm. Someone has been told and will come to you.")
        advice = (
            {
                AlertKind.FALL: self.tr("If you fell, do not try to get up alone."),
                AlertKind.STILLNESS: self.tr("If you can, touch the screen or raise a hand."),
                AlertKind.DANGEROUS_VITALS: self.tr(
                    "One of your measurements needs attention. Stay seated and rest."
                ),
                AlertKind.PANIC_BUTTON: self.tr("You asked for help: it has been called."),
            }.get(self._distress_kind)
            if self._distress_kind is not None
            else None
        )
        body = text if advice is None else f"{text}\n\n{advice}"
        body += "\n\n" + self.tr("If it is serious, anyone can call 15 (or 112).")
        return self._page_of(
            title,
            body,
            [
                ("primary", self.tr("I am fine"), self._i_am_fine),
                ("agent", self.tr("I am the agent"), self._ask_pin),
            ],
            overlay=True,
        )

    def _assistant(self) -> QWidget:
        return AssistantPanel(self._core.assistant, self._intents, self._core.data_dir / "exports")


_STATE_PAGES: dict[SessionState, Callable[[KioskWindow], QWidget]] = {
    SessionState.IDLE: KioskWindow._idle,
    SessionState.WELCOME: KioskWindow._welcome,
    SessionState.IDENTIFY: KioskWindow._identify,
    SessionState.CONSENT: KioskWindow._consent,
    SessionState.VITALS: KioskWindow._vitals,
    SessionState.WAITING_ROOM: KioskWindow._waiting_room,
    SessionState.CALL: KioskWindow._call,
    SessionState.CLOSING: KioskWindow._closing,
    SessionState.SURVEY: KioskWindow._survey,
    SessionState.CLEANING: KioskWindow._cleaning,
}


def image_of(frame: object) -> QImage:
    """An RGB image (a numpy array, height x width x 3) as a QImage of its own."""
    array = cast("NDArray[Any]", frame)
    height, width = int(array.shape[0]), int(array.shape[1])
    data = array.tobytes()
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
