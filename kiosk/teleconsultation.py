"""The remote part of a consultation: the waiting room, the call, and what the doctor sends.

This joins the session (what the patient is doing) to the hub (where the doctors are) and to the
call (media and the data channel, peer to peer). It queues the patient when they reach the
waiting room, with who they are and the vitals taken so far; it starts the call when a doctor
takes them, shows who the doctor is, sends each new reading to the doctor and the hub, turns the
doctor's requests into measurements, keeps the prescription in the encrypted store, and ends the
call on either side's hang-up. It never logs a patient's data: consultation ids only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

import wire
from devices.cancellation import cancel_and_wait
from devices.reading import Quantity, Reading, ReadingKind
from kiosk.bus import EventBus
from kiosk.errors import HubError
from kiosk.events import (
    CallLink,
    CallLinkChanged,
    DoctorAssigned,
    HubStatusChanged,
    MeasurementRequested,
    PrescriptionReceived,
    QueueStatus,
    ReadingReceived,
    SessionStateChanged,
)
from kiosk.session import Session
from kiosk.session_states import SessionState
from kiosk.store import AsyncStore, Store
from kiosk.visit_reasons import for_the_doctor

if TYPE_CHECKING:
    # aiohttp comes with the hub link, in the core's warm-up; the paperwork uses `vital_of`
    # from the first screen on.
    from kiosk.hub_link import HubLink, HubLinkState

log = logging.getLogger(__name__)

Frame = Any  # an RGB image as a numpy array (height, width, 3), uint8
FrameSink = Callable[[Frame], None]

_KIND_OF: dict[ReadingKind, wire.VitalKind] = {
    ReadingKind.BLOOD_PRESSURE: wire.VitalKind.BLOOD_PRESSURE,
    ReadingKind.TEMPERATURE: wire.VitalKind.TEMPERATURE,
    ReadingKind.PULSE_OXIMETRY: wire.VitalKind.SPO2,
}
_READING_KIND_OF: dict[wire.VitalKind, ReadingKind] = {
    wire.VitalKind.BLOOD_PRESSURE: ReadingKind.BLOOD_PRESSURE,
    wire.VitalKind.TEMPERATURE: ReadingKind.TEMPERATURE,
    wire.VitalKind.SPO2: ReadingKind.PULSE_OXIMETRY,
    wire.VitalKind.PULSE: ReadingKind.PULSE_OXIMETRY,
}
_FIELDS: dict[ReadingKind, tuple[Quantity, ...]] = {
    ReadingKind.BLOOD_PRESSURE: (
        Quantity.SYSTOLIC_MMHG,
        Quantity.DIASTOLIC_MMHG,
        Quantity.MEAN_ARTERIAL_MMHG,
        Quantity.PULSE_BPM,
    ),
    ReadingKind.TEMPERATURE: (Quantity.TEMPERATURE_C,),
    ReadingKind.PULSE_OXIMETRY: (Quantity.SPO2_PERCENT, Quantity.PULSE_BPM),
}


def vital_of(reading: Reading) -> wire.Vital:
    """A reading as the doctor and the hub receive it."""
    values = {q.value: reading.get(q) for q in _FIELDS[reading.kind]}
    return wire.Vital(
        kind=_KIND_OF[reading.kind],
        measured_at=reading.measured_at.astimezone(UTC),
        device_id=reading.device_id,
        **{name: value for name, value in values.items() if value is not None},
    )


def age_on(birth_date: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - int(before_birthday)


class CallSession(Protocol):
    """One call, as the call client (``kiosk.call``) runs it."""

    async def start(self) -> None: ...
    async def handle_signal(
        self, message: wire.SdpAnswer | wire.IceCandidate | wire.CallEnd
    ) -> None: ...
    async def send_reading(self, message: wire.ReadingMessage) -> None: ...
    @property
    def ice_servers(self) -> tuple[wire.IceServer, ...]:
        """What the next peer connection uses (TURN credentials included)."""
        ...

    def renew_ice(self, accepted: wire.CallAccepted) -> None:
        """The hub's `CallAccepted` again (after a reconnection): its fresh TURN credentials
        are for the next peer connection."""
        ...

    async def hang_up(self, reason: wire.CallEndReason) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class CallRequest:
    """What the call client needs to run the call a doctor accepted."""

    consultation_id: str
    accepted: wire.CallAccepted
    signaling: HubLink
    on_link: Callable[[CallLink], None]
    on_message: Callable[[wire.Message], None]
    on_remote_frame: FrameSink


CallFactory = Callable[[CallRequest], CallSession]


class VideoSinks:
    """Where the call's images go: the screen sets these while the call page is shown."""

    def __init__(self) -> None:
        self.remote: FrameSink | None = None
        self.local: FrameSink | None = None

    def show_remote(self, frame: Frame) -> None:
        if self.remote is not None:
            self.remote(frame)

    def show_local(self, frame: Frame) -> None:
        if self.local is not None:
            self.local(frame)


