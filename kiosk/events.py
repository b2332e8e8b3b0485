"""The events that travel on the cabin's bus.

Events are small frozen values. Those that every part may see (session state, device status,
alerts) carry no patient data: a consultation id at most. Readings are health data and travel
only to the parts that need them inside this process (the screen, the call, distress detection).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devices.instrument import Availability
from devices.reading import Reading
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


Event = ReadingReceived | DeviceStatusChanged | SessionStateChanged | AlertRaised | AlertCleared
