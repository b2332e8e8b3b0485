"""Each self-test check against real things: simulators on ptys and on the virtual radio, real
media tracks, a real SQLCipher file, a real coturn; a disk-usage shim at the boundary only."""

from __future__ import annotations

import asyncio
import fractions
import math
import os
import shutil
import wave
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack

import wire
from devices.cancellation import within
from devices.drivers.cms50 import Cms50LegacyOximeter
from devices.drivers.ir_thermometer import IrThermometer
from hub.turn import turn_credential
from kiosk.call.media import (
    AplayAudioOutput,
    CabinMedia,
    NullAudioOutput,
    open_sound_file_microphone,
)
from kiosk.hub_link import HubLink
from kiosk.selftest import checks
from kiosk.store import AsyncStore, DatabaseKey, Store
from printing.pdf_folder import PdfFolderPrinter
from simulators.faults import Fault
from simulators.media import CabinScene, SeatedPatient, SyntheticCamera
from simulators.serial.cms50 import Cms50LegacySimulator
from simulators.serial.ir_thermometer import IrThermometerSimulator
from tests.devices.serial_rig import rig as serial_rig
from tests.devices.test_ble_instruments import ble_rig
from tests.e2e.coturn import running_coturn
from tests.printing.cups_rig import SIM_QUEUE, CupsRig
from tests.printing.test_cups import cupsd, printer_on, rig

Outcome = wire.SelfTestOutcome
LIMIT_S = 60.0
__all__ = ["cupsd", "rig"]  # the real cupsd's fixtures (tests/printing/test_cups.py)


