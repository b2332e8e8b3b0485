"""Synthetic sound of the cabin, with ground truth, for the call-for-help detector.

Every scene is mono float32 at 16 kHz (`SCENE_RATE_HZ`, the analyser's rate), -1..1, with its
labelled events (`LabelledEvent`: what, from when to when, in seconds from the scene's start).
Levels are dBFS of the RMS where a full-scale sine is 0 dBFS, at a microphone gain of 1.

- Speech is espeak-ng (offline), French and English voices, resampled from its 22.05 kHz;
  renders are cached in memory for the run (about 20 ms each). Raised voice is espeak louder,
  faster and a little higher; shouts are espeak at high amplitude and pitch, slowed, vowels
  written long, driven into a soft clipper like a shouting voice into a microphone.
- Screams are synthesised: a voiced tone (600-1500 Hz) with harmonics, vibrato, jitter and
  breath noise, 1-3 s.
- Coughs and sneezes are shaped noise bursts (a sneeze has a short voiced "ah" before it), a door
  slam a thud (a damped low resonance and a noise burst), knocking short damped resonances.
- Backgrounds: pink and brown noise, a fan's hum (50 Hz harmonics), a street (brown noise and
  passing cars), a television's babble (espeak sentences mixed low), music (legato notes with
  harmonics over a pad), the doctor's voice from the cabin's speaker (espeak, band-limited).

`call_scenes()` gives the calls for help (at least 20, varied in words, voice, background,
signal-to-noise ratio and gain), `normal_scenes()` the sounds that must not raise an alert, and
`normal_activity(seed, duration_s)` streams hours of ordinary cabin life in chunks, all
deterministic. ``python -m simulators.sounds --write DIR`` writes each scene as a 16-bit WAV file
with its ground truth beside it (``NAME.json``), for the demo to play.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import wave
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from simulators.media import SpeechSynthesisError

SCENE_RATE_HZ: Final = 16_000
ESPEAK_RATE_HZ: Final = 22_050

Audio = NDArray[np.float32]

CALL_FOR_HELP: Final = "call_for_help"
"""The label of the events the detector must find; every other label must stay quiet."""


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    label: str
    start_s: float
    end_s: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class Scene:
    name: str
    description: str
    samples: Audio
    events: tuple[LabelledEvent, ...]
    rate_hz: int = SCENE_RATE_HZ

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate_hz

    @property
    def calls(self) -> tuple[LabelledEvent, ...]:
        return tuple(e for e in self.events if e.label == CALL_FOR_HELP)


# --- sources ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Espeak:
    """espeak-ng renders at 16 kHz, cached in memory for the life of the object."""

    timeout_s: float = 10.0
    _cache: dict[tuple[str, str, int, int, int], Audio] = field(default_factory=dict)

    def say(
        self,
        text: str,
        voice: str = "fr",
        *,
        pitch: int = 50,
        speed: int = 160,
        amplitude: int = 100,
    ) -> Audio:
        key = (text, voice, pitch, speed, amplitude)
        if key not in self._cache:
            command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed)]
            command += ["-a", str(amplitude), "--stdout", "--", text]
            try:
                result = subprocess.run(
                    command, capture_output=True, timeout=self.timeout_s, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SpeechSynthesisError(f"espeak-ng could not run: {exc}") from exc
            if result.returncode != 0 or len(result.stdout) <= 44:
                reason = result.stderr.decode(errors="replace").strip()[:200]
                raise SpeechSynthesisError(f"espeak-ng failed ({result.returncode}): {reason}")
            pcm = np.frombuffer(result.stdout[44:], dtype="<i2").astype(np.float64) / 32768.0
            self._cache[key] = resample(pcm, ESPEAK_RATE_HZ, SCENE_RATE_HZ)
        return self._cache[key]


def resample(x: NDArray[np.floating], from_hz: int, to_hz: int) -> Audio:
    """Band-limited resampling by the Fourier transform (fine for clips of a few seconds)."""
    n = round(len(x) * to_hz / from_hz)
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), n // 2 + 1)
    out = np.zeros(n // 2 + 1, dtype=complex)
    out[:keep] = spectrum[:keep]
    return (np.fft.irfft(out, n) * (n / len(x))).astype(np.float32)


def dbfs(x: NDArray[np.floating]) -> float:
    """RMS level, a full-scale sine being 0 dBFS."""
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) * 2 + 1e-12))


def at_level(x: NDArray[np.floating], level_dbfs: float) -> Audio:
    """`x` scaled so that its active part (above -40 dB of its peak) has this RMS level."""
    x = np.asarray(x, dtype=np.float64)
    active = x[np.abs(x) > np.abs(x).max() * 0.01] if x.size and np.any(x) else x
    if active.size == 0:
        return x.astype(np.float32)
    return (x * 10 ** ((level_dbfs - dbfs(active)) / 20)).astype(np.float32)


def shaped_noise(rng: np.random.Generator, n: int, slope_db_per_octave: float) -> Audio:
    """Noise whose spectrum falls by this much per octave (-3 pink, -6 brown), at 0 dBFS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SCENE_RATE_HZ)
    gain = np.where(f > 20, (np.maximum(f, 20) / 1000) ** (slope_db_per_octave / 6.02), 0.0)
    return at_level(np.fft.irfft(spectrum * gain, n), 0.0)


