"""The core's staged start: what a patient touches first works at once, the rest warms up.

``open_core`` builds the fast part (store, session, alerts, panic button, assistant); the warm-up
brings up the camera and microphone, the hub link and the call, the printer, in the background.
A test holds a part back with the warm-up's gate (``Held``), as a slow camera or hub would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

import wire
from demo.root import open_core
from kiosk import call_setup
from kiosk.app import KioskCore
from kiosk.assistant import UnlockOutcome
from kiosk.call.media import CabinMedia
from kiosk.call_setup import MediaSource
from kiosk.config import Config, load_config
from kiosk.events import AlertRaised, CorePart, PartState, PartStatus
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import Overlay, SessionState
from kiosk.store import DatabaseKey, Store
from tests.e2e.rig import write_token
from tests.hub.hub_rig import TIMEOUT_S, running_hub

KEY = DatabaseKey.generate()
PATIENT = PatientIdentity("LE GOFF", "Anne", date(1944, 7, 14), Sex.FEMALE)
REPO_ROOT = Path(__file__).resolve().parents[2]

# What must never load with the first screen: each weighs tens of MB and hundreds of ms.
HEAVY = ("aiohttp", "aiortc", "av", "cv2", "numpy", "reportlab")


class Held:
    """A warm-up gate: notes each part the warm-up reaches, and holds back the named ones
    until released (a camera, a hub or a printer slow to come up)."""

    def __init__(self, *parts: CorePart) -> None:
        self._held = {part: asyncio.Event() for part in parts}
        self._reached = {part: asyncio.Event() for part in CorePart}

    async def __call__(self, part: CorePart) -> None:
        self._reached[part].set()
        if part in self._held:
            await self._held[part].wait()

    async def reached(self, part: CorePart) -> None:
        await self._reached[part].wait()

    def release(self, *parts: CorePart) -> None:
        for part in parts or tuple(self._held):
            self._held[part].set()


async def opened(tmp_path: Path, config: Config | None = None) -> KioskCore:
    return await open_core(
        config or load_config(None),
        tmp_path / "cabin",
        env={"CABIN_DB_KEY": KEY.hex()},
        instruments={},
    )


async def to_waiting_room(core: KioskCore) -> str:
    c = core.consultation
    await c.start("fr")
    await c.choose_identify()
    await c.identify(PATIENT)
    await c.consent(True)
    consultation_id = core.session.context.consultation_id
    assert consultation_id is not None
    core.session.advance(SessionState.WAITING_ROOM)
    return consultation_id


def test_importing_the_screen_and_the_core_loads_no_heavy_package() -> None:
    code = (
        "import json, sys\n"
        "import kiosk.app, ui.kiosk_window, ui.session_runner, demo.main\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_a_patient_starts_identifies_consents_and_calls_for_help_while_it_warms_up(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        core = await opened(tmp_path)
        statuses: list[PartStatus] = []
        alerts: list[AlertRaised] = []
        core.bus.subscribe(PartStatus, statuses.append)
        core.bus.subscribe(AlertRaised, alerts.append)
        gate = Held(CorePart.MEDIA)  # the camera and microphone slow to open
        try:
            core.start_warm_up({}, gate=gate)
            await gate.reached(CorePart.MEDIA)
            assert core.part_state(CorePart.MEDIA) is PartState.WARMING
            assert core.media is None and core.teleconsultation is None
            c = core.consultation
            await c.start("fr")
            await c.choose_identify()
            await c.identify(PATIENT)
            await c.consent(True)
            assert core.session.state is SessionState.VITALS
            # The panic button does not wait for distress detection's camera and microphone.
            assert core.distress is not None
            alert_id = await core.distress.panic("screen")
            assert core.session.overlay is Overlay.DISTRESS
            assert [a.alert_id for a in alerts] == [alert_id]
            stored = await core.store.run(Store.alerts, True)
            assert [a.alert_id for a in stored] == [alert_id]
            assert statuses == []

            gate.release()
            assert await core.ready_for(CorePart.MEDIA)
            assert core.media is not None
            await core.warmed_up()
            # No hub credential here: the hub part says it will not come (core.no_hub).
            assert statuses == [
                PartStatus(CorePart.MEDIA, PartState.READY),
                PartStatus(CorePart.HUB, PartState.UNAVAILABLE),
                PartStatus(CorePart.PRINTER, PartState.READY),
            ]
            assert not await core.ready_for(CorePart.MEDIA, CorePart.HUB)
            assert core.failures == {}
        finally:
            await core.aclose()

    asyncio.run(scenario())


def test_the_agents_test_page_waits_for_the_printer_to_be_prepared(tmp_path: Path) -> None:
    """The warm-up clears a crash's leftover jobs first: a page printed before would be
    cancelled with them."""

    async def scenario() -> None:
        core = await opened(tmp_path, no_media())
        gate = Held(CorePart.PRINTER)
        assert core.paperwork is not None
        printer = core.paperwork.printer  # the assistant's too
        states_when_printed: list[PartState] = []
        real_print = printer.print_document

        def print_document(title: str, document: bytes, **kwargs: Any) -> int:
            states_when_printed.append(core.part_state(CorePart.PRINTER))
            return real_print(title, document, **kwargs)

        printer.print_document = print_document  # type: ignore[method-assign]
        try:
            core.start_warm_up({}, gate=gate)
            await gate.reached(CorePart.PRINTER)
            assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
            assert not core.assistant.printer_prepared
            printing = asyncio.ensure_future(core.assistant.test_print())
            gate.release()
            assert (await printing).startswith("test-page-")
            assert states_when_printed == [PartState.READY]
            assert core.assistant.printer_prepared
        finally:
            await core.aclose()

    asyncio.run(scenario())


def no_media() -> Config:
    """The embedded defaults without the camera and microphone (their part is not tested)."""
    config = load_config(None)
    distress = msgspec.structs.replace(config.distress, camera=False, microphone=False)
    return msgspec.structs.replace(config, distress=distress)


def test_closing_while_a_part_is_held_back_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        core = await opened(tmp_path)
        gate = Held(CorePart.HUB)
        core.start_warm_up({}, gate=gate)
        await gate.reached(CorePart.HUB)
        assert core.media is not None  # opened before: closed with the rest
        await core.aclose()
        assert core.part_state(CorePart.HUB) is PartState.WARMING  # it never came

    asyncio.run(scenario())


def test_closing_while_the_camera_opens_closes_it_once_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening the camera runs on a worker thread, which cannot be stopped: the close waits
    for it and closes what it opened."""
    opening, release = threading.Event(), threading.Event()
    opened_media: list[CabinMedia] = []
    closed_media: list[CabinMedia] = []
    real_open = call_setup.open_media
    real_close: Callable[[CabinMedia], Awaitable[None]] = CabinMedia.close

    def slow_open(config: Config, data_dir: Path, source: MediaSource | None) -> CabinMedia:
        opening.set()
        assert release.wait(TIMEOUT_S)
        media = real_open(config, data_dir, source)
        opened_media.append(media)
        return media

    async def recorded_close(media: CabinMedia) -> None:
        closed_media.append(media)
        await real_close(media)

    monkeypatch.setattr(call_setup, "open_media", slow_open)
    monkeypatch.setattr(CabinMedia, "close", recorded_close)

    async def scenario() -> None:
        core = await opened(tmp_path)
        core.start_warm_up({})
        await asyncio.to_thread(opening.wait, TIMEOUT_S)
        closing = asyncio.ensure_future(core.aclose())
        # After aclose's first step (it cancels the warm-up): callbacks run in their order.
        asyncio.get_running_loop().call_soon(release.set)
        await closing
        assert core.media is None
        assert len(opened_media) == 1 and closed_media == opened_media

    asyncio.run(scenario())


