"""The agents' alert page in Debian's Chromium: a cabin's alert rings on it, "J'y vais" stops
it and reaches the cabin, and an alert nobody takes escalates to a doctor's console with the
emergency number, whose "Je prends en charge" clears it on the agent's page too.

The cabin is a plain websocket client speaking `wire` messages (the cabin's own side of alerts
is tested with the kiosk); the hub runs in-process, on loopback.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, Page, async_playwright

import wire
from hub.accounts import create_agent, create_doctor, provision_cabin
from hub.app import RunningHub, load_hub_config, start_hub
from hub.storage import AckRole
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import Peer, new_id

AGENT = ("agent.mairie", "password-of-the-agent")
DOCTOR = ("dr.martin", "password-of-dr-martin")
CABIN_ID = "cabin-e2e"
ESCALATION_S = 1.5
SHOTS_COPY = Path("/tmp/agent-shots")
TIMEOUT_MS = 60_000  # for what takes well under a second idle: only a real failure waits this long


@asynccontextmanager
async def hub_with_accounts(
    tmp_path: Path, **overrides: float
) -> AsyncIterator[tuple[RunningHub, str]]:
    """A hub with the agent, the doctor and the cabin; `overrides`: more configuration."""
    config = load_hub_config(
        None,
        data_dir=tmp_path / "hub",
        overrides={"port": 0, "argon2_cost": "test", "alert_escalation_s": ESCALATION_S}
        | overrides,
    )
    hub = await start_hub(config, key=TEST_KEY)
    try:
        await create_agent(
            hub.storage,
            username=AGENT[0],
            password=AGENT[1],
            display_name="Accueil de la mairie",
            cabins=(CABIN_ID,),
            argon2_cost="test",
        )
        await create_doctor(
            hub.storage,
            username=DOCTOR[0],
            password=DOCTOR[1],
            display_name="Dr Claire Martin",
            specialty="Médecine générale",
            argon2_cost="test",
        )
        token = await provision_cabin(hub.storage, cabin_id=CABIN_ID, name="Cabine de Murat")
        yield hub, token
    finally:
        await hub.stop()


async def cabin(http: aiohttp.ClientSession, url: str, token: str) -> Peer:
    ws = await http.ws_connect(f"{url}/ws/cabin")
    peer = Peer(ws, wire.HubToCabin)
    await peer.send(
        wire.CabinHello(
            msg_id=new_id("hello"), cabin_id=CABIN_ID, token=token, software_version="0.1.0"
        )
    )
    await peer.expect(wire.Welcome)
    return peer


async def raise_fall(peer: Peer, alert_id: str) -> None:
    message = wire.AlertMessage(
        msg_id=new_id("alert"),
        alert_id=alert_id,
        cabin_id=CABIN_ID,
        kind=wire.AlertKind.FALL,
        severity=wire.AlertSeverity.CRITICAL,
        raised_at=datetime.now(UTC),
        confidence=0.91,
        detail="sol 2.1 s",
    )
    await peer.send(message)
    assert (await peer.expect(wire.Ack)).ack_of == message.msg_id


async def signed_in(browser: Browser, url: str, who: tuple[str, str], ready: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 820, "height": 1000} if ready == "#open-empty" else None,
        locale="fr-FR",
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(url)
    await page.fill("#login-username", who[0])
    await page.fill("#login-password", who[1])
    await page.click("#login-submit")
    await page.wait_for_selector(ready, state="visible")
    return page


async def shot(page: Page, shots: Path, name: str) -> None:
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_an_alert_rings_on_the_agents_page_and_escalates_when_nobody_takes_it(
    tmp_path: Path,
) -> None:
    shots = tmp_path / "screens"

    async def scenario() -> None:
        async with (
            hub_with_accounts(tmp_path) as (hub, token),
            aiohttp.ClientSession() as http,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
            )
            try:
                agent = await signed_in(browser, f"{hub.url}/agent", AGENT, "#open-empty")
                assert await agent.evaluate("document.body.dataset.alarm") == "silent"
                the_cabin = await cabin(http, hub.url, token)

                # 1. a fall: on the agent's page, the alarm ringing
                await raise_fall(the_cabin, "fall-1")
                card = agent.locator('[data-testid="open-alert"][data-alert-id="fall-1"]')
                await card.wait_for(state="visible")
                assert "Chute" in await card.inner_text()
                assert "Cabine de Murat" in await card.inner_text()
                assert "91 %" in await card.inner_text()
                await agent.wait_for_function("() => document.body.dataset.alarm === 'ringing'")
                assert await agent.evaluate("document.body.dataset.audio") == "running"
                await shot(agent, shots, "agent-alert")

                # 2. "J'y vais": the cabin is told who, the sound stops, the alert is handled
                await card.locator('[data-testid="alert-go"]').click()
                relayed = await the_cabin.expect(wire.AlertAck)
                assert relayed.alert_id == "fall-1"
                assert relayed.acknowledged_by == AGENT[0]
                assert not relayed.false_alarm
                handled = agent.locator('[data-testid="handled-alert"][data-alert-id="fall-1"]')
                await handled.wait_for(state="visible")
                assert "Prise en charge par agent.mairie" in await handled.inner_text()
                await agent.wait_for_function("() => document.body.dataset.alarm === 'silent'")
                record = await hub.storage.alert("fall-1")
                assert record is not None
                assert (record.acknowledged_by, record.acknowledged_role) == (
                    AGENT[0],
                    AckRole.AGENT,
                )
                assert record.acknowledged_at is not None and record.false_alarm is False
                await shot(agent, shots, "agent-handled")

                # 3. nobody takes the next one: the doctor's console is told to call the 15
                console = await signed_in(browser, f"{hub.url}/", DOCTOR, "#waiting-room")
                await raise_fall(the_cabin, "fall-2")
                banner = console.locator('[data-testid="alert-banner"][data-state="escalated"]')
                await banner.wait_for(state="visible", timeout=ESCALATION_S * 1000 + TIMEOUT_MS)
                assert "Appelez le 15" in await banner.inner_text()
                assert "Cabine de Murat" in await banner.inner_text()
                escalated = agent.locator(
                    '[data-alert-id="fall-2"] [data-testid="alert-escalated"]'
                )
                await escalated.wait_for(state="visible")
                assert "appelez le 15" in await escalated.inner_text()
                assert await agent.evaluate("document.body.dataset.alarm") == "ringing"
                await shot(agent, shots, "agent-escalated")
                await shot(console, shots, "console-escalated")

                # 4. the doctor takes it: cleared on the agent's page, the cabin told
                await banner.locator('[data-testid="alert-take"]').click()
                relayed = await the_cabin.expect(wire.AlertAck)
                assert (relayed.alert_id, relayed.acknowledged_by) == ("fall-2", DOCTOR[0])
                done = agent.locator('[data-testid="handled-alert"][data-alert-id="fall-2"]')
                await done.wait_for(state="visible")
                assert "dr.martin" in await done.inner_text()
                await agent.wait_for_function("() => document.body.dataset.alarm === 'silent'")
                await console.locator(
                    '[data-testid="alert-banner"][data-state="handled"]'
                ).wait_for()
                await shot(console, shots, "console-handled")
                record = await hub.storage.alert("fall-2")
                assert record is not None and record.escalated_at is not None
                assert record.acknowledged_role is AckRole.DOCTOR

                # 5. the hub goes away: the page says so loudly
                await hub.stop()
                await agent.locator('[data-testid="ws-lost"]').wait_for(state="visible")
                await shot(agent, shots, "agent-connection-lost")
            finally:
                await browser.close()

    asyncio.run(scenario())
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for png in shots.glob("*.png"):
        shutil.copy(png, SHOTS_COPY / png.name)
