"""The operator's fleet page and the booking page's "temporarily unavailable", in Debian's
Chromium, on a real hub (loopback, SQLCipher file) reached by two cabins over their websocket.

Murat's cabin fails its camera check (a check that stops consultations); Allanche's passes and
has a call. The operator signs in at /flotte and finds Murat first with what failed, opens its
details with the keyboard, and reads the page in English too; a doctor and an agent are refused,
nobody signed in gets the sign-in form. A patient on the public page sees Murat "temporarily
unavailable", and no slot there today. Screenshots go to the test's folder and to /tmp/fleet-shots.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import aiohttp
from playwright.async_api import Browser, Page, async_playwright

import wire
from hub.accounts import create_agent, create_operator, provision_cabin
from hub.app import RunningHub
from hub.services import SERVICES
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_booking_page import MONDAY_MORNING, booking_hub, town_ready
from tests.hub.hub_rig import FakeClock, new_id, patient

M = TypeVar("M")
SHOTS_COPY = Path("/tmp/fleet-shots")
TIMEOUT_MS = 30_000  # for what takes well under a second idle: only a real failure waits this long
OPERATOR = ("operateur.test", "password-of-the-operator")
AGENT = ("agent.murat", "password-of-the-agent")
DOCTOR = ("dr.rota", "password-of-the-rota-doctor")


def row(cabin_id: str) -> str:
    return f'[data-testid="cabin-row"][data-cabin-id="{cabin_id}"]'


@asynccontextmanager
async def cabin_link(
    hub: RunningHub, cabin_id: str
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """The cabin's websocket, as a cabin opens it (its token, its hello)."""
    token = await provision_cabin(hub.storage, cabin_id=cabin_id, name=await _name(hub, cabin_id))
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{hub.url}/ws/cabin")
        hello = wire.CabinHello(
            msg_id=new_id("hello"), cabin_id=cabin_id, token=token, software_version="1.9.2"
        )
        await ws.send_str(wire.encode(hello).decode())
        await expect_message(ws, wire.Welcome)
        try:
            yield ws
        finally:
            await ws.close()


async def _name(hub: RunningHub, cabin_id: str) -> str:
    cabin = await hub.storage.cabin(cabin_id)
    return cabin.name if cabin is not None else cabin_id


async def expect_message(ws: aiohttp.ClientWebSocketResponse, kind: type[M]) -> M:
    async with asyncio.timeout(30):
        while True:
            raw = await ws.receive()
            assert raw.type is aiohttp.WSMsgType.TEXT, raw
            message = wire.decode(raw.data, allowed=wire.HubToCabin)
            if isinstance(message, kind):
                return message


async def send(ws: aiohttp.ClientWebSocketResponse, message: wire.Message) -> None:
    await ws.send_str(wire.encode(message).decode())


def status(paper: wire.PaperLevel, battery: int) -> wire.CabinStatus:
    return wire.CabinStatus(
        msg_id=new_id("status"),
        sent_at=MONDAY_MORNING,
        software_version="1.9.2",
        instruments=[
            wire.InstrumentState(
                instrument_id="tensio-1",
                kind="blood_pressure",
                connected=True,
                battery_percent=battery,
            ),
            wire.InstrumentState(instrument_id="thermo-1", kind="thermometer", connected=True),
        ],
        paper=paper,
        printer_problem=wire.PrinterProblem.OUT_OF_PAPER if paper is wire.PaperLevel.OUT else None,
        disk_free_mb=40_960,
    )


def report(report_id: str, failed: bool) -> wire.SelfTestReport:
    checks = [
        wire.SelfTestCheck.HUB,
        wire.SelfTestCheck.TURN,
        wire.SelfTestCheck.MICROPHONE,
        wire.SelfTestCheck.DISK,
        wire.SelfTestCheck.DATABASE,
    ]
    results = [wire.SelfTestResult(check=c, outcome=wire.SelfTestOutcome.PASSED) for c in checks]
    results.append(
        wire.SelfTestResult(
            check=wire.SelfTestCheck.CAMERA,
            outcome=wire.SelfTestOutcome.FAILED if failed else wire.SelfTestOutcome.PASSED,
            detail="images toutes noires : l'objectif est-il couvert ?" if failed else "",
        )
    )
    return wire.SelfTestReport(
        msg_id=new_id("selftest"),
        report_id=report_id,
        trigger=wire.SelfTestTrigger.NIGHTLY,
        started_at=MONDAY_MORNING - timedelta(hours=4, seconds=40),
        finished_at=MONDAY_MORNING - timedelta(hours=4),
        results=results,
    )


