"""The self-test's checks, one function each: they look, they never store a reading nor a frame.

Each takes what it checks (an instrument, the cabin's media, the printer, the store...) and
returns ``wire.SelfTestResult`` values; the runner (``kiosk.selftest.service``) times them and
bounds them. A check that cannot run says so (``SKIPPED`` with the reason) rather than pass.
The media checks (camera, microphone, speaker) need numpy and PyAV: this module is imported off
the Qt thread (``kiosk.selftest.attach``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, NamedTuple

import av
import numpy as np
from aiortc import RTCIceGatherer, RTCIceServer, RTCIceTransport
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from numpy.typing import NDArray

import wire
from devices.cancellation import within
from devices.instrument import Instrument
from kiosk.call.ice import loopback_candidates
from kiosk.call.media import (
    PCM_CHANNELS,
    PCM_RATE_HZ,
    AudioOutput,
    CabinMedia,
    NullAudioOutput,
    pcm_s16_stereo,
)
from kiosk.errors import StoreError
from kiosk.hub_link import HubLink, HubLinkState
from kiosk.store import AsyncStore, Store
from printing.printer import Printer, PrinterStatus

log = logging.getLogger(__name__)

Check = wire.SelfTestCheck
Outcome = wire.SelfTestOutcome

BLACK_LUMA: Final = 16.0
"""Mean luma (0..255) below which a frame is black: a covered lens, a dead sensor."""
FROZEN_FRAMES: Final = 5
"""This many identical frames in a row: the camera is frozen (a real sensor's noise alone
makes consecutive frames differ)."""
CAMERA_FRAMES: Final = 8
DEAD_INPUT_RMS: Final = 1e-4
"""Below this (about -80 dBFS) a microphone is digital silence: a dead or muted input (even a
quiet room's noise is far above it)."""
MICROPHONE_LISTEN_S: Final = 1.0
TONE_HZ: Final = 1_000.0
TONE_S: Final = 0.6
TONE_LEVEL: Final = 0.3
TONE_HEARD_RATIO: Final = 10.0
"""The tone's frequency must stand this far above the rest of the spectrum to be heard."""
PAPER_WARNING_SHEETS: Final = 20
TIMESYNC_FLAG: Final = Path("/run/systemd/timesync/synchronized")
STA_UNSYNC: Final = 0x0040
TIME_ERROR: Final = 5


def result(
    check: Check, outcome: Outcome, detail: str, subject: str = "", duration_ms: int = 0
) -> wire.SelfTestResult:
    return wire.SelfTestResult(
        check=check,
        outcome=outcome,
        subject=subject[:64],
        detail=detail[:500],
        duration_ms=max(0, min(duration_ms, 600_000)),
    )


# --- instruments ---------------------------------------------------------------------------------


async def instrument(device: Instrument, timeout_s: float) -> wire.SelfTestResult:
    """The instrument answers its probe (no measurement is started, nothing is stored)."""
    if device.measuring:
        return result(
            Check.INSTRUMENT, Outcome.SKIPPED, "in use for a measurement", device.device_id
        )
    probe = await device.probe(timeout_s)
    detail = probe.detail
    if probe.battery_percent is not None and "battery" not in detail:
        detail += f"; battery {probe.battery_percent} %"
    if not probe.answered:
        return result(Check.INSTRUMENT, Outcome.FAILED, detail, device.device_id)
    if probe.battery_percent is not None and probe.battery_percent < 20:
        return result(Check.INSTRUMENT, Outcome.WARNING, detail + " (low)", device.device_id)
    return result(Check.INSTRUMENT, Outcome.PASSED, detail, device.device_id)


# --- camera, microphone, speaker -----------------------------------------------------------------


class _FrameLook(NamedTuple):
    luma: float
    thumbnail: bytes  # a small grey copy, to compare frames (never kept)


def _look(frame: av.VideoFrame) -> _FrameLook:
    grey = frame.reformat(width=64, height=48, format="gray").to_ndarray()
    return _FrameLook(float(np.mean(grey)), grey.tobytes())


async def camera(media: CabinMedia | None, timeout_s: float) -> wire.SelfTestResult:
    """Frames come, and they are neither black nor frozen (read from the shared capture, held
    only long enough to be measured)."""
    if media is None:
        return result(Check.CAMERA, Outcome.FAILED, "the camera is not open (see the log)")
    track = media.subscribe_camera()
    looks: list[_FrameLook] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(looks) < CAMERA_FRAMES:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    looks.append(await asyncio.to_thread(_look, frame))
                del frame
    except TimeoutError:
        if not looks:
            return result(Check.CAMERA, Outcome.FAILED, f"no frame in {timeout_s:.0f} s")
    except MediaStreamError:
        if not looks:
            return result(Check.CAMERA, Outcome.FAILED, "the camera stopped giving frames")
    finally:
        track.stop()
    return judge_frames(looks)


def judge_frames(looks: Sequence[_FrameLook]) -> wire.SelfTestResult:
    mean_luma = sum(look.luma for look in looks) / len(looks)
    same_run = longest = 1
    for before, after in itertools.pairwise(looks):
        same_run = same_run + 1 if before.thumbnail == after.thumbnail else 1
        longest = max(longest, same_run)
    seen = f"{len(looks)} frames, mean brightness {mean_luma:.0f}/255"
    if mean_luma < BLACK_LUMA:
        return result(Check.CAMERA, Outcome.FAILED, f"black image ({seen}): lens covered?")
    if longest >= FROZEN_FRAMES or (len(looks) > 1 and longest == len(looks)):
        return result(
            Check.CAMERA, Outcome.FAILED, f"frozen image: {longest} identical frames ({seen})"
        )
    if len(looks) < CAMERA_FRAMES:
        return result(Check.CAMERA, Outcome.WARNING, f"too few frames to judge ({seen})")
    return result(Check.CAMERA, Outcome.PASSED, seen)


async def _listen(track: MediaStreamTrack, seconds: float, timeout_s: float) -> bytes:
    """``seconds`` of the microphone as s16 stereo PCM at 48 kHz (less if it ends or stalls)."""
    wanted = int(seconds * PCM_RATE_HZ) * PCM_CHANNELS * 2
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=PCM_RATE_HZ)
    chunks: list[bytes] = []
    heard = 0
    with contextlib.suppress(TimeoutError, MediaStreamError):
        async with asyncio.timeout(timeout_s):
            while heard < wanted:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    pcm = pcm_s16_stereo(frame, resampler)
                    chunks.append(pcm)
                    heard += len(pcm)
    return b"".join(chunks)


