"""A rural link: the call stays usable when loopback itself is shaped to 1 Mbit/s in all
(tc's token bucket counts both directions together on lo: about 500 kbit/s each way).

The cabin sends at most ~430 kbit/s (VP8 capped at 350, Opus at 48); Chromium's congestion
control brings the doctor's video down to what is left. Usable means: both sides keep decoding
frames, the doctor's console rates the link and receives the cabin's video under the link's
rate, and a blood pressure asked for arrives. How many frames a second each side gets on the
shaped link, beside the same call unshaped, is measured in ``bench/bench_slow_link.py``: here
only that the frames keep coming, however slowly a loaded machine decodes them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kiosk.events import CallLink
from simulators.doctor import BrowserDoctor
from tests.e2e.rig import IN_OWN_NETNS, PATIENCE_S, shape_loopback, teleconsultation, until

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not IN_OWN_NETNS, reason="shapes loopback: needs the suite's own namespace (./cabin test)"
    ),
]

RATE = "1000kbit"
LINK_KBPS = 500  # each way, about
CONSOLE_FRAMES = 60  # a few seconds of video at any rate that still makes a call
CABIN_FRAMES = 40


async def console_frames(doctor: BrowserDoctor) -> int:
    """Frames the console's video element has decoded so far (its playback quality)."""
    frames = (await doctor.wait_for_video(timeout_s=PATIENCE_S)).frames
    assert frames is not None, "the console's video gives no playback quality"
    return frames


async def console_decodes(doctor: BrowserDoctor, more: int) -> None:
    """Wait until the console has decoded ``more`` frames of the cabin's video."""
    target = await console_frames(doctor) + more
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while (seen := await console_frames(doctor)) < target:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"the console decoded {seen - target + more} of {more} frames in {PATIENCE_S} s"
            )
        await asyncio.sleep(0.2)


def test_a_call_on_a_500_kbit_uplink_stays_usable(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with teleconsultation(tmp_path) as c:
            cabin, doctor = c.cabin, c.doctor
            cabin.measure_when_asked()
            shape_loopback(RATE)
            try:
                consultation_id = await cabin.to_waiting_room()
                await doctor.wait_for_patient(consultation_id)
                await doctor.accept(consultation_id)
                await doctor.wait_for_video(timeout_s=PATIENCE_S)
                await until(lambda: cabin.link is CallLink.CONNECTED, "the call connected")

                # the video keeps coming both ways on the shaped link
                shown = cabin.frames_shown
                await console_decodes(doctor, CONSOLE_FRAMES)
                await until(
                    lambda: cabin.frames_shown >= shown + CABIN_FRAMES,
                    f"{CABIN_FRAMES} frames of the doctor's video in the cabin",
                )
                # the console rates the link from what it receives: under the link's rate
                await doctor.page.wait_for_selector(
                    '#link-quality:not([data-kbps=""])[data-kbps]',
                    state="attached",
                    timeout=PATIENCE_S * 1000,
                )
                kbps = await doctor.page.get_attribute("#link-quality", "data-kbps")
                quality = await doctor.page.get_attribute("#link-quality", "data-quality")
                assert kbps is not None and 0 < int(kbps) <= LINK_KBPS * 0.9, kbps
                assert quality in ("good", "medium", "poor"), quality
                await doctor.shot("slow-link")
                assert cabin.link is CallLink.CONNECTED

                await doctor.request("blood_pressure")
                await doctor.wait_vital("systolic_mmhg", timeout_s=90)
            finally:
                shape_loopback(None)

    asyncio.run(scenario())
