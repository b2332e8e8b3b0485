"""The cabin's call against a real aiortc doctor on loopback: media, data channel, reconnection.

What happens, and in which order; never how fast: a loaded machine must not turn these red.
How long a connection, a reconnection or "reconnecting" takes is measured in
`bench/bench_call.py`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from aiortc.rtcconfiguration import RTCIceTransportPolicy

import wire
from kiosk.call import (
    CabinMedia,
    CallClient,
    CallError,
    CallLinkState,
    CallSettings,
    NullAudioOutput,
    open_sound_file_microphone,
    rtc_configuration,
)
from kiosk.call.client import retry_delay_s
from simulators.media import SyntheticCamera, write_speech_wav
from tests.kiosk.call.doctor import Doctor, HubRelay, new_id, until

CONSULTATION = "c-2026-0001"
LOOPBACK = CallSettings(loopback_only=True)
QUICK = CallSettings(
    loopback_only=True,
    heartbeat_interval_s=0.5,
    reconnecting_after_s=1.5,
    renegotiate_after_s=3.0,
    retry_interval_s=2.0,
    retry_max_interval_s=4.0,
)
DOCTOR = wire.DoctorInfo(display_name="Dr Test", specialty="general practice")


def doctor_heartbeat_s(settings: CallSettings) -> float:
    """The console's heartbeat is 1 s; with the quick settings "reconnecting" follows 1.5 s of
    silence, which a busy machine could delay one heartbeat by: the test doctor beats more often,
    so that only the silence a test makes can be taken for one."""
    return min(1.0, settings.reconnecting_after_s / 4)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("speech")
    patient = write_speech_wav(folder / "patient.wav", "Bonjour docteur, je vous entends.", "fr")
    doctor = write_speech_wav(folder / "doctor.wav", "Bonjour madame, comment allez-vous ?", "fr")
    return patient, doctor


def accepted(
    policy: wire.IceTransportPolicy = wire.IceTransportPolicy.ALL,
    servers: tuple[wire.IceServer, ...] = (),
) -> wire.CallAccepted:
    return wire.CallAccepted(
        msg_id=new_id(),
        consultation_id=CONSULTATION,
        doctor=DOCTOR,
        ice_servers=list(servers),
        ice_transport_policy=policy,
    )


def reading(systolic: float = 128.0) -> wire.ReadingMessage:
    return wire.ReadingMessage(
        msg_id=new_id(),
        consultation_id=CONSULTATION,
        reading=wire.Vital(
            kind=wire.VitalKind.BLOOD_PRESSURE,
            measured_at=datetime.now(UTC),
            device_id="bp-1",
            systolic_mmhg=systolic,
            diastolic_mmhg=80.0,
        ),
    )


def prescription(prescription_id: str = "rx-1") -> wire.PrescriptionMessage:
    return wire.PrescriptionMessage(
        msg_id=new_id(),
        prescription_id=prescription_id,
        consultation_id=CONSULTATION,
        issued_at=datetime.now(UTC),
        prescriber=DOCTOR,
        lines=[
            wire.PrescriptionLine(
                drug="paracetamol 500 mg", dose="1 tablet", frequency="3/day", duration="5 days"
            )
        ],
        key_id="hub-key-1",
        signature="c2lnbmF0dXJl",
    )


@dataclass
class Cabin:
    """What the cabin's session and screen get from the call."""

    client: CallClient
    doctor: Doctor
    relay: HubRelay
    media: CabinMedia
    states: list[CallLinkState] = field(default_factory=list)
    messages: list[wire.MeasureRequest | wire.PrescriptionMessage | wire.CallEnd] = field(
        default_factory=list
    )
    frames: list[np.ndarray] = field(default_factory=list)

    @property
    def audio(self) -> NullAudioOutput:
        assert isinstance(self.media.audio_output, NullAudioOutput)
        return self.media.audio_output

    async def connected(self) -> None:
        await until(
            lambda: self.client.link_state is CallLinkState.CONNECTED and self.doctor.is_open(),
            "the call to connect",
        )