def run(work: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await within(work, LIMIT_S)

    return asyncio.run(bounded())


# --- instruments ---------------------------------------------------------------------------------


def test_a_streaming_oximeter_on_a_pty_answers(tmp_path: Path) -> None:
    async def scenario() -> wire.SelfTestResult:
        async with serial_rig(Cms50LegacySimulator, Cms50LegacyOximeter, tmp_path) as (_, driver):
            found = await checks.instrument(driver, 5.0)
            assert not driver.measuring
            return found

    found = run(scenario())
    assert found.outcome is Outcome.PASSED, found
    assert found.subject == "dev-1"
    assert "readable frames" in found.detail


def test_an_oximeter_with_some_garbage_still_answers(tmp_path: Path) -> None:
    """Garbage between frames is the decoder's to skip: the frames that follow are read."""

    async def scenario() -> wire.SelfTestResult:
        faults = {"faults": {Fault.GARBAGE}, "fault_rate": 1.0}
        async with serial_rig(
            Cms50LegacySimulator, Cms50LegacyOximeter, tmp_path, simulator=faults
        ) as (
            _,
            driver,
        ):
            return await checks.instrument(driver, 3.0)

    assert run(scenario()).outcome is Outcome.PASSED


def test_a_line_of_noise_fails() -> None:
    """A pty whose other end sends only bytes no CMS50 frame can start with (a broken line)."""

    async def scenario() -> wire.SelfTestResult:
        master, slave = os.openpty()
        driver = Cms50LegacyOximeter("ox-1", os.ttyname(slave))

        async def noise() -> None:
            while True:
                os.write(master, bytes(64))
                await asyncio.sleep(0.05)

        writer = asyncio.get_running_loop().create_task(noise())
        await driver.start()
        try:
            return await checks.instrument(driver, 1.5)
        finally:
            writer.cancel()
            await driver.close()
            os.close(master)
            os.close(slave)

    found = run(scenario())
    assert found.outcome is Outcome.FAILED, found
    assert "could be read" in found.detail


def test_a_silent_oximeter_fails(tmp_path: Path) -> None:
    async def scenario() -> wire.SelfTestResult:
        faults = {"faults": {Fault.SILENCE}, "fault_rate": 1.0}
        async with serial_rig(
            Cms50LegacySimulator, Cms50LegacyOximeter, tmp_path, simulator=faults
        ) as (
            _,
            driver,
        ):
            return await checks.instrument(driver, 1.0)

    found = run(scenario())
    assert found.outcome is Outcome.FAILED, found


def test_a_thermometer_that_speaks_when_asked_is_not_asked(tmp_path: Path) -> None:
    async def scenario() -> tuple[wire.SelfTestResult, int]:
        async with serial_rig(IrThermometerSimulator, IrThermometer, tmp_path) as (sim, driver):
            found = await checks.instrument(driver, 2.0)
            await asyncio.sleep(0.2)
            assert isinstance(sim, IrThermometerSimulator)
            return found, sim._pending + len(sim._requests.__dict__) * 0

    found, pending = run(scenario())
    assert found.outcome is Outcome.PASSED, found
    assert "only when asked" in found.detail
    assert pending == 0  # no measurement was requested from the device


def test_an_instrument_that_is_not_there_fails(tmp_path: Path) -> None:
    async def scenario() -> wire.SelfTestResult:
        driver = Cms50LegacyOximeter("ox-9", str(tmp_path / "ttyUSB-missing"))
        await driver.start()
        try:
            return await checks.instrument(driver, 0.5)
        finally:
            await driver.close()

    found = run(scenario())
    assert found.outcome is Outcome.FAILED
    assert "not connected" in found.detail


def test_a_ble_thermometer_on_the_virtual_radio_answers_with_its_battery() -> None:
    async def scenario() -> wire.SelfTestResult:
        async with ble_rig("thermometer") as (_, _sim, driver):
            return await checks.instrument(driver, 5.0)

    found = run(scenario())
    assert found.outcome is Outcome.PASSED, found
    assert "battery 85 %" in found.detail


def test_a_ble_device_switched_off_fails() -> None:
    async def scenario() -> wire.SelfTestResult:
        async with ble_rig("thermometer") as (radio, sim, driver):
            radio.remove(sim.peripheral.address)  # switched off: gone from the air
            deadline = asyncio.get_running_loop().time() + 10
            while driver.availability.value == "connected":
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            return await checks.instrument(driver, 1.0)

    found = run(scenario())
    assert found.outcome is Outcome.FAILED, found


# --- camera --------------------------------------------------------------------------------------


class StillTrack(MediaStreamTrack):
    """A camera giving the same picture at 15 frames/s (black or frozen)."""

    kind = "video"

    def __init__(self, image: np.ndarray) -> None:
        super().__init__()
        self._image = image
        self._pts = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 15)
        frame = av.VideoFrame.from_ndarray(self._image, format="rgb24")
        frame.pts, frame.time_base = self._pts, fractions.Fraction(1, 15)
        self._pts += 1
        return frame


class SilenceTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        await asyncio.sleep(0.02)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1920), dtype="<i2"), layout="stereo")
        frame.sample_rate, frame.pts = 48_000, self._pts
        frame.time_base = fractions.Fraction(1, 48_000)
        self._pts += 960
        return frame


def media_with(camera: MediaStreamTrack, microphone: MediaStreamTrack | None = None) -> CabinMedia:
    return CabinMedia(
        camera=camera, microphone=microphone or SilenceTrack(), audio_output=NullAudioOutput()
    )


async def _camera(camera: MediaStreamTrack) -> wire.SelfTestResult:
    media = media_with(camera)
    try:
        return await checks.camera(media, 5.0)
    finally:
        await media.close()


def test_a_camera_filming_the_cabin_passes() -> None:
    found = run(_camera(SyntheticCamera(CabinScene(SeatedPatient()), fps=15)))
    assert found.outcome is Outcome.PASSED, found


def test_a_black_camera_fails() -> None:
    found = run(_camera(StillTrack(np.zeros((120, 160, 3), dtype=np.uint8))))
    assert found.outcome is Outcome.FAILED
    assert "black" in found.detail


def test_a_frozen_camera_fails() -> None:
    image = np.random.default_rng(3).integers(40, 220, (120, 160, 3), dtype=np.uint8)
    found = run(_camera(StillTrack(image)))
    assert found.outcome is Outcome.FAILED
    assert "frozen" in found.detail


