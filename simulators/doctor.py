"""A doctor at the console, played in Debian's Chromium through Playwright (never its own
browsers), with Chromium's fake camera and microphone.

The scripted demo and the end-to-end tests use it as a doctor would use the console: log in,
take the patient, watch the video, ask for a measurement, read the value, write and send a
prescription, hang up. ``python -m simulators.doctor`` plays that consultation alone against a
running hub and writes what it saw (screenshots, ``doctor.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--use-fake-device-for-media-stream=fps=30",  # a webcam's rate (the default is 20)
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-sync",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    # Chromium's own services look up Google's hosts even with the flags above: no name resolves
    # but loopback, so nothing leaves the machine, not even a DNS query.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
TIMEOUT_MS = 30_000

# The picture under the console's remote video: its size and how much it varies (a blank or
# frozen-black frame has a variance near 0).
_VIDEO_PROBE = """
(selector) => {
  const v = document.querySelector(selector);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement("canvas");
  c.width = 64; c.height = 48;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0, 64, 48);
  const d = g.getImageData(0, 0, 64, 48).data;
  let sum = 0, sum2 = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = (d[i] + d[i + 1] + d[i + 2]) / 3; sum += y; sum2 += y * y; n++;
  }
  const mean = sum / n;
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  return {width: v.videoWidth, height: v.videoHeight, mean: mean, variance: sum2 / n - mean * mean,
          frames: q ? q.totalVideoFrames : null};
}
"""


@dataclass(frozen=True)
class VideoProbe:
    width: int
    height: int
    mean: float
    variance: float
    frames: int | None

    @property
    def blank(self) -> bool:
        return self.variance < 20.0


@dataclass
class DoctorReport:
    """What the played doctor saw, with the times it took (seconds)."""

    logged_in: bool = False
    accepted: bool = False
    video: dict[str, Any] | None = None
    accept_to_video_s: float | None = None
    vitals: dict[str, str] = field(default_factory=dict)
    prescription_id: str | None = None
    prescription_delivered: bool = False
    hung_up: bool = False
    screenshots: list[str] = field(default_factory=list)
    booked_with_me: bool = False
    """The waiting entry said the patient booked with this doctor ("Rendez-vous avec vous")."""
    booked_text: str = ""


class BrowserDoctor:
    """One doctor's console page."""

    def __init__(self, page: Page, hub_url: str, shots: Path | None = None) -> None:
        self.page = page
        self.hub_url = hub_url.rstrip("/")
        self.shots = shots
        self.report = DoctorReport()

    @classmethod
    @asynccontextmanager
    async def launch(
        cls, hub_url: str, profile_dir: Path, shots: Path | None = None
    ) -> AsyncIterator[BrowserDoctor]:
        async with async_playwright() as playwright:
            context: BrowserContext = await playwright.chromium.launch_persistent_context(
                str(profile_dir),
                executable_path=CHROMIUM,
                headless=True,
                args=list(CHROMIUM_ARGS),
                viewport={"width": 1440, "height": 900},
                locale="fr-FR",
                timezone_id="Europe/Paris",  # a doctor in France
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                yield cls(page, hub_url, shots)
            finally:
                await context.close()

    async def shot(self, name: str) -> None:
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"console-{name}.png"
        await self.page.screenshot(path=str(path))
        self.report.screenshots.append(path.name)

    async def login(self, username: str, password: str) -> None:
        await self.page.goto(self.hub_url + "/")
        await self.page.fill("#login-username", username)
        await self.page.fill("#login-password", password)
        await self.page.click("#login-submit")
        await self.page.wait_for_selector("#waiting-room", state="visible")
        self.report.logged_in = True

    async def wait_for_patient(self, consultation_id: str | None = None) -> str:
        selector = "[data-testid=waiting-entry][data-taken=false]"
        if consultation_id is not None:
            selector += f'[data-consultation-id="{consultation_id}"]'
        entry = await self.page.wait_for_selector(selector, timeout=120_000)
        assert entry is not None
        found = await entry.get_attribute("data-consultation-id")
        assert found is not None
        return found

    async def booked(self, consultation_id: str, timeout_s: float = 5.0) -> None:
        """What the waiting entry says of the patient's appointment (none: a walk-in)."""
        entry = f'[data-testid=waiting-entry][data-consultation-id="{consultation_id}"]'
        booked = self.page.locator(f"{entry} [data-testid=entry-booked]")
        try:
            await booked.wait_for(timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            return
        self.report.booked_with_me = await booked.get_attribute("data-mine") == "true"
        self.report.booked_text = (await booked.inner_text()).strip()

    async def english(self, on: bool) -> None:
        want = "en" if on else "fr"
        if await self.page.evaluate("document.documentElement.lang") != want:
            await self.page.click("#lang-toggle")
            await self.page.wait_for_function(f"document.documentElement.lang === {want!r}")

    async def accept(self, consultation_id: str) -> float:
        """Take the patient; the monotonic time of the click."""
        button = self.page.locator(f"#accept-{consultation_id}")
        clicked = time.monotonic()
        await button.click()
        await self.page.wait_for_selector("#call-view", state="visible")
        self.report.accepted = True
        return clicked

    async def wait_for_video(self, since: float | None = None, timeout_s: float = 30) -> VideoProbe:
        """The first decoded, not blank, frame of the cabin's camera."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = await self.page.evaluate(_VIDEO_PROBE, "#remote-video")
            if found is not None:
                probe = VideoProbe(**found)
                if not probe.blank:
                    self.report.video = asdict(probe)
                    if since is not None:
                        self.report.accept_to_video_s = time.monotonic() - since
                    return probe
            await asyncio.sleep(0.05)
        raise TimeoutError("the cabin's video did not appear in the console")

    async def link_state(self) -> str | None:
        return await self.page.get_attribute("#link-state", "data-state")

    async def wait_link(self, state: str, timeout_s: float = 30) -> None:
        await self.page.wait_for_selector(
            f'#link-state[data-state="{state}"]', timeout=timeout_s * 1000, state="attached"
        )

    async def request(self, kind: str) -> None:
        await self.page.click(f"[data-measure={kind}]")

    async def count(self, name: str) -> int:
        """How many values of ``name`` this consultation shows (0 before the first)."""
        value = await self.page.get_attribute(f'[data-vital="{name}"]', "data-count")
        return int(value) if value else 0

    async def wait_vital(self, name: str, *, after: int = 0, timeout_s: float = 120) -> str:
        """The newest value of ``name`` once more than ``after`` values are shown."""
        element = None
        deadline = time.monotonic() + timeout_s
        while element is None:
            if await self.count(name) > after:
                element = await self.page.query_selector(f'[data-vital="{name}"]')
            elif time.monotonic() > deadline:
                raise TimeoutError(f"no new {name} in the console")
            else:
                await asyncio.sleep(0.05)
        assert element is not None
        text = (await element.text_content() or "").strip()
        self.report.vitals[name] = text
        return text

    async def write_notes(self, text: str) -> None:
        await self.page.fill("#notes-text", text)
        await self.page.locator("#notes-text").blur()
        await self.page.wait_for_selector('#notes-status[data-state="saved"]')

    async def write_advice(self, text: str) -> None:
        """The advice for the patient, which the cabin prints on their summary."""
        await self.page.fill("#advice-text", text)
        await self.page.locator("#advice-text").blur()
        await self.page.wait_for_selector('#notes-status[data-state="saved"]')

    async def prescribe(self, lines: list[dict[str, str]]) -> str:
        """Fill the editor (adding lines as needed) and send; the prescription's number."""
        for index, line in enumerate(lines):
            if index > 0:
                await self.page.click("#presc-add")
            for name, value in line.items():
                await self.page.fill(f"#presc-{index}-{name}", value)
        await self.page.click("#presc-send")
        sent = await self.page.wait_for_selector("[data-testid=presc-sent]")
        assert sent is not None
        number = await sent.get_attribute("data-prescription-id")
        assert number is not None
        self.report.prescription_id = number
        return number

    async def wait_delivered(self, timeout_s: float = 30) -> None:
        await self.page.wait_for_selector(
            '[data-testid=presc-sent][data-delivery="delivered"]', timeout=timeout_s * 1000
        )
        self.report.prescription_delivered = True

    async def hang_up(self) -> None:
        await self.page.click("#hangup")
        await self.page.wait_for_selector("#waiting-room", state="visible")
        self.report.hung_up = True


DEMO_ADVICE = (
    "Buvez beaucoup d'eau et reposez-vous. Si la fièvre dépasse 38,5 °C ou si vous avez du mal"
    " à respirer, appelez le 15."
)
DEMO_PRESCRIPTION = [
    {
        "drug": "Paracétamol 500 mg, comprimé",
        "dose": "1 comprimé",
        "frequency": "3 fois par jour",
        "duration": "5 jours",
        "instructions": "Espacer les prises de 6 heures au moins",
    },
    {
        "drug": "Sirop antitussif (dextrométhorphane)",
        "dose": "1 cuillère à café",
        "frequency": "le soir",
        "duration": "5 jours",
    },
]


async def play_consultation(
    hub_url: str, username: str, password: str, out: Path, profile: Path
) -> DoctorReport:
    """The demo's doctor: one whole consultation, as a doctor would run it."""
    async with BrowserDoctor.launch(hub_url, profile, out) as doctor:
        await doctor.login(username, password)
        await doctor.shot("login-done")
        consultation_id = await doctor.wait_for_patient()
        await doctor.booked(consultation_id)
        await doctor.shot("waiting-room")
        if doctor.report.booked_text:  # "booked with you", in English too
            await doctor.english(True)
            await doctor.shot("waiting-room-booked-en")
            await doctor.english(False)
        clicked = await doctor.accept(consultation_id)
        await doctor.wait_for_video(since=clicked)
        await asyncio.sleep(1.0)
        await doctor.shot("call")
        before = await doctor.count("systolic_mmhg")
        await doctor.request("blood_pressure")
        await doctor.wait_vital("systolic_mmhg", after=before)
        await doctor.shot("vitals")
        await doctor.write_notes("Toux sèche depuis 3 jours, sans fièvre. Tension normale.")
        await doctor.write_advice(DEMO_ADVICE)
        await doctor.prescribe(DEMO_PRESCRIPTION)
        await doctor.wait_delivered()
        await doctor.shot("prescription")
        await doctor.hang_up()
        await doctor.shot("after")
        return doctor.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.doctor", description=__doc__)
    parser.add_argument("--hub", required=True, help="the hub's address (http://127.0.0.1:8765)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="screenshots and doctor.json")
    parser.add_argument("--profile", type=Path, required=True, help="a new, empty folder")
    args = parser.parse_args(argv)
    password = args.password_file.read_text(encoding="utf-8").strip()
    report = DoctorReport()
    status = 0
    try:
        report = asyncio.run(
            play_consultation(args.hub, args.username, password, args.out, args.profile)
        )
    except (TimeoutError, AssertionError, OSError) as exc:
        print(f"doctor: the consultation failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    except Exception as exc:  # noqa: BLE001 - Playwright's own errors: reported, not raised
        print(f"doctor: the browser failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "doctor.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
