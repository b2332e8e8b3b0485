"""A call on the camera and microphone opened for the session (distress detection off), against
the loopback doctor (a real aiortc peer): the doctor gets the cabin's video, the patient's "End
the call" reaches them on the data channel and through the hub with its own reason, and the
devices are released when the session ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import wire
from kiosk.bus import EventBus
from kiosk.call import CallClient, CallLinkState
from kiosk.call.media import CabinMedia, NullAudioOutput, open_sound_file_microphone
from kiosk.call.media_power import MediaPower
from kiosk.session import Session, SessionTimeouts
from kiosk.session_states import EndReason, SessionState
from simulators.media import SyntheticCamera
from tests.kiosk.call.doctor import Doctor, HubRelay, until
from tests.kiosk.call.test_client import (
    CONSULTATION,
    LOOPBACK,
    accepted,
    doctor_heartbeat_s,
    speech,  # noqa: F401 - the fixture
)
from tests.kiosk.test_session import FakeClock


def test_a_call_opened_in_a_session_gets_the_reopened_devices_and_the_patient_ends_it(
    speech: tuple[Path, Path],  # noqa: F811 - the fixture
) -> None:
    patient_wav, doctor_wav = speech
    cameras: list[SyntheticCamera] = []

    def open_devices() -> CabinMedia:
        cameras.append(SyntheticCamera())
        return CabinMedia(
            camera=cameras[-1],
            microphone=open_sound_file_microphone(patient_wav),
            audio_output=NullAudioOutput(),
        )

    async def scenario() -> None:
        bus = EventBus()
        session = Session(bus, FakeClock(), SessionTimeouts())
        media = open_devices()
        power = MediaPower(media, open_devices, session, bus, always_on=False)
        await power.start()
        assert media.suspended and cameras[0].readyState == "ended"
        session.advance(SessionState.WELCOME)
        await power.settled()
        assert power.on and len(cameras) == 2

        relay = HubRelay()
        doctor = Doctor(CONSULTATION, doctor_wav, heartbeat_s=doctor_heartbeat_s(LOOPBACK))
        states: list[CallLinkState] = []
        client = CallClient(
            consultation_id=CONSULTATION,
            accepted=accepted(),
            signaling=relay,
            media=media,  # the composition root's object, as the call factory holds it
            settings=LOOPBACK,
            on_link_state=states.append,
            on_message=lambda _message: None,
            on_remote_frame=lambda _image: None,
        )
        doctor.client = client
        doctor.start(relay)
        try:
            await client.start()
            await until(lambda: doctor.video_frames >= 5, "the cabin's video at the doctor")
            assert cameras[1].frames_rendered > 0  # from the camera opened for this session

            await client.hang_up(wire.CallEndReason.PATIENT_ENDED)  # "End the call", "Yes"
            await until(lambda: bool(doctor.signal_call_ends), "CallEnd through the hub")
            await until(lambda: bool(doctor.channel_call_ends), "CallEnd on the data channel")
            assert doctor.signal_call_ends[0].reason is wire.CallEndReason.PATIENT_ENDED
            assert doctor.channel_call_ends[0].reason is wire.CallEndReason.PATIENT_ENDED
            assert states[-1] is CallLinkState.ENDED
        finally:
            await client.close()
            await doctor.close()
        session.end(EndReason.COMPLETED)
        await power.settled()
        assert not power.on and cameras[1].readyState == "ended"
        await power.aclose()
        await media.close()

    asyncio.run(scenario())
