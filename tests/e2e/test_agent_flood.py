"""Issue 15 in Debian's Chromium: a cabin floods the hub with alerts; the agent's page and the
doctor's console that open afterwards stay connected and show one card per alert with its
repeat count, and a line "N alertes ouvertes pour la cabine X", from one `alert_summary`.

The cabin is a plain websocket client speaking `wire` messages; the hub runs in-process.
"""

from __future__ import annotations

import asyncio
import shutil
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from playwright.async_api import async_playwright

import wire
from hub.app import RunningHub
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_agent_page import (
    AGENT,
    CABIN_ID,
    DOCTOR,
    cabin,
    hub_with_accounts,
    shot,
    signed_in,
)
from tests.hub.hub_rig import Peer, new_id

SHOTS_COPY = Path("/tmp/agent-shots")
FALLS = 60
PRINTER = 5


def flooded_hub(tmp_path: Path) -> AbstractAsyncContextManager[tuple[RunningHub, str]]:
    return hub_with_accounts(tmp_path, alert_escalation_s=0.5, alert_update_s=0.2)


async def flood(peer: Peer, kind: wire.AlertKind, severity: wire.AlertSeverity, n: int) -> None:
    for _ in range(n):
        message = wire.AlertMessage(
            msg_id=new_id("alert"),
            alert_id=new_id("flood"),
            cabin_id=CABIN_ID,
            kind=kind,
            severity=severity,
            raised_at=datetime.now(UTC),
        )
        await peer.send(message)
        while True:
            reply = await peer.receive()
            if isinstance(reply, wire.Ack | wire.ErrorMessage):
                break


def test_pages_opened_after_a_flood_show_it_summed_up_and_stay_connected(tmp_path: Path) -> None:
    shots = tmp_path / "screens"

    async def scenario() -> None:
        async with (
            flooded_hub(tmp_path) as (hub, token),
            aiohttp.ClientSession() as http,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
            )
            try:
                the_cabin = await cabin(http, hub.url, token)
                await flood(the_cabin, wire.AlertKind.FALL, wire.AlertSeverity.CRITICAL, FALLS)
                await flood(the_cabin, wire.AlertKind.PRINTER, wire.AlertSeverity.WARNING, PRINTER)

                # the doctor's console: the escalated fall, once, with its count
                console = await signed_in(browser, f"{hub.url}/", DOCTOR, "#waiting-room")
                banner = console.locator('[data-testid="alert-banner"][data-state="escalated"]')
                await banner.wait_for(state="visible")
                await banner.locator(
                    f'[data-testid="alert-repeats"]:has-text("signalée {FALLS} fois")'
                ).wait_for()
                assert await banner.count() == 1
                assert "Appelez le 15" in await banner.inner_text()
                await shot(console, shots, "console-flood")

                # the agent's page: one card per alert, the count, the cabin's line
                agent = await signed_in(browser, f"{hub.url}/agent", AGENT, "#open-alerts")
                cards = agent.locator('[data-testid="open-alert"]')
                await cards.nth(1).wait_for(state="visible")
                assert await cards.count() == 2
                fall = agent.locator('[data-testid="open-alert"][data-kind="fall"]')
                assert f"Signalée {FALLS} fois par la cabine" in await fall.inner_text()
                line = agent.locator('[data-testid="cabin-count"]')
                assert await line.inner_text() == (
                    f"2 alertes ouvertes pour la cabine Cabine de Murat ({FALLS + PRINTER}"
                    " signalements)"
                )
                assert await agent.evaluate("document.body.dataset.connection") == "open"
                await shot(agent, shots, "agent-flood")
                await agent.click("#lang-toggle")
                await agent.locator(
                    '[data-testid="cabin-count"]:has-text("2 open alerts for cabin")'
                ).wait_for()
                await shot(agent, shots, "agent-flood-en")
                await agent.click("#lang-toggle")

                # reloaded: the same, still connected
                await agent.reload()
                await cards.nth(1).wait_for(state="visible")
                assert await cards.count() == 2
                await console.reload()
                await banner.wait_for(state="visible")

                # "J'y vais" on the fall: the cabin is told of it and of its stored repeats
                await fall.locator('[data-testid="alert-go"]').click()
                told: set[str] = set()
                while len(told) < 13:  # the alert and the 12 repeats stored one by one
                    told.add((await the_cabin.expect(wire.AlertAck)).alert_id)
                await agent.locator('[data-testid="handled-alert"]').first.wait_for()
                await console.locator(
                    '[data-testid="alert-banner"][data-state="handled"]'
                ).wait_for()
                assert await agent.evaluate("document.body.dataset.connection") == "open"
            finally:
                await browser.close()

    asyncio.run(scenario())
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for png in shots.glob("*.png"):
        shutil.copy(png, SHOTS_COPY / png.name)
