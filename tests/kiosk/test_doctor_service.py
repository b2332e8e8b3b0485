"""When no doctor can be reached: the notice's grace on the session's clock, when the cabin last had
the hub kept across a restart (a real SQCipher file), and a real hub that goes away and comes
back while a consultation's record waits in the outbox, delivered once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from demo.root import start_core
from hub.storage import ConsultationRecordUpload
from kiosk.app import KioskCore
from kiosk.bus import EventBus
from kiosk.config import load_config
from kiosk.doctor_service import HUB_LAST_SEEN, DoctorService
from kiosk.events import DoctorServiceChanged
from kiosk.hub_link import HubLinkState
from kiosk.session_states import EndReason, Overlay, SessionState
from kiosk.store import AsyncStore, DatabaseKey, Store
from tests.e2e.rig import write_token
from tests.hub.hub_rig import TIMEOUT_S, running_hub, until
from tests.kiosk.test_session import FakeClock
from tests.kiosk.test_teleconsultation import restart, to_waiting_room

KEY = DatabaseKey.generate()
SEEN = datetime(2026, 12, 7, 13, 5, tzinfo=UTC)


async def service_on(store: AsyncStore, clock: FakeClock, bus: EventBus) -> DoctorService:
    return await DoctorService.open(bus, store, clock, grace_s=60.0, now=lambda: SEEN)


def test_the_notice_waits_for_the_grace_and_goes_at_once_when_the_hub_is_back(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        store = await AsyncStore.open(tmp_path / "cabin.db", KEY)
        clock, bus = FakeClock(), EventBus()
        said: list[DoctorServiceChanged] = []
        bus.subscribe(DoctorServiceChanged, said.append)
        service = await service_on(store, clock, bus)
        try:
            assert service.reachable and service.last_seen is None
            service.link_state_changed(HubLinkState.CONNECTING.value)
            service.link_state_changed(HubLinkState.ONLINE.value)
            clock.advance(3600)
            service.poll()
            assert said == [] and service.reachable

            service.link_state_changed(HubLinkState.OFFLINE.value)  # a blip begins
            clock.advance(59.9)
            service.poll()
            assert said == [] and service.reachable  # not at the first second of a blip
            service.link_state_changed(HubLinkState.CONNECTING.value)  # still down
            clock.advance(0.1)
            service.poll()
            assert said == [DoctorServiceChanged(False, SEEN)]
            assert not service.reachable
            service.poll()
            assert len(said) == 1  # said once

            service.link_state_changed(HubLinkState.ONLINE.value)
            assert said[-1] == DoctorServiceChanged(True, SEEN)
            service.link_state_changed(HubLinkState.OFFLINE.value)
            clock.advance(10)
            service.poll()
            assert service.reachable  # a new grace for a new loss
        finally:
            await service.aclose()
            await store.close()

    asyncio.run(scenario())


def test_a_hub_that_never_came_up_is_said_after_the_grace(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await AsyncStore.open(tmp_path / "cabin.db", KEY)
        clock, bus = FakeClock(), EventBus()
        said: list[DoctorServiceChanged] = []
        bus.subscribe(DoctorServiceChanged, said.append)
        service = await service_on(store, clock, bus)
        try:
            clock.advance(59)
            service.poll()
            assert service.reachable
            clock.advance(1)
            service.poll()
            assert said == [DoctorServiceChanged(False, None)]  # never seen
        finally:
            await service.aclose()
            await store.close()

    asyncio.run(scenario())


def test_when_the_hub_was_last_seen_survives_a_restart(tmp_path: Path) -> None:
    """Kept in the SQLCipher file's cabin_state: read back by a new store on the same file."""

    async def scenario() -> None:
        path = tmp_path / "cabin.db"
        store = await AsyncStore.open(path, KEY)
        service = await service_on(store, FakeClock(), EventBus())
        service.link_state_changed(HubLinkState.ONLINE.value)
        service.link_state_changed(HubLinkState.OFFLINE.value)
        await service.aclose()
        await store.close()
        assert path.read_bytes()[:16] != b"SQLite format 3\x00"  # encrypted

        store = await AsyncStore.open(path, KEY)  # the cabin restarted
        try:
            assert await store.run(Store.cabin_state_get, HUB_LAST_SEEN) == SEEN.isoformat()
            clock = FakeClock()
            again = await DoctorService.open(EventBus(), store, clock, grace_s=60.0)
            assert again.last_seen == SEEN
            clock.advance(60)
            again.poll()
            assert not again.reachable
            await again.aclose()
        finally:
            await store.close()

    asyncio.run(scenario())


