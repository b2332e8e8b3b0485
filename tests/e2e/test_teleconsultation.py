"""A whole teleconsultation, end to end: the doctor in headless Chromium, the hub, the cabin
core with its simulated instruments and synthetic camera, real WebRTC between them."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import aiohttp
import cv2
import pytest

from hub.app import DATABASE_FILE
from kiosk.events import CallLink, PrescriptionReceived
from kiosk.session_states import SessionState
from kiosk.store import Store
from simulators.doctor import DEMO_ADVICE, DEMO_PRESCRIPTION
from tests.e2e.rig import (
    IN_OWN_NETNS,
    PATIENCE_S,
    Consultation,
    is_blank,
    set_loopback,
    teleconsultation,
    until,
)
from tests.hub.hub_key import connect

pytestmark = pytest.mark.timeout(300)
CUT_S = 12.0


def test_the_doctor_sees_asks_prescribes_and_hangs_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with teleconsultation(tmp_path) as c:
            cabin, doctor = c.cabin, c.doctor
            cabin.measure_when_asked()
            prescriptions: list[PrescriptionReceived] = []
            cabin.core.bus.subscribe(PrescriptionReceived, prescriptions.append)
            consultation_id = await cabin.to_waiting_room()

            assert await doctor.wait_for_patient() == consultation_id
            await doctor.shot("e2e-waiting")
            await doctor.accept(consultation_id)
            probe = await doctor.wait_for_video()
            assert (probe.width, probe.height) == (640, 480)
            assert not probe.blank
            await until(lambda: cabin.first_frame_at is not None, "the doctor's video")
            assert not is_blank(cabin.frames[-1])
            await until(lambda: cabin.link is CallLink.CONNECTED, "the call connected")
            await doctor.wait_link("connected")

            assert await doctor.count("systolic_mmhg") == 0  # none before the call
            await doctor.request("blood_pressure")
            systolic = await doctor.wait_vital("systolic_mmhg")
            assert systolic.strip()[0].isdigit()
            assert await doctor.count("diastolic_mmhg") == 1
            await doctor.shot("e2e-vitals")

            await doctor.write_advice(DEMO_ADVICE)
            number = await doctor.prescribe(DEMO_PRESCRIPTION)
            await doctor.wait_delivered()
            await until(lambda: bool(prescriptions), "the prescription in the cabin")
            assert prescriptions[0].prescription_id == number
            assert prescriptions[0].lines == len(DEMO_PRESCRIPTION)
            stored = await cabin.core.store.run(Store.prescriptions, consultation_id)
            assert len(stored) == 1

            await doctor.hang_up()
            await until(lambda: cabin.core.session.state is SessionState.CLOSING, "the call to end")
            assert cabin.link is CallLink.ENDED
            await pharmacy_checks_the_printed_prescription(c, number)

    asyncio.run(scenario())


async def pharmacy_checks_the_printed_prescription(c: Consultation, number: str) -> None:
    """The prescription came out of the cabin's printer; its QR code, read back from the page
    as a phone would, leads to the hub's check page, which finds it genuine; changed in the
    hub's database, the same code is refused. The summary carries the doctor's advice."""
    core = c.cabin.core
    assert core.paperwork is not None
    await core.paperwork.settled()
    printed = core.data_dir / "printed"
    prescription = printed / f"ordonnance {number}.pdf"
    url = await asyncio.to_thread(qr_of, prescription)
    assert url.startswith(f"{c.hub.url}/rx/{number}?k=")
    summary = next(printed.glob("compte rendu *.pdf"))
    text = await asyncio.to_thread(pdf_text, summary)
    assert "Buvez beaucoup d'eau" in " ".join(text.split())
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Accept": "application/json"}) as reply:
            assert reply.status == 200
            assert (await reply.json())["valid"] is True
        async with http.get(url) as reply:
            assert "Ordonnance authentique" in await reply.text()
        with connect(core.data_dir.parent / "hub" / DATABASE_FILE) as db:
            db.execute(
                "UPDATE prescriptions SET lines = replace(lines, '5 jours', '15 jours')"
                " WHERE prescription_id = ?",
                (number,),
            )
        async with http.get(url, headers={"Accept": "application/json"}) as reply:
            assert reply.status == 409
            assert (await reply.json())["valid"] is False


def qr_of(pdf: Path) -> str:
    """The QR code of the PDF's page, read by OpenCV as a phone would: at 150 dpi first, closer
    (200, 300 dpi) and with OpenCV's second detector when a reading fails, as a phone retries."""
    for dpi in (150, 200, 300):
        out = pdf.with_name(f"{pdf.stem}-{dpi}")
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(pdf), str(out)], check=True
        )
        image = cv2.imread(str(out.with_suffix(".png")))
        assert image is not None
        for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
            text, _points, _raw = detector.detectAndDecode(image)
            if text:
                return str(text)
    return ""


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.skipif(
    not IN_OWN_NETNS, reason="cuts the network: needs the suite's own namespace (./cabin test)"
)
def test_a_network_cut_mid_call_heals_by_itself_and_loses_no_reading(tmp_path: Path) -> None:
    """Loopback down for 12 s (longer than the 10 s after which the cabin starts a new peer
    connection): both sides say "reconnecting", a temperature taken during the cut reaches the
    doctor once the network is back, and nobody touches anything."""

    async def scenario() -> None:
        async with teleconsultation(tmp_path) as c:
            cabin, doctor = c.cabin, c.doctor
            consultation_id = await cabin.to_waiting_room()
            await doctor.wait_for_patient(consultation_id)
            await doctor.accept(consultation_id)
            await doctor.wait_for_video()
            await until(lambda: cabin.link is CallLink.CONNECTED, "the call connected")
            await until(lambda: cabin.first_frame_at is not None, "the doctor's video")

            cut_at = time.monotonic()
            set_loopback(False)
            try:
                await until(
                    lambda: cabin.link is CallLink.RECONNECTING, "the cabin to say reconnecting"
                )
                await doctor.wait_link("reconnecting", timeout_s=PATIENCE_S)
                await doctor.shot("e2e-reconnecting")
                async for _update in cabin.core.measurements.measure(
                    "thermo-1", timeout_s=PATIENCE_S
                ):
                    pass  # the thermometer is on the virtual radio, not on the network
                # The cut's length is the scenario (past the cabin's 10 s before a new peer
                # connection), not a wait for something: a busy machine only makes it longer.
                await asyncio.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
            finally:
                set_loopback(True)
            await until(lambda: cabin.link is CallLink.CONNECTED, "the call to come back")
            await doctor.wait_link("connected", timeout_s=PATIENCE_S)
            await doctor.wait_vital("temperature_c", after=0, timeout_s=PATIENCE_S)
            shown = cabin.frames_shown
            await until(lambda: cabin.frames_shown > shown + 10, "the doctor's video again")
            await doctor.wait_for_video(timeout_s=PATIENCE_S)
            await doctor.shot("e2e-healed")
            assert cabin.core.session.state is SessionState.CALL
            assert not is_blank(cabin.frames[-1])
            call = cabin.core.teleconsultation
            assert call is not None and call.in_call

    asyncio.run(scenario())
