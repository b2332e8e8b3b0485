"""The consultation session: the state machine of DESIGN.md and the patient data it holds.

``Session`` is synchronous and keeps no timers of its own: time comes from an injected clock and
``poll()`` (called a few times a second by the application, or by a test with a fake clock)
applies the timeouts. Every change is published on the bus as ``SessionStateChanged``, which
carries states only, never patient data. Every way a session ends goes through ``end()``, which
wipes the patient context in place.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields
from typing import Protocol

from devices.reading import Reading
from kiosk.bus import EventBus
from kiosk.errors import IllegalTransition
from kiosk.events import SessionStateChanged
from kiosk.patient import BookedAppointment, PatientIdentity
from kiosk.session_states import (
    INACTIVITY_STATES,
    NEEDS_CLEANING_FROM,
    PATIENT_STATES,
    TRANSITIONS,
    EndReason,
    Overlay,
    SessionState,
)
from kiosk.visit_reasons import VisitReason

log = logging.getLogger(__name__)


class Clock(Protocol):
    def monotonic(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class SessionTimeouts:
    inactivity_s: float = 90.0
    still_there_countdown_s: float = 30.0
    assistant_s: float = 120.0


@dataclass(slots=True)
class PatientContext:
    """Everything the session holds about the current patient; emptied by ``wipe``."""

    patient: PatientIdentity | None = None
    appointment: BookedAppointment | None = None
    """The appointment the patient confirmed (its code, then their birth date)."""
    patient_id: str | None = None
    consultation_id: str | None = None
    language: str | None = None
    consent_given: bool = False
    reason: VisitReason | None = None
    readings: list[Reading] = field(default_factory=list)

    def wipe(self) -> None:
        self.readings.clear()  # also empties the list for anyone who kept a reference to it
        for f in fields(self):
            if f.name != "readings":
                setattr(self, f.name, PatientContext.__dataclass_fields__[f.name].default)

    @property
    def is_empty(self) -> bool:
        return self == PatientContext()


class Session:
    def __init__(self, bus: EventBus, clock: Clock, timeouts: SessionTimeouts) -> None:
        self._bus = bus
        self._clock = clock
        self._timeouts = timeouts
        self._state = SessionState.IDLE
        self._overlay = Overlay.NONE
        self._context = PatientContext()
        self._last_activity = clock.monotonic()
        self._still_there_deadline: float | None = None
        self._active_alerts: set[str] = set()

    # --- what the screen and the other parts read -------------------------------------------
    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def overlay(self) -> Overlay:
        return self._overlay

    @property
    def context(self) -> PatientContext:
        return self._context

    @property
    def active_alerts(self) -> frozenset[str]:
        return frozenset(self._active_alerts)

    def still_there_seconds_left(self) -> float | None:
        if self._still_there_deadline is None:
            return None
        return max(0.0, self._still_there_deadline - self._clock.monotonic())

    # --- the journey ---------------------------------------------------------------------------
    def advance(self, target: SessionState) -> None:
        """Move along the journey; a move the table does not list is refused."""
        if self._overlay is Overlay.ASSISTANT:
            raise IllegalTransition(f"{self._state.value} -> {target.value}: assistant mode open")
        if target not in TRANSITIONS[self._state]:
            raise IllegalTransition(f"{self._state.value} -> {target.value} is not allowed")
        if target is SessionState.CONSENT and self._context.patient is None:
            raise IllegalTransition("identify -> consent: no patient identified")
        if target is SessionState.VITALS and not (
            self._context.consent_given and self._context.consultation_id
        ):
            raise IllegalTransition("consent -> vitals: consent not recorded")
        if target is SessionState.WELCOME and self._state is SessionState.IDENTIFY:
            self._context.wipe()  # going back to the start forgets what was typed
        self._activity()
        self._move(target, self._overlay_after_activity())

    def set_patient(
        self, patient: PatientIdentity, appointment: BookedAppointment | None = None
    ) -> None:
        """Who the patient says they are (and the appointment they confirmed): held in memory
        only until they consent."""
        self._require(SessionState.IDENTIFY, "set the patient")
        self._context.patient = patient
        self._context.appointment = appointment
        self._activity()

    def set_language(self, language: str) -> None:
        if self._state not in PATIENT_STATES:
            raise IllegalTransition(f"no patient session in {self._state.value}")
        self._context.language = language
        self._activity()

    def give_consent(self, patient_id: str, consultation_id: str) -> None:
        """The consent is recorded in the store under these ids."""
        self._require(SessionState.CONSENT, "record consent")
        if self._context.patient is None:
            raise IllegalTransition("consent: no patient identified")
        self._context.consent_given = True
        self._context.patient_id = patient_id
        self._context.consultation_id = consultation_id
        self._activity()

    def set_reason(self, reason: VisitReason) -> None:
        """Why the patient comes, chosen before the waiting room."""
        self._require(SessionState.VITALS, "give a reason")
        self._context.reason = reason
        self._activity()

    def add_reading(self, reading: Reading) -> None:
        if self._state not in (SessionState.VITALS, SessionState.WAITING_ROOM, SessionState.CALL):
            raise IllegalTransition(f"no reading expected in {self._state.value}")
        self._context.readings.append(reading)
        self._activity()  # a measurement in progress is the patient being there

    def end(self, reason: EndReason) -> None:
        """End the patient's session from any patient state; the context is wiped."""
        if self._state not in PATIENT_STATES:
            raise IllegalTransition(f"no patient session to end in {self._state.value}")
        target = SessionState.CLEANING if self._state in NEEDS_CLEANING_FROM else SessionState.IDLE
        consultation_id = self._context.consultation_id
        self._context.wipe()
        self._still_there_deadline = None
        self._last_activity = self._clock.monotonic()
        overlay = Overlay.DISTRESS if self._active_alerts else Overlay.NONE
        log.info("session.ended reason=%s next=%s", reason.value, target.value)
        self._move(target, overlay, reason, consultation_id)

    # --- the patient touching the screen --------------------------------------------------------
    def touch(self) -> None:
        """Any touch: resets the inactivity timer and answers "are you still there?"."""
        self._activity()
        overlay = self._overlay_after_activity()
        if overlay is not self._overlay:
            self._move(self._state, overlay)

    # --- distress and assistant overlays ----------------------------------------------------------
    def raise_distress(self, alert_id: str) -> None:
        """Show the distress overlay, whatever the state and whatever overlay stood before."""
        self._active_alerts.add(alert_id)
        self._still_there_deadline = None
        if self._overlay is not Overlay.DISTRESS:
            self._move(self._state, Overlay.DISTRESS)

    def clear_distress(self, alert_id: str | None = None) -> None:
        """One alert handled (or, with None, "I am fine": all of them)."""
        if alert_id is None:
            self._active_alerts.clear()
        else:
            self._active_alerts.discard(alert_id)
        self._last_activity = self._clock.monotonic()
        if not self._active_alerts and self._overlay is Overlay.DISTRESS:
            self._move(self._state, Overlay.NONE)

    def enter_assistant(self) -> None:
        """The assistant mode (behind its PIN): from idle, from cleaning, or from an alert."""
        allowed = self._overlay is Overlay.DISTRESS or (
            self._overlay is Overlay.NONE
            and self._state in (SessionState.IDLE, SessionState.CLEANING)
        )
        if not allowed:
            raise IllegalTransition(
                f"assistant mode is not reachable from {self._state.value}/{self._overlay.value}"
            )
        self._activity()
        self._move(self._state, Overlay.ASSISTANT)

    def leave_assistant(self) -> None:
        if self._overlay is not Overlay.ASSISTANT:
            raise IllegalTransition("assistant mode is not open")
        self._activity()
        self._move(self._state, Overlay.DISTRESS if self._active_alerts else Overlay.NONE)

    # --- time ------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Apply the timeouts at the clock's current time."""
        now = self._clock.monotonic()
        idle_for = now - self._last_activity
        if self._overlay is Overlay.ASSISTANT:
            if idle_for >= self._timeouts.assistant_s:
                log.info("assistant.timed_out")
                self.leave_assistant()
        elif self._overlay is Overlay.STILL_THERE:
            if self._still_there_deadline is not None and now >= self._still_there_deadline:
                self.end(EndReason.TIMEOUT)
        elif (
            self._overlay is Overlay.NONE
            and self._state in INACTIVITY_STATES
            and idle_for >= self._timeouts.inactivity_s
        ):
            if self._state is SessionState.SURVEY:
                self.end(EndReason.COMPLETED)  # a survey left unanswered is a normal end
            else:
                self._still_there_deadline = now + self._timeouts.still_there_countdown_s
                self._move(self._state, Overlay.STILL_THERE)

    # --- inside ----------------------------------------------------------------------------------
    def _require(self, state: SessionState, what: str) -> None:
        if self._state is not state:
            raise IllegalTransition(f"cannot {what} in {self._state.value}")

    def _activity(self) -> None:
        self._last_activity = self._clock.monotonic()

    def _overlay_after_activity(self) -> Overlay:
        if self._overlay is Overlay.STILL_THERE:
            self._still_there_deadline = None
            return Overlay.NONE
        return self._overlay

    def _move(
        self,
        state: SessionState,
        overlay: Overlay,
        end_reason: EndReason | None = None,
        ended_consultation_id: str | None = None,
    ) -> None:
        previous, previous_overlay = self._state, self._overlay
        self._state, self._overlay = state, overlay
        log.info(
            "session.state %s/%s -> %s/%s",
            previous.value,
            previous_overlay.value,
            state.value,
            overlay.value,
        )
        self._bus.publish(
            SessionStateChanged(
                previous, state, previous_overlay, overlay, end_reason, ended_consultation_id
            )
        )
