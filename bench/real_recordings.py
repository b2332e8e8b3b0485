"""Real people's recordings, made by others, as a development set for the distress detectors.

They are not in the repository (their licences allow use, and the brief keeps them out): they
live in ``../shared/data/real-recordings/`` beside the project's checkout, or wherever
``$CABIN_REAL_RECORDINGS`` points. `SOURCES.md` there names each source and its licence.

- ``video/``: clips of the GMDCSA24 home fall dataset (`S1_Fall_13.mp4`, `S2_ADL_23.mp4`, ...)
  with the dataset's own annotations (`S1_Fall.csv`: per clip, a description and time spans).
- ``speech/``: real speech (FLAC), none of it a call for help.

`fall_clips()` and `speech_files()` list what is there (empty when the folder is absent: the
benches print "not found", the tests skip). `clip_frames()` decodes a clip as the monitor sees a
camera: frames taken at the analysis rate (the newest one each period) and scaled by FFmpeg's
scaler to the analysis size, whatever the clip's aspect (a 16:9 clip is squeezed, as a 16:9
cabin camera is). `speech_samples()` decodes a sound file to mono float32 at the analysis rate.
Nothing here is imported by the product.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import av
import numpy as np
from numpy.typing import NDArray

ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_DIR: Final = ROOT.parent / "shared" / "data" / "real-recordings"

_SPAN = re.compile(r"([A-Za-z][A-Za-z ()]*?)\s*\(?[A-Z]*\)?\s*\[([^\]]*)\]")
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*to\s*(\d+(?:\.\d+)?)")


def recordings_dir() -> Path:
    """Where the real recordings are (the folder may not exist)."""
    configured = os.environ.get("CABIN_REAL_RECORDINGS")
    return Path(configured) if configured else DEFAULT_DIR


@dataclass(frozen=True, slots=True)
class Clip:
    """One video clip and what its dataset says happens in it."""

    path: Path
    name: str
    """``S1_Fall_13``: subject, kind (``Fall`` or ``ADL``), number."""
    is_fall: bool
    description: str
    spans: tuple[tuple[str, float, float], ...]
    """The annotated activities: (label, start s, end s); "Falling" spans for a fall."""

    @property
    def fall_starts_s(self) -> float | None:
        """When the annotated fall starts, in seconds from the clip's start (None: not a fall)."""
        starts = [start for label, start, _end in self.spans if label.startswith("Falling")]
        return min(starts) if starts else None


def _annotations(folder: Path) -> dict[str, tuple[str, tuple[tuple[str, float, float], ...]]]:
    """``S1_Fall_13`` -> (description, spans), from every ``S<n>_<kind>.csv`` in the folder."""
    found: dict[str, tuple[str, tuple[tuple[str, float, float], ...]]] = {}
    for table in sorted(folder.glob("S*_*.csv")):
        prefix = table.stem  # S1_Fall
        with table.open(newline="", encoding="utf-8", errors="replace") as handle:
            rows = list(csv.reader(handle))
        for row in rows[1:]:
            if len(row) < 6 or not row[0].strip().endswith(".mp4"):
                continue
            number = int(row[0].strip().removesuffix(".mp4"))
            classes = ",".join(row[5:])
            spans: list[tuple[str, float, float]] = []
            for label, ranges in _SPAN.findall(classes):
                for start, end in _RANGE.findall(ranges):
                    spans.append((label.strip(), float(start), float(end)))
            found[f"{prefix}_{number}"] = (row[4].strip(), tuple(spans))
    return found


def fall_clips(folder: Path | None = None) -> list[Clip]:
    """Every annotated clip present, falls and daily activities, sorted by name."""
    video = (folder or recordings_dir()) / "video"
    if not video.is_dir():
        return []
    notes = _annotations(video)
    clips = []
    for path in sorted(video.glob("S*_*_*.mp4")):
        description, spans = notes.get(path.stem, ("", ()))
        clips.append(
            Clip(
                path=path,
                name=path.stem,
                is_fall="_Fall_" in path.stem,
                description=description,
                spans=spans,
            )
        )
    return clips


def clip_frames(
    path: Path,
    *,
    fps: float = 10.0,
    width: int = 160,
    height: int | None = 120,
    scaling_s: list[float] | None = None,
) -> Iterator[tuple[float, NDArray[np.uint8]]]:
    """(seconds from the clip's start, RGB frame at the analysis size), at most ``fps`` a second:
    the first decoded frame at or after each period's instant, as the monitor takes them.
    ``height=None``: the clip's own aspect kept (the monitor's frames: 320 wide). The CPU time
    of each frame's scaling and conversion is appended to ``scaling_s`` when given (a bench's
    floor)."""
    period = 1.0 / fps
    next_due = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            t = float(frame.time)
            if t < next_due - period / 3:
                continue
            next_due = max(next_due + period, t + period / 2)
            rows = height if height is not None else round(frame.height * width / frame.width)
            started = time.process_time()
            small = frame.reformat(width=width, height=rows, format="rgb24").to_ndarray()
            if scaling_s is not None:
                scaling_s.append(time.process_time() - started)
            yield t, cast("NDArray[np.uint8]", small)


def speech_files(folder: Path | None = None) -> list[Path]:
    """Every real speech file present, sorted."""
    speech = (folder or recordings_dir()) / "speech"
    if not speech.is_dir():
        return []
    return sorted(p for p in speech.iterdir() if p.suffix in {".flac", ".wav", ".ogg", ".mp3"})


def speech_samples(path: Path, rate: int = 16_000) -> NDArray[np.float32]:
    """The whole file as mono float32 (-1..1) at ``rate``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts: list[NDArray[np.float32]] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            frame.pts = None
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1).astype(np.float32))
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


if __name__ == "__main__":
    for clip in fall_clips():
        frames = list(clip_frames(clip.path))
        print(
            f"{clip.name:12} fall={clip.is_fall!s:5} starts={clip.fall_starts_s} "
            f"frames={len(frames)} last={frames[-1][0]:.1f}s  {clip.description}"
        )
    total = 0.0
    for path in speech_files():
        seconds = speech_samples(path).size / 16_000
        total += seconds
        print(f"{path.name:24} {seconds:6.1f} s")
    print(f"speech: {total / 60:.1f} min")
