"""The events that travel on the cabin's bus.

Events are small frozen values. Those that every part may see (session state, device status,
alerts) carry no patient data: a consultation id at most. Readings are health data and travel
only to the parts that need them inside this process (the screen, the call, distress detection).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from devices.instrument import Availability
from devices.reading import Reading, ReadingKind
from kiosk.session_states import EndReason, Overlay, SessionState
from wire.messages import AlertKind, AlertSeverity  # one definition, shared with the hub


@dataclass(frozen=True, slots=True)
class ReadingReceived:
    """A final reading was stored for the running consultation."""

    consultation_id: str
    reading_id: int
    reading: Reading


@dataclass(frozen=True, slots=True)
class DeviceStatusChanged:
    device_id: str
    availability: Availability
    battery_percent: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SessionStateChanged:
    previous: SessionState
    state: SessionState
    previous_overlay: Overlay
    overlay: Overlay
    end_reason: EndReason | None = None
    ended_consultation_id: str | None = None  # set when ``end_reason`` is


@dataclass(frozen=True, slots=True)
class AlertRaised:
    alert_id: str
    kind: AlertKind
    severity: AlertSeverity
    raised_at: datetime
    confidence: float
    consultation_id: str | None = None


@dataclass(frozen=True, slots=True)
class AlertCleared:
    alert_id: str
    by_whom: str
    false_alarm: bool


@dataclass(frozen=True, slots=True)
class HelpComing:
    """Someone answered an alert from their page and is coming (the overlay says so)."""

    alert_id: str
    by_whom: str


@dataclass(frozen=True, slots=True)
class RemeasureAsked:
    """A value in a red band, not yet confirmed: the patient is asked to measure it again."""

    kind: ReadingKind
    consultation_id: str


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """Where the patient stands in the doctors' waiting room (from the hub)."""

    position: int  # 1: next
    estimated_wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class MeasurementRequested:
    """The doctor asks, during the call, for a measurement of this kind."""

    kind: ReadingKind


@dataclass(frozen=True, slots=True)
class HubStatusChanged:
    """The link to the hub: online, or why not (the assistant mode shows it)."""

    online: bool
    state: str  # HubLinkState's value


@dataclass(frozen=True, slots=True)
class DoctorServiceChanged:
    """Whether patients can reach a doctor, as the screen tells them: ``reachable`` turns False
    once the hub has been away for the grace (``[hub] offline_notice_after_s``), not at a blip;
    ``last_seen`` is when the cabin last had the hub (kept across restarts), None if never."""

    reachable: bool
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class CameraMicrophoneChanged:
    """The cabin's camera and microphone were opened or closed (the screen shows an indicator
    while they are on; closed between patients when distress detection does not watch)."""

    on: bool


@dataclass(frozen=True, slots=True)
class DoctorAssigned:
    """A doctor took the patient: who they are, shown before and during the call."""

    display_name: str
    specialty: str
    photo: bytes | None  # JPEG or PNG


class CallLink(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallLinkChanged:
    """The call's media link: both sides show "reconnecting" while it is down."""

    link: CallLink


@dataclass(frozen=True, slots=True)
class PrescriptionReceived:
    """The doctor's prescription reached the cabin and was stored, to print at closing."""

    consultation_id: str
    prescription_id: str
    lines: int


class PrintState(enum.Enum):
    PRINTING = "printing"
    DONE = "done"
    PAPER_OUT = "paper_out"  # the agent is told; the document waits in the store
    JAMMED = "jammed"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class PrintProgress:
    """A document of the consultation on its way out of the cabin's printer."""

    document: str  # "prescription" | "summary"
    state: PrintState
    pages_done: int = 0
    pages_total: int = 0


class CorePart(enum.Enum):
    """A part of the core brought up in the background once the first screen is shown
    (``KioskCore.warm_up``): nothing a patient touches first waits for one."""

    MEDIA = "media"  # the camera and microphone: the call's, watched for distress
    HUB = "hub"  # the hub link: the waiting room and the call, records and alerts to the hub
    PRINTER = "printer"  # the printer asked, a crash's leftover jobs, the documents' renderer


class PartState(enum.Enum):
    WARMING = "warming"
    READY = "ready"
    UNAVAILABLE = "unavailable"  # failed or not wanted (the log says which): the cabin carries on


@dataclass(frozen=True, slots=True)
class PartStatus:
    """A part of the core came up, or will not (the screen stops showing it as on its way)."""

    part: CorePart
    state: PartState


Event = (
    ReadingReceived
    | DeviceStatusChanged
    | SessionStateChanged
    | AlertRaised
    | AlertCleared
    | HelpComing
    | RemeasureAsked
    | QueueStatus
    | MeasurementRequested
    | PrintProgress
    | HubStatusChanged
    | DoctorServiceChanged
    | CameraMicrophoneChanged
    | DoctorAssigned
    | CallLinkChanged
    | PrescriptionReceived
    | PartStatus
)