# --- microphone and speaker ----------------------------------------------------------------------


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


async def _microphone(wav: Path) -> wire.SelfTestResult:
    media = CabinMedia(
        camera=StillTrack(np.zeros((8, 8, 3), dtype=np.uint8)),
        microphone=open_sound_file_microphone(wav),
        audio_output=NullAudioOutput(),
    )
    try:
        return await checks.microphone(media, 5.0)
    finally:
        await media.close()


def test_a_microphone_hearing_a_room_passes(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).normal(0, 300, 48_000)  # a quiet room, about -40 dBFS
    found = run(_microphone(write_wav(tmp_path / "room.wav", noise)))
    assert found.outcome is Outcome.PASSED, found
    assert "dBFS" in found.detail


def test_a_dead_microphone_fails(tmp_path: Path) -> None:
    found = run(_microphone(write_wav(tmp_path / "silence.wav", np.zeros(48_000))))
    assert found.outcome is Outcome.FAILED
    assert "digital silence" in found.detail


def test_no_sound_card_is_skipped_never_passed() -> None:
    async def scenario() -> wire.SelfTestResult:
        media = media_with(StillTrack(np.zeros((8, 8, 3), dtype=np.uint8)))
        try:
            return await checks.speaker(media, 5.0)
        finally:
            await media.close()

    found = run(scenario())
    assert found.outcome is Outcome.SKIPPED
    assert "no sound card" in found.detail


def test_a_speaker_not_heard_back_is_a_warning() -> None:
    """The player takes the tone, but this machine has no acoustic loopback: not a pass."""

    async def scenario() -> wire.SelfTestResult:
        output = AplayAudioOutput(argv=["sh", "-c", "cat > /dev/null"])
        media = CabinMedia(
            camera=StillTrack(np.zeros((8, 8, 3), dtype=np.uint8)),
            microphone=SilenceTrack(),
            audio_output=output,
        )
        try:
            return await checks.speaker(media, 5.0)
        finally:
            await media.close()

    found = run(scenario())
    assert found.outcome is Outcome.WARNING, found
    assert "not heard back" in found.detail


def test_a_speaker_whose_player_cannot_start_fails() -> None:
    async def scenario() -> wire.SelfTestResult:
        output = AplayAudioOutput(argv=["/nonexistent/aplay"])
        media = CabinMedia(
            camera=StillTrack(np.zeros((8, 8, 3), dtype=np.uint8)),
            microphone=SilenceTrack(),
            audio_output=output,
        )
        try:
            return await checks.speaker(media, 5.0)
        finally:
            await media.close()

    found = run(scenario())
    assert found.outcome is Outcome.FAILED, found


class LoopbackRoom:
    """A sound card whose output the microphone hears (the hardware's loopback, with a little
    room noise): what is played comes back into the microphone's frames."""

    def __init__(self) -> None:
        self.played: list[np.ndarray] = []
        self._noise = np.random.default_rng(2)

    async def play(self, frame: av.AudioFrame) -> None:
        self.played.append(frame.to_ndarray().reshape(-1).astype(np.int32))

    async def close(self) -> None:
        return None

    def microphone(self) -> MediaStreamTrack:
        room = self

        class Microphone(MediaStreamTrack):
            kind = "audio"

            def __init__(self) -> None:
                super().__init__()
                self._pts = 0

            async def recv(self) -> av.AudioFrame:
                await asyncio.sleep(0.02)
                samples = room._noise.normal(0, 50, 1920).astype(np.int32)
                if room.played:
                    samples = samples + room.played.pop(0)
                data = np.clip(samples, -32768, 32767).astype("<i2").reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
                frame.sample_rate, frame.pts = 48_000, self._pts
                frame.time_base = fractions.Fraction(1, 48_000)
                self._pts += 960
                return frame

        return Microphone()


