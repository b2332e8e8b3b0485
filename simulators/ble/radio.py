"""The virtual BLE radio: virtual peripherals reachable by the cabin's bleak backend.

``VirtualRadio`` serves a Unix socket. Each central (``devices.transports.virtual_ble``) opens one
socket connection per ``BleakClient`` link and one per ``BleakScanner``; frames follow
``devices.protocols.radio_link``. Every powered, connectable peripheral advertises every 50-100 ms
(jittered) to every scanning connection. A connection's reader handles indication confirmations at
once and queues requests to a worker that answers them in order, so a peripheral's ``on_write``
may itself send an indication to the same central without deadlocking.

Faults: ``set_link_loss(address)`` puts a device out of range (links dropped, no advertising,
connections refused) until ``set_link_loss(address, lost=False)``; ``peripheral.powered = False``
does the same from the device's side; ``await peripheral.disconnect_all()`` ends links cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from devices.cancellation import cancel_and_wait
from devices.errors import DecodeError
from devices.protocols.radio_link import (
    HEADER_BYTES,
    NO_REPLY_ID,
    CentralMessage,
    Confirm,
    Connect,
    Connected,
    Disconnect,
    Disconnected,
    Discover,
    Failure,
    FailureKind,
    Indication,
    Notification,
    Ok,
    Pair,
    RadioMessage,
    Read,
    Reply,
    ScanStart,
    ScanStop,
    Services,
    Unpair,
    Value,
    Write,
    body_length,
    decode_central_message,
    encode_frame,
)
from simulators.ble.peripheral import GattRefused, PairingRefused, VirtualPeripheral

logger = logging.getLogger(__name__)

_MAX_SOCKET_PATH_BYTES: Final = 107  # sun_path is 108 bytes with the terminating NUL
_MAX_BUFFERED_BYTES: Final = 4 << 20
"""A central that lets this much pile up unread is dropped instead of growing memory."""
_DRAIN_TIMEOUT_S: Final = 2.0


class _Session:
    """One socket connection from a central: scanning, and at most one link to a peripheral."""

    def __init__(
        self, radio: VirtualRadio, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._radio = radio
        self._reader = reader
        self._writer = writer
        self._requests: asyncio.Queue[CentralMessage | None] = asyncio.Queue()
        self._indications: dict[int, asyncio.Future[bool]] = {}
        self._seq = itertools.count(1)
        self._closed = False
        self.scanning = False
        self.peripheral: VirtualPeripheral | None = None
        self._central_address = ""

    # ---- CentralLink, as the peripheral sees it ---------------------------------------------

    @property
    def central_address(self) -> str:
        return self._central_address

    async def send_notification(self, handle: int, value: bytes) -> bool:
        if not self.send(Notification(handle=handle, value=value)):
            return False
        return await self._drain()

    async def indicate(self, handle: int, value: bytes, timeout_s: float) -> bool:
        if self._closed:
            return False
        seq = next(self._seq)
        confirmed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._indications[seq] = confirmed
        try:
            if not self.send(Indication(handle=handle, value=value, seq=seq)):
                return False
            try:
                async with asyncio.timeout(timeout_s):
                    return await confirmed
            except TimeoutError:
                self.drop(f"indication not confirmed within {timeout_s} s (ATT timeout)")
                return False
        finally:
            self._indications.pop(seq, None)

    def drop(self, reason: str) -> None:
        self.close(reason, tell_central=True)

    # ---- connection -------------------------------------------------------------------------

    def send(self, message: RadioMessage) -> bool:
        """Queue one frame on the socket; False if the connection is closed."""
        if self._closed or self._writer.is_closing():
            return False
        self._writer.write(encode_frame(message))
        if self._writer.transport.get_write_buffer_size() > _MAX_BUFFERED_BYTES:
            logger.warning("virtual_radio.central_too_slow")
            self.close("the central stopped reading", tell_central=False)
            return False
        return True

    async def _drain(self) -> bool:
        try:
            async with asyncio.timeout(_DRAIN_TIMEOUT_S):
                await self._writer.drain()
        except (TimeoutError, ConnectionError):
            self.close("the central stopped reading", tell_central=False)
            return False
        return not self._closed

    def close(self, reason: str, *, tell_central: bool) -> None:
        """End the session: unlink from the peripheral, tell the central why, close the socket."""
        if self._closed:
            return
        if tell_central and self.peripheral is not None:
            self.send(Disconnected(reason=reason))
        self._closed = True
        self.scanning = False
        peripheral, self.peripheral = self.peripheral, None
        if peripheral is not None:
            peripheral.detach(self)
        for confirmed in self._indications.values():
            if not confirmed.done():
                confirmed.set_result(False)
        self._requests.put_nowait(None)
        self._writer.close()
        self._radio.forget_session(self)

    async def run(self) -> None:
        """Read frames until the central goes away; a worker answers the requests in order."""
        worker = asyncio.create_task(self._work(), name="virtual-radio-worker")
        try:
            while not self._closed:
                header = await self._reader.readexactly(HEADER_BYTES)
                body = await self._reader.readexactly(body_length(header))
                message = decode_central_message(body)
                if isinstance(message, Confirm):
                    confirmed = self._indications.get(message.seq)
                    if confirmed is not None and not confirmed.done():
                        confirmed.set_result(True)
                else:
                    self._requests.put_nowait(message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the central closed its socket: the link ends as a disconnection
        except DecodeError as exc:
            logger.warning("virtual_radio.bad_frame error=%s", exc)
        finally:
            self.close("the central went away", tell_central=False)
            await cancel_and_wait(worker)

    async def _work(self) -> None:
        while True:
            request = await self._requests.get()
            if request is None:
                return
            try:
                reply = await self._answer(request)
            except Exception as exc:  # a simulator's bug must not silence the radio
                logger.exception("virtual_radio.request_failed op=%s", type(request).__name__)
                request_id = getattr(request, "id", NO_REPLY_ID)
                if request_id == NO_REPLY_ID:
                    continue
                reply = Failure(
                    id=request_id,
                    kind=FailureKind.BAD_REQUEST,
                    message=f"the virtual radio failed on this request: {exc}",
                )
            if reply is not None and self.send(reply):
                await self._drain()

    async def _answer(self, request: CentralMessage) -> Reply | None:
        match request:
            case ScanStart(id=rid):
                self.scanning = True
                return Ok(id=rid)
            case ScanStop(id=rid):
                self.scanning = False
                return Ok(id=rid)
            case Connect():
                return self._connect(request)
            case Disconnect(id=rid):
                peripheral, self.peripheral = self.peripheral, None
                if peripheral is not None:
                    peripheral.detach(self)
                return Ok(id=rid)
            case Unpair(id=rid, address=address, central_address=central):
                target = self._radio.peripheral(address)
                if target is not None:
                    target.unpair(central)
                return Ok(id=rid)
            case Discover() | Read() | Write() | Pair():
                return await self._gatt(request)
            case Confirm():
                return None  # handled by the reader
        return None

    def _connect(self, request: Connect) -> Reply:
        if self.peripheral is not None:
            return Failure(
                id=request.id,
                kind=FailureKind.ALREADY_CONNECTED,
                message=(
                    f"this radio connection already carries a link to {self.peripheral.address}"
                ),
            )
        peripheral = self._radio.connectable(request.address)
        if peripheral is None:
            return Failure(
                id=request.id,
                kind=FailureKind.NOT_ADVERTISING,
                message=(
                    f"no device is advertising at {request.address} on the virtual radio "
                    "(absent, powered off, out of range or already connected)"
                ),
            )
        self._central_address = request.central_address
        self.peripheral = peripheral
        peripheral.attach(self)
        return Connected(id=request.id, name=peripheral.name, mtu=peripheral.mtu)

    async def _gatt(self, request: Discover | Read | Write | Pair) -> Reply | None:
        peripheral = self.peripheral
        if peripheral is None:
            if request.id == NO_REPLY_ID:
                return None
            return Failure(
                id=request.id, kind=FailureKind.NOT_CONNECTED, message="not connected to a device"
            )
        try:
            match request:
                case Discover(id=rid):
                    return Services(id=rid, services=peripheral.gatt_tree())
                case Read(id=rid, handle=handle):
                    return Value(id=rid, value=await peripheral.read(self, handle))
                case Write(id=rid, handle=handle, value=value, response=response):
                    await peripheral.write(self, handle, value, response)
                    return None if rid == NO_REPLY_ID else Ok(id=rid)
                case Pair(id=rid):
                    peripheral.pair(self)
                    return Ok(id=rid)
        except GattRefused as refused:
            if request.id == NO_REPLY_ID:
                logger.info("virtual_radio.command_refused code=%s", refused.code.name)
                return None
            return Failure(
                id=request.id,
                kind=FailureKind.ATT,
                message=refused.detail,
                att_code=int(refused.code),
            )
        except PairingRefused as refused:
            return Failure(id=request.id, kind=FailureKind.PAIRING_REFUSED, message=str(refused))
        return None


class VirtualRadio:
    """A Unix-socket server hosting virtual peripherals for the ``virtual_ble`` bleak backend."""

    def __init__(
        self,
        socket_path: Path,
        *,
        advertising_interval_s: tuple[float, float] = (0.05, 0.1),
        seed: int | None = None,
    ) -> None:
        if len(str(socket_path).encode()) > _MAX_SOCKET_PATH_BYTES:
            raise ValueError(
                f"socket path longer than {_MAX_SOCKET_PATH_BYTES} bytes: {socket_path}"
            )
        self.socket_path = Path(socket_path)
        self._interval_s = advertising_interval_s
        self._random = random.Random(seed)  # noqa: S311 - advertising jitter, not security
        self._peripherals: dict[str, VirtualPeripheral] = {}
        self._lost: set[str] = set()
        self._sessions: set[_Session] = set()
        self._advertisers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._retired: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def peripherals(self) -> list[VirtualPeripheral]:
        return list(self._peripherals.values())

    async def start(self) -> None:
        if self._server is not None:
            return
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))
        for address in self._peripherals:
            self._start_advertising(address)
        logger.info("virtual_radio.started")

    async def stop(self) -> None:
        """Drop every link, close every connection, end every task, remove the socket file."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for peripheral in self._peripherals.values():
            peripheral.close("the virtual radio stopped")
        for session in list(self._sessions):
            session.close("the virtual radio stopped", tell_central=True)
        advertisers = [*self._advertisers.values(), *self._retired]
        self._advertisers.clear()
        for advertiser in advertisers:
            advertiser.cancel()
        await asyncio.gather(*advertisers, return_exceptions=True)
        # closed sessions end their handler tasks by themselves (asyncio's stream server logs
        # a handler task that is cancelled); cancel only one that does not end in time
        handlers = list(self._tasks)
        if handlers:
            _done, late = await asyncio.wait(handlers, timeout=1.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        logger.info("virtual_radio.stopped")

    def add(self, peripheral: VirtualPeripheral) -> None:
        if peripheral.address in self._peripherals:
            raise ValueError(f"a peripheral with address {peripheral.address} is already on air")
        self._peripherals[peripheral.address] = peripheral
        if self._server is not None:
            self._start_advertising(peripheral.address)

    def remove(self, address: str) -> None:
        """Take a device off the air: its links drop, it no longer advertises."""
        peripheral = self._peripherals.pop(address.upper(), None)
        if peripheral is None:
            return
        self._lost.discard(peripheral.address)
        advertiser = self._advertisers.pop(peripheral.address, None)
        if advertiser is not None:
            advertiser.cancel()
            self._retired.add(advertiser)
            advertiser.add_done_callback(self._retired.discard)
        peripheral.close("link lost: the device left the radio")

    def set_link_loss(self, address: str, lost: bool = True) -> None:
        """Put a device out of range (links dropped, silent, unreachable) or back in range."""
        address = address.upper()
        if lost:
            self._lost.add(address)
            peripheral = self._peripherals.get(address)
            if peripheral is not None:
                peripheral.drop_links("link lost: the device is out of range")
        else:
            self._lost.discard(address)

    def peripheral(self, address: str) -> VirtualPeripheral | None:
        return self._peripherals.get(address.upper())

    def connectable(self, address: str) -> VirtualPeripheral | None:
        """The peripheral at ``address`` if it is on air and accepts a connection now."""
        peripheral = self._peripherals.get(address.upper())
        if peripheral is None or peripheral.address in self._lost or not peripheral.connectable:
            return None
        return peripheral

    def forget_session(self, session: _Session) -> None:
        self._sessions.discard(session)

    def _start_advertising(self, address: str) -> None:
        self._advertisers[address] = asyncio.create_task(
            self._advertise(address), name=f"virtual-radio-advertise-{address}"
        )

    async def _advertise(self, address: str) -> None:
        low, high = self._interval_s
        while True:
            await asyncio.sleep(self._random.uniform(low, high))
            peripheral = self.connectable(address)
            if peripheral is None:
                continue
            advertisement = peripheral.advertisement()
            for session in list(self._sessions):
                if session.scanning:
                    session.send(advertisement)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._server is None or task is None:
            writer.close()
            return
        self._tasks.add(task)
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._tasks.discard(task)
            self._sessions.discard(session)
