"""The cabin of ``./cabin fleet``: the real cabin (its core, its window, its simulated instruments
and synthetic camera, its aiortc call) in a process of its own, played as a finger would.

    python -m fleet.cabin_process --config FILE --data DIR --out DIR

It reaches the hub as a cabin in the field does: through the proxy's TLS address, trusting the
proxy's certificate (``SSL_CERT_FILE``), its credential in ``CABIN_HUB_TOKEN``. It plays the
patient's side of the scripted consultation (the taps of ``ui.scripted_demo``: identify,
consent, every instrument, the reason, the waiting room, the doctor's call, the measurement the
doctor asks for, the closing with its printed papers, the survey) and says what it sees on its
standard output, one JSON object a line (`Event`), for the fleet's scenario to compare with what
the doctor saw and what the hub stored. Its screenshots are ``NN-name.png`` in ``--out``, as the
demo's; its log goes to the standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import shutil
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import msgspec

import wire
from demo.main import SCRIPTED_TIMEOUTS
from demo.root import open_core
from devices.cancellation import cancel_and_wait, within
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.events import CallLinkChanged, HubStatusChanged, PrescriptionReceived
from kiosk.session_states import SessionState
from kiosk.store import Store
from ui.main import leave, limit_malloc_arenas, with_worker_pool
from ui.scripted_demo import (
    DEMO_PATIENT,
    DOCTOR_TIMEOUT_S,
    MEASURE_TIMEOUT_S,
    DemoFailed,
    Script,
    _measure_everything,
    _until_text,
)

log = logging.getLogger("fleet.cabin")

EVENT_PREFIX = "fleet-cabin "
"""Every event line starts so: anything else on the standard output is not one."""
FRAMES_EVERY_S = 0.25
"""How often, during the call, the cabin says how many of the doctor's frames it has shown."""
CALL_TIMEOUT_S = 240.0
"""From the waiting room to the doctor's request: the doctor takes the patient, the scenario
kills a replica and waits for the cabin to come back, then asks."""


class Events:
    """What the cabin says: ``fleet-cabin {"t": <monotonic s>, "event": ..., ...}``.
    CLOCK_MONOTONIC is the machine's: the scenario's process reads the same clock."""

    def say(self, event: str, **values: Any) -> None:
        line = json.dumps({"t": time.monotonic(), "event": event, **values}, ensure_ascii=False)
        sys.stdout.write(EVENT_PREFIX + line + "\n")
        sys.stdout.flush()


