"""The one interface every instrument driver offers, whatever its link and protocol.

A driver owns its link: ``start()`` launches a task that connects, and reconnects with backoff
whenever the link drops (a USB plug pulled, a cuff out of range), publishing its availability as
it goes. ``measure()`` runs one measurement and yields what happens: ``Progress`` while it
runs (the cuff's pressure rising, the oximeter's live values), then exactly one ``Final`` (a
typed ``Reading``) or one ``Failure`` (a ``Problem`` the screen turns into an instruction).
A driver knows nothing of the screen, the store or the session.

A link that drops before the measurement made any progress (nothing heard from the device: no
cuff inflating, no value) does not fail it: the measurement says ``Problem.RECONNECTING`` (a
passing problem), waits up to ``reconnect_wait_s`` for the link, and starts again by itself,
once. Nobody has to press Start twice for a loose plug. Once it has progressed, a drop fails it
(``Problem.DISCONNECTED``): a blood-pressure cuff restarted half-way would inflate twice.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from devices.cancellation import cancel_and_wait, within
from devices.errors import DeviceError, TransportError
from devices.reading import Reading, ReadingKind, Value

log = logging.getLogger(__name__)


class Availability(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAULT = "fault"  # connected, but the device says it cannot work (e.g. probe unplugged)


class Problem(enum.Enum):
    """Why a measurement did not give a value: each maps to an instruction for a person."""

    CUFF_LOOSE = "cuff_loose"  # tighten the cuff, retry
    BODY_MOVEMENT = "body_movement"  # stay still, retry
    IMPROPER_POSITION = "improper_position"  # arm at heart level, retry
    NO_FINGER = "no_finger"  # put a finger in the clip
    PROBE_UNPLUGGED = "probe_unplugged"  # the agent reconnects the sensor
    POOR_SIGNAL = "poor_signal"  # warm hands, keep still, retry
    OUT_OF_RANGE = "out_of_range"  # implausible value: measure again
    DEVICE_ERROR = "device_error"  # the device reported an error it could not explain
    NO_RESPONSE = "no_response"  # the device went silent
    DISCONNECTED = "disconnected"  # the link dropped mid-measurement
    NOT_CONNECTED = "not_connected"  # the device is not there (switched off, unplugged)
    LOW_BATTERY = "low_battery"  # the agent changes the batteries
    ABORTED = "aborted"  # the measurement was stopped (by the patient or the device)
    # Passing, never a Failure's: the link dropped before the measurement began; it waits for
    # the device and starts again by itself.
    RECONNECTING = "reconnecting"


@dataclass(frozen=True, slots=True)
class Progress:
    """A measurement under way: the live cuff pressure, or live values, or a passing problem."""

    cuff_pressure_mmhg: float | None = None
    live: tuple[Value, ...] = ()
    problem: Problem | None = None


@dataclass(frozen=True, slots=True)
class Final:
    reading: Reading


@dataclass(frozen=True, slots=True)
class Failure:
    problem: Problem
    detail: str = ""  # for the log and the assistant screen: never a patient's value


MeasurementUpdate = Progress | Final | Failure


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    availability: Availability
    battery_percent: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Whether a device answered a probe (the self-test's question "are you there?"), and what
    was seen: never a measurement, never a reading."""

    answered: bool
    detail: str
    battery_percent: int | None = None


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnection delays: first_s, doubling up to max_s, each with +-jitter."""

    first_s: float = 0.2
    max_s: float = 10.0
    jitter: float = 0.2

    def delays(self, rng: random.Random | None = None) -> AsyncIterator[float]:
        return _delays(self, rng or random.Random())  # noqa: S311 - not for secrets


async def _delays(backoff: Backoff, rng: random.Random) -> AsyncIterator[float]:
    delay = backoff.first_s
    while True:
        yield delay * (1 + rng.uniform(-backoff.jitter, backoff.jitter))
        delay = min(delay * 2, backoff.max_s)


class Instrument(abc.ABC):
    """Base of every driver: the connection loop, availability, and the measurement contract.

    A subclass implements ``_connect()`` (open the link; raise ``DeviceError`` if it cannot),
    ``_serve()`` (run while the link is up: read, decode, ``_emit`` updates to a measurement
    under way; return or raise ``DeviceError`` when the link drops) and ``_disconnect()``; and,
    when the device must be asked, ``_begin_measurement()`` / ``_end_measurement()``.
    """

    kind: ReadingKind
    connect_wait_s = 15.0  # how long a measurement waits for a device that is reconnecting
    reconnect_wait_s = 40.0
    """How long a measurement whose link dropped before any progress waits for it to come back
    (then it fails: ``Problem.NOT_CONNECTED``)."""
    restarts_per_measurement = 1

    def __init__(self, device_id: str, *, backoff: Backoff | None = None) -> None:
        self.device_id = device_id
        self._backoff = backoff or Backoff()
        self._availability = Availability.DISCONNECTED
        self._battery_percent: int | None = None
        self._last_error: str | None = None
        self._listeners: list[Callable[[DeviceStatus], None]] = []
        self._runner: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._measuring = asyncio.Lock()
        self._updates: asyncio.Queue[MeasurementUpdate] | None = None
        self._finished = False  # the measurement under way has had its Final or Failure
        # The measurement under way: whether it has progressed, the restarts it has left, when
        # (loop time) its link dropped if it waits for it, and its deadline.
        self._progressed = False
        self._restarts_left = 0
        self._waiting_link_since: float | None = None
        self._timeout_s = 0.0
        self._deadline = 0.0

    # --- status ----------------------------------------------------------------------------
    @property
    def availability(self) -> Availability:
        return self._availability

    @property
    def battery_percent(self) -> int | None:
        return self._battery_percent

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def status(self) -> DeviceStatus:
        return DeviceStatus(
            self.device_id, self._availability, self._battery_percent, self._last_error
        )

    def on_status(self, listener: Callable[[DeviceStatus], None]) -> Callable[[], None]:
        """Call ``listener`` at every change of availability, battery or error; returns the
        function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _set_status(
        self,
        availability: Availability | None = None,
        *,
        battery_percent: int | None = None,
        error: str | None = None,
    ) -> None:
        changed = False
        if availability is not None and availability is not self._availability:
            self._availability = availability
            changed = True
            if availability is Availability.CONNECTED:
                self._connected.set()
            else:
                self._connected.clear()
        if battery_percent is not None and battery_percent != self._battery_percent:
            self._battery_percent = battery_percent
            changed = True
        if error is not None and error != self._last_error:
            self._last_error = error
            changed = True
        if changed:
            status = self.status()
            log.info(
                "device.status device=%s availability=%s battery=%s",
                self.device_id,
                status.availability.value,
                status.battery_percent,
            )
            for listener in tuple(self._listeners):
                listener(status)

    # --- the connection loop ---------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background; the driver reconnects by itself from now on."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._keep_connected(), name=f"instrument-{self.device_id}"
            )

    async def close(self) -> None:
        if self._runner is not None:
            await cancel_and_wait(self._runner)
            self._runner = None
        await self._disconnect()
        self._set_status(Availability.DISCONNECTED)

    async def _keep_connected(self) -> None:
        delays = self._backoff.delays()
        while True:
            self._set_status(Availability.CONNECTING)
            try:
                await self._connect()
            except DeviceError as exc:
                self._set_status(Availability.DISCONNECTED, error=str(exc))
                delay = await anext(delays)
                log.info("device.retry device=%s in_s=%.2f", self.device_id, delay)
                await asyncio.sleep(delay)
                continue
            delays = self._backoff.delays()  # a good connection resets the backoff
            self._set_status(Availability.CONNECTED)
            if self._waiting_link_since is not None and self.measuring and not self._finished:
                await self._restart_measurement()
            try:
                await self._serve()
                # a cuff hangs up after each result: expected, so not a warning
                log.info("device.link_closed device=%s", self.device_id)
            except DeviceError as exc:
                log.warning("device.link_lost device=%s error=%s", self.device_id, exc)
                self._set_status(Availability.DISCONNECTED, error=str(exc))
            finally:
                await self._disconnect()
                if self._updates is not None and not self._finished:
                    await self._link_lost_while_measuring()
            self._set_status(Availability.DISCONNECTED)
            await asyncio.sleep(await anext(delays))

    async def wait_connected(self, timeout_s: float) -> bool:
        try:
            await within(self._connected.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    # --- the self-test's probe -------------------------------------------------------------
    async def probe(self, timeout_s: float) -> ProbeResult:
        """Whether the device answers now, without measuring (nothing is stored, nothing is
        started on the device): by default, its link is up within ``timeout_s``. Drivers that
        can ask more (a BLE characteristic read, a serial stream that parses) say more."""
        if not await self.wait_connected(timeout_s):
            return ProbeResult(False, self._not_connected_detail(timeout_s), self.battery_percent)
        return ProbeResult(True, "connected", self.battery_percent)

    def _not_connected_detail(self, timeout_s: float) -> str:
        why = f": {self._last_error}" if self._last_error else ""
        return f"not connected within {timeout_s:.0f} s{why}"[:300]

    # --- measuring -------------------------------------------------------------------------
    async def measure(self, timeout_s: float = 120.0) -> AsyncIterator[MeasurementUpdate]:
        """One measurement: progress updates, then exactly one Final or Failure.

        The driver's link task feeds the updates (``_emit``); this generator only waits for
        them, with a deadline, so the consumer's own task is never cancelled under it. While the
        link is down before any progress, the deadline is ``reconnect_wait_s`` from the drop;
        a restart gives the measurement its whole ``timeout_s`` again.
        """
        async with self._measuring:
            loop = asyncio.get_running_loop()
            if not self._connected.is_set():
                yield Progress(problem=Problem.RECONNECTING)
            if not await self.wait_connected(min(timeout_s, self.connect_wait_s)):
                yield Failure(Problem.NOT_CONNECTED, f"{self.device_id} is not connected")
                return
            queue: asyncio.Queue[MeasurementUpdate] = asyncio.Queue()
            self._updates = queue
            self._finished = False
            self._progressed = False
            self._restarts_left = self.restarts_per_measurement
            self._waiting_link_since = None
            self._timeout_s = timeout_s
            self._deadline = loop.time() + timeout_s
            self._reset_measurement()
            try:
                try:
                    await self._begin_measurement()
                except DeviceError as exc:
                    if not isinstance(exc, TransportError):
                        yield self._last(Failure(Problem.DEVICE_ERROR, str(exc)))
                        return
                    # The link failed while the device was being asked (the link task may not
                    # have seen it yet, or may have said so already): nothing began, so the
                    # measurement waits for it as for any drop before progress.
                    log.info("device.begin_lost_link device=%s", self.device_id)
                    if self._waiting_link_since is None:
                        if self._restarts_left <= 0:
                            yield self._last(Failure(Problem.DISCONNECTED, str(exc)))
                            return
                        self._restarts_left -= 1
                        self._waiting_link_since = loop.time()
                        yield Progress(problem=Problem.RECONNECTING)
                while True:
                    waiting_since = self._waiting_link_since
                    if waiting_since is not None:
                        left_s = waiting_since + self.reconnect_wait_s - loop.time()
                    else:
                        left_s = self._deadline - loop.time()
                    try:
                        update = await within(queue.get(), max(0.0, left_s))
                    except TimeoutError:
                        if self._waiting_link_since is None:
                            yield self._last(
                                Failure(Problem.NO_RESPONSE, f"no result within {timeout_s:.0f} s")
                            )
                            return
                        log.warning(
                            "device.reconnect_gave_up device=%s after_s=%.0f",
                            self.device_id,
                            self.reconnect_wait_s,
                        )
                        yield self._last(
                            Failure(
                                Problem.NOT_CONNECTED,
                                f"the link did not come back within {self.reconnect_wait_s:.0f} s",
                            )
                        )
                        return
                    yield update
                    if isinstance(update, Final | Failure):
                        return
            finally:
                self._updates = None
                self._waiting_link_since = None
                with contextlib.suppress(DeviceError):
                    await self._end_measurement()

    def _last(self, failure: Failure) -> Failure:
        """A failure this generator decides: nothing may restart the measurement after it."""
        self._finished = True
        self._waiting_link_since = None
        return failure

    @property
    def measuring(self) -> bool:
        return self._updates is not None

    def _emit(self, update: MeasurementUpdate) -> None:
        """Hand an update to the measurement under way (dropped when there is none)."""
        if self._updates is not None and not self._finished:
            self._finished = isinstance(update, Final | Failure)
            self._progressed = True
            self._updates.put_nowait(update)

    def _notice(self, progress: Progress) -> None:
        """Tell the measurement under way what the driver does (reconnecting, starting again):
        not the device's progress."""
        if self._updates is not None and not self._finished:
            self._updates.put_nowait(progress)

    def _reset_measurement(self) -> None:  # noqa: B027 - optional hook
        """Forget what the previous measurement left (before ``_begin_measurement``, and again
        before a restart)."""

    def _has_progressed(self) -> bool:
        """Whether the measurement under way got anything from the device (a driver that hears
        more than it emits says so)."""
        return self._progressed

    def _update_on_link_lost(self) -> MeasurementUpdate | None:
        """What a measurement under way learns when the link drops; None: it may start again
        once the link is back (nothing had happened yet)."""
        if not self._has_progressed():
            return None
        return Failure(Problem.DISCONNECTED, "the link dropped during the measurement")

    async def _link_lost_while_measuring(self) -> None:
        if self._waiting_link_since is not None:
            return  # the measurement already waits for this link (it went as it began)
        update = self._update_on_link_lost()
        if update is not None:
            self._emit(update)
            return
        if self._restarts_left <= 0:
            log.warning("device.link_lost_again device=%s", self.device_id)
            self._emit(Failure(Problem.DISCONNECTED, "the link dropped again before any progress"))
            return
        self._restarts_left -= 1
        self._waiting_link_since = asyncio.get_running_loop().time()
        log.info(
            "device.measurement_waits_for_link device=%s within_s=%.0f",
            self.device_id,
            self.reconnect_wait_s,
        )
        with contextlib.suppress(DeviceError):
            await self._end_measurement()  # what it started on the device side (a keep-alive)
        self._notice(Progress(problem=Problem.RECONNECTING))

    async def _restart_measurement(self) -> None:
        """The link is back: the measurement starts again from the beginning."""
        self._waiting_link_since = None
        self._progressed = False
        self._deadline = asyncio.get_running_loop().time() + self._timeout_s
        self._reset_measurement()
        log.info("device.measurement_restarted device=%s", self.device_id)
        self._notice(Progress())
        try:
            await self._begin_measurement()
        except DeviceError as exc:
            self._emit(Failure(Problem.DISCONNECTED, str(exc)))

    async def _begin_measurement(self) -> None:  # noqa: B027 - optional hook
        """Ask the device to measure (send a command, reset an accumulator); default: nothing,
        for devices the patient starts themselves."""

    async def _end_measurement(self) -> None:  # noqa: B027 - optional hook
        """Stop what ``_begin_measurement`` started; default: nothing."""

    @abc.abstractmethod
    async def _connect(self) -> None: ...

    @abc.abstractmethod
    async def _serve(self) -> None: ...

    @abc.abstractmethod
    async def _disconnect(self) -> None: ...