def band(x: NDArray[np.floating], low_hz: float, high_hz: float) -> Audio:
    """`x` with everything outside low..high Hz removed (a brick-wall filter)."""
    spectrum = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SCENE_RATE_HZ)
    spectrum[(f < low_hz) | (f > high_hz)] = 0
    return np.fft.irfft(spectrum, len(x)).astype(np.float32)


def seconds(t_s: float) -> NDArray[np.float64]:
    return np.arange(round(t_s * SCENE_RATE_HZ)) / SCENE_RATE_HZ


def soft_clip(x: NDArray[np.floating], drive: float) -> Audio:
    """A voice driven into the microphone's preamplifier: tanh saturation, peak near 1."""
    clipped: Audio = (np.tanh(np.asarray(x) * drive) / np.tanh(drive)).astype(np.float32)
    return clipped


def scream(rng: np.random.Generator, duration_s: float, pitch_hz: float) -> Audio:
    """A synthetic scream: a voiced tone with harmonics, vibrato, jitter, a rise and a fall."""
    t = seconds(duration_s)
    contour = 1 + 0.12 * np.sin(np.pi * t / duration_s) - 0.08 * t / duration_s
    vibrato = 1 + 0.03 * np.sin(2 * np.pi * rng.uniform(5, 7) * t)
    jitter = 1 + 0.01 * np.cumsum(rng.standard_normal(len(t))) / np.sqrt(len(t))
    phase = 2 * np.pi * np.cumsum(pitch_hz * contour * vibrato * jitter) / SCENE_RATE_HZ
    voice = sum(np.sin(k * phase) / k**1.2 for k in range(1, 8))
    voice = voice + 0.15 * band(rng.standard_normal(len(t)), 1000, 6000)
    envelope = np.minimum(1, t / 0.08) * np.minimum(1, (duration_s - t) / 0.2)
    return soft_clip(at_level(voice * envelope, -6), 1.5)


def cough(rng: np.random.Generator) -> Audio:
    """One to three cough bursts: shaped noise, a sharp attack and a fast decay."""
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        length_s = rng.uniform(0.15, 0.35)
        t = seconds(length_s)
        envelope = np.minimum(1, t / 0.01) * np.exp(-t / rng.uniform(0.05, 0.12))
        noise = band(rng.standard_normal(len(t)), 250, rng.uniform(2500, 5000))
        parts += [noise * envelope, np.zeros(round(rng.uniform(0.15, 0.4) * SCENE_RATE_HZ))]
    return at_level(np.concatenate(parts), 0.0)


def sneeze(rng: np.random.Generator) -> Audio:
    """A short voiced "ah" breath in, then the loud noise burst of the "choo"."""
    t = seconds(rng.uniform(0.25, 0.4))
    ah = sum(np.sin(2 * np.pi * k * rng.uniform(180, 260) * t) / k for k in range(1, 6))
    ah = ah * np.minimum(1, t / 0.1) * np.minimum(1, (t[-1] - t) / 0.05) * 0.15
    t2 = seconds(rng.uniform(0.2, 0.35))
    choo = band(rng.standard_normal(len(t2)), 1000, 7000) * np.exp(-t2 / 0.08)
    return at_level(np.concatenate([ah, np.zeros(1600), choo * 4]), 0.0)