def cabin_config(hub_url: str) -> Config:
    config = load_config(None)
    return msgspec.structs.replace(
        config,
        cabin=msgspec.structs.replace(config.cabin, id="cabin-1"),
        hub=msgspec.structs.replace(config.hub, url=hub_url),
    )


def test_what_the_cabin_did_before_its_hub_link_was_up_reaches_the_hub(tmp_path: Path) -> None:
    """The patient reached the waiting room and pressed the panic button while the hub link
    was still warming up: once it is up, the patient is queued and the agent alerted."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.one")
            agent = await rig.agent_page("agent.one")
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            write_token(tmp_path / "cabin", rig.tokens["cabin-1"])
            core = await opened(tmp_path, cabin_config(rig.url))
            gate = Held(CorePart.HUB)
            try:
                core.start_warm_up({}, gate=gate)
                await gate.reached(CorePart.HUB)
                consultation_id = await to_waiting_room(core)
                assert core.distress is not None
                alert_id = await core.distress.panic("screen")
                assert core.hub is None

                gate.release()
                assert await core.ready_for(CorePart.MEDIA, CorePart.HUB)
                assert core.teleconsultation is not None
                got = await agent.expect(wire.AlertMessage)
                assert (got.alert_id, got.kind) == (alert_id, wire.AlertKind.PANIC_BUTTON)
                room = await console.expect(wire.WaitingRoom)
                while not room.entries:
                    room = await console.expect(wire.WaitingRoom)
                assert [e.consultation_id for e in room.entries] == [consultation_id]
            finally:
                await core.aclose()

    asyncio.run(scenario())