def level_dbfs(rms: float) -> float:
    return -120.0 if rms <= 0 else max(-120.0, 20 * math.log10(rms))


def _frames_rms(pcm: bytes) -> float:
    """The loudest 20 ms window's RMS (speech has pauses: its loud part says the input lives)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    window = int(0.02 * PCM_RATE_HZ) * PCM_CHANNELS
    if samples.size == 0:
        return 0.0
    usable = samples[: samples.size - samples.size % window] if samples.size >= window else samples
    blocks = usable.reshape(-1, min(window, usable.size))
    return float(np.sqrt(np.mean(np.square(blocks), axis=1)).max())


async def microphone(media: CabinMedia | None, timeout_s: float) -> wire.SelfTestResult:
    """The microphone hears something: digital silence is a dead input."""
    if media is None:
        return result(Check.MICROPHONE, Outcome.FAILED, "the microphone is not open (see the log)")
    track = media.subscribe_microphone()
    try:
        pcm = await _listen(track, MICROPHONE_LISTEN_S, timeout_s)
    finally:
        track.stop()
    if not pcm:
        return result(Check.MICROPHONE, Outcome.FAILED, f"no sound frame in {timeout_s:.0f} s")
    rms = await asyncio.to_thread(_frames_rms, pcm)
    seconds = len(pcm) / (PCM_RATE_HZ * PCM_CHANNELS * 2)
    detail = f"level {level_dbfs(rms):.0f} dBFS over {seconds:.1f} s"
    if rms < DEAD_INPUT_RMS:
        return result(Check.MICROPHONE, Outcome.FAILED, f"digital silence ({detail}): dead input")
    return result(Check.MICROPHONE, Outcome.PASSED, detail)


def tone_frames(
    hz: float = TONE_HZ, seconds: float = TONE_S, level: float = TONE_LEVEL
) -> list[av.AudioFrame]:
    """A sine tone as 20 ms s16 stereo frames at 48 kHz."""
    samples_per_frame = PCM_RATE_HZ // 50
    count = int(seconds * 50)
    t = np.arange(count * samples_per_frame) / PCM_RATE_HZ
    wave = (np.sin(2 * math.pi * hz * t) * level * 32767).astype("<i2")
    frames = []
    for index in range(count):
        mono = wave[index * samples_per_frame : (index + 1) * samples_per_frame]
        stereo = np.repeat(mono, PCM_CHANNELS).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = PCM_RATE_HZ
        frame.pts = index * samples_per_frame
        frame.time_base = Fraction(1, PCM_RATE_HZ)
        frames.append(frame)
    return frames


def tone_ratio(pcm: bytes, hz: float = TONE_HZ) -> float:
    """How far the tone's frequency stands above the median of the spectrum (mono mix)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size < PCM_CHANNELS * 1024:
        return 0.0
    mono: NDArray[np.float64] = samples.reshape(-1, PCM_CHANNELS).mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    freqs = np.fft.rfftfreq(mono.size, 1 / PCM_RATE_HZ)
    band = (freqs > hz - 20) & (freqs < hz + 20)
    rest = spectrum[(freqs > 100) & ~band]
    floor = float(np.median(rest)) if rest.size else 0.0
    peak = float(spectrum[band].max()) if band.any() else 0.0
    return peak / floor if floor > 0 else (math.inf if peak > 0 else 0.0)