def test_cabin_state_is_a_small_key_value_table(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "cabin.db", KEY)
    try:
        assert store.cabin_state_get("nothing") is None
        store.cabin_state_set("k", "one", SEEN)
        store.cabin_state_set("k", "two", SEEN)
        assert store.cabin_state_get("k") == "two"
    finally:
        store.close()


async def cabin_core(tmp_path: Path, hub_url: str, token: str) -> KioskCore:
    config = load_config(None)
    config = msgspec.structs.replace(
        config,
        cabin=msgspec.structs.replace(config.cabin, id="cabin-1"),
        hub=msgspec.structs.replace(config.hub, url=hub_url, offline_notice_after_s=0.5),
    )
    data = tmp_path / "cabin"
    write_token(data, token)
    return await start_core(config, data, env={"CABIN_DB_KEY": KEY.hex()}, instruments={})


def test_a_real_hub_goes_away_and_comes_back_with_the_record_that_waited(tmp_path: Path) -> None:
    """The hub stops: after the grace the cabin says no doctor can be reached. The panic button
    still works (its alert kept for the hub). A patient comes all the same, waits, prints their
    measurements and leaves: their record waits in the outbox. The hub comes back: the cabin
    says a doctor can be reached, the agent gets the alert, and the record reaches the hub
    once."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            core = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            said: list[DoctorServiceChanged] = []
            core.bus.subscribe(DoctorServiceChanged, said.append)
            try:
                assert core.hub is not None and core.doctor_service is not None
                await core.hub.wait_online(TIMEOUT_S)
                assert core.doctor_service.reachable
                said.clear()
                await rig.hub.stop()
                await until(lambda: bool(said), what="the doctor service said unavailable")
                assert [e.reachable for e in said] == [False]
                last_seen = said[0].last_seen
                assert last_seen is not None
                assert (datetime.now(UTC) - last_seen).total_seconds() < TIMEOUT_S

                # The panic button needs no hub: the overlay now, the alert kept to send.
                assert core.distress is not None
                alert_id = await core.distress.panic("screen")
                assert core.session.overlay is Overlay.DISTRESS
                assert core.alerts is not None
                await core.alerts.patient_is_fine()

                kept = core.hub.unacknowledged  # the alert's messages
                assert kept >= 1
                consultation_id = await to_waiting_room(core)
                await until(
                    lambda: core.hub.unacknowledged == kept + 1,  # type: ignore[union-attr]
                    what="the QueueJoin kept",
                )
                core.session.advance(SessionState.CLOSING)  # "print my measurements"
                core.session.advance(SessionState.SURVEY)
                core.session.end(EndReason.COMPLETED)
                await until(lambda: core.session.state is SessionState.CLEANING)
                assert core.paperwork is not None
                await core.consultation.settled()  # the end written, the record filed
                await core.paperwork.settled()
                assert await core.store.run(Store.outbox_pending) >= 1  # waits for the hub

                await restart(rig, tmp_path)
                stored: list[bool] = []
                original = rig.hub.storage.add_record

                async def counting(record: ConsultationRecordUpload) -> bool:
                    result = await original(record)
                    stored.append(result)
                    return result

                rig.hub.storage.add_record = counting  # type: ignore[method-assign]
                await core.hub.wait_online(TIMEOUT_S)
                await until(lambda: said[-1].reachable, what="the doctor service back")

                async def delivered() -> int:
                    return await core.store.run(Store.outbox_pending)

                deadline = asyncio.get_running_loop().time() + TIMEOUT_S
                while await delivered():
                    assert asyncio.get_running_loop().time() < deadline, "record never sent"
                    await asyncio.sleep(0.05)
                alert = await rig.hub.storage.alert(alert_id)  # the agent was told
                assert alert is not None and alert.cabin_id == "cabin-1"
                record = await rig.hub.storage.record_of_consultation(consultation_id)
                assert record is not None and record.cabin_id == "cabin-1"
                assert stored == [True]  # once, and never again
                await asyncio.sleep(0.5)
                assert stored == [True]
            finally:
                await core.aclose()

    asyncio.run(scenario())