class Teleconsultation:
    def __init__(
        self,
        session: Session,
        store: AsyncStore,
        bus: EventBus,
        hub: HubLink,
        call_factory: CallFactory,
        *,
        local_preview: Callable[[FrameSink], Callable[[], None]] | None = None,
    ) -> None:
        self._session = session
        self._store = store
        self._bus = bus
        self._hub = hub
        self._call_factory = call_factory
        self._local_preview = local_preview
        self._stop_preview: Callable[[], None] | None = None
        self.video = VideoSinks()
        self._call: CallSession | None = None
        self._call_consultation: str | None = None
        self._queued: str | None = None  # consultation in the waiting room
        self._tasks: set[asyncio.Task[None]] = set()
        hub.say_live(self._live)
        self.doctor: DoctorAssigned | None = None
        self.late_prescription: Callable[[str], Awaitable[object]] | None = None
        """Told of a prescription that arrives once its patient has left (the agent prints it)."""
        self._subscriptions = [
            bus.subscribe(SessionStateChanged, self._on_state),
            bus.subscribe(ReadingReceived, self._on_reading),
        ]

    @property
    def in_call(self) -> bool:
        return self._call is not None

    @property
    def call_ice_servers(self) -> tuple[wire.IceServer, ...] | None:
        """The ICE servers the call's next peer connection uses; None out of a call."""
        return None if self._call is None else self._call.ice_servers

    def hub_state_changed(self, state: HubLinkState) -> None:
        from kiosk.hub_link import HubLinkState  # noqa: PLC0415 - loaded: a link called this

        self._bus.publish(HubStatusChanged(state is HubLinkState.ONLINE, state.value))

    def catch_up(self) -> None:
        """Built once the cabin was already in use (the core's warm-up brings the hub link up
        after the first screen): a patient already in the waiting room is queued now."""
        if self._session.state is SessionState.WAITING_ROOM and self._queued is None:
            self._spawn(self._join_queue())

    # --- the session's moves ----------------------------------------------------------------------

    def _on_state(self, event: SessionStateChanged) -> None:
        if event.state is event.previous:
            return
        if event.state is SessionState.WAITING_ROOM:
            self._spawn(self._join_queue())
        elif event.previous is SessionState.WAITING_ROOM and event.state is not SessionState.CALL:
            self._spawn(self._leave_queue(event))
        if event.previous is SessionState.CALL and self._call is not None:
            reason = (
                wire.CallEndReason.COMPLETED
                if event.state is SessionState.CLOSING
                else wire.CallEndReason.PATIENT_LEFT
            )
            self._spawn(self._end_call(reason, tell_the_doctor=True))
        if event.end_reason is not None:
            self.doctor = None

    async def _join_queue(self) -> None:
        context = self._session.context
        patient, consultation_id = context.patient, context.consultation_id
        if patient is None or consultation_id is None:
            log.error("teleconsultation.queue_without_patient")
            return
        self._queued = consultation_id
        today = datetime.now(UTC).date()
        message = wire.QueueJoin(
            msg_id=self._hub.new_id("q"),
            consultation_id=consultation_id,
            language=wire.Language(context.language or "fr"),
            patient=wire.PatientSummary(
                family_name=patient.family_name,
                given_names=patient.given_names,
                birth_date=patient.birth_date,
                sex=wire.Sex(patient.sex.value),
            ),
            reason=for_the_doctor(context.reason),
            age_years=min(age_on(patient.birth_date, today), 130),
            vitals=[vital_of(r) for r in context.readings][-32:],
            appointment_id=None
            if context.appointment is None
            else context.appointment.appointment_id,
        )
        await self._store.run(
            Store.set_consultation_details,
            consultation_id,
            reason="" if context.reason is None else context.reason.value,
        )
        await self._hub.send(message, reliable=True)
        log.info("teleconsultation.queued consultation=%s", consultation_id)

    async def _leave_queue(self, event: SessionStateChanged) -> None:
        consultation_id = self._queued or event.ended_consultation_id
        self._queued = None
        if consultation_id is None:
            return
        reason = (
            wire.LeaveReason.INACTIVITY
            if event.end_reason is not None and event.end_reason.value == "timeout"
            else wire.LeaveReason.CANCELLED
        )
        message = wire.QueueLeave(
            msg_id=self._hub.new_id("l"), consultation_id=consultation_id, reason=reason
        )
        await self._hub.send(message, reliable=True)

    def _on_reading(self, event: ReadingReceived) -> None:
        if self._session.state not in (SessionState.WAITING_ROOM, SessionState.CALL):
            return  # readings taken before are in the QueueJoin
        message = wire.ReadingMessage(
            msg_id=self._hub.new_id("r"),
            consultation_id=event.consultation_id,
            reading=vital_of(event.reading),
        )
        self._spawn(self._hub.send(message, reliable=True))
        if self._call is not None and self._call_consultation == event.consultation_id:
            self._spawn(self._call.send_reading(message))

    def _live(self) -> list[str]:
        """The consultations this cabin has at the hub now: waiting, or in a call."""
        return [c for c in (self._call_consultation, self._queued) if c is not None]

    # --- what the hub sends -----------------------------------------------------------------------

    async def handle_hub_message(self, message: wire.Message) -> None:
        match message:
            case wire.CallAccepted():
                await self._call_accepted(message)
            case wire.QueuePosition():
                if message.consultation_id == self._session.context.consultation_id:
                    self._bus.publish(QueueStatus(message.position, message.estimated_wait_s))
            case wire.SdpAnswer() | wire.IceCandidate():
                if self._call is not None and message.consultation_id == self._call_consultation:
                    await self._call.handle_signal(message)
            case wire.CallEnd():
                if message.consultation_id == self._call_consultation:
                    await self._doctor_ended(message)
            case wire.PrescriptionMessage():
                # Acked once it is in the store, not before: the hub sends it again until then
                # (after a reconnection, even when the patient's session is over).
                if await self._prescription(message):
                    await self._hub.send(
                        wire.Ack(msg_id=self._hub.new_id("a"), ack_of=message.msg_id)
                    )
            case wire.MeasureRequest():
                self._measure(message)
            case wire.PatientAdvice():
                if await self._advice(message):
                    await self._hub.send(
                        wire.Ack(msg_id=self._hub.new_id("a"), ack_of=message.msg_id)
                    )
            case _:
                pass

    async def _advice(self, message: wire.PatientAdvice) -> bool:
        """Keep the doctor's advice for the summary and the record; False if the consultation
        is not one of this cabin's."""
        if not await self._store.run(Store.has_consultation, message.consultation_id):
            log.warning("teleconsultation.advice_unknown_consultation")
            return False
        await self._store.run(
            Store.set_consultation_details, message.consultation_id, advice=message.text
        )
        log.info("teleconsultation.advice_stored consultation=%s", message.consultation_id)
        return True

    async def _call_accepted(self, accepted: wire.CallAccepted) -> None:
        context = self._session.context
        if self._call is not None and accepted.consultation_id == self._call_consultation:
            # The hub sends the call's acceptance again when the cabin's link comes back (to
            # this replica or another): the call goes on, with TURN credentials valid from now
            # (coturn refuses the first ones once their hour has passed).
            self._call.renew_ice(accepted)
            log.info("teleconsultation.ice_renewed consultation=%s", accepted.consultation_id)
            return
        if (
            self._session.state is not SessionState.WAITING_ROOM
            or accepted.consultation_id != context.consultation_id
        ):
            log.warning("teleconsultation.accept_refused consultation=%s", accepted.consultation_id)
            end = wire.CallEnd(
                msg_id=self._hub.new_id("e"),
                consultation_id=accepted.consultation_id,
                reason=wire.CallEndReason.PATIENT_LEFT,
            )
            await self._hub.send(end)
            return
        self._queued = None
        await self._store.run(
            Store.set_consultation_details,
            accepted.consultation_id,
            doctor_info=msgspec.json.encode(msgspec.structs.replace(accepted.doctor, photo=None)),
        )
        self.doctor = DoctorAssigned(
            accepted.doctor.display_name, accepted.doctor.specialty, _photo(accepted.doctor)
        )
        self._bus.publish(self.doctor)
        self._session.advance(SessionState.CALL)
        request = CallRequest(
            consultation_id=accepted.consultation_id,
            accepted=accepted,
            signaling=self._hub,
            on_link=lambda link: self._bus.publish(CallLinkChanged(link)),
            on_message=self._on_call_message,
            on_remote_frame=self.video.show_remote,
        )
        self._call = self._call_factory(request)
        self._call_consultation = accepted.consultation_id
        self._bus.publish(CallLinkChanged(CallLink.CONNECTING))
        if self._local_preview is not None:
            self._stop_preview = self._local_preview(self.video.show_local)
        log.info("teleconsultation.call_starting consultation=%s", accepted.consultation_id)
        try:
            await self._call.start()
        except (HubError, OSError, TimeoutError) as exc:
            log.error("teleconsultation.call_failed error=%s", type(exc).__name__)
            await self._end_call(wire.CallEndReason.CONNECTION_LOST, tell_the_doctor=True)
            if self._in_call_state():
                self._session.advance(SessionState.WAITING_ROOM)

    def _on_call_message(self, message: wire.Message) -> None:
        match message:
            case wire.MeasureRequest():
                self._measure(message)
            case wire.PrescriptionMessage():
                self._spawn(self._keep(message))
            case wire.CallEnd():
                self._spawn(self._doctor_ended(message))
            case _:
                pass

    async def _keep(self, message: wire.PrescriptionMessage) -> None:
        await self._prescription(message)

    def _measure(self, request: wire.MeasureRequest) -> None:
        if request.consultation_id != self._session.context.consultation_id:
            return
        if self._session.state is SessionState.CALL:
            self._bus.publish(MeasurementRequested(_READING_KIND_OF[request.kind]))

    async def _prescription(self, message: wire.PrescriptionMessage) -> bool:
        """Keep a prescription of one of this cabin's consultations; False if it is not one."""
        known = await self._store.run(Store.has_consultation, message.consultation_id)
        if not known:
            log.warning("teleconsultation.prescription_unknown_consultation")
            return False
        stored = await self._store.run(
            Store.add_prescription,
            message.prescription_id,
            message.consultation_id,
            message.issued_at,
            message.prescriber.registration_number or message.prescriber.display_name,
            wire.encode(message),
            message.signature,
        )
        if stored:
            log.info(
                "teleconsultation.prescription_stored consultation=%s", message.consultation_id
            )
            if message.consultation_id == self._session.context.consultation_id:
                received = PrescriptionReceived(
                    message.consultation_id, message.prescription_id, len(message.lines)
                )
                self._bus.publish(received)
            elif self.late_prescription is not None:
                await self.late_prescription(message.consultation_id)
        return True

    async def _doctor_ended(self, message: wire.CallEnd) -> None:
        await self._end_call(message.reason, tell_the_doctor=False)
        if self._session.state is SessionState.CALL:
            if message.reason is wire.CallEndReason.CONNECTION_LOST:
                self._session.advance(SessionState.WAITING_ROOM)
            else:
                self._session.advance(SessionState.CLOSING)

    async def hang_up(self) -> None:
        """The patient ends the call from the screen (and confirmed it): the doctor is told
        that the patient ended it, and the session goes on to closing, as after the doctor's
        hang-up (what the doctor sent is printed)."""
        if self._call is not None:
            await self._end_call(wire.CallEndReason.PATIENT_ENDED, tell_the_doctor=True)
        if self._session.state is SessionState.CALL:
            self._session.advance(SessionState.CLOSING)

    async def _end_call(self, reason: wire.CallEndReason, *, tell_the_doctor: bool) -> None:
        call, consultation_id = self._call, self._call_consultation
        self._call = None
        self._call_consultation = None
        if self._stop_preview is not None:
            self._stop_preview()
            self._stop_preview = None
        if call is None:
            return
        if tell_the_doctor:
            await call.hang_up(reason)
        await call.close()
        self._bus.publish(CallLinkChanged(CallLink.ENDED))
        log.info("teleconsultation.call_ended consultation=%s reason=%s", consultation_id, reason)

    def _in_call_state(self) -> bool:
        return self._session.state is SessionState.CALL

    # --- housekeeping -----------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("teleconsultation.task_failed error=%s", type(task.exception()).__name__)

    async def settled(self) -> None:
        """Wait for the work in flight (tests and the scripted demo)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        await self._end_call(wire.CallEndReason.PATIENT_LEFT, tell_the_doctor=True)
        for task in tuple(self._tasks):
            await cancel_and_wait(task)


def _photo(doctor: wire.DoctorInfo) -> bytes | None:
    if doctor.photo is None:
        return None
    try:
        return base64.b64decode(doctor.photo, validate=True)
    except (binascii.Error, ValueError):
        return None
