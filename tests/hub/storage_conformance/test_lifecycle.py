"""The audit log, and the storage's own life: checked, closed, opened again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from hub.errors import StorageError
from hub.storage import ActorKind, AuditEntry, Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import NOW, assert_utc, consultation, doctor


def test_the_audit_log_is_read_oldest_first_and_by_consultation(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        entries = [
            AuditEntry(NOW, ActorKind.DOCTOR, "dr.é", "history.read", "c-1", "10.0.0.1"),
            AuditEntry(
                NOW + timedelta(microseconds=1),
                ActorKind.CABIN,
                "cabin-1",
                "alert.raise",
                alert_id="al-1",
            ),
            AuditEntry(
                NOW + timedelta(seconds=1),
                ActorKind.OPERATOR,
                "ops.łukasz",
                "account.disable",
                subject="agent.ß",
            ),
            AuditEntry(
                NOW + timedelta(seconds=2),
                ActorKind.PUBLIC,
                "",
                "prescription.check",
                client_address="2001:db8::1",
            ),
            AuditEntry(
                NOW + timedelta(seconds=3),
                ActorKind.AGENT,
                "agent.ß",
                "alert.ack",
                "c-1",
                alert_id="al-1",
            ),
            AuditEntry(
                NOW + timedelta(seconds=4),
                ActorKind.HUB,
                "hub",
                "alert.escalate",
                "c-2",
                None,
                "al-1",
                None,
            ),
        ]
        for entry in entries:
            await storage.add_audit(entry)
        assert list(await storage.audit_entries()) == entries
        assert list(await storage.audit_entries(consultation_id="c-1")) == [
            entries[0],
            entries[4],
        ]
        assert list(await storage.audit_entries(consultation_id="c-unknown")) == []
        assert_utc((await storage.audit_entries())[0].at)

    storage.run(scenario)


def test_audit_entries_written_at_once_are_all_kept(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await asyncio.gather(
            *(
                storage.add_audit(AuditEntry(NOW, ActorKind.DOCTOR, f"dr.{n}", "history.read"))
                for n in range(20)
            )
        )
        assert sorted(e.actor_id for e in await storage.audit_entries()) == sorted(
            f"dr.{n}" for n in range(20)
        )

    storage.run(scenario)


def test_what_is_stored_is_there_when_opened_again(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as first:
            await first.add_doctor(doctor())
            await first.open_consultation(consultation("c-1"))
            await first.check()
        async with storage.opened() as again:
            assert await again.doctor("dr.é") == doctor()
            assert await again.consultation("c-1") == consultation("c-1")

    asyncio.run(scenario())


def test_a_closed_storage_says_so_and_closes_twice(storage: Backend) -> None:
    async def scenario() -> None:
        closed = await storage.open()
        await closed.check()
        await closed.close()
        await closed.close()  # twice is harmless
        with pytest.raises(StorageError):
            await closed.check()
        with pytest.raises(StorageError):
            await closed.doctor("dr.é")

    asyncio.run(scenario())
