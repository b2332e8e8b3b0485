"""Spoken guidance with the real espeak-ng; a sink or a stand-in player replaces the sound card.

There is no sound card on these machines: a sink receives the WAV (measured with soxi), and a
player that never drains its pipe (``sleep``) stands for a long sentence being played.
Children of this process are read from /proc, so a killed-but-unreaped process (a zombie)
counts as left over.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ui.conftest import UNTIL_S, Runner
from ui.speech import Speaker, sealed_wav, voice_for

FRENCH = "Bonjour. Asseyez-vous, puis posez votre bras sur la table, s'il vous plaît."
ENGLISH = "Hello. Please sit down, then rest your arm on the table."
LONG_FRENCH = " ".join([FRENCH] * 8)
STUCK_PLAYER = ("sleep", "30")  # plays "forever": never reads, so espeak-ng blocks on the pipe


def children() -> set[int]:
    """Pids of this process's children, zombies included."""
    me = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == me:
            found.add(int(entry.name))
    return found


def command_of(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


async def until(condition: Callable[[], bool], timeout_s: float = UNTIL_S) -> None:
    # Polling: a child process appearing in /proc signals no event to wait on.
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def player_running(but: frozenset[int] = frozenset()) -> int:
    """Wait until a stand-in player runs (one whose pid is not in ``but``); its pid."""
    found: list[int] = []

    def running() -> bool:
        found[:] = [pid for pid in children() - but if command_of(pid) == "sleep"]
        return bool(found)

    await until(running)
    return found[0]


def duration_s(wav: bytes, tmp_path: Path, name: str) -> float:
    path = tmp_path / name
    path.write_bytes(wav)
    result = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True)
    return float(result.stdout)


def unavailable_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "ui.speech"
        and r.levelno >= logging.WARNING
        and r.getMessage().startswith("speech.unavailable")
    ]


def test_french_and_english_produce_audible_wav(tmp_path: Path) -> None:
    wavs: list[bytes] = []

    async def scenario() -> None:
        speaker = Speaker(player=None, sink=wavs.append)
        for text, language in [(FRENCH, "fr"), (ENGLISH, "en"), (FRENCH, "en")]:
            speaker.speak(text, language)
            await until(lambda: not speaker.speaking)
        await speaker.aclose()

    asyncio.run(scenario())

    french, english, french_read_in_english = wavs
    for wav in wavs:
        assert wav[:4] == b"RIFF"
        assert wav[8:12] == b"WAVE"
    assert duration_s(french, tmp_path, "fr.wav") > 2.0
    assert duration_s(english, tmp_path, "en.wav") > 2.0
    assert french != french_read_in_english


def test_player_receives_the_stream_through_a_pipe(tmp_path: Path) -> None:
    recorded = tmp_path / "played.wav"

    async def scenario() -> None:
        # sox stands for aplay: it reads the same WAV stream on stdin, and records it.
        speaker = Speaker(player=("sox", "-q", "-t", "wav", "-", str(recorded)))
        speaker.speak(ENGLISH, "en")
        await until(lambda: not speaker.speaking)
        await speaker.aclose()

    asyncio.run(scenario())
    assert duration_s(recorded.read_bytes(), tmp_path, "copy.wav") > 2.0


def test_many_speaks_in_a_row_leave_one_voice() -> None:
    async def scenario() -> None:
        speaker = Speaker(player=STUCK_PLAYER)
        speaker.speak(LONG_FRENCH, "fr")
        first = await player_running()
        for _ in range(4):
            speaker.speak(LONG_FRENCH, "fr")
            await asyncio.sleep(0)
        voices_seen: list[int] = []

        def last_voice_running() -> bool:
            voices = [pid for pid in children() if command_of(pid) == "sleep"]
            voices_seen.append(len(voices))
            return bool(voices) and first not in voices

        await until(last_voice_running)
        assert max(voices_seen) == 1  # never two players at once
        assert speaker.speaking
        await speaker.aclose()
        assert children() == set()

    asyncio.run(scenario())


def test_speak_returns_before_synthesis() -> None:
    wavs: list[bytes] = []

    async def scenario() -> None:
        speaker = Speaker(player=None, sink=wavs.append)
        speaker.speak(FRENCH, "fr")
        # Nothing awaited yet: espeak-ng has not even been started.
        assert speaker.speaking
        assert wavs == []
        await until(lambda: not speaker.speaking)
        assert len(wavs) == 1
        await speaker.aclose()

    asyncio.run(scenario())


def test_text_is_spoken_not_parsed_as_options() -> None:
    wavs: list[bytes] = []

    async def scenario() -> None:
        speaker = Speaker(player=None, sink=wavs.append)
        speaker.speak("-x --version hello", "en")
        await until(lambda: not speaker.speaking)
        await speaker.aclose()

    asyncio.run(scenario())
    assert len(wavs) == 1
    assert len(wavs[0]) > 10_000


