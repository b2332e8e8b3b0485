"""Cabins, consultations and what happens in them: taking a patient, notes, advice, readings."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import wire
from hub.storage import (
    AdviceRecord,
    CabinRecord,
    ConsultationStatus,
    ReadingRecord,
    Storage,
)
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import (
    KEY,
    NOW,
    OTHER_PATIENT,
    PATIENT,
    assert_utc,
    consultation,
    doctor,
)

WEEK_AGO = NOW - timedelta(days=7)


async def _add_doctors(storage: Storage, *usernames: str) -> None:
    """The doctors a consultation names (a backend may require them)."""
    for username in usernames:
        await storage.add_doctor(doctor(username))


def _vital(systolic: float) -> wire.Vital:
    return wire.Vital(
        kind=wire.VitalKind.BLOOD_PRESSURE,
        measured_at=datetime(2026, 11, 23, 8, 55, 1, 999999, tzinfo=UTC),
        device_id="bp-1",
        systolic_mmhg=systolic,
        diastolic_mmhg=84.5,
        pulse_bpm=71,
    )


def test_a_cabin_put_many_times_at_once_is_one_cabin(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        puts = [CabinRecord("cabin-1", f"Cabine {n}", f"{n:064x}", NOW) for n in range(20)]
        await asyncio.gather(*(storage.put_cabin(put) for put in puts))
        stored = await storage.cabins()
        assert len(stored) == 1 and stored[0] in puts

    storage.run(scenario)


def test_a_cabin_is_put_and_put_again_with_a_new_token(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        first = CabinRecord("cabin-1", "Cabine de Plœmeur", "1" * 64, NOW)
        await storage.put_cabin(first)
        await storage.put_cabin(CabinRecord("cabin-2", "Mairie", "2" * 64, NOW))
        assert await storage.cabin("cabin-1") == first
        assert await storage.cabin("cabin-9") is None
        again = CabinRecord("cabin-1", "Cabine de Łódź", "3" * 64, NOW + timedelta(days=1))
        await storage.put_cabin(again)
        assert await storage.cabin("cabin-1") == again  # the old token is gone
        cabins = sorted(await storage.cabins(), key=lambda c: c.cabin_id)
        assert [(c.cabin_id, c.token_sha256) for c in cabins] == [
            ("cabin-1", "3" * 64),
            ("cabin-2", "2" * 64),
        ]
        assert_utc(cabins[0].provisioned_at)

    storage.run(scenario)


def test_a_consultation_comes_back_as_stored_and_is_opened_once(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        record = dataclasses.replace(
            consultation("c-1"), notes="déjà vue ; Œdème", advice="", age_years=None
        )
        assert await storage.open_consultation(record) == record
        assert await storage.consultation("c-1") == record
        stored = await storage.consultation("c-1")
        assert stored is not None and stored.patient == PATIENT
        assert_utc(stored.joined_at)
        assert await storage.consultation("c-unknown") is None
        # opened again, with other values: the stored one, unchanged
        other = dataclasses.replace(
            consultation("c-1", cabin_id="cabin-2", who=OTHER_PATIENT), reason="autre"
        )
        assert await storage.open_consultation(other) == record
        assert await storage.consultation("c-1") == record
        # a consultation opened taken and ended (a hub restarted mid-call) keeps its times
        ended = dataclasses.replace(
            consultation("c-2"),
            status=ConsultationStatus.ENDED,
            doctor="dr.é",
            taken_at=NOW + timedelta(minutes=1),
            ended_at=NOW + timedelta(minutes=20, microseconds=3),
        )
        await _add_doctors(storage, "dr.é")
        await storage.open_consultation(ended)
        assert await storage.consultation("c-2") == ended
        bare = dataclasses.replace(consultation("c-3"), reason="", sex=wire.Sex.UNKNOWN)
        await storage.open_consultation(bare)
        assert await storage.consultation("c-3") == bare

    storage.run(scenario)


def test_a_consultation_opened_twenty_times_at_once_is_stored_once(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            joins = [
                dataclasses.replace(consultation("c-1"), reason=f"raison {n}") for n in range(20)
            ]
            opened = await asyncio.gather(
                *(
                    replica.open_consultation(join)
                    for replica, join in zip([one, two] * 10, joins, strict=True)
                )
            )
            stored = await one.consultation("c-1")
            assert stored is not None and stored in joins
            assert opened == [stored] * 20
            assert await two.active_consultations() == [stored]

    asyncio.run(scenario())


def test_a_patient_is_taken_by_one_doctor_of_twenty_at_once(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await _add_doctors(storage, *(f"dr.{n}" for n in range(20)), "dr.late")
        await storage.open_consultation(consultation("c-1"))
        taken_at = NOW + timedelta(seconds=30)
        won = await asyncio.gather(
            *(storage.mark_taken("c-1", doctor=f"dr.{n}", at=taken_at) for n in range(20))
        )
        assert sorted(won) == [False] * 19 + [True]
        stored = await storage.consultation("c-1")
        assert stored is not None
        assert stored.status is ConsultationStatus.TAKEN
        assert stored.doctor == f"dr.{won.index(True)}"
        assert stored.taken_at == taken_at
        assert not await storage.mark_taken("c-1", doctor="dr.late", at=taken_at)
        assert not await storage.mark_taken("c-unknown", doctor="dr.a", at=taken_at)
        # opening it again changes nothing
        again = await storage.open_consultation(consultation("c-1"))
        assert again.status is ConsultationStatus.TAKEN and again.doctor == stored.doctor

    storage.run(scenario)


def test_two_replicas_let_one_doctor_take_a_patient(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            await _add_doctors(one, *(f"dr.{n}" for n in range(10)))
            for index in range(5):
                await one.open_consultation(consultation(f"c-{index}"))
                won = await asyncio.gather(
                    *(
                        replica.mark_taken(f"c-{index}", doctor=f"dr.{n}", at=NOW)
                        for n, replica in enumerate([one, two] * 5)
                    )
                )
                assert won.count(True) == 1
                seen = await two.consultation(f"c-{index}")
                assert seen is not None and seen.doctor == f"dr.{won.index(True)}"

    asyncio.run(scenario())


def test_a_live_consultation_is_closed_once_by_two_replicas_at_once(storage: Backend) -> None:
    """A cabin's grace on one replica and a doctor's hang-up on another end it together:
    exactly one of them does."""

    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            await _add_doctors(one, "dr.a")
            for consultation_id in ("c-waiting", "c-taken"):
                await one.open_consultation(consultation(consultation_id))
            assert await one.mark_taken("c-taken", doctor="dr.a", at=NOW)
            for consultation_id in ("c-waiting", "c-taken"):
                closed = await asyncio.gather(
                    *(
                        replica.close_live_consultation(consultation_id, status=status, at=NOW)
                        for replica, status in [
                            (one, ConsultationStatus.LEFT),
                            (two, ConsultationStatus.ENDED),
                        ]
                        * 5
                    )
                )
                assert closed.count(True) == 1
                stored = await two.consultation(consultation_id)
                assert stored is not None and stored.ended_at == NOW
                expected = (
                    ConsultationStatus.LEFT
                    if closed.index(True) % 2 == 0
                    else (ConsultationStatus.ENDED)
                )
                assert stored.status is expected
                assert consultation_id not in [
                    c.consultation_id for c in await one.active_consultations()
                ]
            assert not await one.close_live_consultation(
                "c-unknown", status=ConsultationStatus.LEFT, at=NOW
            )

    asyncio.run(scenario())


def test_back_to_the_waiting_room_then_closed(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await _add_doctors(storage, "dr.é", "dr.b", "dr.c")
        await storage.open_consultation(consultation("c-1"))
        assert await storage.mark_taken("c-1", doctor="dr.é", at=NOW)
        await storage.mark_waiting("c-1")
        waiting = await storage.consultation("c-1")
        assert waiting is not None
        assert (waiting.status, waiting.doctor, waiting.taken_at) == (
            ConsultationStatus.WAITING,
            None,
            None,
        )
        assert await storage.mark_taken("c-1", doctor="dr.b", at=NOW + timedelta(minutes=1))
        ended_at = NOW + timedelta(minutes=25, microseconds=11)
        await storage.close_consultation("c-1", status=ConsultationStatus.ENDED, at=ended_at)
        ended = await storage.consultation("c-1")
        assert ended is not None
        assert (ended.status, ended.doctor, ended.ended_at) == (
            ConsultationStatus.ENDED,
            "dr.b",
            ended_at,
        )
        assert_utc(ended.ended_at)
        assert not await storage.mark_taken("c-1", doctor="dr.c", at=ended_at)

        await storage.open_consultation(consultation("c-2"))
        await storage.close_consultation("c-2", status=ConsultationStatus.LEFT, at=ended_at)
        left = await storage.consultation("c-2")
        assert left is not None and left.status is ConsultationStatus.LEFT
        assert not await storage.mark_taken("c-2", doctor="dr.c", at=ended_at)

    storage.run(scenario)


def test_active_consultations_are_the_waiting_and_taken_by_arrival(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        arrivals = [3, 1, 4, 0, 2]  # minutes after NOW, stored in this order
        for index, minutes in enumerate(arrivals):
            await storage.open_consultation(
                consultation(f"c-{index}", joined_at=NOW + timedelta(minutes=minutes))
            )
        await _add_doctors(storage, "dr.é")
        assert await storage.mark_taken("c-2", doctor="dr.é", at=NOW)
        await storage.close_consultation("c-1", status=ConsultationStatus.ENDED, at=NOW)
        await storage.close_consultation("c-4", status=ConsultationStatus.LEFT, at=NOW)
        active = await storage.active_consultations()
        assert [c.consultation_id for c in active] == ["c-3", "c-0", "c-2"]
        assert [c.status for c in active] == [
            ConsultationStatus.WAITING,
            ConsultationStatus.WAITING,
            ConsultationStatus.TAKEN,
        ]
        assert active[0] == consultation("c-3", joined_at=NOW)
        limited = await storage.active_consultations(limit=2)
        assert [c.consultation_id for c in limited] == ["c-3", "c-0"]

    storage.run(scenario)


def test_notes_are_replaced(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.open_consultation(consultation("c-1"))
        notes = "TA 132/84.\nÉruption cutanée — Łokieć; straße 😷\n\ttabulé"
        await storage.set_notes("c-1", notes)
        stored = await storage.consultation("c-1")
        assert stored is not None and stored.notes == notes
        await storage.set_notes("c-1", "")
        stored = await storage.consultation("c-1")
        assert stored is not None and stored.notes == ""
        await storage.set_notes("c-unknown", "nothing")  # changes nothing
        assert await storage.consultation("c-unknown") is None

    storage.run(scenario)


def test_advice_is_kept_once_per_change_and_delivered_to_its_cabin_only(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.open_consultation(consultation("c-1"))
        first = await storage.set_advice("c-1", "Repos.", msg_id="a-1", at=NOW)
        assert first == AdviceRecord("c-1", "cabin-1", "Repos.", "a-1", NOW)
        assert await storage.set_advice("c-1", "Repos.", msg_id="a-2", at=NOW) is None
        text = "Repos, eau ; revoir si fièvre > 39 °C. Łyżka syropu."
        changed_at = NOW + timedelta(seconds=1)
        second = await storage.set_advice("c-1", text, msg_id="a-3", at=changed_at)
        assert second == AdviceRecord("c-1", "cabin-1", text, "a-3", changed_at)
        assert await storage.undelivered_advice(since=WEEK_AGO) == [second]
        assert await storage.undelivered_advice(since=WEEK_AGO, cabin_id="cabin-1") == [second]
        assert await storage.undelivered_advice(since=WEEK_AGO, cabin_id="cabin-2") == []
        assert await storage.undelivered_advice(since=changed_at) == [second]
        later = changed_at + timedelta(microseconds=1)
        assert await storage.undelivered_advice(since=later) == []
        # an Ack of the replaced advice, or from another cabin, delivers nothing
        assert await storage.mark_advice_delivered("a-1", cabin_id="cabin-1", at=NOW) is None
        assert await storage.mark_advice_delivered("a-3", cabin_id="cabin-2", at=NOW) is None
        delivered_at = NOW + timedelta(seconds=2)
        delivered = await storage.mark_advice_delivered("a-3", cabin_id="cabin-1", at=delivered_at)
        assert delivered == dataclasses.replace(second, delivered_at=delivered_at)
        assert delivered is not None
        assert_utc(delivered.delivered_at)
        assert await storage.mark_advice_delivered("a-3", cabin_id="cabin-1", at=later) is None
        assert await storage.undelivered_advice(since=WEEK_AGO) == []
        record = await storage.consultation("c-1")
        assert record is not None and record.advice == text
        # changed after its delivery: to be delivered again, under its new id
        third = await storage.set_advice("c-1", "Repos.", msg_id="a-4", at=later)
        assert third == AdviceRecord("c-1", "cabin-1", "Repos.", "a-4", later)
        assert await storage.undelivered_advice(since=WEEK_AGO) == [third]
        assert await storage.set_advice("c-unknown", "x", msg_id="a-5", at=NOW) is None
        # one new text sent twenty times at once: one change
        changes = await asyncio.gather(
            *(storage.set_advice("c-1", "Boire.", msg_id=f"b-{n}", at=later) for n in range(20))
        )
        assert sum(change is not None for change in changes) == 1
        assert await storage.undelivered_advice(since=WEEK_AGO) == [
            change for change in changes if change is not None
        ]

    storage.run(scenario)


def test_undelivered_advice_is_the_latest_of_each_consultation_oldest_first(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        for index, cabin_id in enumerate(["cabin-1", "cabin-2", "cabin-1"]):
            await storage.open_consultation(consultation(f"c-{index}", cabin_id=cabin_id))
        at = [NOW + timedelta(seconds=s) for s in range(5)]
        await storage.set_advice("c-2", "un", msg_id="m-1", at=at[0])
        await storage.set_advice("c-0", "deux", msg_id="m-2", at=at[1])
        await storage.set_advice("c-1", "trois", msg_id="m-3", at=at[2])
        await storage.set_advice("c-2", "quatre", msg_id="m-4", at=at[3])
        pending = await storage.undelivered_advice(since=WEEK_AGO)
        assert [(a.consultation_id, a.msg_id) for a in pending] == [
            ("c-0", "m-2"),
            ("c-1", "m-3"),
            ("c-2", "m-4"),
        ]
        assert [a.cabin_id for a in pending] == ["cabin-1", "cabin-2", "cabin-1"]
        limited = await storage.undelivered_advice(since=WEEK_AGO, limit=2)
        assert [a.msg_id for a in limited] == ["m-2", "m-3"]
        mine = await storage.undelivered_advice(since=WEEK_AGO, cabin_id="cabin-1")
        assert [a.msg_id for a in mine] == ["m-2", "m-4"]

    storage.run(scenario)


def test_earlier_consultations_are_the_same_patients_before_this_one(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        for index in range(4):
            await storage.open_consultation(
                consultation(f"c-{index}", joined_at=NOW + timedelta(days=index))
            )
        await storage.open_consultation(
            consultation("c-other", who=OTHER_PATIENT, match_key="quelennec|yves|1951-12-31")
        )
        earlier = await storage.earlier_consultations(
            KEY, before=NOW + timedelta(days=3), exclude="c-3", limit=10
        )
        assert [c.consultation_id for c in earlier] == ["c-2", "c-1", "c-0"]
        assert earlier[0] == consultation("c-2", joined_at=NOW + timedelta(days=2))
        # `before` is strict; `exclude` and `limit` apply
        assert [
            c.consultation_id
            for c in await storage.earlier_consultations(
                KEY, before=NOW + timedelta(days=2), exclude="c-1", limit=10
            )
        ] == ["c-0"]
        assert [
            c.consultation_id
            for c in await storage.earlier_consultations(
                KEY, before=NOW + timedelta(days=9), exclude="c-9", limit=2
            )
        ] == ["c-3", "c-2"]
        assert (
            await storage.earlier_consultations(
                "nobody|x|2000-01-01", before=NOW, exclude="", limit=9
            )
            == []
        )

    storage.run(scenario)


def test_readings_are_stored_once_per_message_in_the_order_received(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.open_consultation(consultation("c-1"))
        await storage.open_consultation(consultation("c-2"))
        readings = [
            ReadingRecord("c-1", f"r-{n}", _vital(100 + n), NOW + timedelta(seconds=n))
            for n in range(5)
        ]
        for reading in readings:
            assert await storage.add_reading(reading)
        again = dataclasses.replace(readings[2], vital=_vital(199))
        assert not await storage.add_reading(again)
        # the same message id in another consultation is another reading
        elsewhere = ReadingRecord("c-2", "r-1", _vital(150), NOW)
        assert await storage.add_reading(elsewhere)
        stored = await storage.readings("c-1")
        assert stored == readings
        assert stored[0].vital.measured_at == datetime(2026, 11, 23, 8, 55, 1, 999999, tzinfo=UTC)
        assert_utc(stored[0].received_at)
        assert await storage.readings("c-2") == [elsewhere]
        assert await storage.readings("c-unknown") == []
        # twenty copies of one message at once: one is stored
        copies = [ReadingRecord("c-2", "r-9", _vital(120), NOW) for _ in range(20)]
        added = await asyncio.gather(*(storage.add_reading(copy) for copy in copies))
        assert sorted(added) == [False] * 19 + [True]
        assert len(await storage.readings("c-2")) == 2

    storage.run(scenario)
