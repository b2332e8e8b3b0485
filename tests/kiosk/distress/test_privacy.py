"""Medical secrecy, by construction and by test: the distress package opens no socket and writes
no frame and no sound; only events leave it.

By construction: no module of ``kiosk/distress`` imports a network library or calls anything
that writes a file (checked on the source's syntax tree). By test: the real analysers and the
real monitor run a fall scene and a call for help in a child process under a Python audit hook
(PEP 578) that records every socket created or connected and every file opened for writing,
renamed, removed or made; the record must be empty, while the detections show that the
analysis really ran.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "kiosk" / "distress"

NETWORK_MODULES = {
    "socket",
    "ssl",
    "http",
    "urllib",
    "aiohttp",
    "requests",
    "websockets",
    "httpx",
    "ftplib",
    "smtplib",
    "asyncssh",
    "zmq",
    "kiosk.hub_link",
    "kiosk.call",
}
WRITING_CALLS = {
    "open",
    "write_bytes",
    "write_text",
    "imwrite",
    "VideoWriter",
    "tofile",
    "save",
    "savez",
    "savez_compressed",
    "dump",
    "mkstemp",
    "NamedTemporaryFile",
    "TemporaryFile",
    "open_connection",
    "create_connection",
    "start_server",
}
# The panic button's board is a serial device: opening its port to read the button is its job.
ALLOWED_CALLS = {"panic_button.py": {"open"}}
WRITING_MODULES = {
    "wave",
    "soundfile",
    "pickle",
    "shelve",
    "tempfile",
    "sqlite3",
    "logging.handlers",
}


def sources() -> list[Path]:
    files = sorted(PACKAGE.glob("*.py"))
    assert {f.name for f in files} >= {"vision.py", "sound.py", "monitor.py", "alerts.py"}
    return files


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.name)
def test_no_module_imports_a_network_or_file_writing_library(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            top = {name, name.split(".")[0], ".".join(name.split(".")[:2])}
            assert not top & (NETWORK_MODULES | WRITING_MODULES), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.name)
def test_no_module_calls_anything_that_writes_or_connects(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ALLOWED_CALLS.get(path.name, set()):
                continue
            assert name not in WRITING_CALLS, f"{path.name}:{node.lineno} calls {name}"


AUDITED_RUN = textwrap.dedent(
    """
    import asyncio, json, os, sys

    import av
    import numpy as np
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    from kiosk.bus import EventBus
    from kiosk.distress.detection import Detection
    from kiosk.distress.monitor import AnalysisSettings, DistressMonitor
    from kiosk.distress.pose import CombinedVision, PoseAnalyser
    from kiosk.distress.sound import ANALYSIS_RATE_HZ, SoundAnalyser
    from kiosk.distress.vision import VisionAnalyser, VisionThresholds
    from kiosk.distress.vitals import DangerousVitals
    from simulators import scenes, sounds
    from tests.kiosk.distress.audit import forbid_writes_and_sockets

    # Everything the child needs is made before the hook: the scene's frames, the sound.
    fall = scenes.fall_scene(scenes.FALL_VARIANTS[0], lie_for_s=4.0)
    frames = [
        (t_s, av.VideoFrame.from_ndarray(image, format="rgb24"))
        for t_s, image in fall.frames(fps=10.0, width=640, height=480)
    ]
    call = sounds.call_scenes()[0]
    pcm = (np.clip(sounds.resample(call.samples, call.rate_hz, 48_000), -1, 1) * 32767)
    pcm = pcm.astype(np.int16)

    # The scene's own time is the monitor's clock: frames come as fast as they are analysed,
    # and a busy machine changes nothing of what the analysers see.
    clock = [0.0]

    class Frames(MediaStreamTrack):
        kind = "video"
        def __init__(self):
            super().__init__()
            self.left = list(frames)
            self.ended = False
        async def recv(self):
            if not self.left:
                self.ended = True
                raise MediaStreamError
            await asyncio.sleep(0)
            clock[0], frame = self.left.pop(0)
            return frame

    class Sound(MediaStreamTrack):
        kind = "audio"
        def __init__(self):
            super().__init__()
            self.at = 0
            self.ended = False
        async def recv(self):
            if self.at >= pcm.size:
                self.ended = True
                raise MediaStreamError
            chunk = pcm[self.at : self.at + 960]
            chunk = np.pad(chunk, (0, 960 - chunk.size))
            frame = av.AudioFrame.from_ndarray(np.repeat(chunk, 2).reshape(1, -1), format="s16",
                                               layout="stereo")
            frame.sample_rate = 48_000
            self.at += 960
            await asyncio.sleep(0)
            return frame

    class Session:  # what the monitor reads of the session: a patient in the cabin
        from kiosk.session_states import Overlay, SessionState
        overlay = Overlay.NONE
        state = SessionState.VITALS
        active_alerts = frozenset()

    class Desk:
        def __init__(self):
            self.events = []
        def open_kind(self, kind):
            return None
        async def raise_alert(self, kind, severity, **fields):
            self.events.append(kind.value)
            return "a"


    async def main():
        desk = Desk()
        monitor = DistressMonitor(Session(), EventBus(), desk, vitals=DangerousVitals(),
                                  settings=AnalysisSettings(), clock=lambda: clock[0])
        monitor._desk = desk
        # the product's camera analysis: the classical one with the pose model (loaded here)
        vision = CombinedVision(VisionAnalyser(VisionThresholds()), PoseAnalyser())
        seen = forbid_writes_and_sockets()  # from here on, nothing may be written or connected
        video, sound = Frames(), Sound()
        monitor.watch_camera(video, vision)
        monitor.listen(sound, SoundAnalyser())
        # Each watcher asks for the next frame once the last was analysed: both tracks ended
        # means everything was analysed. The parent's timeout bounds this wait.
        while not (video.ended and sound.ended):
            await asyncio.sleep(0.05)
        await monitor.aclose()
        return seen, desk.events, monitor.frames_analysed, monitor.sound_seconds_analysed

    loop = asyncio.new_event_loop()  # its self-pipe socket is made before the hook
    seen, events, frames_done, sound_s = loop.run_until_complete(main())
    print(json.dumps({"seen": seen, "events": events, "frames": frames_done,
                      "sound_s": sound_s}))
    """
)


def test_analysing_a_fall_and_a_call_for_help_opens_no_socket_and_writes_nothing(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", AUDITED_RUN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["seen"] == []
    # the analysis ran: frames and sound went through, and both detectors spoke
    assert report["frames"] >= 50 and report["sound_s"] >= 2.0
    assert "fall" in report["events"] and "call_for_help" in report["events"]
