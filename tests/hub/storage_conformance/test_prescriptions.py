"""Signed prescriptions: their numbers, what is kept of them, and their delivery to the cabin."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from hub.storage import Storage, UndeliveredPrescription
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import (
    NOW,
    assert_utc,
    consultation,
    doctor,
    prescription,
)

WEEK_AGO = NOW - timedelta(days=7)


async def _consultations(storage: Storage) -> None:
    await storage.add_doctor(doctor())
    await storage.open_consultation(consultation("c-1", cabin_id="cabin-1"))
    await storage.open_consultation(consultation("c-2", cabin_id="cabin-2"))


def test_prescription_numbers_never_repeat_within_a_year(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        numbers = await asyncio.gather(
            *(storage.next_prescription_sequence(2026) for _ in range(20))
        )
        assert sorted(numbers) == list(range(1, 21))
        assert await storage.next_prescription_sequence(2027) == 1
        assert await storage.next_prescription_sequence(2026) == 21
        assert await storage.next_prescription_sequence(2027) == 2

    storage.run(scenario)


def test_two_replicas_never_give_one_number_twice(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            numbers = await asyncio.gather(
                *(replica.next_prescription_sequence(2026) for replica in [one, two] * 15)
            )
            assert sorted(numbers) == list(range(1, 31))
        async with storage.opened() as reopened:  # kept
            assert await reopened.next_prescription_sequence(2026) == 31

    asyncio.run(scenario())


def test_a_prescription_comes_back_as_signed(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await _consultations(storage)
        signed = prescription("RX-2026-000001-ABCD", "c-1")
        await storage.add_prescription(signed)
        assert await storage.prescription("RX-2026-000001-ABCD") == signed
        stored = await storage.prescription("RX-2026-000001-ABCD")
        assert stored is not None
        assert_utc(stored.issued_at)
        assert stored.lines[0].instructions == "Au cours des repas ; pas plus de 3 g/jour."
        assert await storage.prescription_signature("RX-2026-000001-ABCD") == signed.signature
        assert await storage.prescription("RX-unknown") is None
        assert await storage.prescription_signature("RX-unknown") is None
        # signed before the patient and the check page were
        older = dataclasses.replace(
            prescription("RX-2026-000002-EFGH", "c-1"), patient=None, check_url=None
        )
        await storage.add_prescription(older)
        assert await storage.prescription("RX-2026-000002-EFGH") == older

    storage.run(scenario)


def test_a_consultations_prescriptions_in_the_order_issued(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await _consultations(storage)
        issued = [
            prescription(f"RX-{n}", "c-1", issued_at=NOW + timedelta(minutes=m))
            for n, m in [(1, 5), (2, 1), (3, 3)]
        ]
        for each in issued:
            await storage.add_prescription(each)
        await storage.add_prescription(prescription("RX-9", "c-2"))
        stored = await storage.prescriptions("c-1")
        assert stored == [issued[1], issued[2], issued[0]]
        assert await storage.prescriptions("c-unknown") == []

    storage.run(scenario)


def test_a_prescription_is_delivered_once_and_to_its_cabin_only(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await _consultations(storage)
        first = prescription("RX-1", "c-1", issued_at=NOW + timedelta(seconds=2))
        second = prescription("RX-2", "c-2", issued_at=NOW + timedelta(seconds=1))
        third = prescription("RX-3", "c-1", issued_at=NOW + timedelta(seconds=3))
        for each in (first, second, third):
            await storage.add_prescription(each)
        pending = await storage.undelivered_prescriptions(since=WEEK_AGO)
        assert pending == [
            UndeliveredPrescription(second, "cabin-2"),
            UndeliveredPrescription(first, "cabin-1"),
            UndeliveredPrescription(third, "cabin-1"),
        ]
        assert await storage.undelivered_prescriptions(since=WEEK_AGO, cabin_id="cabin-1") == [
            UndeliveredPrescription(first, "cabin-1"),
            UndeliveredPrescription(third, "cabin-1"),
        ]
        assert await storage.undelivered_prescriptions(since=WEEK_AGO, limit=1) == pending[:1]
        since = await storage.undelivered_prescriptions(since=NOW + timedelta(seconds=2))
        assert [p.prescription.prescription_id for p in since] == ["RX-1", "RX-3"]

        # another cabin's Ack delivers nothing
        assert (
            await storage.mark_prescription_delivered("msg-RX-1", cabin_id="cabin-2", at=NOW)
            is None
        )
        assert (
            await storage.mark_prescription_delivered("msg-unknown", cabin_id="cabin-1", at=NOW)
            is None
        )
        delivered_at = NOW + timedelta(minutes=1, microseconds=5)
        delivered = await storage.mark_prescription_delivered(
            "msg-RX-1", cabin_id="cabin-1", at=delivered_at
        )
        assert delivered == dataclasses.replace(first, delivered_at=delivered_at)
        assert delivered is not None
        assert_utc(delivered.delivered_at)
        assert await storage.prescription("RX-1") == delivered
        again = await storage.mark_prescription_delivered(
            "msg-RX-1", cabin_id="cabin-1", at=delivered_at + timedelta(minutes=1)
        )
        assert again is None  # once
        assert [
            p.prescription.prescription_id
            for p in await storage.undelivered_prescriptions(since=WEEK_AGO)
        ] == ["RX-2", "RX-3"]
        # twenty Acks of one message at once: one delivery
        acks = await asyncio.gather(
            *(
                storage.mark_prescription_delivered("msg-RX-3", cabin_id="cabin-1", at=NOW)
                for _ in range(20)
            )
        )
        assert sum(ack is not None for ack in acks) == 1

    storage.run(scenario)