def test_a_speaker_heard_back_through_the_microphone_passes() -> None:
    async def scenario() -> wire.SelfTestResult:
        room = LoopbackRoom()
        media = CabinMedia(
            camera=StillTrack(np.zeros((8, 8, 3), dtype=np.uint8)),
            microphone=room.microphone(),
            audio_output=room,
        )
        try:
            return await checks.speaker(media, 5.0)
        finally:
            await media.close()

    found = run(scenario())
    assert found.outcome is Outcome.PASSED, found
    assert "heard back" in found.detail


def test_the_tone_is_found_in_its_spectrum_and_not_in_noise() -> None:
    tone = b"".join(frame.to_ndarray().astype("<i2").tobytes() for frame in checks.tone_frames())
    noise = np.random.default_rng(4).normal(0, 3000, 48_000).astype("<i2").tobytes()
    assert checks.tone_ratio(tone) > 100
    assert checks.tone_ratio(noise) < checks.TONE_HEARD_RATIO


# --- disk and clock ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("free_mb", "outcome"),
    [(5000, Outcome.PASSED), (1000, Outcome.WARNING), (100, Outcome.FAILED)],
)
def test_disk_space(tmp_path: Path, free_mb: int, outcome: wire.SelfTestOutcome) -> None:
    mb = 1024 * 1024

    def usage(path: Path) -> checks.DiskUsage:  # statvfs at the boundary: a full disk
        assert path == tmp_path
        return checks.DiskUsage(10_000 * mb, (10_000 - free_mb) * mb, free_mb * mb)

    found = run(checks.disk(tmp_path, 2048, 500, usage))
    assert found.outcome is outcome
    assert f"{free_mb} MB free" in found.detail


def test_the_real_disk_is_read(tmp_path: Path) -> None:
    found = run(checks.disk(tmp_path, 1, 1))
    free = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    assert found.outcome is Outcome.PASSED
    assert found.detail.startswith(f"{free} MB") or "MB free" in found.detail