def test_second_speak_kills_and_reaps_the_first() -> None:
    async def scenario() -> None:
        assert children() == set()
        speaker = Speaker(player=STUCK_PLAYER)
        speaker.speak(LONG_FRENCH, "fr")
        await player_running()
        first = children()
        assert len(first) == 2  # espeak-ng blocked on the full pipe, and the player

        speaker.speak(ENGLISH, "en")
        await player_running(but=frozenset(first))
        # The first pair is gone from /proc: killed and reaped, no zombie.
        assert children().isdisjoint(first)
        assert speaker.speaking

        await speaker.aclose()
        assert children() == set()

    asyncio.run(scenario())


def test_muted_speaks_nothing() -> None:
    wavs: list[bytes] = []

    async def scenario() -> None:
        speaker = Speaker(player=None, sink=wavs.append)
        speaker.set_muted(True)
        speaker.speak(FRENCH, "fr")
        assert speaker.muted
        assert not speaker.speaking  # nothing was even scheduled
        await speaker.aclose()

    asyncio.run(scenario())
    assert wavs == []


def test_disabled_speaks_nothing() -> None:
    async def scenario() -> None:
        speaker = Speaker(enabled=False, player=STUCK_PLAYER)
        speaker.speak(FRENCH, "fr")
        assert not speaker.speaking
        await speaker.aclose()

    asyncio.run(scenario())


def test_muting_stops_the_sentence_under_way() -> None:
    async def scenario() -> None:
        speaker = Speaker(player=STUCK_PLAYER)
        speaker.speak(LONG_FRENCH, "fr")
        await player_running()
        speaker.set_muted(True)
        await until(lambda: not speaker.speaking)
        assert children() == set()

        speaker.set_muted(False)
        speaker.speak(ENGLISH, "en")
        await player_running()  # unmuted: speaks again
        await speaker.aclose()
        assert children() == set()

    asyncio.run(scenario())


def test_missing_espeak_logs_once_and_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ui.speech")
    wavs: list[bytes] = []

    async def scenario() -> None:
        speaker = Speaker(espeak="/nonexistent/espeak-ng", player=None, sink=wavs.append)
        for _ in range(3):
            speaker.speak(FRENCH, "fr")  # does not raise
            assert speaker.speaking  # scheduled, not run: speak() did not wait
            await until(lambda: not speaker.speaking)
        await speaker.aclose()

    asyncio.run(scenario())
    records = unavailable_records(caplog)
    assert len(records) == 1
    assert "/nonexistent/espeak-ng" in records[0].getMessage()
    assert wavs == []


def test_failing_player_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        # Real aplay, on a device no machine has: it fails as it would without a sound card.
        speaker = Speaker(player=("aplay", "-q", "-D", "no_such_pcm_device"))
        for _ in range(2):
            speaker.speak(ENGLISH, "en")
            await until(lambda: not speaker.speaking)
        await speaker.aclose()
        assert children() == set()

    asyncio.run(scenario())
    records = unavailable_records(caplog)
    assert len(records) == 1
    assert "program=aplay" in records[0].getMessage()


