"""The self-test's runs (stored, refused during a session, sent until acknowledged, resent after
an outage and after a restart) and the cabin's heartbeat, on a real SQLCipher store, real
instruments on ptys, a real hub link to a hub at the websocket level."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import wire
from devices.cancellation import within
from devices.drivers.cms50 import Cms50LegacyOximeter
from devices.instrument import Availability
from kiosk.bus import EventBus
from kiosk.cabin_status import CabinStatusSender
from kiosk.call.media import CabinMedia, NullAudioOutput
from kiosk.config import SelfTestSection
from kiosk.events import DeviceStatusChanged
from kiosk.hub_link import HubLink, HubLinkState
from kiosk.selftest import SelfTestRefused, checks
from kiosk.selftest.service import (
    SelfTest,
    SelfTestParts,
    by_severity,
    next_nightly,
)
from kiosk.session import Session, SessionTimeouts, SystemClock
from kiosk.session_states import EndReason, SessionState
from kiosk.store import AsyncStore, DatabaseKey, Store
from printing.pdf_folder import PdfFolderPrinter
from simulators.live_cabin import LiveCabin
from simulators.media import CabinScene, SeatedPatient, SyntheticCamera
from simulators.serial.cms50 import Cms50LegacySimulator
from tests.devices.serial_rig import rig
from tests.kiosk.selftest.test_checks import SilenceTrack
from tests.kiosk.selftest.ws_hub import WsHub

Outcome = wire.SelfTestOutcome
TOKEN = "cabin-token-" + "x" * 20


def run(work: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await within(work, 90.0)

    return asyncio.run(bounded())


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - the state of a driver or link, looked at
        await asyncio.sleep(0.05)


async def _ignore(_message: wire.Message) -> None:
    return None


def link_to(hub_url: str) -> HubLink:
    return HubLink(
        hub_url,
        "cabin-1",
        TOKEN,
        software_version="0.6.0",
        handler=_ignore,
        backoff_s=(0.1, 0.2),
    )


def parts(store: AsyncStore, session: Session, tmp_path: Path, **more: Any) -> SelfTestParts:
    printer = PdfFolderPrinter(tmp_path / "printed")
    kernel = checks.KernelClock(state=0, status=0, maxerror_us=1000)
    return SelfTestParts(
        store=store,
        session=session,
        instruments=more.pop("instruments", {}),
        data_dir=tmp_path,
        settings=SelfTestSection(check_timeout_s=3.0, disk_warning_mb=1, disk_failed_mb=1),
        printer_status=checks.printer_status_now(printer),
        printer_name=printer.name,
        clock_check=lambda: checks.clock(tmp_path / "no-flag", lambda: kernel),
        **more,
    )


def test_a_run_checks_everything_stores_the_report_and_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[wire.SelfTestReport, wire.SelfTestReport | None, int]:
        store = await AsyncStore.open(tmp_path / "cabin.db", DatabaseKey.generate())
        session = Session(EventBus(), SystemClock(), SessionTimeouts())
        media = CabinMedia(
            camera=SyntheticCamera(CabinScene(SeatedPatient()), fps=15),
            microphone=SilenceTrack(),
            audio_output=NullAudioOutput(),
        )
        async with rig(Cms50LegacySimulator, Cms50LegacyOximeter, tmp_path) as (_, oximeter):
            selftest = SelfTest(
                parts(store, session, tmp_path, instruments={"ox-1": oximeter}, media=media)
            )
            try:
                report = await selftest.run(wire.SelfTestTrigger.AGENT)
                stored = await SelfTest(selftest.parts).last_report()
                readings = await store.run(Store.count, "readings")
            finally:
                await media.close()
                await store.close()
        return report, stored, readings

    with caplog.at_level(logging.INFO, logger="kiosk.selftest.service"):
        report, stored, readings = run(scenario())
    outcomes = {(r.check, r.subject): r.outcome for r in report.results}
    assert outcomes[(wire.SelfTestCheck.INSTRUMENT, "dev-1")] is Outcome.PASSED
    assert outcomes[(wire.SelfTestCheck.CAMERA, "")] is Outcome.PASSED
    assert outcomes[(wire.SelfTestCheck.MICROPHONE, "")] is Outcome.FAILED  # digital silence
    assert outcomes[(wire.SelfTestCheck.SPEAKER, "")] is Outcome.SKIPPED  # null output
    assert outcomes[(wire.SelfTestCheck.PRINTER, "pdf-folder")] is Outcome.PASSED
    assert outcomes[(wire.SelfTestCheck.DISK, "")] is Outcome.PASSED
    assert outcomes[(wire.SelfTestCheck.CLOCK, "")] is Outcome.PASSED
    assert outcomes[(wire.SelfTestCheck.HUB, "")] is Outcome.FAILED  # no hub link
    assert outcomes[(wire.SelfTestCheck.TURN, "")] is Outcome.SKIPPED
    assert outcomes[(wire.SelfTestCheck.DATABASE, "")] is Outcome.PASSED
    assert all(r.duration_ms >= 0 for r in report.results)
    assert stored == report
    assert readings == 0  # the probes stored nothing
    done = [r.getMessage() for r in caplog.records if "selftest.done" in r.getMessage()]
    assert len(done) == 1
    assert "failed=2 warnings=0" in done[0]
    assert by_severity(report.results)[0].outcome is Outcome.FAILED


def test_an_agents_request_during_a_consultation_is_refused(tmp_path: Path) -> None:
    async def scenario() -> str:
        store = await AsyncStore.open(tmp_path / "cabin.db", DatabaseKey.generate())
        session = Session(EventBus(), SystemClock(), SessionTimeouts())
        session.advance(SessionState.WELCOME)
        try:
            with pytest.raises(SelfTestRefused) as refused:
                await SelfTest(parts(store, session, tmp_path)).request()
            assert await store.run(Store.count, "selftest_reports") == 0
            return str(refused.value)
        finally:
            await store.close()

    assert "patient" in run(scenario())


def test_the_nightly_time_is_local_and_tomorrow_once_passed() -> None:
    paris = ZoneInfo("Europe/Paris")
    before = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 02:00 in Paris
    assert next_nightly(before, "03:30", paris) == datetime(2026, 12, 7, 3, 30, tzinfo=paris)
    after = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 04:00 in Paris
    assert next_nightly(after, "03:30", paris) == datetime(2026, 12, 8, 3, 30, tzinfo=paris)
    # the night the clocks go back (Paris, 25 October 2026): 03:30 comes once
    dst = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    assert next_nightly(dst, "03:30", paris).astimezone(UTC) == datetime(
        2026, 10, 25, 2, 30, tzinfo=UTC
    )


def test_the_nightly_run_waits_for_its_time_then_for_the_patient_to_leave(tmp_path: Path) -> None:
    paris = ZoneInfo("Europe/Paris")
    due = datetime(2026, 12, 8, 3, 30, tzinfo=paris)

    async def scenario() -> list[wire.SelfTestReport]:
        store = await AsyncStore.open(tmp_path / "cabin.db", DatabaseKey.generate())
        session = Session(EventBus(), SystemClock(), SessionTimeouts())
        loop = asyncio.get_running_loop()
        start = loop.time()

        def now() -> datetime:  # the cabin's clock, 0.4 s before 03:30 in Paris
            return due.astimezone(UTC) - timedelta(seconds=0.4 - (loop.time() - start))

        settings = SelfTestSection(
            nightly_at="03:30", timezone="Europe/Paris", check_timeout_s=2.0, disk_failed_mb=1
        )
        selftest = SelfTest(
            replace(parts(store, session, tmp_path), settings=settings), now=now, idle_poll_s=0.05
        )
        reports: list[wire.SelfTestReport] = []
        selftest.listeners.append(reports.append)
        session.advance(SessionState.WELCOME)  # a patient came in at 03:29
        selftest.start(at_start=False)
        try:
            await asyncio.sleep(1.5)
            assert reports == []  # 03:30 has passed, but a patient is in the cabin
            session.end(EndReason.ABANDONED)
            await until(lambda: bool(reports))
            await asyncio.sleep(0.3)
            return reports
        finally:
            await selftest.stop()
            await store.close()

    reports = run(scenario())
    assert [r.trigger for r in reports] == [wire.SelfTestTrigger.NIGHTLY]
    assert reports[0].started_at >= due


def test_a_report_made_without_the_hub_goes_when_it_comes_back_and_after_a_restart(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        key = DatabaseKey.generate()
        store = await AsyncStore.open(tmp_path / "cabin.db", key)
        session = Session(EventBus(), SystemClock(), SessionTimeouts())
        hub = WsHub()
        link = link_to(hub.url)
        await link.start()
        selftest = SelfTest(parts(store, session, tmp_path, hub=link))
        selftest.start(at_start=False)
        try:
            report = await selftest.run(wire.SelfTestTrigger.AGENT)  # the hub is down
            assert report.results  # hub failed, the rest checked
            unsent = await store.run(Store.unsent_selftest_reports)
            assert [r.report_id for r in unsent] == [report.report_id]
            await hub.start()  # the hub comes back: the link reconnects, the report goes
            received = await hub.wait_for(wire.SelfTestReport)
            assert received[0] == report
            for _ in range(200):
                if not await store.run(Store.unsent_selftest_reports):
                    break
                await asyncio.sleep(0.05)
            assert not await store.run(Store.unsent_selftest_reports)
            # Another run while the hub is away, then the cabin restarts before it is back.
            await hub.stop()
            second = await selftest.run(wire.SelfTestTrigger.NIGHTLY)
        finally:
            await selftest.stop()
            await link.close()
            await store.close()
        # After the restart: a new store, link and self-test send what was left.
        store = await AsyncStore.open(tmp_path / "cabin.db", key)
        link = link_to(hub.url)
        await hub.start()
        await link.start()
        selftest = SelfTest(parts(store, session, tmp_path, hub=link))
        selftest.start(at_start=False)
        try:
            reports = await hub.wait_for(wire.SelfTestReport, 2)
            assert reports[-1] == second
            assert [r.report_id for r in reports] == [report.report_id, second.report_id]
            for _ in range(200):
                if not await store.run(Store.unsent_selftest_reports):
                    break
                await asyncio.sleep(0.05)
            assert not await store.run(Store.unsent_selftest_reports)
        finally:
            await selftest.stop()
            await link.close()
            await store.close()
            await hub.stop()

    run(scenario())


# --- the heartbeat -------------------------------------------------------------------------------


def test_the_heartbeat_goes_at_once_at_each_change_and_says_the_outage(tmp_path: Path) -> None:
    async def scenario() -> None:
        hub = WsHub()
        await hub.start()
        link = link_to(hub.url)
        await link.start()
        bus = EventBus()
        problem: list[wire.PrinterProblem | None] = [None]

        async def sheets() -> int | None:
            return 120

        async with rig(Cms50LegacySimulator, Cms50LegacyOximeter, tmp_path) as (sim, oximeter):
            unsubscribe = oximeter.on_status(
                lambda s: bus.publish(
                    DeviceStatusChanged(s.device_id, s.availability, s.battery_percent)
                )
            )
            sender = CabinStatusSender(
                link,
                bus,
                {"ox-1": oximeter},
                software_version="0.6.0",
                data_dir=tmp_path,
                printer_problem=lambda: problem[0],
                sheets_left=sheets,
                every_s=3600,  # only changes and comebacks in this test
            )
            sender.start()
            try:
                first = (await hub.wait_for(wire.CabinStatus))[0]
                assert isinstance(first, wire.CabinStatus)
                assert first.software_version == "0.6.0"
                assert first.instruments == [
                    wire.InstrumentState(
                        instrument_id="ox-1", kind="pulse_oximeter", connected=True
                    )
                ]
                assert first.paper is wire.PaperLevel.OK
                assert first.disk_free_mb and first.disk_free_mb > 0
                assert first.hub_unreachable_since is None
                # The printer runs out of paper: a status at once.
                problem[0] = wire.PrinterProblem.OUT_OF_PAPER
                second = (await hub.wait_for(wire.CabinStatus, 2))[1]
                assert second.printer_problem is wire.PrinterProblem.OUT_OF_PAPER
                assert second.paper is wire.PaperLevel.OUT
                # The oximeter is unplugged: a status at once.
                await sim.stop()
                await until(lambda: oximeter.availability is not Availability.CONNECTED)
                third = (await hub.wait_for(wire.CabinStatus, 3))[2]
                assert third.instruments[0].connected is False
                # The hub goes away and comes back: the first status says since when.
                await hub.stop()
                await until(lambda: link.state is not HubLinkState.ONLINE)
                await asyncio.sleep(1.5)
                gone = sender.unreachable_since
                assert gone is not None
                before = len(hub.of(wire.CabinStatus))
                await hub.start()
                back = (await hub.wait_for(wire.CabinStatus, before + 1))[-1]
                assert back.hub_unreachable_since == gone
            finally:
                unsubscribe()
                await sender.stop()
                await link.close()
                await hub.stop()

    run(scenario())


def test_a_dark_synthetic_scene_is_not_black() -> None:
    """The demo's empty cabin (the door shut, nobody in) must not read as a covered lens."""

    async def scenario() -> wire.SelfTestResult:
        cabin = LiveCabin()
        media = CabinMedia(
            camera=SyntheticCamera(CabinScene(cabin, door_open_at=cabin.door_open_at), fps=15),
            microphone=SilenceTrack(),
            audio_output=NullAudioOutput(),
        )
        try:
            return await checks.camera(media, 5.0)
        finally:
            await media.close()

    found = run(scenario())
    assert found.outcome is Outcome.PASSED, found
    assert np.isfinite(found.duration_ms)