class PlayedCounts(NamedTuple):
    played: int
    dropped: int


def _counts(output: AudioOutput) -> PlayedCounts | None:
    played = getattr(output, "frames_played", None)
    dropped = getattr(output, "frames_dropped", None)
    if isinstance(played, int) and isinstance(dropped, int):
        return PlayedCounts(played, dropped)
    return None


async def speaker(
    media: CabinMedia | None, timeout_s: float, *, loopback: bool = True
) -> wire.SelfTestResult:
    """A short tone through the cabin's sound output, listened for in the microphone's
    spectrum. No sound card ("null" output): skipped, never passed. Played but not heard:
    a warning (the hardware may not loop back: the microphone may not hear the speaker)."""
    if media is None:
        return result(Check.SPEAKER, Outcome.FAILED, "the sound output is not open (see the log)")
    output = media.audio_output
    if isinstance(output, NullAudioOutput):
        return result(Check.SPEAKER, Outcome.SKIPPED, "no sound card configured (speaker = null)")
    frames = tone_frames()
    track = media.subscribe_microphone() if loopback else None
    before = _counts(output)
    try:
        listening = (
            asyncio.ensure_future(_listen(track, TONE_S + 0.6, timeout_s))
            if track is not None
            else None
        )
        for frame in frames:
            await output.play(frame)
            await asyncio.sleep(0.02)
        pcm = await listening if listening is not None else b""
    finally:
        if track is not None:
            track.stop()
    after = _counts(output)
    if before is not None and after is not None:
        played = after.played - before.played
        if played == 0:
            return result(
                Check.SPEAKER,
                Outcome.FAILED,
                f"the sound output took none of the {len(frames)} tone frames (player failed)",
            )
    if track is None:
        return result(Check.SPEAKER, Outcome.WARNING, "tone played; no microphone to hear it back")
    ratio = await asyncio.to_thread(tone_ratio, pcm)
    if ratio >= TONE_HEARD_RATIO:
        return result(
            Check.SPEAKER,
            Outcome.PASSED,
            f"{TONE_HZ:.0f} Hz tone played and heard back ({ratio:.0f}x above the noise)",
        )
    return result(
        Check.SPEAKER,
        Outcome.WARNING,
        f"tone played, not heard back by the microphone ({ratio:.1f}x): no acoustic loopback"
        " here, or the speaker is silent; listen for it",
    )


# --- printer -------------------------------------------------------------------------------------

PROBLEM_WORDS: Final = {
    wire.PrinterProblem.PAPER_LOW: "paper low",
    wire.PrinterProblem.OUT_OF_PAPER: "out of paper",
    wire.PrinterProblem.PAPER_JAM: "paper jam",
    wire.PrinterProblem.OFFLINE: "offline or stopped",
    wire.PrinterProblem.OTHER: "in error",
}


