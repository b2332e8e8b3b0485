"""Prescriptions and advice on their way to the cabin: sent again and again until its `Ack`.

Each replica sends again what the cabins it holds have not acknowledged: everything of a
cabin that has just connected to it, and, every `retry_s`, what was not sent in the last half
period. A prescription issued on another replica reaches the cabin through routing, and the
cabin's replica counts it as sent (`sent`). The cabin's `Ack` marks it delivered in the
database with a conditional update: of two acks (sent twice, or to two replicas), one counts.
A console back during a call (on any replica) gets the call's prescriptions, which have
arrived, and the notes and advice stored.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import wire
from hub.audit import AuditLog
from hub.clock import Clock
from hub.errors import StorageError
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.peers import Peer
from hub.prescriptions import prescription_from_record
from hub.routing import Routing
from hub.signals import Audience, Deliver
from hub.storage import ActorKind, AdviceRecord, Storage

log = logging.getLogger(__name__)

REDELIVERY_WINDOW = timedelta(days=7)
"""A prescription (or advice) its cabin has not acknowledged is sent again this long after it was
issued (last changed)."""
_REDELIVERED_PER_CABIN = 100
_REDELIVERED_PER_ROUND = 1000


def advice_message(advice: AdviceRecord) -> wire.PatientAdvice:
    """The advice as sent to the cabin, always under the id its Ack must name."""
    return wire.PatientAdvice(
        msg_id=advice.msg_id, consultation_id=advice.consultation_id, text=advice.text
    )


class Redelivery:
    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        audit: AuditLog,
        routing: Routing,
        retry_s: float,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._audit = audit
        self._routing = routing
        self._retry_s = retry_s
        self._last_sent: dict[str, float] = {}
        """Undelivered prescriptions and advice by `msg_id`: when (loop time) each was last
        sent to its cabin."""

    def sent(self, msg_id: str) -> None:
        """A prescription or advice has just been sent to its cabin, from this replica."""
        self._last_sent[msg_id] = asyncio.get_running_loop().time()

    def _send_here(
        self, cabin_id: str, message: wire.PrescriptionMessage | wire.PatientAdvice
    ) -> bool:
        """To its cabin if this replica holds it (False if not); it goes again until
        acknowledged."""
        text = wire.encode(message).decode("utf-8")
        if not self._routing.deliver_here(Deliver(Audience.CABIN, cabin_id, text)):
            return False
        self.sent(message.msg_id)
        return True

    async def send(
        self, cabin_id: str, message: wire.PrescriptionMessage | wire.PatientAdvice
    ) -> bool:
        """A new prescription or advice, to its cabin wherever it is; whether it was
        connected (to this replica or another)."""
        if self._send_here(cabin_id, message):
            return True
        return await self._routing.reach_cabin(cabin_id, message)

    async def redeliver(self, cabin_id: str | None = None) -> None:
        """Send again what a cabin has not acknowledged: everything of `cabin_id` (it has just
        connected), or, for every cabin connected here, what was not sent in the last half
        period."""
        since = self._clock.now() - REDELIVERY_WINDOW
        limit = _REDELIVERED_PER_ROUND if cabin_id is None else _REDELIVERED_PER_CABIN
        try:
            prescriptions = await self._storage.undelivered_prescriptions(
                since=since, cabin_id=cabin_id, limit=limit
            )
            advice = await self._storage.undelivered_advice(
                since=since, cabin_id=cabin_id, limit=limit
            )
        except StorageError as exc:
            log.error("hub.storage_failed task=redelivery error=%s", log_safe(exc))
            return
        pending: list[tuple[str, wire.PrescriptionMessage | wire.PatientAdvice]] = [
            (p.cabin_id, prescription_from_record(p.prescription)) for p in prescriptions
        ]
        pending += [(a.cabin_id, advice_message(a)) for a in advice]
        now = asyncio.get_running_loop().time()
        if cabin_id is None:  # forget those delivered (or too old) meanwhile
            ids = {message.msg_id for _, message in pending}
            self._last_sent = {k: v for k, v in self._last_sent.items() if k in ids}
        for cabin, message in pending:
            last = self._last_sent.get(message.msg_id)
            recent = last is not None and now - last < self._retry_s / 2
            if cabin_id is None and recent:
                continue
            if not self._send_here(cabin, message):
                continue
            if isinstance(message, wire.PrescriptionMessage):
                log.info(
                    "hub.prescription_resent consultation=%s prescription=%s cabin=%s",
                    message.consultation_id,
                    message.prescription_id,
                    cabin,
                )
            else:
                log.info(
                    "hub.advice_resent consultation=%s cabin=%s", message.consultation_id, cabin
                )

    async def run_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._retry_s)
            if self._routing.cabins:
                await self.redeliver()

    async def cabin_ack(self, peer: Peer, ack: wire.Ack) -> None:
        """A cabin's Ack: of a prescription, it is now delivered (its doctor is told, on
        whichever replica); of the latest advice of one of its consultations, that advice is
        delivered."""
        record = await self._storage.mark_prescription_delivered(
            ack.ack_of, cabin_id=peer.identity, at=self._clock.now()
        )
        if record is None or record.delivered_at is None:
            # not a prescription of this cabin's not yet delivered: advice, maybe
            await self._advice_ack(peer, ack)
            return
        self._last_sent.pop(record.msg_id, None)
        log.info(
            "hub.prescription_delivered consultation=%s prescription=%s cabin=%s",
            record.consultation_id,
            record.prescription_id,
            peer.identity,
        )
        self._routing.to_doctor(
            record.doctor,
            wire.PrescriptionDelivered(
                msg_id=new_msg_id(),
                prescription_id=record.prescription_id,
                consultation_id=record.consultation_id,
                delivered_at=record.delivered_at,
            ),
        )
        await self._audit.record(
            "prescription.delivered",
            actor_kind=ActorKind.CABIN,
            actor_id=peer.identity,
            consultation_id=record.consultation_id,
        )

    async def _advice_ack(self, peer: Peer, ack: wire.Ack) -> None:
        advice = await self._storage.mark_advice_delivered(
            ack.ack_of, cabin_id=peer.identity, at=self._clock.now()
        )
        if advice is None:
            return  # an older advice since replaced, already delivered, or another cabin's
        self._last_sent.pop(advice.msg_id, None)
        log.info(
            "hub.advice_delivered consultation=%s cabin=%s", advice.consultation_id, peer.identity
        )
        await self._audit.record(
            "advice.delivered",
            actor_kind=ActorKind.CABIN,
            actor_id=peer.identity,
            consultation_id=advice.consultation_id,
        )

    # --- a console back during a call -------------------------------------------------------

    async def prescriptions_to_console(self, peer: Peer, consultation_id: str) -> None:
        """A console back during a call: the call's prescriptions, and which have arrived."""
        try:
            records = await self._storage.prescriptions(consultation_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=prescriptions_to_console error=%s", log_safe(exc))
            return
        for record in records:
            peer.send(prescription_from_record(record))
            if record.delivered_at is not None:
                peer.send(
                    wire.PrescriptionDelivered(
                        msg_id=new_msg_id(),
                        prescription_id=record.prescription_id,
                        consultation_id=record.consultation_id,
                        delivered_at=record.delivered_at,
                    )
                )

    async def notes_to_console(self, peer: Peer, consultation_id: str) -> None:
        """A console back during a call (a reload): the notes and advice stored, to fill its
        fields again."""
        try:
            record = await self._storage.consultation(consultation_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=notes_to_console error=%s", exc)
            return
        if record is not None:
            peer.send(
                wire.ConsultationNotes(
                    msg_id=new_msg_id(),
                    consultation_id=consultation_id,
                    text=record.notes,
                    advice=record.advice,
                )
            )