class CabinPlayer:
    """The patient's side of the consultation, on the real window."""

    def __init__(self, script: Script, events: Events) -> None:
        self.s = script
        self.events = events
        self.core: KioskCore = script.core
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self) -> None:
        """Say every change of the hub link and of the call's media link, and each prescription
        the cabin stores; a picture of the call screen when the hub link goes and comes back."""
        bus = self.core.bus

        def on_hub(event: HubStatusChanged) -> None:
            self.events.say("hub", state=event.state, online=event.online)
            if self.core.session.state is SessionState.CALL:
                name = "call-hub-back" if event.online else "call-hub-lost"
                self._spawn(self._shot_once(name))

        def on_link(event: CallLinkChanged) -> None:
            self.events.say("call_link", link=event.link.value)

        def on_prescription(event: PrescriptionReceived) -> None:
            self.events.say(
                "prescription", prescription_id=event.prescription_id, lines=event.lines
            )

        bus.subscribe(HubStatusChanged, on_hub)
        bus.subscribe(CallLinkChanged, on_link)
        bus.subscribe(PrescriptionReceived, on_prescription)

    def watch_records(self) -> None:
        """Say each record the hub acknowledges (the sender exists once the hub link is up)."""
        if self.core.records is None:
            raise DemoFailed("the cabin has no record sender")
        self.core.records.on_acknowledged.append(self._on_record)

    def _on_record(self, upload: wire.RecordUpload) -> None:
        self.events.say("record_acknowledged", record_id=upload.record_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task of the player's own, cancelled by `aclose` if it is still running."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shot_once(self, name: str) -> None:
        if any(step.name == name for step in self.s.report.steps):
            return
        await self.s.shot(name)
        self.events.say("screenshot", name=name, path=self.s.report.steps[-1].screenshot)

    async def shot(self, name: str) -> None:
        await self.s.shot(name)
        self.events.say("screenshot", name=name, path=self.s.report.steps[-1].screenshot)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            await cancel_and_wait(task)

    async def play(self) -> None:
        s, core = self.s, self.core
        session = core.session
        await s.until(SessionState.IDLE)
        await self.shot("idle")
        s.tap("primary")
        await s.until(SessionState.WELCOME)
        s.tap("primary")
        await s.until(SessionState.IDENTIFY)
        s.tap("walk_in")
        family, given, birth = DEMO_PATIENT
        await s.type_into("family_name", family)
        await s.type_into("given_names", given)
        await s.type_into("birth_date", birth.replace("/", ""))
        await self.shot("identify")
        s.tap("primary")
        await s.until_button("sex_female")
        s.tap("sex_female")
        await s.until(SessionState.CONSENT)
        s.tap("primary")
        await s.until(SessionState.VITALS)
        consultation_id = session.context.consultation_id
        if consultation_id is None:
            raise DemoFailed("consent did not open a consultation")
        self.events.say("consultation", consultation_id=consultation_id)
        await _measure_everything(s)
        self.events.say("vitals_taken", readings=len(session.context.readings))
        s.tap("finish")
        await s.until_button("reason_cough_cold")
        s.tap("reason_cough_cold")
        await s.until(SessionState.WAITING_ROOM)
        await _until_text(s, "queue", "1")
        await self.shot("waiting-room")
        self.events.say("waiting_room", consultation_id=consultation_id)
        await self._the_call(consultation_id)
        s.tap("primary")
        await s.until(SessionState.SURVEY)
        s.tap("good")
        await s.until(SessionState.CLEANING)
        await self.shot("cleaning")
        s.tap("primary")
        await s.until(SessionState.IDLE)
        self.events.say("done", consultation_id=consultation_id)
        await self._until_record_acknowledged()

    async def _until_record_acknowledged(self) -> None:
        """The consultation's record (filed at the closing) leaves the outbox once the hub has
        acknowledged it; the cabin stays until then."""
        records = self.core.records
        if records is None:
            raise DemoFailed("the cabin has no record sender")
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while records.acknowledged == 0:
            if time.monotonic() > deadline:
                raise DemoFailed("the hub never acknowledged the consultation's record")
            await asyncio.sleep(0.1)

    async def _the_call(self, consultation_id: str) -> None:
        s, core = self.s, self.core
        session = core.session
        await s.until(SessionState.CALL, timeout_s=DOCTOR_TIMEOUT_S)
        frames = self._spawn_frames()
        deadline = time.monotonic() + DOCTOR_TIMEOUT_S
        page = s.window.call_page
        while page is None or page.remote.frames < 10:
            if time.monotonic() > deadline:
                raise DemoFailed("the doctor's video never reached the cabin")
            await asyncio.sleep(0.05)
            page = s.window.call_page
        await self.shot("call")
        self.events.say("call_video", frames=page.remote.frames)
        taken = len(session.context.readings)
        await s.until_button("primary", timeout_s=CALL_TIMEOUT_S)  # the doctor asks
        await self.shot("call-request")
        s.tap("primary")
        deadline = time.monotonic() + MEASURE_TIMEOUT_S
        while len(session.context.readings) == taken:
            if time.monotonic() > deadline:
                raise DemoFailed("no reading for the doctor's request")
            await asyncio.sleep(0.05)
        await self.shot("call-measured")
        self.events.say("call_measured")
        s.tap("finish")  # back to the doctor
        await s.until(SessionState.CLOSING, timeout_s=CALL_TIMEOUT_S)
        frames.cancel()
        await self.shot("closing")
        if core.paperwork is not None:
            await core.paperwork.settled()
            await asyncio.sleep(0.05)
            await self.shot("closing-printed")
        stored = await core.store.run(Store.prescriptions, consultation_id)
        printed = await self._copy_printed(consultation_id)
        self.events.say("closing", prescriptions_stored=len(stored), printed=printed)

    def _spawn_frames(self) -> asyncio.Task[None]:
        async def count() -> None:
            while True:
                page = self.s.window.call_page
                if page is not None:
                    self.events.say("frames", shown=page.remote.frames)
                await asyncio.sleep(FRAMES_EVERY_S)

        return self._spawn(count())

    async def _copy_printed(self, consultation_id: str) -> dict[str, str]:
        """The PDFs the cabin's printer (a folder, as the demo's) printed, copied into --out."""
        core = self.core
        jobs = await core.store.run(Store.print_jobs, consultation_id)
        folder = core.config.resolve(core.data_dir, core.config.printer.folder)
        printed: dict[str, str] = {}
        for job in jobs:
            if job.state != "printed":
                continue
            target = self.s.out / f"{job.document}.pdf"
            await asyncio.to_thread(shutil.copyfile, folder / f"{job.title}.pdf", target)
            printed[job.document] = target.name
        return printed


async def run(config_file: Path, data_dir: Path, out: Path) -> int:
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415 - after the arguments

    from ui.kiosk_window import KioskWindow, LanguageSwitcher, TouchWatcher  # noqa: PLC0415
    from ui.session_runner import PORTRAIT  # noqa: PLC0415
    from ui.speech import Speaker  # noqa: PLC0415

    events = Events()
    config = load_config(config_file)
    config = msgspec.structs.replace(
        config, session=msgspec.structs.replace(config.session, **SCRIPTED_TIMEOUTS)
    )
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    core = await open_core(config, data_dir, create_key=True)
    app.setQuitOnLastWindowClosed(False)
    languages = LanguageSwitcher(app)
    languages.set("fr")
    speaker = Speaker(sink=lambda _wav: None)  # no speakers here: sentences made, not played
    window = KioskWindow(core, languages, speaker)
    watcher = TouchWatcher(core.session.touch)
    app.installEventFilter(watcher)
    core.start_ticker()
    player = CabinPlayer(Script(window, core, out), events)
    status = 1
    try:
        window.resize(*PORTRAIT)
        window.show()
        window.show_state()
        player.watch()
        core.start_warm_up()
        await core.warmed_up()
        if core.hub is None:
            raise DemoFailed(f"the cabin has no hub link: {core.failures}")
        await core.hub.wait_online(DOCTOR_TIMEOUT_S)
        player.watch_records()
        events.say("online", url=core.config.hub.url)
        await player.play()
        status = 0
    except (DemoFailed, TimeoutError) as exc:
        log.error("fleet_cabin.failed %s", exc)
        events.say("failed", reason=str(exc))
    except Exception as exc:  # the reason reaches the scenario, then the error is raised
        events.say("failed", reason=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        await player.aclose()
        app.removeEventFilter(watcher)
        await window.intents.drain()
        await speaker.aclose()
        await core.aclose()
        window.close()
    return status


def parse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The events among the lines of the cabin's standard output."""
    for line in lines:
        if line.startswith(EVENT_PREFIX):
            yield json.loads(line[len(EVENT_PREFIX) :])


def main(argv: list[str] | None = None) -> None:
    faulthandler.enable()
    limit_malloc_arenas()
    parser = argparse.ArgumentParser(prog="python -m fleet.cabin_process", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the cabin's TOML")
    parser.add_argument("--data", type=Path, required=True, help="its data folder")
    parser.add_argument("--out", type=Path, required=True, help="its screenshots and PDFs")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("qasync").setLevel(logging.INFO)
    import qasync  # noqa: PLC0415 - Qt only once the arguments are read
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        status = qasync.run(with_worker_pool(within(run(args.config, args.data, args.out), 600)))
    except TimeoutError:
        log.error("fleet_cabin.timed_out")
        status = 1
    del app  # kept alive until the loop ended
    leave(status)


if __name__ == "__main__":
    main()