@contextlib.asynccontextmanager
async def call_with_doctor(
    speech: tuple[Path, Path], settings: CallSettings = LOOPBACK
) -> AsyncIterator[Cabin]:
    patient_wav, doctor_wav = speech
    media = CabinMedia(
        camera=SyntheticCamera(),
        microphone=open_sound_file_microphone(patient_wav),
        audio_output=NullAudioOutput(),
    )
    relay = HubRelay()
    doctor = Doctor(CONSULTATION, doctor_wav, heartbeat_s=doctor_heartbeat_s(settings))
    states: list[CallLinkState] = []
    messages: list[wire.MeasureRequest | wire.PrescriptionMessage | wire.CallEnd] = []
    frames: list[np.ndarray] = []

    def keep_frame(image: np.ndarray) -> None:
        frames[:] = [*frames[-2:], image]

    client = CallClient(
        consultation_id=CONSULTATION,
        accepted=accepted(),
        signaling=relay,
        media=media,
        settings=settings,
        on_link_state=states.append,
        on_message=messages.append,
        on_remote_frame=keep_frame,
    )
    doctor.client = client
    doctor.start(relay)
    cabin = Cabin(client, doctor, relay, media, states, messages, frames)
    try:
        await client.start()
        yield cabin
    finally:
        await client.close()
        await doctor.close()
        await media.close()


def call_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("call-") and not t.done()]


def test_a_call_carries_video_and_speech_both_ways_and_readings_are_acked(
    speech: tuple[Path, Path],
) -> None:
    async def scenario() -> None:
        async with call_with_doctor(speech) as cabin:
            await cabin.connected()
            await until(
                lambda: cabin.doctor.video_frames >= 10 and len(cabin.frames) >= 3,
                "video frames on both sides",
            )
            await until(
                lambda: cabin.doctor.audio.peak_rms > 0.01 and cabin.audio.peak_rms > 0.01,
                "speech on both sides",
            )
            doctor_sees = cabin.doctor.last_image
            cabin_sees = cabin.frames[-1]
            assert doctor_sees is not None and doctor_sees.shape == (480, 640, 3)
            assert cabin_sees.shape == (480, 640, 3) and cabin_sees.dtype == np.uint8
            assert float(doctor_sees.var()) > 300, "the doctor's picture of the cabin is blank"
            assert float(cabin_sees.var()) > 300, "the cabin's picture of the doctor is blank"

            # one offer, loopback candidates only, Opus and VP8 only
            (offer,) = cabin.relay.offers()
            candidates = [ln for ln in offer.sdp.splitlines() if ln.startswith("a=candidate:")]
            assert candidates and all(" 127.0.0.1 " in ln for ln in candidates)
            assert "VP8/90000" in offer.sdp and "opus/48000" in offer.sdp
            assert "H264" not in offer.sdp and "PCMU" not in offer.sdp
            assert "a=sctpmap" in offer.sdp or "webrtc-datachannel" in offer.sdp

            sent = reading()
            await cabin.client.send_reading(sent)
            await until(lambda: not cabin.client.unacked_readings, "the reading's ack")
            assert cabin.doctor.readings == [sent.msg_id]

            ask = wire.MeasureRequest(
                msg_id=new_id(), consultation_id=CONSULTATION, kind=wire.VitalKind.SPO2
            )
            cabin.doctor.send(ask)
            await until(lambda: ask.msg_id in cabin.doctor.acks, "the request's ack")
            assert cabin.messages == [ask]

            stats = await cabin.client.stats()
            assert stats.link_state is CallLinkState.CONNECTED
            assert stats.peer_connections == 1 and stats.reconnections == 0
            assert stats.video_frames_sent >= 10 and stats.video_frames_received >= 3
            assert stats.audio_frames_received > 0
            assert stats.bytes_sent > 10_000 and stats.bytes_received > 10_000
            assert stats.readings_unacked == 0
            assert cabin.states == [CallLinkState.CONNECTING, CallLinkState.CONNECTED]

            await cabin.client.close()
            assert cabin.client.link_state is CallLinkState.ENDED
            assert call_tasks() == []

    asyncio.run(scenario())


