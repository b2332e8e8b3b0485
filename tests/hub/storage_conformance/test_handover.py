"""Handovers between the weekly doctors, their acknowledgements, and the follow-up flags: the same
on both backends (sealed at rest on PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import msgspec
import pytest

from fleet.servers import PostgresServer
from hub.errors import StorageError
from hub.handover import FollowUp, Handover, HandoverItem, HandoverStore, ItemKind
from hub.postgres_storage import PostgresStorage
from hub.sealing import SealedValueError
from hub.sqlite_storage import SqliteStorage
from hub.storage import Storage
from tests.hub.pg_backend import (
    ROTATED_RING_TEXT,
    fresh_database,
    keyring_of,
    open_postgres_storage,
)
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import NOW, assert_utc, consultation, doctor

SUMMARY = "Semaine calme ; Mme Łukaszewska-Groß à rappeler 🩺"
ITEMS = (
    HandoverItem(ItemKind.PATIENT, "Suivi TA de Zoé Ærin", consultation_id="c-1"),
    HandoverItem(ItemKind.RESULT, "NFS en attente (labo de Murat)", due_on=date(2026, 11, 30)),
    HandoverItem(ItemKind.ACTION, "Appeler la pharmacie"),
)


def _handovers(storage: Storage) -> HandoverStore:
    assert isinstance(storage, SqliteStorage | PostgresStorage)
    return storage


def handover(
    handover_id: str = "ho-1",
    *,
    author: str = "dr.a",
    written_days_ago: float = 0,
    recipients: tuple[str, ...] = ("dr.b",),
) -> Handover:
    at = NOW - timedelta(days=written_days_ago)
    return Handover(
        handover_id=handover_id,
        author=author,
        cabin_ids=("cabin-1", "cabin-2"),
        covers_from=at - timedelta(days=7),
        covers_until=at,
        summary=SUMMARY,
        items=ITEMS,
        recipients=recipients,
        written_at=at,
        updated_at=at,
    )


async def _setup(storage: Storage) -> HandoverStore:
    for username in ("dr.a", "dr.b"):
        await storage.add_doctor(doctor(username))
    await storage.open_consultation(consultation("c-1"))
    await storage.open_consultation(consultation("c-2", cabin_id="cabin-2"))
    return _handovers(storage)


def test_a_handover_comes_back_as_written_and_is_listed_newest_first(storage: Backend) -> None:
    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await store.add_handover(handover("ho-old", written_days_ago=7))
        await store.add_handover(handover("ho-1"))
        await store.add_handover(handover("ho-b", author="dr.b", recipients=()))
        found = await store.handover("ho-1")
        assert found == handover("ho-1")
        assert found is not None
        assert_utc(found.written_at)
        assert found.items[1].due_on == date(2026, 11, 30)
        assert await store.handover("ho-unknown") is None
        listed = await store.handovers(
            written_from=NOW - timedelta(days=8), written_before=NOW + timedelta(seconds=1)
        )
        assert [h.handover_id for h in listed] == ["ho-1", "ho-b", "ho-old"]
        recent = await store.handovers(
            written_from=NOW - timedelta(days=1), written_before=NOW + timedelta(days=1)
        )
        assert {h.handover_id for h in recent} == {"ho-1", "ho-b"}
        by_a = await store.handovers(
            written_from=NOW - timedelta(days=30),
            written_before=NOW + timedelta(days=1),
            author="dr.a",
        )
        assert [h.handover_id for h in by_a] == ["ho-1", "ho-old"]
        with pytest.raises(StorageError):
            await store.add_handover(handover("ho-1"))

    storage.run(scenario)


def test_only_its_author_replaces_a_handover(storage: Backend) -> None:
    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await store.add_handover(handover())
        edited = msgspec.structs.replace(
            handover(),
            summary="Corrigé",
            items=ITEMS[:1],
            recipients=(),
            updated_at=NOW + timedelta(hours=1),
        )
        stolen = msgspec.structs.replace(edited, author="dr.b", summary="Pas à moi")
        assert not await store.replace_handover(stolen)
        assert await store.handover("ho-1") == handover()
        assert await store.replace_handover(edited)
        assert await store.handover("ho-1") == edited
        assert not await store.replace_handover(
            msgspec.structs.replace(edited, handover_id="ho-none")
        )

    storage.run(scenario)


def test_the_first_acknowledgement_stands(storage: Backend) -> None:
    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await store.add_handover(handover())
        await store.add_handover(handover("ho-2"))
        assert await store.mark_handover_read("ho-none", reader="dr.b", at=NOW) is None
        first = await store.mark_handover_read("ho-1", reader="dr.b", at=NOW)
        assert first is not None
        read, new = first
        assert new
        assert (read.handover_id, read.reader, read.read_at) == ("ho-1", "dr.b", NOW)
        again = await store.mark_handover_read("ho-1", reader="dr.b", at=NOW + timedelta(hours=2))
        assert again == (read, False)
        other = await store.mark_handover_read("ho-1", reader="dr.a", at=NOW + timedelta(hours=1))
        assert other is not None and other[1]
        reads = await store.handover_reads(["ho-1", "ho-2"])
        assert [(r.reader, r.read_at) for r in reads] == [
            ("dr.b", NOW),
            ("dr.a", NOW + timedelta(hours=1)),
        ]
        for r in reads:
            assert_utc(r.read_at)
        assert await store.handover_reads(["ho-2"]) == []
        assert await store.handover_reads([]) == []

    storage.run(scenario)


def test_two_acknowledgements_at_once_record_one(storage: Backend) -> None:
    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await store.add_handover(handover())
        results = await asyncio.gather(
            *(
                store.mark_handover_read("ho-1", reader="dr.b", at=NOW + timedelta(seconds=i))
                for i in range(8)
            )
        )
        assert sum(1 for r in results if r is not None and r[1]) == 1
        assert len({r[0].read_at for r in results if r is not None}) == 1

    storage.run(scenario)


def flag(
    followup_id: str, consultation_id: str = "c-1", cabin_id: str = "cabin-1", **kw: Any
) -> FollowUp:
    return FollowUp(
        followup_id=followup_id,
        consultation_id=consultation_id,
        cabin_id=cabin_id,
        note="Revoir la tension de Zoé Ærin dans 8 jours",
        flagged_by="dr.a",
        flagged_at=kw.pop("flagged_at", NOW),
        **kw,
    )


def test_a_flag_stays_open_until_one_doctor_clears_it(storage: Backend) -> None:
    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await store.add_followup(flag("fu-2", flagged_at=NOW + timedelta(minutes=1)))
        await store.add_followup(flag("fu-1"))
        await store.add_followup(flag("fu-3", "c-2", "cabin-2"))
        assert await store.followup("fu-1") == flag("fu-1")
        assert await store.followup("fu-none") is None
        assert [f.followup_id for f in await store.open_followups(cabin_ids=None)] == [
            "fu-1",
            "fu-3",
            "fu-2",
        ]
        assert [f.followup_id for f in await store.open_followups(cabin_ids=["cabin-1"])] == [
            "fu-1",
            "fu-2",
        ]
        assert await store.open_followups(cabin_ids=[]) == []
        later = NOW + timedelta(days=8)
        cleared = await store.clear_followup("fu-1", by="dr.b", at=later, note="TA normale ✓")
        assert cleared is not None
        assert (cleared.cleared_by, cleared.cleared_at, cleared.clear_note) == (
            "dr.b",
            later,
            "TA normale ✓",
        )
        assert not cleared.is_open
        assert_utc(cleared.cleared_at)
        assert await store.clear_followup("fu-1", by="dr.a", at=later, note="encore") is None
        assert await store.clear_followup("fu-none", by="dr.a", at=later, note="") is None
        assert await store.followup("fu-1") == cleared
        assert [f.followup_id for f in await store.open_followups(cabin_ids=["cabin-1"])] == [
            "fu-2"
        ]
        of_c1 = await store.followups_of_consultation("c-1")
        assert [(f.followup_id, f.is_open) for f in of_c1] == [("fu-1", False), ("fu-2", True)]

    storage.run(scenario)


def test_two_doctors_clearing_at_once_clear_it_once(storage: Backend) -> None:
    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await store.add_followup(flag("fu-1"))
        results = await asyncio.gather(
            *(store.clear_followup("fu-1", by=f"dr.{i}", at=NOW, note=str(i)) for i in range(6))
        )
        assert sum(1 for r in results if r is not None) == 1

    storage.run(scenario)


def test_what_a_doctor_wrote_is_sealed_on_postgresql(storage: Backend) -> None:
    if storage.name != "postgresql":
        pytest.skip("SQLCipher encrypts the whole file")

    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await store.add_handover(handover())
        await store.add_followup(flag("fu-1"))
        await store.clear_followup("fu-1", by="dr.b", at=NOW, note="Vue, TA normale")
        assert isinstance(db, PostgresStorage)
        async with db._connection() as c:
            row = await c.fetchrow("SELECT summary, items FROM handovers")
            note = await c.fetchrow("SELECT note, clear_note FROM followups")
        raw = b"".join(bytes(v) for v in (*row.values(), *note.values()))
        for text in ("Łukaszewska", "Zoé", "NFS", "pharmacie", "tension", "TA normale"):
            assert text.encode() not in raw
        assert (await store.followup("fu-1")) is not None

    storage.run(scenario)


def test_the_consultations_a_doctor_took_in_a_week(storage: Backend) -> None:
    async def scenario(db: Storage) -> None:
        store = await _setup(db)
        await db.open_consultation(consultation("c-old", joined_at=NOW - timedelta(days=9)))
        await db.open_consultation(consultation("c-3", joined_at=NOW + timedelta(hours=1)))
        for consultation_id in ("c-1", "c-old", "c-3"):
            assert await db.mark_taken(consultation_id, doctor="dr.a", at=NOW)
        assert await db.mark_taken("c-2", doctor="dr.b", at=NOW)
        week = await store.doctor_consultations(
            "dr.a", joined_from=NOW - timedelta(days=7), joined_before=NOW + timedelta(days=1)
        )
        assert [c.consultation_id for c in week] == ["c-3", "c-1"]
        assert week[1].patient == consultation("c-1").patient
        assert week[1].doctor == "dr.a"

    storage.run(scenario)


def test_handovers_and_flags_are_sealed_again_after_a_key_rotation(
    postgres_server: PostgresServer,
) -> None:
    _, dsn = fresh_database(postgres_server, "handover")

    async def scenario() -> None:
        storage = await open_postgres_storage(dsn)
        try:
            await _setup(storage)
            await storage.add_handover(handover())
            await storage.add_followup(flag("fu-1"))
            await storage.clear_followup("fu-1", by="dr.b", at=NOW, note="TA normale")
        finally:
            await storage.close()
        rotated = await open_postgres_storage(dsn, keyring_of(ROTATED_RING_TEXT))
        try:
            before = await rotated.key_usage()
            assert await rotated.reseal(batch=1) > 0
            after = await rotated.key_usage()
            assert after["k1"] == 0 and after["k2"] == before["k1"]
            assert await rotated.handover("ho-1") == handover()
            cleared = await rotated.followup("fu-1")
            assert cleared is not None and cleared.clear_note == "TA normale"
        finally:
            await rotated.close()

    asyncio.run(scenario())


def test_a_handover_sealed_under_another_row_does_not_open(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server, "handover")

    async def write() -> None:
        storage = await open_postgres_storage(dsn)
        try:
            await _setup(storage)
            await storage.add_handover(handover("ho-1"))
            await storage.add_handover(handover("ho-2", author="dr.b"))
        finally:
            await storage.close()

    async def read() -> Handover | None:
        storage = await open_postgres_storage(dsn)
        try:
            return await storage.handover("ho-2")
        finally:
            await storage.close()

    asyncio.run(write())
    postgres_server.psql(
        "UPDATE handovers SET summary = (SELECT summary FROM handovers"
        " WHERE handover_id = 'ho-1') WHERE handover_id = 'ho-2'",
        name,
    )
    with pytest.raises(SealedValueError):
        asyncio.run(read())