async def set_the_scene(
    hub: RunningHub,
    murat: aiohttp.ClientWebSocketResponse,
    allanche: aiohttp.ClientWebSocketResponse,
) -> None:
    await send(murat, status(wire.PaperLevel.OUT, battery=9))
    await send(murat, report("r-murat", failed=True))
    assert (await expect_message(murat, wire.Ack)).ack_of
    await send(allanche, status(wire.PaperLevel.OK, battery=80))
    await send(allanche, report("r-allanche", failed=False))
    await expect_message(allanche, wire.Ack)
    join = wire.QueueJoin(
        msg_id=new_id("join"),
        consultation_id="c-allanche-1",
        language=wire.Language.FR,
        patient=patient(),
        reason="contrôle",
    )
    await send(allanche, join)
    await expect_message(allanche, wire.Ack)
    for kbps, final in ((950.0, False), (1020.0, True)):
        await send(
            allanche,
            wire.CallQuality(
                msg_id=new_id("quality"),
                consultation_id="c-allanche-1",
                sent_at=MONDAY_MORNING,
                sample=wire.CallQualitySample(
                    sent_kbps=kbps, received_kbps=870.0, loss_percent=0.4, round_trip_ms=38.0
                ),
                final=final,
            ),
        )
    # the hub has stored them (the page reads the database)
    async with asyncio.timeout(30):
        while True:
            calls = await hub.storage.call_qualities(since=MONDAY_MORNING - timedelta(days=1))
            if calls and calls[-1].final:
                break
            await asyncio.sleep(0.05)


async def sign_in(browser: Browser, url: str, who: tuple[str, str] | None, ready: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="fr-FR", timezone_id="Europe/Paris"
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{url}/flotte")
    if who is not None:
        await page.wait_for_selector("#login-username", state="visible")
        await page.fill("#login-username", who[0])
        await page.fill("#login-password", who[1])
        await page.click("#login-submit")
    await page.wait_for_selector(ready, state="visible")
    assert errors == [], errors
    return page


def test_the_operator_sees_the_fleet_and_booking_shows_the_broken_cabin_unavailable(
    tmp_path: Path,
) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with booking_hub(tmp_path, fleet={"check_s": 3600}) as hub:
            await create_operator(
                hub.storage,
                username=OPERATOR[0],
                password=OPERATOR[1],
                display_name="Exploitation du Cantal",
                argon2_cost="test",
            )
            await create_agent(
                hub.storage,
                username=AGENT[0],
                password=AGENT[1],
                display_name="Mairie de Murat",
                cabins=("cabin-murat",),
                argon2_cost="test",
            )
            async with (
                cabin_link(hub, "cabin-murat") as murat,
                cabin_link(hub, "cabin-allanche") as allanche,
                async_playwright() as playwright,
            ):
                await set_the_scene(hub, murat, allanche)
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
                )
                try:
                    await the_operator(browser, hub, shots)
                    await the_others(browser, hub, shots)
                    await the_patient(browser, hub, shots)
                finally:
                    await browser.close()

    asyncio.run(scenario())
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for picture in shots.glob("*"):
        shutil.copy(picture, SHOTS_COPY / picture.name)


async def the_operator(browser: Browser, hub: RunningHub, shots: Path) -> None:
    page = await sign_in(browser, hub.url, OPERATOR, row("cabin-murat"))
    first = await page.locator('[data-testid="cabin-row"]').first.get_attribute("data-cabin-id")
    assert first == "cabin-murat"  # the broken one first
    murat = page.locator(row("cabin-murat"))
    assert await murat.get_attribute("data-problem") == "bad"
    assert await murat.get_attribute("data-state") == "online"
    assert "1 échec" in await murat.locator('[data-testid="cabin-selftest"]').inner_text()
    assert "Caméra" in await murat.locator('[data-testid="cabin-selftest"]').inner_text()
    assert "Papier : vide" in await murat.inner_text()
    assert await murat.locator('[data-testid="cabin-unavailable"]').is_visible()
    allanche = page.locator(row("cabin-allanche"))
    assert "1 aujourd'hui" in await allanche.inner_text()
    assert (
        "1\u202f020 / ↓ 870 kbit/s"
        in await allanche.locator('[data-testid="cabin-quality"]').inner_text()
    )
    never = page.locator(row("cabin-flour-hospital"))
    assert await never.get_attribute("data-state") == "never_seen"
    await page.screenshot(path=str(shots / "fleet-fr.png"), full_page=True)
    # the details, with the keyboard
    toggle = murat.locator('[data-testid="cabin-toggle"]')
    await toggle.focus()
    await page.keyboard.press("Enter")
    detail = page.locator('[data-testid="cabin-detail"][data-cabin-id="cabin-murat"]')
    await detail.wait_for()
    assert (
        await page.locator(row("cabin-murat") + ' [data-testid="cabin-toggle"]').get_attribute(
            "aria-expanded"
        )
        == "true"
    )
    text = await detail.inner_text()
    assert "images toutes noires" in text and "Caméra — échec" in text
    assert "batterie faible 9 %" in text
    assert "ne sont pas annulés automatiquement" in text
    await page.screenshot(path=str(shots / "fleet-detail-fr.png"), full_page=True)
    await page.click("#lang-toggle")
    await page.wait_for_function(
        "document.querySelector('[data-testid=\"fleet-counts\"]').textContent.includes('online')"
    )
    text = await detail.inner_text()
    assert "Camera — failed" in text
    await page.screenshot(path=str(shots / "fleet-detail-en.png"), full_page=True)
    await page.click("#lang-toggle")
    await page.context.close()