def door_slam(rng: np.random.Generator) -> Audio:
    t = seconds(0.6)
    thud = np.sin(2 * np.pi * rng.uniform(60, 120) * t) * np.exp(-t / 0.08)
    crack = band(rng.standard_normal(len(t)), 100, 5000) * np.exp(-t / 0.02)
    return at_level(thud + 0.8 * crack, 0.0)


def knocks(rng: np.random.Generator) -> Audio:
    """Three to five knocks on the door, about five a second."""
    out: list[NDArray[np.float64]] = []
    resonance_hz = rng.uniform(300, 900)
    for _ in range(int(rng.integers(3, 6))):
        t = seconds(rng.uniform(0.15, 0.25))
        knock = np.sin(2 * np.pi * resonance_hz * t) * np.exp(-t / 0.015)
        out.append(knock + 0.3 * rng.standard_normal(len(t)) * np.exp(-t / 0.004))
    return at_level(np.concatenate(out), 0.0)


def music(rng: np.random.Generator, duration_s: float) -> Audio:
    """Legato notes with harmonics over a held chord, as from a radio."""
    t_all = seconds(duration_s)
    scale = 220 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16]) / 12)
    melody = np.zeros(len(t_all))
    position = 0
    while position < len(t_all):
        length = round(rng.uniform(0.25, 0.7) * SCENE_RATE_HZ)
        t = np.arange(length) / SCENE_RATE_HZ
        pitch = rng.choice(scale) * rng.choice([1, 2])
        note = sum(np.sin(2 * np.pi * k * pitch * t) * 0.6**k for k in range(1, 6))
        note = note * np.minimum(1, t / 0.02) * np.exp(-t / 1.5)
        end = min(len(t_all), position + length)
        melody[position:end] += note[: end - position]
        position = end
    chord = sum(np.sin(2 * np.pi * f * t_all) for f in (110.0, 138.6, 164.8))
    return at_level(melody + 0.3 * chord, 0.0)


def fade_in(x: NDArray[np.floating], duration_s: float) -> Audio:
    ramp = np.minimum(1.0, np.arange(len(x)) / (duration_s * SCENE_RATE_HZ))
    return (np.asarray(x) * ramp).astype(np.float32)


def fan(rng: np.random.Generator, duration_s: float) -> Audio:
    t = seconds(duration_s)
    hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    return at_level(hum * 0.3 + shaped_noise(rng, len(t), -3), 0.0)


def street(rng: np.random.Generator, duration_s: float) -> Audio:
    n = round(duration_s * SCENE_RATE_HZ)
    t = seconds(duration_s)
    cars = np.zeros(n)
    for centre in rng.uniform(0, duration_s, size=max(1, int(duration_s / 8))):
        cars += np.exp(-(((t - centre) / rng.uniform(1.0, 2.5)) ** 2)) * 3
    return at_level(shaped_noise(rng, n, -6) * (1 + cars), 0.0)


# --- speech ----------------------------------------------------------------------------------

PATIENT_FR: Final = (
    "Bonjour docteur, j'ai mal à la gorge depuis trois jours.",
    "J'ai de la fièvre le soir, et je tousse la nuit.",
    "Oui, j'ai pris du paracétamol ce matin.",
    "Non, je n'ai pas d'allergie connue.",
    "La douleur est là, sous les côtes, à droite.",
    "Je vous entends mal, pouvez-vous répéter s'il vous plaît ?",
    "Merci beaucoup docteur, bonne journée.",
    "Est-ce que je dois reprendre rendez-vous ?",
)
PATIENT_EN: Final = (
    "Hello doctor, I have had a headache since yesterday.",
    "Yes, I can hear you now, the sound is fine.",
    "It hurts when I breathe in deeply.",
    "Thank you, I will take the medicine twice a day.",
)
DOCTOR_FR: Final = (
    "Bonjour madame, je suis le docteur Martin. Comment allez-vous ?",
    "Pouvez-vous placer le brassard sur votre bras gauche ?",
    "Très bien. Respirez profondément, puis soufflez doucement.",
    "Je vais vous prescrire un traitement pour cinq jours.",
    "Avez-vous des questions avant que nous terminions ?",
)
TV: Final = (
    "Les prévisions météo pour demain annoncent de la pluie sur la Bretagne.",
    "Le match de ce soir sera retransmis en direct à vingt et une heures.",
    "Et maintenant, place à la publicité.",
    "Le conseil municipal s'est réuni hier soir pour voter le budget.",
)
SHOUTS: Final = (
    ("Au secours !", "fr"),
    ("À l'aide !", "fr"),
    ("Au secoouurs ! Au secoouurs !", "fr"),
    ("À l'aaaide ! Aidez-moi !", "fr"),
    ("Heeelp!", "en"),
    ("Heeelp! Help me!", "en"),
    ("Au secours, à l'aide !", "fr"),
    ("Somebody help!", "en"),
)
VOICES_FR: Final = ("fr", "fr+f3", "fr+m3", "fr+f2")
VOICES_EN: Final = ("en", "en+f3", "en-us", "en+m3")