async def printer(
    status: Callable[[], Any],
    name: str,
    sheets_left: int | None,
) -> wire.SelfTestResult:
    """The printer's state and paper: ``status`` is asked now (a CUPS question, a folder)."""
    checked: PrinterStatus = await status()
    reasons = f" [{', '.join(checked.reasons)}]" if checked.reasons else ""
    paper = "" if sheets_left is None else f"; {sheets_left} sheets left (logged)"
    if checked.problem is None:
        if sheets_left is not None and sheets_left < PAPER_WARNING_SHEETS:
            return result(Check.PRINTER, Outcome.WARNING, f"ready{paper}: refill soon", name)
        return result(Check.PRINTER, Outcome.PASSED, f"ready ({checked.state}){paper}", name)
    words = PROBLEM_WORDS[checked.problem]
    outcome = (
        Outcome.WARNING if checked.problem is wire.PrinterProblem.PAPER_LOW else Outcome.FAILED
    )
    return result(Check.PRINTER, outcome, f"{words} ({checked.state}){reasons}{paper}", name)


def printer_status_now(printer_: Printer) -> Callable[[], Any]:
    """A printer asked directly (no paperwork): its blocking ``status`` on a worker thread."""

    async def ask() -> PrinterStatus:
        return await asyncio.to_thread(printer_.status)

    return ask


# --- disk and clock ------------------------------------------------------------------------------


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsageOf = Callable[[Path], DiskUsage]


def disk_usage(path: Path) -> DiskUsage:
    usage = shutil.disk_usage(path)
    return DiskUsage(usage.total, usage.used, usage.free)


async def disk(
    data_dir: Path, warning_mb: int, failed_mb: int, usage_of: DiskUsageOf = disk_usage
) -> wire.SelfTestResult:
    """Free space on the data folder's filesystem (the database, the log, the spool)."""
    try:
        usage = await asyncio.to_thread(usage_of, data_dir)
    except OSError as exc:
        return result(Check.DISK, Outcome.FAILED, f"cannot read the disk's usage ({exc})")
    free_mb = usage.free // (1024 * 1024)
    detail = f"{free_mb} MB free of {usage.total // (1024 * 1024)} MB"
    if free_mb < failed_mb:
        return result(Check.DISK, Outcome.FAILED, f"{detail} (below {failed_mb} MB)")
    if free_mb < warning_mb:
        return result(Check.DISK, Outcome.WARNING, f"{detail} (below {warning_mb} MB)")
    return result(Check.DISK, Outcome.PASSED, detail)


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """Linux's ``struct timex`` (adjtimex(2))."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


@dataclass(frozen=True, slots=True)
class KernelClock:
    """What adjtimex(2) says of the kernel's clock discipline (read only: modes = 0)."""

    state: int
    status: int
    maxerror_us: int

    @property
    def synchronised(self) -> bool:
        return self.state != TIME_ERROR and not self.status & STA_UNSYNC


