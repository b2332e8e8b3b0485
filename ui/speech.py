"""Spoken guidance for the patient screens, offline, off the main thread.

Each utterance runs ``espeak-ng`` in its own process, its WAV stream piped straight into the
player (``aplay`` by default) through an OS pipe: nothing touches the disk and no Python code
sits in the audio path. espeak-ng is the simplest offline voice there is (about 20 ms to start,
French and English built in). QtTextToSpeech was not used: its ``speechd`` engine needs
speech-dispatcher and an audio server, and without one ``say()`` stays "Speaking" forever
(docs STACK.md, "Speech").

The app runs asyncio on Qt's thread (qasync), so :meth:`Speaker.speak` only schedules an owned
task and returns; the processes are awaited with ``asyncio.create_subprocess_exec``. A new
utterance, :meth:`Speaker.stop` and muting kill the processes under way at once, and the task
reaps them before anything else is spoken, so no zombie stays; it closes their pipes and
transports too, so that none is left for the garbage collector. An utterance that runs longer
than ``timeout_s`` is killed. A missing or failing espeak-ng or player is logged once
(``speech.unavailable``) and otherwise ignored: speech must never crash or block the screen.

Without a player (a cabin without speakers, tests) the WAV is read back from espeak-ng's pipe
and handed to an optional ``sink``, with its header sizes filled in (see :func:`sealed_wav`).
The spoken text is never logged: a guidance sentence could one day greet the patient by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Final

from devices.cancellation import within

log = logging.getLogger(__name__)

# The app's languages to espeak-ng voices.
VOICES: Final = {"fr": "fr", "en": "en"}
# espeak-ng speaks at 175 words per minute by default: too fast for many elderly patients.
DEFAULT_RATE_WPM: Final = 140
MIN_RATE_WPM: Final = 80
MAX_RATE_WPM: Final = 450
# A guidance sentence lasts a few seconds; anything this long is a runaway.
DEFAULT_TIMEOUT_S: Final = 30.0
# How long a killed process, or a cancelled utterance, gets to be reaped.
REAP_TIMEOUT_S: Final = 5.0

_PLAYER_ERROR_CHARS: Final = 200


def voice_for(language: str) -> str | None:
    """The espeak-ng voice for an app language ("fr", "en", "fr_FR", "en-GB"), or None."""
    base = language.replace("-", "_").split("_", 1)[0].lower()
    return VOICES.get(base)


def sealed_wav(stream: bytes) -> bytes:
    """The WAV ``espeak-ng --stdout`` wrote, with its real RIFF and data sizes.

    Writing to a pipe, espeak-ng cannot seek back to the header, so it leaves placeholder
    sizes there (``0x7ffff000``); players reading to the end do not care, but tools reading
    the header (``soxi``, Python's ``wave``) do. Bytes that are not a RIFF/WAVE stream with a
    data chunk come back unchanged.
    """
    if len(stream) < 12 or stream[:4] != b"RIFF" or stream[8:12] != b"WAVE":
        return stream
    offset = 12
    while offset + 8 <= len(stream):
        chunk_id = stream[offset : offset + 4]
        if chunk_id == b"data":
            data_size = len(stream) - offset - 8
            return b"".join(
                (
                    b"RIFF",
                    (len(stream) - 8).to_bytes(4, "little"),
                    stream[8 : offset + 4],
                    data_size.to_bytes(4, "little"),
                    stream[offset + 8 :],
                )
            )
        chunk_size = int.from_bytes(stream[offset + 4 : offset + 8], "little")
        offset += 8 + chunk_size + (chunk_size & 1)
    return stream


class Speaker:
    """Speaks one guidance sentence at a time; a new one replaces the one under way.

    ``player`` is the command reading a WAV stream on its standard input; None means no audio
    device. ``sink``, if given, receives each utterance's complete WAV instead of a player
    (it takes precedence over ``player``). All methods are called on the event loop's thread;
    :meth:`speak` needs a running loop (qasync's, in the app).
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        player: Sequence[str] | None = ("aplay", "-q"),
        espeak: str = "espeak-ng",
        rate_wpm: int = DEFAULT_RATE_WPM,
        sink: Callable[[bytes], None] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if player is not None and not player:
            raise ValueError("player must name a program, or be None")
        if not MIN_RATE_WPM <= rate_wpm <= MAX_RATE_WPM:
            raise ValueError(f"rate_wpm must be {MIN_RATE_WPM}..{MAX_RATE_WPM}, not {rate_wpm}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        self._enabled = enabled
        self._player = tuple(player) if player is not None else None
        self._espeak = espeak
        self._rate_wpm = rate_wpm
        self._sink = sink
        self._timeout_s = timeout_s
        self._muted = False
        self._closed = False
        # Utterances not finished yet: the current one, and cancelled ones still reaping.
        self._tasks: set[asyncio.Task[None]] = set()
        self._processes: set[asyncio.subprocess.Process] = set()
        self._unavailable_logged = False

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def speaking(self) -> bool:
        """True from :meth:`speak` until the utterance has ended and every process is reaped."""
        return bool(self._tasks)

    def set_muted(self, muted: bool) -> None:
        """Mute (stopping the sentence under way at once) or unmute."""
        self._muted = muted
        if muted:
            self.stop()

    def speak(self, text: str, language: str) -> None:
        """Stop what is being said and start saying ``text``; returns at once."""
        self.stop()
        if not self._enabled or self._muted or self._closed:
            return
        voice = voice_for(language)
        if voice is None:
            log.warning("speech.unsupported_language language=%s", language)
            return
        text = text.strip()
        if not text:
            return
        task = asyncio.get_running_loop().create_task(
            self._utter(set(self._tasks), text, voice), name="speech.utterance"
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def stop(self) -> None:
        """Silence at once: kill the processes under way; their task reaps them."""
        for process in self._processes:
            _kill(process)
        for task in self._tasks:
            if not task.cancelling():
                task.cancel()

    async def aclose(self) -> None:
        """Stop, and wait until no task or process of this speaker is left."""
        self._closed = True
        self.stop()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=2 * REAP_TIMEOUT_S)
        if pending:
            log.error("speech.close_timeout tasks=%d", len(pending))

    async def _utter(self, previous: set[asyncio.Task[None]], text: str, voice: str) -> None:
        if previous:
            # Cancelled utterances reap their own processes; wait for that (not cancelling them
            # again, and not raising what they raised) so that two voices never overlap.
            await asyncio.wait(previous, timeout=REAP_TIMEOUT_S)
        processes: set[asyncio.subprocess.Process] = set()
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._sink is not None or self._player is None:
                    await self._synthesise_to_sink(text, voice, processes)
                else:
                    await self._synthesise_to_player(text, voice, self._player, processes)
        except TimeoutError:
            log.warning("speech.timeout timeout_s=%s", self._timeout_s)
        except OSError as error:  # a program missing or not executable, a broken pipe
            self._unavailable(error.filename or self._espeak, type(error).__name__)
        finally:
            await self._reap(processes)

    def _espeak_command(self, voice: str) -> list[str]:
        # The text goes through stdin, never argv: text starting with "-" would be an option.
        return [self._espeak, "-v", voice, "-s", str(self._rate_wpm), "-b", "1", "--stdin",
                "--stdout"]  # fmt: skip

    async def _spawn(
        self,
        command: Sequence[str],
        processes: set[asyncio.subprocess.Process],
        *,
        stdin: int,
        stdout: int,
        stderr: int,
    ) -> asyncio.subprocess.Process:
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(*command, stdin=stdin, stdout=stdout, stderr=stderr)
        )
        try:
            process = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # Stopped while the process was starting. Cancelled inside asyncio, the start would
            # kill it but then wait for its pipes to end, which a child of the voice holding
            # them may delay for as long as it lives: the process is reaped like the others
            # instead (`_reap` closes the pipes first).
            with contextlib.suppress(Exception):
                started = await spawning
                processes.add(started)
                self._processes.add(started)
            raise
        processes.add(process)
        self._processes.add(process)
        return process

    async def _synthesise_to_sink(
        self, text: str, voice: str, processes: set[asyncio.subprocess.Process]
    ) -> None:
        espeak = await self._spawn(
            self._espeak_command(voice),
            processes,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        wav, _ = await espeak.communicate(text.encode())
        if espeak.returncode != 0:
            self._unavailable(self._espeak, f"exit {espeak.returncode}")
        elif self._sink is not None:
            self._sink(sealed_wav(wav))

    async def _synthesise_to_player(
        self,
        text: str,
        voice: str,
        player: Sequence[str],
        processes: set[asyncio.subprocess.Process],
    ) -> None:
        read_fd, write_fd = os.pipe()
        try:
            espeak = await self._spawn(
                self._espeak_command(voice),
                processes,
                stdin=asyncio.subprocess.PIPE,
                stdout=write_fd,
                stderr=asyncio.subprocess.DEVNULL,
            )
            sound = await self._spawn(
                player,
                processes,
                stdin=read_fd,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        finally:
            # The children hold their ends now: the player sees the end of the stream when
            # espeak-ng exits, and espeak-ng a broken pipe if the player dies.
            os.close(read_fd)
            os.close(write_fd)
        _, (_, player_error) = await asyncio.gather(
            espeak.communicate(text.encode()), sound.communicate()
        )
        espeak_code, player_code = espeak.returncode, sound.returncode
        if espeak_code is not None and espeak_code > 0:
            self._unavailable(self._espeak, f"exit {espeak_code}")
        elif player_code != 0:
            last_line = player_error.decode(errors="replace").strip().rpartition("\n")[2]
            self._unavailable(player[0], f"exit {player_code}: {last_line[:_PLAYER_ERROR_CHARS]}")
        elif espeak_code != 0:
            self._unavailable(self._espeak, f"exit {espeak_code}")

    async def _reap(self, processes: set[asyncio.subprocess.Process]) -> None:
        for process in processes:
            _kill(process)
        for process in processes:
            transport = _transport(process)
            # A pipe nobody reads any more (a voice stopped while its output poured in: asyncio
            # paused reading it) never sees its end, and asyncio's wait() waits for the pipes.
            for fd in (0, 1, 2):
                pipe = transport.get_pipe_transport(fd)
                if pipe is not None:
                    pipe.close()
            try:
                await within(process.wait(), REAP_TIMEOUT_S)
            except TimeoutError:
                log.error("speech.reap_timeout pid=%s", process.pid)
            # Closed here, on the loop's thread: left to the garbage collector, it would close
            # from whichever thread collects it, which qasync's loop does not survive.
            transport.close()
            self._processes.discard(process)

    def _unavailable(self, program: str, reason: str) -> None:
        if self._unavailable_logged:
            log.debug("speech.unavailable program=%s reason=%s", program, reason)
            return
        self._unavailable_logged = True
        log.warning("speech.unavailable program=%s reason=%s", program, reason)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # a bug (in a sink, say): logged, never raised into the screen
            log.error("speech.failed", exc_info=error)


def _transport(process: asyncio.subprocess.Process) -> asyncio.SubprocessTransport:
    """The process's transport, which asyncio's ``Process`` does not expose (CPython #100055)."""
    return process._transport  # type: ignore[attr-defined, no-any-return]


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
