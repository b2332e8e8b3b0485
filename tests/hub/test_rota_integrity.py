"""The booking desk over the database's rota guarantees: twenty coordinators adding one doctor's
overlapping shifts at once on two replicas (one added, the others refused and explained), and
a removed or shortened shift's appointments handed to the doctor on duty who covers them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from fleet.servers import PostgresServer
from hub.bookings import BookingRefused, RefusalReason
from hub.schedule import ConflictKind, RotaShift
from tests.hub.pg_backend import postgres_server
from tests.hub.test_bookings import MONDAY, OTHER, Rig, at, scenario, two_replicas

__all__ = ["postgres_server"]


async def _martins_first_week(rig: Rig) -> RotaShift:
    return (
        await rig.storage.shifts(
            starts_before=at(MONDAY, 23), ends_after=at(MONDAY, 0), doctor="dr.martin"
        )
    )[0]


def test_twenty_overlapping_shifts_from_two_replicas_one_is_added_the_rest_explained(
    postgres_server: PostgresServer,
) -> None:
    async def body() -> None:
        async with asyncio.timeout(60), two_replicas(postgres_server) as (one, two):
            calls = [
                (one if n % 2 else two).desk.add_shift(
                    "cab-flour",
                    "dr.bernard",
                    at(MONDAY, 8) + timedelta(minutes=n),
                    at(MONDAY, 18),
                    by=f"coord-{n}",
                )
                for n in range(20)
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
            added = [r for r in results if isinstance(r, RotaShift)]
            refused = [r for r in results if isinstance(r, BookingRefused)]
            assert len(added) == 1 and len(refused) == 19, results
            for refusal in refused:
                assert refusal.reason is RefusalReason.ROTA_CONFLICT
                assert [c.kind for c in refusal.conflicts] == [ConflictKind.DOCTOR_OVERLAP]
                assert "dr.bernard" in refusal.fr and "dr.bernard" in refusal.en
            stored = await two.storage.shifts(
                starts_before=at(MONDAY, 23), ends_after=at(MONDAY, 0), cabin_id="cab-flour"
            )
            assert stored == added
            subject = f"shift:{added[0].shift_id}"
            added_audit = [e for e in await one.audit("shift.added") if e.subject == subject]
            assert len(added_audit) == 1

    asyncio.run(body())


def test_a_removed_shifts_appointments_go_to_the_doctor_on_duty(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        desk = rig.desk
        martin = await _martins_first_week(rig)
        monday = await rig.book(at(MONDAY, 9))
        tuesday = await rig.book(at(MONDAY + timedelta(days=1), 14), patient=OTHER)
        assert monday.doctor == tuesday.doctor == "dr.martin"
        await desk.add_shift(
            "cab-murat", "dr.bernard", at(MONDAY, 8), at(MONDAY + timedelta(days=5), 0), by="coord"
        )
        await desk.remove_shift(martin.shift_id, by="coord")
        for booked in (monday, tuesday):
            stored = await rig.storage.appointment(booked.appointment_id)
            assert stored is not None and stored.doctor == "dr.bernard"
        entries = await rig.audit("appointment.reassigned")
        assert sorted(e.subject or "" for e in entries) == sorted(
            f"appointment:{a.appointment_id}" for a in (monday, tuesday)
        )
        assert {e.actor_id for e in entries} == {"coord"}

    scenario(tmp_path, body)


def test_a_shortened_shifts_later_appointments_go_to_the_doctor_on_duty(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        desk = rig.desk
        martin = await _martins_first_week(rig)
        kept = await rig.book(at(MONDAY, 9))
        later = await rig.book(at(MONDAY + timedelta(days=2), 10), patient=OTHER)
        cancelled = await rig.book(at(MONDAY + timedelta(days=3), 10), patient=OTHER)
        await desk.cancel(cancelled.appointment_id, reason="r", by="coord")
        # dr.bernard covers the second half of the week only
        await desk.add_shift(
            "cab-murat",
            "dr.bernard",
            at(MONDAY + timedelta(days=2), 8),
            at(MONDAY + timedelta(days=5), 0),
            by="coord",
        )
        await desk.change_shift(
            martin.shift_id, martin.starts_at, at(MONDAY + timedelta(days=2), 0), by="coord"
        )
        doctors = {
            a.appointment_id: (await rig.storage.appointment(a.appointment_id)).doctor  # type: ignore[union-attr]
            for a in (kept, later, cancelled)
        }
        assert doctors == {
            kept.appointment_id: "dr.martin",
            later.appointment_id: "dr.bernard",
            cancelled.appointment_id: "dr.martin",  # cancelled: left as it was
        }
        [entry] = await rig.audit("appointment.reassigned")
        assert entry.subject == f"appointment:{later.appointment_id}"

    scenario(tmp_path, body)