def read_kernel_clock() -> KernelClock | None:
    """None when adjtimex cannot be called here (no libc, a sandbox refusing it)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    timex = _Timex()
    state = int(libc.adjtimex(ctypes.byref(timex)))
    if state < 0:
        return None
    return KernelClock(state, int(timex.status), int(timex.maxerror))


async def clock(
    timesync_flag: Path = TIMESYNC_FLAG,
    kernel: Callable[[], KernelClock | None] = read_kernel_clock,
) -> wire.SelfTestResult:
    """Synchronised by NTP: systemd-timesyncd's flag file, else the kernel's own word."""
    if await asyncio.to_thread(timesync_flag.exists):
        return result(Check.CLOCK, Outcome.PASSED, "synchronised (systemd-timesyncd)")
    try:
        kernel_clock = await asyncio.to_thread(kernel)
    except OSError as exc:
        kernel_clock = None
        log.warning("selftest.adjtimex_failed error=%s", exc)
    if kernel_clock is None:
        return result(
            Check.CLOCK,
            Outcome.SKIPPED,
            "unknown: no timesyncd flag, and the kernel's clock state cannot be read here",
        )
    if kernel_clock.synchronised:
        return result(
            Check.CLOCK,
            Outcome.PASSED,
            f"synchronised (kernel: max error {kernel_clock.maxerror_us / 1000:.0f} ms)",
        )
    return result(
        Check.CLOCK,
        Outcome.WARNING,
        "not synchronised: the kernel says no NTP client disciplines the clock"
        " (in a container this is the host's; on a cabin, check systemd-timesyncd)",
    )


# --- hub and TURN --------------------------------------------------------------------------------


async def hub(link: HubLink | None, timeout_s: float) -> wire.SelfTestResult:
    """The hub is reachable and accepts the cabin (its link is online, the credential taken)."""
    if link is None:
        return result(Check.HUB, Outcome.FAILED, "no hub link: the cabin has no hub credential")
    if link.state is not HubLinkState.ONLINE and link.state is not HubLinkState.REFUSED:
        with contextlib.suppress(Exception):
            await link.wait_online(timeout_s)
    state = link.state
    if state is HubLinkState.ONLINE:
        return result(Check.HUB, Outcome.PASSED, "connected; the hub accepts the cabin")
    if state is HubLinkState.REFUSED:
        return result(Check.HUB, Outcome.FAILED, "the hub refuses the cabin's credential")
    return result(Check.HUB, Outcome.FAILED, f"not reachable ({state.value} for {timeout_s:.0f} s)")


def credential_expiry(username: str | None) -> datetime | None:
    """The expiry of a TURN REST credential (its username is ``<unix time>:<who>``)."""
    head = (username or "").split(":", 1)[0]
    if not head.isdigit():
        return None
    return datetime.fromtimestamp(int(head), UTC)


async def turn(
    servers: Sequence[wire.IceServer] | None,
    timeout_s: float,
    *,
    loopback_only: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> wire.SelfTestResult:
    """A relay candidate is gathered from the hub's TURN servers (aiortc's ICE gatherer, relay
    only: an allocation is made on the TURN server, then released)."""
    turn_servers = [
        s for s in servers or () if any(u.startswith(("turn:", "turns:")) for u in s.urls)
    ]
    if not turn_servers:
        why = (
            "no ICE servers from the hub (it did not answer the question, and no call gave any)"
            if servers is None
            else "the hub offers no TURN server"
        )
        return result(Check.TURN, Outcome.SKIPPED, why)
    expiry = credential_expiry(turn_servers[0].username)
    if expiry is not None and expiry <= now():
        return result(
            Check.TURN,
            Outcome.SKIPPED,
            f"the TURN credential the hub gave expired at {expiry:%Y-%m-%d %H:%M} UTC",
        )
    ice = [
        RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
        for s in turn_servers
    ]
    gatherer = RTCIceGatherer(iceServers=ice, iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    try:
        with loopback_candidates(loopback_only):
            await within(gatherer.gather(), timeout_s)
        relays = [c for c in gatherer.getLocalCandidates() if c.type == "relay"]
    except TimeoutError:
        return result(Check.TURN, Outcome.FAILED, f"no relay candidate within {timeout_s:.0f} s")
    except (OSError, ConnectionError, ValueError) as exc:
        return result(Check.TURN, Outcome.FAILED, f"gathering failed ({type(exc).__name__}: {exc})")
    finally:
        await _close_gatherer(gatherer)
    host = ", ".join(u for s in turn_servers for u in s.urls)[:200]
    if not relays:
        return result(Check.TURN, Outcome.FAILED, f"no relay candidate from {host}")
    return result(Check.TURN, Outcome.PASSED, f"relay candidate gathered from {host}")


async def _close_gatherer(gatherer: RTCIceGatherer) -> None:
    """Release the TURN allocation: aiortc closes a gatherer through its ICE transport."""
    with contextlib.suppress(TimeoutError, OSError, ConnectionError):
        await within(RTCIceTransport(gatherer).stop(), 5.0)


# --- database ------------------------------------------------------------------------------------


async def database(store: AsyncStore) -> wire.SelfTestResult:
    """SQLCipher's page check and SQLite's quick check, on the store's own thread."""
    try:
        problems = await store.run(Store.integrity_problems)
    except StoreError as exc:
        return result(Check.DATABASE, Outcome.FAILED, f"the check could not run ({exc})")
    if problems:
        return result(
            Check.DATABASE,
            Outcome.FAILED,
            f"{len(problems)} problem(s): {'; '.join(problems)[:400]}",
        )
    return result(Check.DATABASE, Outcome.PASSED, "cipher_integrity_check and quick_check clean")


def configured_instruments(instruments: Mapping[str, Instrument]) -> list[Instrument]:
    return [instruments[k] for k in sorted(instruments)]


__all__ = [
    "BLACK_LUMA",
    "DiskUsage",
    "KernelClock",
    "camera",
    "clock",
    "database",
    "disk",
    "hub",
    "instrument",
    "microphone",
    "printer",
    "speaker",
    "turn",
]
