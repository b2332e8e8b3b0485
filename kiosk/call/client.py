"""The cabin's side of one call with the doctor (hub/PROTOCOL.md, "The call").

`CallClient` offers a peer connection (the microphone as Opus, the camera as VP8, the data channel
`cabin`), sends heartbeats, tells the link's state, and when the link is lost (ICE failed, the
peer connection closed, or nothing heard for `renegotiate_after_s`) starts over with a new peer
connection and a new `SdpOffer` for the same consultation, again after a growing interval, until
it connects or the call ends (aiortc cannot restart ICE in place).

Readings go on the data channel and stay in an outbox until the doctor's `Ack`; the outbox is
sent again on each new data channel. The doctor's `MeasureRequest`, `PrescriptionMessage` and
`CallEnd` are acknowledged and handed to `on_message` once each (a prescription once per
`prescription_id`, whatever the path or the number of resends).

Everything that waits on the outside (gathering, the hub taking a message, applying an answer,
closing) has a timeout; the tasks are owned by the client and cancelled by `close`. Log lines name
the consultation and the attempt, never a patient or a reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription, RTCStatsReport
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import candidate_from_sdp
from av.frame import Frame
from av.packet import Packet

import wire
from devices.cancellation import cancel_and_wait, within
from kiosk.call.bitrate import cap_vp8_bitrate, set_opus_bitrate
from kiosk.call.errors import CallError
from kiosk.call.ice import (
    is_loopback_candidate,
    loopback_candidates,
    only_loopback_sdp,
    rtc_configuration,
)
from kiosk.call.media import CabinMedia, RemoteVideoSink, RgbImage
from kiosk.call.settings import CallSettings

log = logging.getLogger(__name__)

CHANNEL_LABEL: Final = "cabin"
MAX_CHANNEL_MESSAGE_BYTES: Final = 64 * 1024
"""A data-channel message above this is refused unread (the largest, a prescription, is ~20 KB)."""
FLUSH_TIMEOUT_S: Final = 1.0
STATS_TIMEOUT_S: Final = 2.0
_TICK_S: Final = 0.2

IncomingMessage = wire.MeasureRequest | wire.PrescriptionMessage | wire.CallEnd
"""What the doctor sends that the cabin acts on."""
OutgoingSignal = wire.SdpOffer | wire.IceCandidate | wire.CallEnd
IncomingSignal = wire.SdpAnswer | wire.IceCandidate | wire.CallEnd


class SignalingSender(Protocol):
    """The hub's websocket, as the call sees it: the doctor's console gets what is sent."""

    async def send(self, message: OutgoingSignal) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...


class MonotonicClock:
    def monotonic(self) -> float:
        return time.monotonic()


class CallLinkState(enum.Enum):
    """The link with the doctor, as the patient's screen shows it."""

    CONNECTING = "connecting"
    """The first peer connection is being set up."""
    CONNECTED = "connected"
    """The data channel is open and the doctor was heard within `reconnecting_after_s`."""
    RECONNECTING = "reconnecting"
    """The doctor has not been heard for a while, or a new peer connection is being set up."""
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallStats:
    link_state: CallLinkState
    peer_connections: int
    """Peer connections made so far (the first one and one per renegotiation)."""
    reconnections: int
    video_frames_sent: int
    """Camera frames handed to the VP8 encoder."""
    video_frames_received: int
    video_frames_shown: int
    """Frames of the doctor's video handed to `on_remote_frame`."""
    video_frames_dropped: int
    """Frames of the doctor's video skipped because `on_remote_frame` was still busy."""
    audio_frames_received: int
    bytes_sent: int
    """Bytes sent on the network (media, data channel, DTLS), all peer connections together."""
    bytes_received: int
    readings_unacked: int


class _CountedTrack(MediaStreamTrack):
    """A track passing another one's frames through, calling `count` for each."""

    def __init__(self, source: MediaStreamTrack, count: Callable[[], None]) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._count = count

    async def recv(self) -> Frame | Packet[Any]:
        frame = await self._source.recv()
        self._count()
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


class _Attempt:
    """One peer connection of the call: the first one, or one made to reconnect."""

    def __init__(
        self,
        number: int,
        pc: RTCPeerConnection,
        channel: RTCDataChannel,
        local_tracks: list[MediaStreamTrack],
    ) -> None:
        self.number = number
        self.pc = pc
        self.channel = channel
        self.local_tracks = local_tracks
        self.tasks: set[asyncio.Task[None]] = set()
        self.failed: str | None = None
        """Why this peer connection is known to be dead, if it is."""
        self.opened = False

    def is_open(self) -> bool:
        return self.channel.readyState == "open"