def test_readings_sent_while_the_doctor_is_gone_arrive_after_the_new_peer_connection(
    speech: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with call_with_doctor(speech, QUICK) as cabin:
            await cabin.connected()
            first_rx = prescription("rx-1")
            cabin.doctor.send(first_rx)
            await until(lambda: len(cabin.messages) == 1, "the prescription")

            await cabin.doctor.drop_peer_connection()  # the console closes without a word
            during = [reading(120 + i) for i in range(3)]
            for sent in during:
                await cabin.client.send_reading(sent)
            await until(lambda: cabin.doctor.answers == 2, "a new offer answered")
            await cabin.connected()
            await until(lambda: not cabin.client.unacked_readings, "the readings' acks")
            assert cabin.doctor.unique_readings() == {r.msg_id for r in during}

            # the doctor had no acks for these and sends them again: the app gets each once
            resent_rx = prescription("rx-1")  # same prescription, new msg_id
            ask = wire.MeasureRequest(
                msg_id=new_id(), consultation_id=CONSULTATION, kind=wire.VitalKind.PULSE
            )
            for message in (resent_rx, ask, ask):
                cabin.doctor.send(message)
            await until(
                lambda: (
                    cabin.doctor.acks.count(ask.msg_id) == 2
                    and resent_rx.msg_id in cabin.doctor.acks
                ),
                "acks of the resent messages",
            )
            assert cabin.messages == [first_rx, ask]

            stats = await cabin.client.stats()
            assert stats.reconnections == 1 and stats.peer_connections == 2
            assert cabin.states == [
                CallLinkState.CONNECTING,
                CallLinkState.CONNECTED,
                CallLinkState.RECONNECTING,
                CallLinkState.CONNECTED,
            ]
            assert len(cabin.relay.offers()) == 2
            await until(
                lambda: len(cabin.frames) >= 1 and cabin.doctor.video_frames > 0,
                "video both ways on the new peer connection",
            )

    with caplog.at_level(logging.INFO, logger="kiosk.call"):
        asyncio.run(scenario())
    # Noticed at once, because the channel or the peer connection closed: the new offer was not
    # waited for through `renegotiate_after_s` of silence (bench_call times the reconnection).
    lost = re.search(
        r"call\.link_lost consultation=c-2026-0001 attempt=1 reason=(channel_closed|pc_closed)",
        caplog.text,
    )
    assert lost is not None, caplog.text
    assert f"call.renegotiate consultation=c-2026-0001 reason={lost[1]} attempt=2" in caplog.text
    assert "128" not in caplog.text and "120" not in caplog.text  # no reading in the log


def test_a_silent_link_shows_reconnecting_then_renegotiates_and_resumes(
    speech: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with call_with_doctor(speech, QUICK) as cabin:
            await cabin.connected()
            cabin.doctor.silent = True  # nothing more heard, nothing acked, no goodbye
            lost = reading(131)
            await cabin.client.send_reading(lost)
            await until(
                lambda: cabin.client.link_state is CallLinkState.RECONNECTING, "reconnecting"
            )
            await until(lambda: cabin.doctor.answers == 2, "the new offer answered")
            await cabin.connected()
            await until(lambda: not cabin.client.unacked_readings, "the reading's ack")
            assert cabin.doctor.readings == [lost.msg_id]
            assert cabin.states[-2:] == [CallLinkState.RECONNECTING, CallLinkState.CONNECTED]

    with caplog.at_level(logging.INFO, logger="kiosk.call"):
        asyncio.run(scenario())
    # "Reconnecting" because of the silence, after the client's own clock counted at least
    # `reconnecting_after_s` of it, and shown before the new offer (bench_call times both).
    lines = [record.getMessage() for record in caplog.records]
    reconnecting = next(
        i for i, line in enumerate(lines) if "call.reconnecting consultation=c-2026-0001" in line
    )
    renegotiate = lines.index("call.renegotiate consultation=c-2026-0001 reason=silence attempt=2")
    assert reconnecting < renegotiate
    said = re.fullmatch(
        r"call\.reconnecting consultation=c-2026-0001 silence_s=([0-9.]+) reason=silence",
        lines[reconnecting],
    )
    assert said is not None, lines[reconnecting]
    assert float(said[1]) >= QUICK.reconnecting_after_s


def test_malformed_and_unexpected_channel_messages_are_refused_and_logged(
    speech: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with call_with_doctor(speech) as cabin:
            await cabin.connected()
            other = wire.MeasureRequest(
                msg_id=new_id(), consultation_id="c-other", kind=wire.VitalKind.SPO2
            )
            for bad in (
                "not json",
                b"\xff\xfe",
                '{"type": "measure_request", "msg_id": "m1"}',
                '{"type": "queue_join", "msg_id": "m2"}',
                '{"type": "rm -rf"}',
                "x" * 100_000,
                wire.encode(reading()).decode(),
                wire.encode(other).decode(),
            ):
                cabin.doctor.send_raw(bad)
            ask = wire.MeasureRequest(
                msg_id=new_id(), consultation_id=CONSULTATION, kind=wire.VitalKind.TEMPERATURE
            )
            cabin.doctor.send(ask)
            await until(lambda: cabin.messages == [ask], "the valid request after the bad")
            await until(lambda: cabin.doctor.acks == [ask.msg_id], "its ack, and only its")
            assert cabin.client.link_state is CallLinkState.CONNECTED

    with caplog.at_level(logging.WARNING, logger="kiosk.call"):
        asyncio.run(scenario())
    refused = [r.getMessage() for r in caplog.records if "call.message_refused" in r.getMessage()]
    assert len(refused) == 8, refused
    assert any("too_large" in line for line in refused)
    assert any("unexpected_type reading" in line for line in refused)
    assert any("other_consultation" in line for line in refused)
    assert all("c-2026-0001" in line and "rm -rf" not in line for line in refused)


def test_hanging_up_sends_call_end_on_the_channel_and_through_the_hub(
    speech: tuple[Path, Path],
) -> None:
    async def scenario() -> None:
        async with call_with_doctor(speech) as cabin:
            await cabin.connected()
            await cabin.client.hang_up(wire.CallEndReason.PATIENT_LEFT)
            assert cabin.client.link_state is CallLinkState.ENDED
            await until(lambda: bool(cabin.doctor.signal_call_ends), "CallEnd via the hub")
            await until(lambda: bool(cabin.doctor.channel_call_ends), "CallEnd on the channel")
            (by_hub,) = cabin.doctor.signal_call_ends
            (by_channel,) = cabin.doctor.channel_call_ends
            assert by_hub == by_channel
            assert by_hub.reason is wire.CallEndReason.PATIENT_LEFT
            assert call_tasks() == []
            with pytest.raises(CallError):
                await cabin.client.send_reading(reading())
            await cabin.client.hang_up(wire.CallEndReason.PATIENT_LEFT)  # once only
            assert len(cabin.relay.sent) == 2  # the offer and one CallEnd

    asyncio.run(scenario())


def test_the_doctor_ending_the_call_reaches_the_app_once(speech: tuple[Path, Path]) -> None:
    async def scenario() -> None:
        async with call_with_doctor(speech) as cabin:
            await cabin.connected()
            end = wire.CallEnd(
                msg_id=new_id(),
                consultation_id=CONSULTATION,
                reason=wire.CallEndReason.COMPLETED,
            )
            cabin.doctor.send(end)  # on the data channel, and through the hub
            await cabin.client.handle_signal(end)
            await until(lambda: cabin.client.link_state is CallLinkState.ENDED, "the call to end")
            assert cabin.messages == [end]
            assert cabin.states[-1] is CallLinkState.ENDED
            assert call_tasks() == []

    asyncio.run(scenario())


def test_the_ice_servers_and_relay_policy_of_the_hub_are_used(
    speech: tuple[Path, Path],
) -> None:
    turn = wire.IceServer(
        urls=["turn:turn.example.org:3478?transport=udp"],
        username="1790000000:cabin-7",
        credential="c2VjcmV0",
    )
    config = rtc_configuration(accepted(wire.IceTransportPolicy.RELAY, (turn,)))
    assert config.iceTransportPolicy is RTCIceTransportPolicy.RELAY
    assert config.iceServers is not None and len(config.iceServers) == 1
    server = config.iceServers[0]
    assert server.urls == ["turn:turn.example.org:3478?transport=udp"]
    assert (server.username, server.credential) == ("1790000000:cabin-7", "c2VjcmV0")

    loopback = rtc_configuration(accepted())
    assert loopback.iceServers == []  # never None: aiortc would ask a public STUN server
    assert loopback.iceTransportPolicy is RTCIceTransportPolicy.ALL

    async def scenario() -> None:
        patient_wav, _ = speech
        media = CabinMedia(
            camera=SyntheticCamera(),
            microphone=open_sound_file_microphone(patient_wav),
            audio_output=NullAudioOutput(),
        )
        relay = HubRelay()
        client = CallClient(
            consultation_id=CONSULTATION,
            accepted=accepted(wire.IceTransportPolicy.RELAY),
            signaling=relay,
            media=media,
            settings=LOOPBACK,
            on_link_state=lambda _: None,
            on_message=lambda _: None,
            on_remote_frame=lambda _: None,
        )
        await client.start()
        (offer,) = relay.offers()
        assert "a=candidate:" not in offer.sdp  # relay only, and no TURN server: nothing
        await client.close()
        await media.close()

    asyncio.run(scenario())


def test_signals_of_another_consultation_and_misuse_are_refused(
    speech: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with call_with_doctor(speech) as cabin:
            await cabin.connected()
            stray = wire.CallEnd(
                msg_id=new_id(), consultation_id="c-other", reason=wire.CallEndReason.COMPLETED
            )
            await cabin.client.handle_signal(stray)
            late = wire.SdpAnswer(msg_id=new_id(), consultation_id=CONSULTATION, sdp="v=0\r\n")
            await cabin.client.handle_signal(late)  # no offer pending: ignored
            assert cabin.client.link_state is CallLinkState.CONNECTED
            with pytest.raises(CallError):
                await cabin.client.start()
            other = wire.ReadingMessage(
                msg_id=new_id(), consultation_id="c-other", reading=reading().reading
            )
            with pytest.raises(CallError):
                await cabin.client.send_reading(other)

    with caplog.at_level(logging.INFO, logger="kiosk.call"):
        asyncio.run(scenario())
    assert "call.signal_refused consultation=c-2026-0001 reason=other_consultation" in caplog.text
    assert "call.answer_ignored consultation=c-2026-0001 attempt=1 state=stable" in caplog.text


def test_retries_grow_from_the_retry_interval_to_its_cap() -> None:
    settings = CallSettings()
    assert [retry_delay_s(settings, n) for n in range(1, 6)] == [5.0, 10.0, 15.0, 15.0, 15.0]


class FastClock:
    """Ten seconds of the client's time per real second."""

    def monotonic(self) -> float:
        return time.monotonic() * 10


def test_an_absent_doctor_gets_new_offers_ever_less_often_until_the_hang_up(
    speech: tuple[Path, Path],
) -> None:
    clock = FastClock()

    class NobodyAnswers(HubRelay):
        def __init__(self) -> None:
            super().__init__()
            self.offered_at: list[float] = []

        async def send(self, message: wire.SdpOffer | wire.IceCandidate | wire.CallEnd) -> None:
            if isinstance(message, wire.SdpOffer):
                self.offered_at.append(clock.monotonic())
            await super().send(message)

    async def scenario() -> None:
        patient_wav, _ = speech
        media = CabinMedia(
            camera=SyntheticCamera(),
            microphone=open_sound_file_microphone(patient_wav),
            audio_output=NullAudioOutput(),
        )
        relay = NobodyAnswers()
        states: list[CallLinkState] = []
        client = CallClient(
            consultation_id=CONSULTATION,
            accepted=accepted(),
            signaling=relay,
            media=media,
            settings=LOOPBACK,
            on_link_state=states.append,
            on_message=lambda _: None,
            on_remote_frame=lambda _: None,
            clock=clock,
        )
        started_at = clock.monotonic()
        await client.start()
        # 40 s of the client's time, 4 s of the test's: waited for generously
        await until(lambda: len(relay.offered_at) >= 5, "five offers", timeout_s=120)
        await client.hang_up(wire.CallEndReason.TIMEOUT)
        offers = len(relay.offers())
        assert call_tasks() == []  # nothing left that could offer again
        assert len(relay.offers()) == offers  # none after the hang-up
        assert states == [CallLinkState.CONNECTING, CallLinkState.ENDED]
        # The schedule, on the client's own clock. Lower bounds only: a busy machine can only
        # make an offer later, never sooner.
        assert relay.offered_at[1] - started_at >= LOOPBACK.renegotiate_after_s  # 10 s silent
        gaps = [b - a for a, b in pairwise(relay.offered_at)]
        assert all(g >= want for g, want in zip(gaps[1:], (5.0, 10.0, 15.0), strict=False))
        assert isinstance(relay.sent[-1], wire.CallEnd)
        await media.close()

    asyncio.run(scenario())


def test_a_malformed_answer_or_candidate_is_logged_and_a_new_offer_follows(
    speech: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        patient_wav, _ = speech
        media = CabinMedia(
            camera=SyntheticCamera(),
            microphone=open_sound_file_microphone(patient_wav),
            audio_output=NullAudioOutput(),
        )
        relay = HubRelay()  # nobody answers but the test
        client = CallClient(
            consultation_id=CONSULTATION,
            accepted=accepted(),
            signaling=relay,
            media=media,
            settings=QUICK,
            on_link_state=lambda _: None,
            on_message=lambda _: None,
            on_remote_frame=lambda _: None,
        )
        await client.start()
        for junk in ("candidate:1 1 udp x 127.0.0.1 y typ host", "candidate:1 1 udp"):
            await client.handle_signal(
                wire.IceCandidate(msg_id=new_id(), consultation_id=CONSULTATION, candidate=junk)
            )
        await client.handle_signal(
            wire.SdpAnswer(msg_id=new_id(), consultation_id=CONSULTATION, sdp="m=video x\r\n")
        )
        await until(lambda: len(relay.offers()) == 2, "a new offer after the bad answer")
        assert client.link_state is CallLinkState.CONNECTING
        await client.close()
        await media.close()

    with caplog.at_level(logging.INFO, logger="kiosk.call"):
        asyncio.run(scenario())
    assert caplog.text.count("call.candidate_refused consultation=c-2026-0001 attempt=1") == 1
    assert "call.answer_refused consultation=c-2026-0001 attempt=1" in caplog.text
    assert "call.renegotiate consultation=c-2026-0001 reason=answer_refused attempt=2" in (
        caplog.text
    )