def test_the_clock_synchronised_by_timesyncd_passes(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    assert run(checks.clock(flag, lambda: None)).outcome is Outcome.PASSED


def test_an_unknown_clock_is_said_not_passed(tmp_path: Path) -> None:
    found = run(checks.clock(tmp_path / "absent", lambda: None))
    assert found.outcome is Outcome.SKIPPED
    assert "unknown" in found.detail


def test_the_kernel_says_unsynchronised(tmp_path: Path) -> None:
    unsynced = checks.KernelClock(state=checks.TIME_ERROR, status=checks.STA_UNSYNC, maxerror_us=0)
    found = run(checks.clock(tmp_path / "absent", lambda: unsynced))
    assert found.outcome is Outcome.WARNING
    synced = checks.KernelClock(state=0, status=0, maxerror_us=12_000)
    assert run(checks.clock(tmp_path / "absent", lambda: synced)).outcome is Outcome.PASSED


def test_the_kernel_clock_is_read_by_adjtimex() -> None:
    kernel = checks.read_kernel_clock()
    assert kernel is not None  # adjtimex(2) read-only works here, as root or not
    assert kernel.state >= 0


# --- database ------------------------------------------------------------------------------------


def test_a_sound_database_passes_and_a_damaged_one_fails(tmp_path: Path) -> None:
    key = DatabaseKey.generate()
    path = tmp_path / "cabin.db"

    async def scenario(damage: bool) -> wire.SelfTestResult:
        store = await AsyncStore.open(path, key)
        try:
            if not damage:
                for n in range(400):
                    await store.run(Store.audit, "assistant", "test_line", f"line {n:04d}" * 8)
                await store.run(lambda s: s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
            return await checks.database(store)
        finally:
            await store.close()

    sound = run(scenario(False))
    assert sound.outcome is Outcome.PASSED, sound
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[5 * page + 200 : 5 * page + 232] = bytes(32)  # a page changed outside SQLCipher
    path.write_bytes(bytes(data))
    damaged = run(scenario(True))
    assert damaged.outcome is Outcome.FAILED, damaged


# --- TURN ----------------------------------------------------------------------------------------


def test_turn_a_relay_candidate_from_a_real_coturn(tmp_path: Path) -> None:
    if not Path("/usr/bin/turnserver").exists():
        pytest.skip("coturn is not installed here")

    with running_coturn(tmp_path / "coturn") as coturn:
        now = datetime.now(UTC)
        good = turn_credential(coturn.secret, who="cabin-1", now=now, ttl_s=600)
        server = wire.IceServer(
            urls=[coturn.url], username=good.username, credential=good.credential
        )
        found = run(checks.turn([server], 10.0, loopback_only=True))
        assert found.outcome is Outcome.PASSED, found
        wrong = wire.IceServer(urls=[coturn.url], username=good.username, credential="bm90IGl0")
        refused = run(checks.turn([wrong], 5.0, loopback_only=True))
        assert refused.outcome is Outcome.FAILED, refused


def test_turn_without_servers_or_with_an_expired_credential_is_skipped() -> None:
    assert run(checks.turn(None, 1.0)).outcome is Outcome.SKIPPED
    stun_only = [wire.IceServer(urls=["stun:127.0.0.1:3478"])]
    assert run(checks.turn(stun_only, 1.0)).outcome is Outcome.SKIPPED
    past = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    expired = wire.IceServer(
        urls=["turn:127.0.0.1:3478"], username=f"{past}:cabin-1", credential="eA=="
    )
    found = run(checks.turn([expired], 1.0))
    assert found.outcome is Outcome.SKIPPED
    assert "expired" in found.detail


# --- printer -------------------------------------------------------------------------------------


def test_a_writable_pdf_folder_passes_and_an_impossible_one_fails(tmp_path: Path) -> None:
    good = PdfFolderPrinter(tmp_path / "printed")
    found = run(checks.printer(checks.printer_status_now(good), good.name, None))
    assert found.outcome is Outcome.PASSED, found
    (tmp_path / "a-file").write_text("not a folder")
    bad = PdfFolderPrinter(tmp_path / "a-file" / "printed")
    found = run(checks.printer(checks.printer_status_now(bad), bad.name, None))
    assert found.outcome is Outcome.FAILED
    assert "offline" in found.detail
    low = run(checks.printer(checks.printer_status_now(good), good.name, 5))
    assert low.outcome is Outcome.WARNING


def test_hub_absent_or_unreachable_fails() -> None:
    assert run(checks.hub(None, 1.0)).outcome is Outcome.FAILED

    async def scenario() -> wire.SelfTestResult:
        async def ignore(_message: wire.Message) -> None:
            return None

        link = HubLink(
            "http://127.0.0.1:9", "cabin-1", "t" * 32, software_version="1.0.0", handler=ignore
        )
        await link.start()
        try:
            return await checks.hub(link, 1.0)
        finally:
            await link.close()

    found = run(scenario())
    assert found.outcome is Outcome.FAILED
    assert "not reachable" in found.detail
    assert math.isfinite(found.duration_ms)


# --- a real cupsd --------------------------------------------------------------------------------


def test_a_cups_printer_ready_then_stopped_then_refusing(rig: CupsRig) -> None:
    printer = printer_on(rig, SIM_QUEUE, connect_timeout_s=5.0)
    status = checks.printer_status_now(printer)
    ready = run(checks.printer(status, printer.name, None))
    assert ready.outcome is Outcome.PASSED, ready
    rig.lp("cupsdisable", SIM_QUEUE)
    stopped = run(checks.printer(status, printer.name, None))
    assert stopped.outcome is Outcome.FAILED, stopped
    assert "offline or stopped" in stopped.detail and "paused" in stopped.detail
    rig.lp("cupsenable", SIM_QUEUE)
    rig.lp("cupsreject", SIM_QUEUE)
    refusing = run(checks.printer(status, printer.name, None))
    assert refusing.outcome is Outcome.FAILED, refusing