def retry_delay_s(settings: CallSettings, retries: int) -> float:
    """Time given to the `retries`-th new peer connection (1, 2, ...) before the next one."""
    growth: float = 2.0 ** max(0, retries - 1)
    return min(settings.retry_interval_s * growth, settings.retry_max_interval_s)


def _new_id() -> str:
    return uuid.uuid4().hex


def _codecs(kind: str, mime_types: frozenset[str]) -> list[RTCRtpCodecCapability]:
    return [
        codec
        for codec in RTCRtpSender.getCapabilities(kind).codecs
        if codec.mimeType.lower() in mime_types
    ]


class CallClient:
    """The cabin's call for one consultation, from the first offer to the hang-up."""

    def __init__(
        self,
        *,
        consultation_id: str,
        accepted: wire.CallAccepted,
        signaling: SignalingSender,
        media: CabinMedia,
        settings: CallSettings,
        on_link_state: Callable[[CallLinkState], None],
        on_message: Callable[[IncomingMessage], None],
        on_remote_frame: Callable[[RgbImage], None],
        clock: Clock | None = None,
    ) -> None:
        if accepted.consultation_id != consultation_id:
            raise CallError("the accepted call is for another consultation")
        self.consultation_id = consultation_id
        self._accepted = accepted
        self._signaling = signaling
        self._media = media
        self._settings = settings
        self._on_link_state = on_link_state
        self._on_message = on_message
        self._clock = clock or MonotonicClock()
        self._video_sink = RemoteVideoSink(on_remote_frame)

        self._state = CallLinkState.CONNECTING
        self._started = False
        self._ended = False
        self._attempt: _Attempt | None = None
        self._attempts = 0
        self._reconnections = 0
        self._retries = 0
        self._next_attempt_at = 0.0
        self._last_heard = 0.0
        self._last_heartbeat = 0.0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._finisher: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

        self._outbox: dict[str, wire.ReadingMessage] = {}
        self._handled: set[tuple[str, str]] = set()
        self._video_frames_sent = 0
        self._audio_frames_received = 0
        self._bytes_sent_before = 0
        self._bytes_received_before = 0

    # --- what the session and the screen read -------------------------------------------------
    @property
    def link_state(self) -> CallLinkState:
        return self._state

    @property
    def unacked_readings(self) -> tuple[str, ...]:
        """The `msg_id`s of the readings the doctor has not acknowledged yet, oldest first."""
        return tuple(self._outbox)

    async def stats(self) -> CallStats:
        sent, received = self._bytes_sent_before, self._bytes_received_before
        if self._attempt is not None:
            now_sent, now_received = await self._transport_bytes(self._attempt.pc)
            sent, received = sent + now_sent, received + now_received
        return CallStats(
            link_state=self._state,
            peer_connections=self._attempts,
            reconnections=self._reconnections,
            video_frames_sent=self._video_frames_sent,
            video_frames_received=self._video_sink.received,
            video_frames_shown=self._video_sink.delivered,
            video_frames_dropped=self._video_sink.dropped,
            audio_frames_received=self._audio_frames_received,
            bytes_sent=sent,
            bytes_received=received,
            readings_unacked=len(self._outbox),
        )

    async def rtc_stats(self) -> RTCStatsReport | None:
        """The current peer connection's WebRTC stats (the call's quality meter reads them), or
        None when there is none now or it does not answer in time."""
        attempt = self._attempt
        if attempt is None:
            return None
        try:
            return await within(attempt.pc.getStats(), STATS_TIMEOUT_S)
        except (TimeoutError, ConnectionError, AttributeError):
            return None

    # --- what the session calls ---------------------------------------------------------------
    async def start(self) -> None:
        """Make the peer connection and send the offer; then keep the link alive until the end.

        A failure to offer (gathering or the hub too slow, the hub unreachable) is logged and
        retried like a lost link; it is not raised.
        """
        if self._started:
            raise CallError("the call has already started")
        if self._ended:
            raise CallError("the call has ended")
        self._started = True
        cap_vp8_bitrate(self._settings.max_video_bitrate_bps)
        set_opus_bitrate(self._settings.audio_bitrate_bps)
        self._last_heard = self._clock.monotonic()
        log.info("call.starting consultation=%s", self.consultation_id)
        self._notify_state()
        async with self._lock:
            await self._offer()
        self._next_attempt_at = self._clock.monotonic() + self._settings.retry_interval_s
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"call-supervisor-{self.consultation_id}"
        )

    async def handle_signal(self, message: IncomingSignal) -> None:
        """A signaling message from the doctor's console, relayed by the hub."""
        if message.consultation_id != self.consultation_id:
            log.warning(
                "call.signal_refused consultation=%s reason=other_consultation type=%s",
                self.consultation_id,
                type(message).__name__,
            )
            return
        if isinstance(message, wire.CallEnd):
            self._remote_call_end(message)
            if self._finisher is not None:
                await asyncio.shield(self._finisher)
            return
        if self._ended:
            return
        async with self._lock:
            attempt = self._attempt
            if attempt is None:
                log.info(
                    "call.signal_ignored consultation=%s reason=no_peer_connection",
                    self.consultation_id,
                )
                return
            if isinstance(message, wire.SdpAnswer):
                await self._apply_answer(attempt, message)
            else:
                await self._apply_candidate(attempt, message)

    async def send_reading(self, message: wire.ReadingMessage) -> None:
        """Send a reading to the doctor; it is sent again on each new data channel until acked."""
        if self._ended:
            raise CallError("the call has ended")
        if message.consultation_id != self.consultation_id:
            raise CallError("the reading belongs to another consultation")
        self._outbox[message.msg_id] = message
        attempt = self._attempt
        if attempt is not None and attempt.opened:
            self._send_on(attempt, message)

    async def hang_up(self, reason: wire.CallEndReason) -> None:
        """End the call: `CallEnd` on the data channel and through the hub, then close."""
        if self._ended:
            return
        self._ended = True
        message = wire.CallEnd(
            msg_id=_new_id(), consultation_id=self.consultation_id, reason=reason
        )
        log.info("call.hang_up consultation=%s reason=%s", self.consultation_id, reason.value)
        attempt = self._attempt
        if attempt is not None and self._send_on(attempt, message):
            await self._flush(attempt.channel)
        try:
            await self._signal(message)
        except (TimeoutError, OSError) as exc:
            log.warning(
                "call.hang_up_not_signaled consultation=%s error=%s",
                self.consultation_id,
                type(exc).__name__,
            )
        finally:
            await self._shutdown()

    @property
    def ice_servers(self) -> tuple[wire.IceServer, ...]:
        """The ICE servers (TURN credentials included) the next peer connection will use."""
        return tuple(self._accepted.ice_servers)

    def renew_ice(self, accepted: wire.CallAccepted) -> None:
        """The hub's `CallAccepted` for this call, sent again with TURN credentials valid from
        now: the next peer connection (a reconnection) uses them, never the first ones, which
        coturn refuses once `credential_ttl_s` has passed. The current one goes on as it is."""
        if accepted.consultation_id != self.consultation_id:
            raise CallError("the accepted call is for another consultation")
        self._accepted = accepted
        log.info(
            "call.ice_renewed consultation=%s servers=%d",
            self.consultation_id,
            len(accepted.ice_servers),
        )

    async def close(self) -> None:
        """Release the call (peer connection, tasks) without telling anyone. Idempotent.

        The cabin's media (`CabinMedia`) stay open: they belong to the cabin, not to the call.
        """
        self._ended = True
        if self._finisher is not None:
            await asyncio.shield(self._finisher)
        await self._shutdown()

    # --- peer connections ---------------------------------------------------------------------
    async def _offer(self) -> None:
        """A new peer connection and its offer (called with the lock held)."""
        self._attempts += 1
        number = self._attempts
        pc = RTCPeerConnection(configuration=rtc_configuration(self._accepted))
        camera = _CountedTrack(self._media.subscribe_camera(), self._count_video_sent)
        microphone = self._media.subscribe_microphone()
        audio = pc.addTransceiver(microphone, direction="sendrecv")
        audio.setCodecPreferences(_codecs("audio", frozenset({"audio/opus"})))
        video = pc.addTransceiver(camera, direction="sendrecv")
        video.setCodecPreferences(_codecs("video", frozenset({"video/vp8", "video/rtx"})))
        channel = pc.createDataChannel(CHANNEL_LABEL, ordered=True)
        attempt = _Attempt(number, pc, channel, [camera, microphone])
        self._attempt = attempt
        self._listen(attempt)
        try:
            offer = await pc.createOffer()
            with loopback_candidates(self._settings.loopback_only):
                await within(pc.setLocalDescription(offer), self._settings.gathering_timeout_s)
            sdp = pc.localDescription.sdp
            await self._signal(
                wire.SdpOffer(msg_id=_new_id(), consultation_id=self.consultation_id, sdp=sdp)
            )
        except (TimeoutError, OSError) as exc:
            attempt.failed = "offer_failed"
            log.warning(
                "call.offer_failed consultation=%s attempt=%d error=%s",
                self.consultation_id,
                number,
                type(exc).__name__,
            )
            return
        except Exception:
            attempt.failed = "offer_failed"
            log.exception(
                "call.offer_failed consultation=%s attempt=%d", self.consultation_id, number
            )
            return
        log.info(
            "call.offer_sent consultation=%s attempt=%d candidates=%d",
            self.consultation_id,
            number,
            sdp.count("a=candidate:"),
        )

    def _listen(self, attempt: _Attempt) -> None:
        pc, channel = attempt.pc, attempt.channel

        def on_connection_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._lost(attempt, f"pc_{pc.connectionState}")

        def on_track(track: MediaStreamTrack) -> None:
            if attempt is self._attempt:
                run = self._video_sink.run if track.kind == "video" else self._play_audio
                self._spawn(attempt, run(track), f"remote-{track.kind}")

        pc.add_listener("connectionstatechange", on_connection_state)
        pc.add_listener("track", on_track)
        channel.add_listener("open", lambda: self._channel_opened(attempt))
        channel.add_listener("message", lambda data: self._channel_message(attempt, data))
        channel.add_listener("close", lambda: self._lost(attempt, "channel_closed"))

    async def _apply_answer(self, attempt: _Attempt, message: wire.SdpAnswer) -> None:
        if attempt.pc.signalingState != "have-local-offer":
            log.info(
                "call.answer_ignored consultation=%s attempt=%d state=%s",
                self.consultation_id,
                attempt.number,
                attempt.pc.signalingState,
            )
            return
        sdp = only_loopback_sdp(message.sdp) if self._settings.loopback_only else message.sdp
        try:
            await within(
                attempt.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer")),
                self._settings.signaling_timeout_s,
            )
        except Exception as exc:  # the doctor's SDP is outside data: aiortc may raise anything
            log.warning(
                "call.answer_refused consultation=%s attempt=%d error=%s",
                self.consultation_id,
                attempt.number,
                type(exc).__name__,
                exc_info=not isinstance(exc, TimeoutError | ValueError),
            )
            self._lost(attempt, "answer_refused")
            return
        log.info("call.answered consultation=%s attempt=%d", self.consultation_id, attempt.number)

    async def _apply_candidate(self, attempt: _Attempt, message: wire.IceCandidate) -> None:
        text = message.candidate.removeprefix("a=")
        if not text:  # the end of the doctor's candidates
            with contextlib.suppress(TimeoutError):
                await within(attempt.pc.addIceCandidate(None), self._settings.signaling_timeout_s)
            return
        if not text.startswith("candidate:"):
            text = f"candidate:{text}"
        if self._settings.loopback_only and not is_loopback_candidate(text):
            log.debug(
                "call.candidate_ignored consultation=%s reason=not_loopback", self.consultation_id
            )
            return
        try:
            candidate = candidate_from_sdp(text.removeprefix("candidate:"))
            candidate.sdpMid = message.sdp_mid
            candidate.sdpMLineIndex = message.sdp_mline_index
            await within(attempt.pc.addIceCandidate(candidate), self._settings.signaling_timeout_s)
        except Exception as exc:  # outside data, as the answer
            log.warning(
                "call.candidate_refused consultation=%s attempt=%d error=%s",
                self.consultation_id,
                attempt.number,
                type(exc).__name__,
                exc_info=not isinstance(exc, TimeoutError | ValueError | IndexError),
            )

    async def _retire(self, attempt: _Attempt) -> None:
        """Close a peer connection to the end, even if the caller is cancelled meanwhile."""
        task = asyncio.get_running_loop().create_task(
            self._teardown(attempt), name=f"call-teardown-{self.consultation_id}-{attempt.number}"
        )
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        await asyncio.shield(task)

    async def _teardown(self, attempt: _Attempt) -> None:
        """Close one peer connection and everything that belongs to it."""
        sent, received = await self._transport_bytes(attempt.pc)
        self._bytes_sent_before += sent
        self._bytes_received_before += received
        try:
            await within(attempt.pc.close(), self._settings.close_timeout_s)
        except TimeoutError:
            log.warning(
                "call.close_timeout consultation=%s attempt=%d",
                self.consultation_id,
                attempt.number,
            )
        for track in attempt.local_tracks:
            track.stop()
        tasks = list(attempt.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _transport_bytes(self, pc: RTCPeerConnection) -> tuple[int, int]:
        try:
            report = await within(pc.getStats(), STATS_TIMEOUT_S)
        except (TimeoutError, ConnectionError, AttributeError):
            return 0, 0
        sent = received = 0
        for entry in report.values():
            if getattr(entry, "type", None) == "transport":
                sent += int(getattr(entry, "bytesSent", 0))
                received += int(getattr(entry, "bytesReceived", 0))
        return sent, received

    # --- keeping the link alive ---------------------------------------------------------------
    async def _supervise(self) -> None:
        settings = self._settings
        while not self._ended:
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), _TICK_S)
            self._wake.clear()
            if self._ended:
                return
            now = self._clock.monotonic()
            attempt = self._attempt
            if (
                attempt is not None
                and attempt.opened
                and now - self._last_heartbeat >= settings.heartbeat_interval_s
            ):
                self._send_heartbeat(attempt)
            silence = now - self._last_heard
            lost = attempt is None or attempt.failed is not None
            if self._state is CallLinkState.CONNECTED and (
                lost or silence >= settings.reconnecting_after_s
            ):
                log.warning(
                    "call.reconnecting consultation=%s silence_s=%.1f reason=%s",
                    self.consultation_id,
                    silence,
                    attempt.failed if attempt is not None and attempt.failed else "silence",
                )
                self._set_state(CallLinkState.RECONNECTING)
            if (lost or silence >= settings.renegotiate_after_s) and now >= self._next_attempt_at:
                reason = "no_peer_connection" if attempt is None else attempt.failed or "silence"
                async with self._lock:
                    if not self._ended:
                        await self._renegotiate(reason)

    async def _renegotiate(self, reason: str) -> None:
        """Start over with a new peer connection (called with the lock held)."""
        self._reconnections += 1
        self._retries += 1
        old, self._attempt = self._attempt, None
        log.warning(
            "call.renegotiate consultation=%s reason=%s attempt=%d",
            self.consultation_id,
            reason,
            self._attempts + 1,
        )
        if old is not None:
            await self._retire(old)
        if not self._ended:
            await self._offer()
        # the new peer connection gets its time from when its offer left
        self._next_attempt_at = self._clock.monotonic() + retry_delay_s(
            self._settings, self._retries
        )

    def _lost(self, attempt: _Attempt, reason: str) -> None:
        if attempt is not self._attempt or self._ended or attempt.failed is not None:
            return
        attempt.failed = reason
        log.warning(
            "call.link_lost consultation=%s attempt=%d reason=%s",
            self.consultation_id,
            attempt.number,
            reason,
        )
        self._wake.set()

    def _channel_opened(self, attempt: _Attempt) -> None:
        if attempt is not self._attempt or self._ended:
            return
        attempt.opened = True
        now = self._clock.monotonic()
        self._last_heard = now
        self._retries = 0
        self._next_attempt_at = now
        log.info(
            "call.connected consultation=%s attempt=%d resent=%d",
            self.consultation_id,
            attempt.number,
            len(self._outbox),
        )
        self._set_state(CallLinkState.CONNECTED)
        self._send_heartbeat(attempt)
        for reading in list(self._outbox.values()):
            self._send_on(attempt, reading)

    def _send_heartbeat(self, attempt: _Attempt) -> None:
        self._last_heartbeat = self._clock.monotonic()
        self._send_on(attempt, wire.Heartbeat(msg_id=_new_id(), sent_at=datetime.now(UTC)))

    # --- the data channel ---------------------------------------------------------------------
    def _channel_message(self, attempt: _Attempt, data: str | bytes) -> None:
        if attempt is not self._attempt or self._ended:
            return
        self._last_heard = self._clock.monotonic()
        if self._state is CallLinkState.RECONNECTING and attempt.opened:
            log.info(
                "call.connected consultation=%s attempt=%d resent=0",
                self.consultation_id,
                attempt.number,
            )
            self._set_state(CallLinkState.CONNECTED)
        if len(data) > MAX_CHANNEL_MESSAGE_BYTES:
            self._refuse("too_large")
            return
        try:
            message = wire.decode(data, allowed=wire.CallChannel)
        except wire.WireError as exc:
            self._refuse(str(exc))
            return
        if isinstance(message, wire.Heartbeat):
            return
        if isinstance(message, wire.Ack):
            if self._outbox.pop(message.ack_of, None) is not None:
                log.debug("call.reading_acked consultation=%s", self.consultation_id)
            return
        if isinstance(message, wire.ReadingMessage):
            self._refuse("unexpected_type reading")
            return
        assert isinstance(message, wire.MeasureRequest | wire.PrescriptionMessage | wire.CallEnd)
        if message.consultation_id != self.consultation_id:
            self._refuse(f"other_consultation {type(message).__name__}")
            return
        self._send_on(attempt, wire.Ack(msg_id=_new_id(), ack_of=message.msg_id))
        if isinstance(message, wire.CallEnd):
            self._remote_call_end(message)
        elif self._first_time(message):
            self._deliver(message)

    def _refuse(self, reason: str) -> None:
        log.warning("call.message_refused consultation=%s reason=%s", self.consultation_id, reason)

    def _first_time(self, message: wire.MeasureRequest | wire.PrescriptionMessage) -> bool:
        key = (
            ("prescription", message.prescription_id)
            if isinstance(message, wire.PrescriptionMessage)
            else ("message", message.msg_id)
        )
        if key in self._handled:
            log.info(
                "call.message_duplicate consultation=%s type=%s",
                self.consultation_id,
                type(message).__name__,
            )
            return False
        self._handled.add(key)
        return True

    def _deliver(self, message: IncomingMessage) -> None:
        try:
            self._on_message(message)
        except Exception:
            log.exception(
                "call.handler_failed consultation=%s type=%s",
                self.consultation_id,
                type(message).__name__,
            )

    def _remote_call_end(self, message: wire.CallEnd) -> None:
        """The doctor ended the call (through the hub or on the data channel): once."""
        if self._ended:
            return
        self._ended = True
        log.info(
            "call.ended_by_doctor consultation=%s reason=%s",
            self.consultation_id,
            message.reason.value,
        )
        self._deliver(message)
        self._finisher = asyncio.get_running_loop().create_task(
            self._shutdown(), name=f"call-end-{self.consultation_id}"
        )

    def _send_on(self, attempt: _Attempt, message: wire.Message) -> bool:
        if not attempt.is_open():
            return False
        attempt.channel.send(wire.encode(message).decode())
        return True

    async def _flush(self, channel: RTCDataChannel) -> None:
        """Wait (a little) until the data channel has handed what was sent to the network."""
        if channel.bufferedAmount > 0:
            drained = asyncio.Event()
            channel.add_listener("bufferedamountlow", drained.set)
            with contextlib.suppress(TimeoutError):
                await within(drained.wait(), FLUSH_TIMEOUT_S)
            channel.remove_listener("bufferedamountlow", drained.set)
        await asyncio.sleep(0.05)  # let the SCTP transmit task run before the abort of close

    # --- media and tasks ----------------------------------------------------------------------
    async def _play_audio(self, track: MediaStreamTrack) -> None:
        output = self._media.audio_output
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.AudioFrame):
                self._audio_frames_received += 1
                await output.play(frame)

    def _count_video_sent(self) -> None:
        self._video_frames_sent += 1

    def _spawn(self, attempt: _Attempt, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(
            work, name=f"call-{name}-{self.consultation_id}-{attempt.number}"
        )
        attempt.tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(attempt, done))

    def _task_done(self, attempt: _Attempt, task: asyncio.Task[None]) -> None:
        attempt.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "call.task_failed consultation=%s task=%s",
                self.consultation_id,
                task.get_name(),
                exc_info=task.exception(),
            )

    async def _signal(self, message: OutgoingSignal) -> None:
        await within(self._signaling.send(message), self._settings.signaling_timeout_s)

    async def _shutdown(self) -> None:
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not asyncio.current_task():
            await cancel_and_wait(supervisor)
        async with self._lock:
            attempt, self._attempt = self._attempt, None
            if attempt is not None:
                await self._retire(attempt)
        await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._state is not CallLinkState.ENDED:
            log.info(
                "call.closed consultation=%s peer_connections=%d",
                self.consultation_id,
                self._attempts,
            )
            self._set_state(CallLinkState.ENDED)

    # --- state --------------------------------------------------------------------------------
    def _set_state(self, state: CallLinkState) -> None:
        if state is self._state:
            return
        self._state = state
        self._notify_state()

    def _notify_state(self) -> None:
        try:
            self._on_link_state(self._state)
        except Exception:
            log.exception(
                "call.handler_failed consultation=%s type=link_state", self.consultation_id
            )