async def the_others(browser: Browser, hub: RunningHub, shots: Path) -> None:
    for who, name in ((DOCTOR, "doctor"), (AGENT, "agent")):
        page = await sign_in(browser, hub.url, who, '[data-testid="refused"]')
        assert await page.locator('[data-testid="fleet-table"]').is_hidden()
        await page.screenshot(path=str(shots / f"fleet-refused-{name}.png"))
        await page.context.close()
    page = await sign_in(browser, hub.url, None, "#login-screen")
    assert await page.locator('[data-testid="fleet-table"]').is_hidden()
    await page.context.close()
    # an operator who signs in at the doctors' console is sent to the fleet page
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{hub.url}/")
    await page.fill("#login-username", OPERATOR[0])
    await page.fill("#login-password", OPERATOR[1])
    await page.click("#login-submit")
    await page.wait_for_url(f"{hub.url}/flotte")
    await page.wait_for_selector(row("cabin-murat"))
    await context.close()


async def the_patient(browser: Browser, hub: RunningHub, shots: Path) -> None:
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, locale="fr-FR", timezone_id="Europe/Paris"
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{hub.url}/rendez-vous")
    await town_ready(page)
    await page.fill("#town", "Mura")
    town = page.locator('#town-list button[data-town="Murat"]')
    await town.wait_for()
    assert "temporairement indisponible" in await town.inner_text()
    await page.screenshot(path=str(shots / "booking-town-unavailable.png"), full_page=True)
    await town.click()
    await page.wait_for_selector('body[data-slots="loaded"]')
    assert await page.locator('[data-testid="slot-unavailable"]').is_visible()
    today = page.locator('#day-list button[data-day="2027-01-11"]')
    assert "empty" in (await today.get_attribute("class") or "")  # nothing today
    tomorrow = page.locator('#day-list button[data-day="2027-01-12"]')
    assert "empty" not in (await tomorrow.get_attribute("class") or "")  # later days stay
    await page.screenshot(path=str(shots / "booking-slot-unavailable.png"), full_page=True)
    await context.close()


def test_the_agent_page_shows_an_offline_cabin_and_its_resolution_by_the_hub(
    tmp_path: Path,
) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with booking_hub(tmp_path, fleet={"check_s": 3600}) as hub:
            clock = hub.app[SERVICES].clock
            assert isinstance(clock, FakeClock)
            await create_agent(
                hub.storage, username=AGENT[0], password=AGENT[1], display_name="Mairie de Murat",
                cabins=("cabin-murat",), argon2_cost="test",
            )  # fmt: skip
            async with cabin_link(hub, "cabin-murat") as murat:
                await send(murat, status(wire.PaperLevel.OK, battery=80))
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
                )
                try:
                    context = await browser.new_context(
                        viewport={"width": 820, "height": 1000}, locale="fr-FR"
                    )
                    page = await context.new_page()
                    page.set_default_timeout(TIMEOUT_MS)
                    await page.goto(f"{hub.url}/agent")
                    await page.fill("#login-username", AGENT[0])
                    await page.fill("#login-password", AGENT[1])
                    await page.click("#login-submit")
                    await page.wait_for_selector("#alerts-screen", state="visible")
                    clock.advance(10 * 60)
                    await hub.app[SERVICES].switchboard.fleet.check()
                    card = page.locator('[data-testid="open-alert"]')
                    await card.wait_for()
                    assert "Cabine hors ligne" in await card.inner_text()
                    # a chime, not the alarm: nobody is in danger
                    assert await page.evaluate("document.body.dataset.alarm") != "ringing"
                    await page.screenshot(path=str(shots / "agent-offline.png"), full_page=True)
                    async with cabin_link(hub, "cabin-murat"):
                        handled = page.locator('[data-testid="handled-alert"]')
                        await handled.wait_for()
                        text = await handled.inner_text()
                        assert "Résolue : la cabine est de nouveau en ligne" in text
                        assert await page.locator('[data-testid="open-alert"]').count() == 0
                        await page.screenshot(
                            path=str(shots / "agent-back-online.png"), full_page=True
                        )
                finally:
                    await browser.close()

    asyncio.run(scenario())
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for picture in shots.glob("*"):
        shutil.copy(picture, SHOTS_COPY / picture.name)
