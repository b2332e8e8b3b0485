"""Record intake: a cabin's FHIR record of a finished consultation, from its upload to its
`RecordAck`.

Within the cabin's quota (else `rate_limited`), read on the records' pool (refused if it
cannot be), checked against what the hub knows of the consultation (`hub.records`), stored
once (per cabin: a record posted twice, to one replica or two, is stored once) and indexed by
patient. The quota is counted twice: over sliding windows on this replica (`CabinQuota`),
and fleet-wide through the cluster's counters, over fixed windows of the hub's clock, so that
a cabin hopping from replica to replica cannot multiply its quota.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

import wire
from hub.clock import Clock
from hub.cluster import Cluster, ClusterDown
from hub.errors import (
    InvalidRecord,
    RecordContradicted,
    RecordLimited,
    RecordOfAnotherCabin,
    StorageError,
)
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.patients import match_key
from hub.peers import Peer
from hub.records import RecordDesk, check_against_hub, read_upload_with_digest
from hub.storage import ConsultationRecord, ConsultationRecordUpload, Storage

log = logging.getLogger(__name__)

_ERROR_TEXT = 200
TRY_AGAIN_LATER = 1013
"""The websocket close code (RFC 6455's "try again later") of a cabin whose record could not
be stored: it reconnects, and sends again every message the hub has not acknowledged."""
_HOUR_S = 3600
_DAY_S = 86_400


class RecordIntake:
    def __init__(
        self, *, storage: Storage, clock: Clock, desk: RecordDesk, cluster: Cluster
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._desk = desk
        self._cluster = cluster

    async def admit(self, cabin_id: str, size: int) -> None:
        """Count an upload of `size` bytes, here and fleet-wide; `RecordLimited` if over."""
        self._desk.quota.admit(cabin_id, size)
        limits = self._desk.limits
        now_s = self._clock.now().timestamp()
        hour, day = int(now_s // _HOUR_S), int(now_s // _DAY_S)
        uploads_key = f"hub:records:{cabin_id}:{hour}"
        bytes_key = f"hub:record-bytes:{cabin_id}:{day}"
        try:
            uploads = await self._cluster.hit(uploads_key, window_s=2 * _HOUR_S)
            if uploads > limits.uploads_per_hour:
                await self._cluster.hit(uploads_key, window_s=2 * _HOUR_S, cost=-1)
                wait = (hour + 1) * _HOUR_S - now_s
                raise RecordLimited(
                    f"too many records from this cabin; retry in {math.ceil(wait)} s",
                    retry_after_s=wait,
                )
            total = await self._cluster.hit(bytes_key, window_s=2 * _DAY_S, cost=size)
            if total > limits.bytes_per_day:
                await self._cluster.hit(bytes_key, window_s=2 * _DAY_S, cost=-size)
                await self._cluster.hit(uploads_key, window_s=2 * _HOUR_S, cost=-1)
                wait = (day + 1) * _DAY_S - now_s
                raise RecordLimited(
                    f"too many bytes of records from this cabin; retry in {math.ceil(wait)} s",
                    retry_after_s=wait,
                )
        except ClusterDown as exc:  # this replica's own quota still holds
            log.warning("hub.cluster_down task=record_quota error=%s", log_safe(exc))

    async def record(self, peer: Peer, upload: wire.RecordUpload) -> None:
        """A consultation's record: admitted, read, checked, stored once, acknowledged. The
        database unreachable: no answer (an error would make the cabin shelve the record, or
        forget it), and the cabin's socket is closed (`TRY_AGAIN_LATER`): the cabin keeps the
        record in its outbox and sends it again once connected again."""
        try:
            await self._record(peer, upload)
        except StorageError as exc:
            log.error(
                "hub.record_not_stored cabin=%s consultation=%s record=%s reason=storage_down"
                " error=%s (the cabin keeps it and sends it again)",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                log_safe(exc),
            )
            peer.close_soon(TRY_AGAIN_LATER, "storage unavailable: send it again later")

    async def _record(self, peer: Peer, upload: wire.RecordUpload) -> None:
        try:
            await self.admit(peer.identity, len(upload.bundle))
            content, digest = await self._desk.run(
                lambda: read_upload_with_digest(upload, peer.identity)
            )
            known = await self._storage.consultation(upload.consultation_id)
            check_against_hub(
                content,
                known,
                cabin_id=peer.identity,
                now=self._clock.now(),
                margin=timedelta(seconds=self._desk.limits.session_margin_s),
            )
        except RecordLimited as exc:
            log.warning(
                "hub.record_limited cabin=%s consultation=%s record=%s retry_after_s=%.0f",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                exc.retry_after_s,
            )
            _refuse(peer, wire.ErrorCode.RATE_LIMITED, upload.msg_id, str(exc)[:_ERROR_TEXT])
            return
        except RecordContradicted as exc:
            log.warning(
                "hub.record_contradicts_hub cabin=%s consultation=%s record=%s error=%s",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                log_safe(exc),
            )
            code = (
                wire.ErrorCode.UNAUTHORIZED
                if isinstance(exc, RecordOfAnotherCabin)
                else wire.ErrorCode.CONFLICT
            )
            _refuse(peer, code, upload.msg_id, str(exc)[:_ERROR_TEXT])
            return
        except InvalidRecord as exc:
            log.warning(
                "hub.record_refused cabin=%s consultation=%s record=%s error=%s",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                log_safe(exc),
            )
            _refuse(peer, wire.ErrorCode.MALFORMED, upload.msg_id, str(exc)[:_ERROR_TEXT])
            return
        key, started_at = match_key(content.patient), content.started_at
        if known is not None:  # the hub's patient and start, whatever the record says
            if key != known.match_key:
                log.warning(
                    "hub.record_patient_mismatch cabin=%s consultation=%s record=%s",
                    peer.identity,
                    upload.consultation_id,
                    upload.record_id,
                )
            key, started_at = known.match_key, known.joined_at
            await self._check_doctor(peer, upload, content.doctor_id, content.doctor, known)
        stored = await self._storage.add_record(
            ConsultationRecordUpload(
                record_id=upload.record_id,
                consultation_id=upload.consultation_id,
                cabin_id=peer.identity,
                created_at=upload.created_at,
                received_at=self._clock.now(),
                bundle=bytes(upload.bundle),
                match_key=key,
                started_at=started_at,
                digest=digest,
            )
        )
        log.info(
            "hub.record_received consultation=%s record=%s duplicate=%s seen_live=%s",
            upload.consultation_id,
            upload.record_id,
            not stored,
            known is not None,
        )
        peer.send(
            wire.RecordAck(msg_id=new_msg_id(), record_id=upload.record_id, duplicate=not stored)
        )

    async def _check_doctor(
        self,
        peer: Peer,
        upload: wire.RecordUpload,
        doctor_id: str | None,
        doctor: wire.DoctorInfo | None,
        known: ConsultationRecord,
    ) -> None:
        """Log a record whose doctor is not the one who took the consultation on the hub (the
        history shows the hub's; the record is kept as received)."""
        registration = None
        if known.doctor is not None:
            account = await self._storage.doctor(known.doctor)
            registration = None if account is None else account.registration_number
        claimed_registration = None if doctor is None else doctor.registration_number
        if (doctor_id is not None and doctor_id != known.doctor) or (
            doctor is not None and (known.doctor is None or claimed_registration != registration)
        ):
            log.warning(
                "hub.record_doctor_mismatch cabin=%s consultation=%s record=%s hub_doctor=%s",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                known.doctor,
            )


def _refuse(peer: Peer, code: wire.ErrorCode, in_reply_to: str, text: str) -> None:
    peer.send(wire.ErrorMessage(msg_id=new_msg_id(), code=code, text=text, in_reply_to=in_reply_to))