def test_runaway_utterance_is_killed(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        speaker = Speaker(player=STUCK_PLAYER, timeout_s=0.3)
        speaker.speak(LONG_FRENCH, "fr")
        await until(lambda: not speaker.speaking)
        assert children() == set()
        await speaker.aclose()

    asyncio.run(scenario())
    assert any(r.getMessage().startswith("speech.timeout") for r in caplog.records)


def test_aclose_leaves_no_task_and_no_process() -> None:
    async def scenario() -> None:
        speaker = Speaker(player=STUCK_PLAYER)
        speaker.speak(LONG_FRENCH, "fr")
        await player_running()
        speaker.speak(FRENCH, "fr")  # a cancelled utterance and a running one
        await speaker.aclose()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert children() == set()
        speaker.speak(FRENCH, "fr")  # closed: ignored
        assert not speaker.speaking

    asyncio.run(scenario())


def test_unsupported_language_is_logged_not_spoken(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        speaker = Speaker(player=None)
        speaker.speak("Guten Tag", "de")
        assert not speaker.speaking
        await speaker.aclose()

    asyncio.run(scenario())
    assert any(r.getMessage().startswith("speech.unsupported_language") for r in caplog.records)


def test_failing_sink_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken_sink(wav: bytes) -> None:
        raise RuntimeError("sink bug")

    async def scenario() -> None:
        speaker = Speaker(player=None, sink=broken_sink)
        speaker.speak(ENGLISH, "en")
        await until(lambda: not speaker.speaking)
        await speaker.aclose()

    asyncio.run(scenario())
    assert any(r.getMessage() == "speech.failed" for r in caplog.records)


def test_speaks_under_qasync(run: Runner) -> None:
    """In the app the loop is qasync's, on Qt's thread: subprocesses work there too."""
    wavs: list[bytes] = []

    async def scenario() -> None:
        speaker = Speaker(player=None, sink=wavs.append)
        speaker.speak(FRENCH, "fr")
        await until(lambda: not speaker.speaking)
        await speaker.aclose()

    run(scenario())
    assert len(wavs) == 1
    assert wavs[0][:4] == b"RIFF"


@pytest.mark.parametrize(
    ("language", "voice"),
    [("fr", "fr"), ("en", "en"), ("fr_FR", "fr"), ("en-GB", "en"), ("EN", "en"), ("de", None)],
)
def test_voice_for(language: str, voice: str | None) -> None:
    assert voice_for(language) == voice


def test_sealed_wav_sets_sizes_and_leaves_other_bytes_alone() -> None:
    header = b"RIFF" + b"\x00\xf0\xff\x7f" + b"WAVE" + b"fmt " + (16).to_bytes(4, "little")
    fmt = bytes(16)
    stream = header + fmt + b"data" + b"\x00\xf0\xff\x7f" + bytes(100)
    sealed = sealed_wav(stream)
    assert len(sealed) == len(stream)
    assert int.from_bytes(sealed[4:8], "little") == len(stream) - 8
    assert int.from_bytes(sealed[40:44], "little") == 100
    assert sealed_wav(b"not a wav") == b"not a wav"


@pytest.mark.parametrize(
    "kwargs", [{"player": ()}, {"rate_wpm": 10}, {"rate_wpm": 1000}, {"timeout_s": 0}]
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Speaker(**kwargs)  # type: ignore[arg-type]


def unclosed_subprocess_transports() -> list[str]:
    """Subprocess transports still open, and those the collector just found unclosed (it closes
    them itself, from whatever thread it runs in: what qasync's loop does not survive)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    collected = [str(w.message) for w in caught if "unclosed transport" in str(w.message)]
    alive = [
        repr(o)
        for o in gc.get_objects()
        if isinstance(o, asyncio.SubprocessTransport) and not o.is_closing()
    ]
    return collected + alive


def test_every_pipe_of_an_utterance_is_closed_once_it_is_reaped(
    tmp_path: Path, run: Runner
) -> None:
    """A voice stopped while its pipe has not seen its end: asyncio's wait() waits for the pipes,
    and asyncio stops reading a pipe whose data nobody takes (a voice stopped while its output
    poured in), so that end may never come. The speaker closes the pipes and the transport on the
    loop's thread, instead of leaving them to the garbage collector."""
    flooding = tmp_path / "espeak-ng"  # a voice whose output outlives it: a child holds the pipe
    flooding.write_text("#!/bin/sh\n(head -c 300000 /dev/zero; sleep 10) &\nexec sleep 30\n")
    flooding.chmod(0o755)

    async def scenario() -> list[str]:
        speaker = Speaker(espeak=str(flooding), player=None, sink=lambda wav: None)
        speaker.speak(FRENCH, "fr")
        await until(lambda: any(command_of(pid) == "sleep" for pid in children()))
        speaker.stop()
        await until(lambda: not speaker.speaking)
        left = unclosed_subprocess_transports()
        await speaker.aclose()
        return left

    assert unclosed_subprocess_transports() == []
    assert run(scenario()) == []


def test_a_voice_stopped_while_its_process_starts_is_reaped_at_once(
    tmp_path: Path, run: Runner
) -> None:
    """Stopped between the start of its process and the speaker's knowing of it (the window
    widens on a loaded machine): asyncio's own clean-up would wait for the pipes, which a child
    of the voice holds for ten minutes here. The speaker reaps that process like any other."""
    held = tmp_path / "held-pids"
    voice = tmp_path / "espeak-ng"
    voice.write_text(
        "#!/bin/sh\n"
        "(head -c 300000 /dev/zero; exec sleep 600) &\n"
        f"echo $! >> {held}\n"
        "exec sleep 30\n"
    )
    voice.chmod(0o755)

    async def scenario() -> list[str]:
        speaker = Speaker(espeak=str(voice), player=None, sink=lambda wav: None)
        for turns in range(12):  # stopped a little later each time: before, during, after
            speaker.speak(FRENCH, "fr")
            for _ in range(turns):
                await asyncio.sleep(0)
            speaker.stop()
            await until(lambda: not speaker.speaking)
        left = unclosed_subprocess_transports()
        await speaker.aclose()
        return left

    try:
        assert run(scenario()) == []
    finally:
        for pid in held.read_text().split() if held.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
