"""The camera and the microphone: on only while they are needed, and the screen says when.

A cabin stands in a town hall's corridor. When distress detection is off (``[distress] enabled
= false``, or neither its camera nor its microphone is used), nothing needs to see or hear the
empty cabin: the devices are opened when a patient starts a session (they pressed Start) and
released when it ends and is wiped (the V4L2 and ALSA devices closed, the capture threads
ended), so that a camera's light is off between patients. When distress detection watches, they
stay open: it watches the empty cabin for someone who falls or calls for help (analysed in the
cabin; no image or sound leaves it for that).

Either way `CameraMicrophoneChanged` says on the bus when they go on or off: the screen shows an
indicator on every page while they are on.

The call and the patient's own preview hold the cabin's one `CabinMedia`; it is suspended and
resumed in place (`CabinMedia.suspend`, `CabinMedia.resume`), so the call opened during a session
subscribes to the devices opened for that session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from devices.cancellation import cancel_and_wait
from kiosk.bus import EventBus
from kiosk.call.media import CabinMedia
from kiosk.config import DistressSection
from kiosk.events import CameraMicrophoneChanged, SessionStateChanged
from kiosk.session import Session
from kiosk.session_states import PATIENT_STATES, SessionState

log = logging.getLogger(__name__)


def watches_empty_cabin(section: DistressSection) -> bool:
    """Distress detection uses the camera or the microphone, patient or not."""
    return section.enabled and (section.camera or section.microphone)


async def power_media(
    media: CabinMedia,
    reopen: Callable[[], CabinMedia],
    session: Session,
    bus: EventBus,
    distress: DistressSection,
) -> MediaPower:
    """The composition root's one call: ``media`` just opened, kept open or released with the
    sessions as ``distress`` wants."""
    power = MediaPower(media, reopen, session, bus, always_on=watches_empty_cabin(distress))
    await power.start()
    return power


class MediaPower:
    """Opens and releases ``media`` with the patients' sessions (unless ``always_on``).

    ``reopen`` opens the devices again (blocking: run on a worker thread) and returns them as a
    new `CabinMedia`, whose captures ``media`` takes over.
    """

    def __init__(
        self,
        media: CabinMedia,
        reopen: Callable[[], CabinMedia],
        session: Session,
        bus: EventBus,
        *,
        always_on: bool,
    ) -> None:
        self._media = media
        self._reopen = reopen
        self._session = session
        self._bus = bus
        self.always_on = always_on
        self._session_wants = True  # the media are open when this is built
        self._holds = 0  # the self-test's checks, while they look and listen
        self._on = True
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._subscription = None if always_on else bus.subscribe(SessionStateChanged, self._moved)
        self._closed = False

    @property
    def on(self) -> bool:
        """The camera and the microphone are open."""
        return self._on

    async def start(self) -> None:
        """Say that they are on; release them at once if no session needs them now."""
        self._bus.publish(CameraMicrophoneChanged(True))
        if not self.always_on and self._session.state not in PATIENT_STATES:
            self._want(False)
            await self.settled()

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """The devices open for a while whatever the session (the self-test's camera and
        microphone checks at night), released after unless a session wants them."""
        self._holds += 1
        self._update()
        try:
            await self.settled()
            yield
        finally:
            self._holds -= 1
            self._update()
            await self.settled()

    def _moved(self, event: SessionStateChanged) -> None:
        if event.end_reason is not None or event.state is SessionState.IDLE:
            self._want(False)  # the session ended and was wiped
        elif event.previous is SessionState.IDLE and event.state in PATIENT_STATES:
            self._want(True)  # the patient pressed Start

    def _want(self, on: bool) -> None:
        self._session_wants = on
        self._update()

    def _wanted(self) -> bool:
        return self.always_on or self._session_wants or self._holds > 0

    def _update(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._apply(), name="media.power")

    async def _apply(self) -> None:
        """Bring the devices to what is wanted, as often as it changes meanwhile."""
        async with self._lock:
            while not self._closed and self._wanted() is not self._on:
                if self._wanted():
                    if not await self._open():
                        return  # not retried in a loop: the next session or check tries again
                else:
                    await self._media.suspend()
                    self._on = False
                    log.info("media.released")
                    self._bus.publish(CameraMicrophoneChanged(False))

    async def _open(self) -> bool:
        opening = asyncio.get_running_loop().run_in_executor(None, self._reopen)
        try:
            fresh = await asyncio.shield(opening)
        except asyncio.CancelledError:  # closing meanwhile: what the thread opens is closed
            try:
                opened = await opening
            except (OSError, ValueError):
                pass
            else:
                await opened.close()
            raise
        except (OSError, ValueError) as exc:  # unplugged, busy: the call goes without them
            log.error("media.reopen_failed error=%s", exc)
            return False
        if self._closed:
            await fresh.close()
            return False
        await self._media.resume(fresh)
        self._on = True
        log.info("media.opened")
        self._bus.publish(CameraMicrophoneChanged(True))
        return True

    async def settled(self) -> None:
        """Wait until the devices are as the session wants them (tests)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def aclose(self) -> None:
        """Stop following the sessions (the media are closed by their owner)."""
        self._closed = True
        if self._subscription is not None:
            self._subscription.cancel()
        if self._task is not None:
            await cancel_and_wait(self._task)
