"""A rural link: the call stays usable when loopback itself is shaped to 1 Mbit/s in all
(tc's token bucket counts both directions together on lo: about 500 kbit/s each way).

The cabin sends at most ~430 kbit/s (VP8 capped at 350, Opus at 48); Chromium's congestion
control brings the doctor's video down to what is left. Usable means: both sides keep decoding
frames, the doctor's console rates the link, and a blood pressure asked for arrives.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from kiosk.events import CallLink
from tests.e2e.rig import IN_OWN_NETNS, teleconsultation, until

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not IN_OWN_NETNS, reason="shapes loopback: needs the suite's own namespace (./cabin test)"
    ),
]

RATE = "1000kbit"


def shape(rate: str | None) -> None:
    """A token bucket on lo (``None``: none). Loopback's 64 KiB packets would never fit a
    small bucket: lo gets an Ethernet MTU while shaped, as a real link has."""
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False, capture_output=True)
    mtu = "1500" if rate is not None else "65536"
    subprocess.run(["ip", "link", "set", "lo", "mtu", mtu], check=True)
    if rate is not None:
        bucket = ["tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"]
        subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", *bucket], check=True)


def test_a_call_on_a_500_kbit_uplink_stays_usable(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with teleconsultation(tmp_path) as c:
            cabin, doctor = c.cabin, c.doctor
            cabin.measure_when_asked()
            shape(RATE)
            try:
                consultation_id = await cabin.to_waiting_room()
                await doctor.wait_for_patient(consultation_id)
                await doctor.accept(consultation_id)
                await doctor.wait_for_video(timeout_s=30)
                await until(lambda: cabin.link is CallLink.CONNECTED, 20, "the call connected")
                await asyncio.sleep(5)  # congestion control settles

                counted: list[int] = []
                cabin.core.teleconsultation.video.remote = (  # type: ignore[union-attr]
                    lambda frame: counted.append(1)
                )
                before = await doctor.wait_for_video()
                started = time.monotonic()
                await asyncio.sleep(10)
                after = await doctor.wait_for_video()
                seconds = time.monotonic() - started
                assert before.frames is not None and after.frames is not None
                console_fps = (after.frames - before.frames) / seconds
                cabin_fps = len(counted) / seconds
                kbps = await doctor.page.get_attribute("#link-quality", "data-kbps")
                quality = await doctor.page.get_attribute("#link-quality", "data-quality")
                await doctor.shot("slow-link")
                print(
                    f"on {RATE} (both ways): console {console_fps:.1f} frames/s at {kbps} kbit/s"
                    f" ({quality}), cabin {cabin_fps:.1f} frames/s"
                )
                assert console_fps >= 8, console_fps
                assert cabin_fps >= 5, cabin_fps
                assert kbps and int(kbps) <= 450
                assert cabin.link is CallLink.CONNECTED

                await doctor.request("blood_pressure")
                await doctor.wait_vital("systolic_mmhg", timeout_s=90)
            finally:
                shape(None)

    asyncio.run(scenario())
