"""Recorded sounds from Debian packages, as real material for the call-for-help detector.

Debian ships games whose data holds recordings of real voices and instruments. They are fetched
with ``apt-get download`` and unpacked with ``dpkg -x`` into ``~/.cache/cabin/real-sounds/``
(or ``$CABIN_REAL_SOUNDS``), never into the repository; ``python -m bench.real_sounds --fetch``
does it (about 340 MB of packages, a few seconds) and writes `SOURCES.md` there.

- Screams (`screams()`): Hedgewars' voice packs, human voice actors shouting a drawn-out
  "Nooo!" (1-3.5 s; GFDL-1.3; the "Robot" pack is a processed voice and left out), Battle for
  Wesnoth's wails (GPL-2+), OpenArena's "Sarge" falling scream (a low male scream; GPL-2).
- Music (`music_excerpts()`): Battle for Wesnoth's orchestral soundtrack (GPL-2+), excerpts
  starting at several points of each piece.
- Ambient noise (`noises()`): Wesnoth's campfire, ship, night and bird ambiences (GPL-2+).

Real speech comes from the shared development set (`bench.real_recordings`). Nothing here is
imported by the product.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import av
import numpy as np
from numpy.typing import NDArray

from bench.real_recordings import speech_samples

RATE_HZ: Final = 16_000

PACKAGES: Final = ("hedgewars-data", "wesnoth-1.16-data", "wesnoth-1.16-music", "openarena-data")
_HEDGEWARS: Final = "hedgewars-data/usr/share/games/hedgewars/Data/Sounds/voices"
_WESNOTH: Final = "wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds"
_MUSIC: Final = "wesnoth-1.16-music/usr/share/games/wesnoth/1.16/data/core/music"
_OPENARENA: Final = "openarena-data/usr/share/games/openarena/baseoa/pak0.pk3"
_OPENARENA_SARGE: Final = "openarena-sarge"

SOURCES: Final = """\
# Real sounds from Debian packages (bookworm, main), for the call-for-help detector


Fetched by `python -m bench.real_sounds --fetch` of the cabin project: `apt-get download` then
`dpkg -x` here. Not part of the project's repository. Used to measure, never shipped.

- hedgewars-data 1.0.2-6: `Data/Sounds/voices/*/Nooo.ogg`, voice actors' shouted "Nooo!"
  (screams). Licence of Data/Sounds: GFDL-1.3 (debian/copyright).
- wesnoth-1.16-data 1:1.16.9-1: `data/core/sounds/wail*.wav` (screams),
  `data/core/sounds/ambient/{campfire,ship,night,birds*}.ogg` (noise). GPL-2+.
