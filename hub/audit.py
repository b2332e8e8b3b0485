"""The audit log: who read or did what to which consultation (or alert, or account), and from
where."""

from __future__ import annotations

import logging

from hub.clock import Clock
from hub.storage import ActorKind, AuditEntry, Storage

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def record(
        self,
        action: str,
        *,
        actor_kind: ActorKind,
        actor_id: str,
        consultation_id: str | None = None,
        client_address: str | None = None,
        alert_id: str | None = None,
        subject: str | None = None,
    ) -> None:
        await self._storage.add_audit(
            AuditEntry(
                at=self._clock.now(),
                actor_kind=actor_kind,
                actor_id=actor_id,
                action=action,
                consultation_id=consultation_id,
                client_address=client_address,
                alert_id=alert_id,
                subject=subject,
            )
        )
        log.info(
            "hub.audit action=%s actor=%s:%s consultation=%s alert=%s subject=%s",
            action,
            actor_kind.value,
            actor_id,
            consultation_id or "-",
            alert_id or "-",
            subject or "-",
        )
