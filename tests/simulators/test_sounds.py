"""The synthetic cabin sound: deterministic, labelled, at the documented rate and level."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from itertools import islice
from pathlib import Path

import numpy as np

from simulators import sounds

REPO = Path(__file__).resolve().parents[2]


def test_calls_are_many_varied_and_labelled() -> None:
    scenes = sounds.call_scenes()
    assert len(scenes) >= 20
    assert len({s.calls[0].note for s in scenes}) >= 15
    for scene in scenes:
        assert scene.samples.dtype == np.float32
        assert scene.rate_hz == sounds.SCENE_RATE_HZ
        assert len(scene.calls) == 1
        assert 0 < scene.calls[0].start_s < scene.calls[0].end_s <= scene.duration_s
        assert np.max(np.abs(scene.samples)) <= 1.0
        call = scene.samples[
            round(scene.calls[0].start_s * 16000) : round(scene.calls[0].end_s * 16000)
        ]
        before = scene.samples[: round(scene.calls[0].start_s * 16000)]
        assert sounds.dbfs(call) > sounds.dbfs(before) + 20  # a call is loud over its background


def test_normal_scenes_include_loud_music_fading_in() -> None:
    scenes = {s.name: s for s in sounds.normal_scenes()}
    for name in ("music_fade_in_0", "music_fade_in_1", "music_fade_in_2"):
        scene = scenes[name]
        (event,) = scene.events
        assert event.label == "music"
        start = round(event.start_s * sounds.SCENE_RATE_HZ)
        before, late = scene.samples[:start], scene.samples[start + 4 * sounds.SCENE_RATE_HZ :]
        assert sounds.dbfs(late) > sounds.dbfs(before) + 25  # as loud over the room as a call


def test_scenes_are_deterministic() -> None:
    a = sounds.call_scenes(seed=3)[20]
    b = sounds.call_scenes(seed=3)[20]
    assert np.array_equal(a.samples, b.samples)
    assert a.events == b.events


def test_normal_activity_streams_in_chunks_with_events() -> None:
    first = list(islice(sounds.normal_activity(5, 3600.0, chunk_s=30.0), 4))
    again = list(islice(sounds.normal_activity(5, 3600.0, chunk_s=30.0), 4))
    assert all(len(chunk) == 30 * sounds.SCENE_RATE_HZ for chunk, _ in first)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    events = [e for _, chunk_events in first for e in chunk_events]
    assert events and all(e.label != sounds.CALL_FOR_HELP for e in events)
    assert any(e.start_s >= 30.0 for e in events)  # instants from the stream's start


def test_cli_writes_wav_and_ground_truth(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.sounds", "--write", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "scenes written" in result.stdout
    truth = json.loads((tmp_path / "call_16_scream_quiet.json").read_text())
    assert truth["rate_hz"] == 16000
    assert truth["events"][0]["label"] == "call_for_help"
    with wave.open(str(tmp_path / "call_16_scream_quiet.wav")) as wav:
        assert wav.getframerate() == 16000
        assert wav.getnchannels() == 1
        assert abs(wav.getnframes() / 16000 - truth["duration_s"]) < 0.01
    assert len(list(tmp_path.glob("*.wav"))) == len(list(tmp_path.glob("*.json"))) >= 35