def shout(
    speech: Espeak, text: str, language: str, variant: int, rng: np.random.Generator
) -> Audio:
    """A shouted phrase: loud, high, slow, saturated, called out two or three times."""
    voices = VOICES_FR if language == "fr" else VOICES_EN
    voice = voices[variant % len(voices)]
    female = "+f" in voice
    said = speech.say(
        text,
        voice,
        pitch=int(rng.integers(75, 100)),
        speed=int(rng.integers(95, 135)) if female else 80,
        amplitude=200,
    )
    if not female:
        # espeak-ng's male voices go no higher than about 165 Hz, where a shouting man's voice
        # is at 300-450 Hz: said slowly, then played faster (formants rise too: a younger voice)
        factor = rng.uniform(2.0, 2.4)
        said = resample(said, round(SCENE_RATE_HZ * factor), SCENE_RATE_HZ)
    said = soft_clip(at_level(said, -8), rng.uniform(1.2, 3.0))
    parts = [said]
    for _ in range(1 + variant % 2):  # called out two or three times, as people do
        parts += [np.zeros(round(rng.uniform(0.3, 1.0) * SCENE_RATE_HZ), np.float32), said]
    return np.concatenate(parts)


def talk(speech: Espeak, text: str, voice: str, *, raised: bool = False) -> Audio:
    if raised:
        return at_level(speech.say(text, voice, pitch=60, speed=175, amplitude=180), -20)
    return at_level(speech.say(text, voice), -30)


def doctor_on_speaker(speech: Espeak, text: str) -> Audio:
    """The doctor's voice played by the cabin's small speaker: band-limited, normal level."""
    return at_level(band(speech.say(text, "fr+m1", pitch=45), 300, 3400), -32)


