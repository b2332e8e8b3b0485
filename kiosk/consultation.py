"""The patient's consultation as the screen drives it: session moves plus what they store.

The screen (and the scripted demo) call these coroutines for the patient's intents; each one
writes what must be kept to the encrypted store *before* the session moves on, so a crash never
loses a reading the patient saw as taken. Ends of session, whatever caused them (a button, a
timeout, the assistant), are recorded from the bus, in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from devices.reading import Reading
from kiosk.bus import EventBus
from kiosk.errors import StoreError
from kiosk.events import ReadingReceived, SessionStateChanged
from kiosk.patient import BookedAppointment, PatientIdentity
from kiosk.session import Session
from kiosk.session_states import EndReason, SessionState
from kiosk.store import AsyncStore, ConsultationAppointment, Store

log = logging.getLogger(__name__)


class Consultation:
    def __init__(self, session: Session, store: AsyncStore, bus: EventBus) -> None:
        self._session = session
        self._store = store
        self._bus = bus
        self._pending: set[asyncio.Task[None]] = set()
        self._subscription = bus.subscribe(SessionStateChanged, self._on_state)
        self.after_end: list[Callable[[str], Awaitable[object]]] = []
        """Called with the consultation id once its end is written (the record is filed)."""

    @property
    def session(self) -> Session:
        return self._session

    async def start(self, language: str) -> None:
        self._session.advance(SessionState.WELCOME)
        self._session.set_language(language)

    async def choose_identify(self) -> None:
        self._session.advance(SessionState.IDENTIFY)

    async def identify(
        self, patient: PatientIdentity, appointment: BookedAppointment | None = None
    ) -> None:
        """Who the patient is; `appointment`: the one they confirmed (code, birth date)."""
        if self._session.state is not SessionState.IDENTIFY:
            self._session.advance(SessionState.CONSENT)  # raises the precise refusal
        self._session.set_patient(patient, appointment)
        self._session.advance(SessionState.CONSENT)

    async def consent(self, accepted: bool) -> None:
        """The patient's answer. A refusal ends the session and nothing of them is written."""
        context = self._session.context
        if self._session.state is not SessionState.CONSENT or context.patient is None:
            self._session.advance(SessionState.VITALS)  # raises the precise refusal
            return
        if not accepted:
            self._session.end(EndReason.CONSENT_REFUSED)
            return
        patient_id, consultation_id = await self._store.run(
            Store.open_consultation, context.patient, context.language or "fr"
        )
        appointment = context.appointment
        if appointment is not None:
            await self._store.run(
                Store.set_consultation_appointment,
                consultation_id,
                ConsultationAppointment(
                    appointment_id=appointment.appointment_id,
                    starts_at=appointment.starts_at,
                    ends_at=appointment.ends_at,
                    doctor=appointment.doctor,
                    doctor_name=appointment.doctor_name,
                ),
                used_here=appointment.checked_offline,
            )
            log.info(
                "consultation.appointment consultation=%s appointment=%s",
                consultation_id,
                appointment.appointment_id,
            )
        self._session.give_consent(patient_id, consultation_id)
        self._session.advance(SessionState.VITALS)

    async def record_reading(self, reading: Reading) -> int:
        """Store a final reading (durably), then show and publish it."""
        consultation_id = self._session.context.consultation_id
        if consultation_id is None:
            raise StoreError("no consultation is open to receive this reading")
        writing = asyncio.ensure_future(
            self._store.run(Store.add_reading, consultation_id, reading)
        )
        try:
            reading_id = await asyncio.shield(writing)
        except asyncio.CancelledError:
            # The write goes on in the store's thread: a stored reading is shown and sent too
            # (or the record and the doctor would disagree), then the cancellation goes on.
            with contextlib.suppress(StoreError):
                self._recorded(consultation_id, await writing, reading)
            raise
        self._recorded(consultation_id, reading_id, reading)
        return reading_id

    def _recorded(self, consultation_id: str, reading_id: int, reading: Reading) -> None:
        if self._session.context.consultation_id == consultation_id:  # not a new patient's
            self._session.add_reading(reading)
        self._bus.publish(ReadingReceived(consultation_id, reading_id, reading))

    async def cleaning_done(self, by_whom: str) -> None:
        await self._store.run(Store.log_cleaning, by_whom, None, None)
        self._session.advance(SessionState.IDLE)

    def _on_state(self, event: SessionStateChanged) -> None:
        if event.end_reason is None or event.ended_consultation_id is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._record_end(event.ended_consultation_id, event.end_reason)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_end(self, consultation_id: str, reason: EndReason) -> None:
        try:
            await self._store.run(Store.end_consultation, consultation_id, reason.value)
        except StoreError:
            # The memory is wiped already; the record is closed at the next start-up instead.
            log.exception("consultation.end_not_recorded consultation=%s", consultation_id)
            return
        for follow_up in self.after_end:
            try:
                await follow_up(consultation_id)
            except (StoreError, OSError, ValueError) as exc:
                # Filed again at the next start-up (``consultations_without_record``).
                log.error(
                    "consultation.follow_up_failed consultation=%s error=%s", consultation_id, exc
                )

    async def settled(self) -> None:
        """Wait until the ends of session already signalled are written to the store."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        self._subscription.cancel()
        await self.settled()