- wesnoth-1.16-music 1:1.16.9-1: `data/core/music/*.ogg` (orchestral music). GPL-2+.
- openarena-data 0.8.5split-14: `baseoa/pak0.pk3` `sound/player/sarge/falling1.wav`
  (a man's falling scream). GPL-2.
"""


def cache_dir() -> Path:
    configured = os.environ.get("CABIN_REAL_SOUNDS")
    return Path(configured) if configured else Path.home() / ".cache" / "cabin" / "real-sounds"


def fetch(folder: Path | None = None) -> Path:
    """Download and unpack the packages (once); returns the folder."""
    root = folder or cache_dir()
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        unpacked = root / "x" / package
        if unpacked.is_dir():
            continue
        if not list(debs.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        (deb,) = debs.glob(f"{package}_*.deb")
        unpacked.mkdir(parents=True)
        subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
    sarge = root / "x" / _OPENARENA_SARGE
    if not sarge.is_dir():
        subprocess.run(
            [
                "unzip",
                "-q",
                "-o",
                str(root / "x" / _OPENARENA),
                "sound/player/sarge/*",
                "-d",
                str(sarge),
            ],
            check=True,
        )
    (root / "SOURCES.md").write_text(SOURCES, encoding="utf-8")
    return root


@dataclass(frozen=True, slots=True)
class Sound:
    name: str
    samples: NDArray[np.float32]

    @property
    def duration_s(self) -> float:
        return self.samples.size / RATE_HZ

    @property
    def short_name(self) -> str:
        """``Pirate/Nooo`` or ``wail-long``: the pack (for a voice pack) and the file's stem."""
        path = Path(self.name)
        return f"{path.parent.name}/{path.stem}" if "voices" in self.name else path.stem


def unique(sounds: list[Sound]) -> list[Sound]:
    """The sounds less exact copies (two voice packs share some files)."""
    seen: set[bytes] = set()
    kept = []
    for sound in sounds:
        key = hashlib.sha256(sound.samples.tobytes()).digest()
        if key not in seen:
            seen.add(key)
            kept.append(sound)
    return kept


def available(folder: Path | None = None) -> bool:
    root = folder or cache_dir()
    return all((root / "x" / package).is_dir() for package in PACKAGES)


def _load(paths: list[Path], root: Path) -> list[Sound]:
    return [Sound(str(p.relative_to(root / "x")), speech_samples(p, RATE_HZ)) for p in paths]


def screams(folder: Path | None = None) -> list[Sound]:
    """Recorded screams and drawn-out shouts (empty when not fetched)."""
    root = folder or cache_dir()
    if not available(root):
        return []
    x = root / "x"
    paths = [p for p in sorted((x / _HEDGEWARS).glob("*/Nooo.ogg")) if p.parent.name != "Robot"]
    paths += sorted((x / _WESNOTH).glob("wail*.wav"))
    paths.append(x / _OPENARENA_SARGE / "sound/player/sarge/falling1.wav")
    return _load([p for p in paths if p.is_file()], root)


def noises(folder: Path | None = None) -> list[Sound]:
    """Recorded ambient noise (campfire, ship, night, birds)."""
    root = folder or cache_dir()
    if not available(root):
        return []
    ambient = root / "x" / _WESNOTH / "ambient"
    names = ("campfire", "ship", "night", "birds1", "birds2", "birds3")
    return _load(
        [ambient / f"{name}.ogg" for name in names if (ambient / f"{name}.ogg").is_file()], root
    )


def music_excerpts(
    count: int = 16, seconds: float = 8.0, folder: Path | None = None
) -> list[Sound]:
    """`count` excerpts of `seconds` from the soundtrack, each from a different piece and start
    (the first at 0 s, then further in), deterministic."""
    root = folder or cache_dir()
    if not available(root):
        return []
    pieces = sorted((root / "x" / _MUSIC).glob("*.ogg"))
    pieces = [p for p in pieces if p.stem not in {"silence"}]
    out: list[Sound] = []
    n = round(seconds * RATE_HZ)
    for i, path in enumerate(pieces[:count]):
        start = (i % 4) * 20 * RATE_HZ  # 0, 20, 40 or 60 s into the piece
        x = _decoded(path, start + n)
        if start + n > x.size:
            start = max(0, x.size - n)
        out.append(Sound(f"{path.stem}@{start // RATE_HZ}s", x[start : start + n].copy()))
    return out


def _decoded(path: Path, samples: int) -> NDArray[np.float32]:
    """The first `samples` of a file as mono float32 at `RATE_HZ` (not the whole piece)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE_HZ)
    parts: list[NDArray[np.float32]] = []
    got = 0
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            frame.pts = None
            for out in resampler.resample(frame):
                part = out.to_ndarray().reshape(-1).astype(np.float32)
                parts.append(part)
                got += part.size
            if got >= samples:
                break
    return np.concatenate(parts)[:samples] if parts else np.zeros(0, np.float32)


def dbfs(x: NDArray[np.floating]) -> float:
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) * 2.0 + 1e-12))


def active_dbfs(x: NDArray[np.floating]) -> float:
    """The level of the loud part: frames within 20 dB of the loudest (20 ms frames)."""
    n = x.size // 320 * 320
    if n == 0:
        return dbfs(x)
    frames = 10 * np.log10(
        np.mean(np.square(x[:n].reshape(-1, 320), dtype=np.float64), 1) * 2 + 1e-12
    )
    return float(10 * np.log10(np.mean(10 ** (frames[frames > frames.max() - 20] / 10))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fetch", action="store_true", help="download and unpack the packages")
    args = parser.parse_args(argv)
    if args.fetch:
        print(f"unpacked in {fetch()}")
    for label, sounds in (("scream", screams()), ("noise", noises()), ("music", music_excerpts())):
        for sound in sounds:
            level = active_dbfs(sound.samples)
            print(f"{label:6} {sound.name:70} {sound.duration_s:6.2f} s {level:6.1f} dBFS")
    if not available():
        print(f"not fetched: python -m bench.real_sounds --fetch  (into {cache_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