def babble(speech: Espeak, rng: np.random.Generator, duration_s: float) -> Audio:
    """A television in the next room: several voices at once, band-limited."""
    n = round(duration_s * SCENE_RATE_HZ)
    out = np.zeros(n, np.float32)
    for voice in ("fr", "fr+f3", "fr+m3"):
        position = int(rng.integers(0, SCENE_RATE_HZ))
        while position < n:
            said = speech.say(str(rng.choice(TV)), voice)
            end = min(n, position + len(said))
            out[position:end] += said[: end - position]
            position = end + int(rng.integers(0, SCENE_RATE_HZ // 2))
    return at_level(band(out, 200, 5000), 0.0)


# --- scenes ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Mix:
    """A scene being put together: a background of a given length, then sounds laid on it."""

    samples: NDArray[np.float64]
    events: list[LabelledEvent] = field(default_factory=list)

    def add(self, sound: NDArray[np.floating], at_s: float, label: str, note: str = "") -> float:
        start = round(at_s * SCENE_RATE_HZ)
        end = min(len(self.samples), start + len(sound))
        self.samples[start:end] += sound[: end - start]
        self.events.append(LabelledEvent(label, at_s, end / SCENE_RATE_HZ, note))
        return end / SCENE_RATE_HZ

    def scene(self, name: str, description: str, gain: float = 1.0) -> Scene:
        samples = np.clip(self.samples * gain, -1, 1).astype(np.float32)
        return Scene(name, description, samples, tuple(self.events))


def background(
    kind: str, rng: np.random.Generator, duration_s: float, level_dbfs: float, speech: Espeak
) -> NDArray[np.float64]:
    n = round(duration_s * SCENE_RATE_HZ)
    if kind == "quiet":
        sound = shaped_noise(rng, n, -3)
    elif kind == "fan":
        sound = fan(rng, duration_s)
    elif kind == "street":
        sound = street(rng, duration_s)
    elif kind == "tv":
        sound = babble(speech, rng, duration_s) + 0.3 * shaped_noise(rng, n, -3)
    elif kind == "brown":
        sound = shaped_noise(rng, n, -6)
    else:
        raise ValueError(f"unknown background {kind!r}")
    return at_level(sound, level_dbfs).astype(np.float64)


BACKGROUND_LEVEL_DBFS: Final = {"quiet": -62.0, "fan": -55.0, "street": -50.0, "tv": -45.0}


def call_scenes(speech: Espeak | None = None, seed: int = 8) -> list[Scene]:
    """Calls for help: 16 shouted phrases and 8 screams, over four backgrounds, at several
    levels above the background (the shout's level is fixed, the background's varies) and
    microphone gains from 0.3 to 2. Each scene has 4 s of background before the call."""
    speech = speech or Espeak()
    rng = np.random.default_rng(seed)
    backgrounds = ("quiet", "fan", "street", "tv")
    gains = (1.0, 0.3, 2.0, 0.6)
    scenes: list[Scene] = []
    for i in range(24):
        bg = backgrounds[i % 4]
        gain = gains[(i // 4) % 4]
        extra_db = (0.0, 6.0, -4.0)[i % 3]
        if i < 16:
            text, language = SHOUTS[i % len(SHOUTS)]
            sound = shout(speech, text, language, i, rng)
            what = f"shout {text!r} ({language})"
        else:
            duration = rng.uniform(1.0, 3.0)
            sound = scream(rng, duration, rng.uniform(600, 1500))
            what = f"scream {duration:.1f} s"
        total = 4.0 + len(sound) / SCENE_RATE_HZ + 3.0
        mix = _Mix(background(bg, rng, total, BACKGROUND_LEVEL_DBFS[bg] + extra_db, speech))
        mix.add(sound, 4.0, CALL_FOR_HELP, what)
        name = f"call_{i:02d}_{'shout' if i < 16 else 'scream'}_{bg}"
        scenes.append(mix.scene(name, f"{what} over {bg} background, mic gain {gain}", gain))
    return scenes


def hard_call_scenes(speech: Espeak | None = None, seed: int = 19) -> list[Scene]:
    """Calls for help that the first detector missed on real recordings (issue 19): a scream
    that starts while someone talks (8 dB over the talking, no silence before it), screams
    pitched at 2-2.8 kHz (a child's or a woman's), and screams 15 dB over loud noise (a street
    and brown noise at -35 dBFS, where a 20 dB jump never happens)."""
    speech = speech or Espeak()
    rng = np.random.default_rng(seed)
    scenes: list[Scene] = []
    for k, pitch_hz in enumerate((500.0, 700.0, 900.0, 1200.0)):
        mix = _Mix(background("quiet", rng, 16.0, BACKGROUND_LEVEL_DBFS["quiet"], speech))
        at = 0.3
        for j in range(12):
            text = PATIENT_FR[(k + j) % len(PATIENT_FR)]
            at = mix.add(talk(speech, text, VOICES_FR[k % 4]), at, "speech") + 0.3
            if at > 15.0:
                break
        mix.add(at_level(scream(rng, 2.0, pitch_hz), -22.0), 8.0, CALL_FOR_HELP, "over talking")
        scenes.append(mix.scene(f"hard_over_talking_{k}", f"a {pitch_hz:g} Hz scream over talk"))
    for k, pitch_hz in enumerate((2000.0, 2400.0, 2800.0)):
        mix = _Mix(background("quiet", rng, 8.0, BACKGROUND_LEVEL_DBFS["quiet"], speech))
        mix.add(at_level(scream(rng, 1.5, pitch_hz), -20.0), 3.0, CALL_FOR_HELP, "high")
        scenes.append(mix.scene(f"hard_high_{k}", f"a scream at {pitch_hz:g} Hz"))
    for k, bg in enumerate(("street", "brown", "street", "brown")):
        mix = _Mix(background(bg, rng, 12.0, -35.0, speech))
        mix.add(at_level(scream(rng, 2.0, 700.0 + 200.0 * k), -20.0), 6.0, CALL_FOR_HELP, bg)
        scenes.append(mix.scene(f"hard_noise_{k}_{bg}", f"a scream 15 dB over loud {bg} noise"))
    return scenes


def normal_scenes(speech: Espeak | None = None, seed: int = 9) -> list[Scene]:
    """Sounds that must not raise an alert, each over a background, 15-40 s long."""
    speech = speech or Espeak()
    rng = np.random.default_rng(seed)
    scenes: list[Scene] = []

    def scene(name: str, bg: str, duration_s: float, description: str) -> _Mix:
        mix = _Mix(background(bg, rng, duration_s, BACKGROUND_LEVEL_DBFS[bg], speech))
        scenes.append(Scene(name, description, np.zeros(0, np.float32), ()))
        return mix

    def close(mix: _Mix, gain: float = 1.0) -> None:
        placeholder = scenes.pop()
        scenes.append(mix.scene(placeholder.name, placeholder.description, gain))

    for name, texts, voices, raised in (
        ("speech_fr", PATIENT_FR, VOICES_FR, False),
        ("speech_en", PATIENT_EN, VOICES_EN, False),
        ("raised_speech_fr", PATIENT_FR, VOICES_FR, True),
        ("raised_speech_en", PATIENT_EN, VOICES_EN, True),
    ):
        mix = scene(name, "quiet", 40.0, f"a patient talking{' loudly' if raised else ''}")
        at = 2.0
        for k, text in enumerate(texts):
            said = talk(speech, text, voices[k % len(voices)], raised=raised)
            at = mix.add(said, at, "raised_speech" if raised else "speech") + 0.6
            if at > 36:
                break
        close(mix)
    mix = scene("coughs", "quiet", 20.0, "coughing fits, loud, close to the microphone")
    for k in range(6):
        mix.add(at_level(cough(rng), -15), 2.0 + 3.0 * k, "cough")
    close(mix)
    mix = scene("sneezes", "fan", 15.0, "sneezing")
    for k in range(4):
        mix.add(at_level(sneeze(rng), -16), 2.0 + 3.0 * k, "sneeze")
    close(mix)
    mix = scene("door_and_knocks", "quiet", 15.0, "door slams and knocking")
    for k in range(3):
        mix.add(at_level(door_slam(rng), -10), 1.5 + 4.0 * k, "door_slam")
        mix.add(at_level(knocks(rng), -16), 3.5 + 4.0 * k, "knock")
    close(mix)
    for bg in ("fan", "street", "tv", "brown"):
        level = BACKGROUND_LEVEL_DBFS.get(bg, -50.0) + 15.0
        n_s = 20.0
        samples = background(bg, rng, n_s, level, speech)
        scenes.append(
            Scene(f"noise_{bg}", f"{bg} background, loud", samples.astype(np.float32), ())
        )
    mix = scene("doctor_on_speaker", "quiet", 30.0, "the doctor's voice from the cabin's speaker")
    at = 1.0
    for text in DOCTOR_FR:
        at = mix.add(doctor_on_speaker(speech, text), at, "doctor_speaker") + 0.8
    close(mix)
    mix = scene("consultation", "fan", 40.0, "patient and doctor in turn, a cough")
    at = 1.0
    for k in range(4):
        at = mix.add(doctor_on_speaker(speech, DOCTOR_FR[k]), at, "doctor_speaker") + 0.5
        voice = VOICES_FR[k % 4]
        at = mix.add(talk(speech, PATIENT_FR[k], voice, raised=k == 2), at, "speech") + 0.5
    mix.add(at_level(cough(rng), -18), min(at, 37.0), "cough")
    close(mix)
    mix = scene("music", "quiet", 30.0, "music from a radio, turned up to a moderate level")
    mix.add(fade_in(at_level(music(rng, 28.0), -38), 2.0), 1.0, "music")
    close(mix)
    for gain in (0.3, 2.0):
        mix = scene(f"raised_speech_gain_{gain:g}", "fan", 30.0, f"raised speech, mic gain {gain}")
        at = 1.0
        for k, text in enumerate(PATIENT_FR[:5]):
            at = mix.add(talk(speech, text, VOICES_FR[k % 4], raised=True), at, "raised_speech")
            at += 0.5
        close(mix, gain)
    return scenes + _music_fade_ins(speech, rng)


def _music_fade_ins(speech: Espeak, rng: np.random.Generator) -> list[Scene]:
    """A radio's music fading in over a quiet cabin, loud: where a 10 s floor lags behind."""
    scenes = []
    for k, (level, fade_s) in enumerate(((-30.0, 2.0), (-24.0, 1.0), (-34.0, 3.0))):
        mix = _Mix(background("quiet", rng, 20.0, BACKGROUND_LEVEL_DBFS["quiet"], speech))
        mix.add(fade_in(at_level(music(rng, 17.0), level), fade_s), 2.0, "music")
        scenes.append(mix.scene(f"music_fade_in_{k}", f"music fading in over {fade_s:g} s"))
    return scenes


def normal_activity(
    seed: int, duration_s: float, *, chunk_s: float = 30.0, speech: Espeak | None = None
) -> Iterator[tuple[Audio, list[LabelledEvent]]]:
    """Ordinary cabin life for `duration_s`, in chunks of `chunk_s` (one in memory at a time),
    each with its events (instants from the start of the whole stream). Deterministic from
    `seed`. Each chunk is one moment of a day: a consultation (the doctor on the speaker and the
    patient in turn, sometimes loudly), coughs and sneezes, the door and knocking, a television
    or a radio next door, or nobody, over a background that changes from chunk to chunk."""
    speech = speech or Espeak()
    rng = np.random.default_rng(seed)
    chunks = round(duration_s / chunk_s)
    for index in range(chunks):
        t0 = index * chunk_s
        bg = str(rng.choice(["quiet", "fan", "street", "tv"], p=[0.4, 0.3, 0.2, 0.1]))
        level = BACKGROUND_LEVEL_DBFS[bg] + rng.uniform(-5, 5)
        mix = _Mix(background(bg, rng, chunk_s, level, speech))
        moment = str(
            rng.choice(["consultation", "bursts", "radio", "empty"], p=[0.55, 0.2, 0.1, 0.15])
        )
        at = rng.uniform(0.0, 2.0)
        limit = chunk_s - 0.5
        while moment != "empty" and at < limit:
            choice = rng.random()
            if moment == "radio":
                tune = at_level(music(rng, limit - at), level + rng.uniform(10, 20))
                mix.add(fade_in(tune, 2.0), at, "music")
                break
            if moment == "consultation" and choice < 0.45:
                sound = doctor_on_speaker(speech, str(rng.choice(DOCTOR_FR)))
                label = "doctor_speaker"
            elif moment == "consultation" and choice < 0.95:
                french = rng.random() < 0.8
                texts, voices = (PATIENT_FR, VOICES_FR) if french else (PATIENT_EN, VOICES_EN)
                raised = rng.random() < 0.25
                sound = talk(speech, str(rng.choice(texts)), str(rng.choice(voices)), raised=raised)
                sound = sound * np.float32(10 ** (rng.uniform(-4, 4) / 20))
                label = "raised_speech" if raised else "speech"
            else:
                kind = str(rng.choice(["cough", "sneeze", "door_slam", "knock"]))
                maker = {"cough": cough, "sneeze": sneeze, "door_slam": door_slam, "knock": knocks}
                sound = at_level(maker[kind](rng), rng.uniform(-20, -10))
                label = kind
            end = mix.add(sound, at, label)
            at = end + rng.uniform(0.3, 3.0)
        events = [LabelledEvent(e.label, e.start_s + t0, e.end_s + t0, e.note) for e in mix.events]
        gain = 10 ** (rng.uniform(-6, 6) / 20)
        yield np.clip(mix.samples * gain, -1, 1).astype(np.float32), events


# --- files -----------------------------------------------------------------------------------


def write_scene(scene: Scene, folder: Path) -> Path:
    """`NAME.wav` (16-bit mono PCM at the scene's rate) and `NAME.json` (the ground truth)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scene.name}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(scene.rate_hz)
        out.writeframes((np.clip(scene.samples, -1, 1) * 32767).astype("<i2").tobytes())
    truth = {
        "name": scene.name,
        "description": scene.description,
        "rate_hz": scene.rate_hz,
        "duration_s": round(scene.duration_s, 3),
        "events": [asdict(event) for event in scene.events],
    }
    (folder / f"{scene.name}.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.sounds", description=__doc__)
    parser.add_argument("--write", type=Path, required=True, metavar="DIR")
    args = parser.parse_args(argv)
    speech = Espeak()
    try:
        scenes = call_scenes(speech) + normal_scenes(speech)
    except SpeechSynthesisError as exc:
        print(f"cannot synthesise speech: {exc}", file=sys.stderr)
        return 1
    for scene in scenes:
        write_scene(scene, args.write)
    print(f"{len(scenes)} scenes written to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
