"""A rolling restart of a real fleet: PostgreSQL, Redis, two hub replicas (``python -m hub
serve``) behind Debian's HAProxy, with the cabin's real link (`kiosk.hub_link.HubLink`) and a
doctor's console in Debian's Chromium, both through the proxy.

Replica A gets SIGTERM (as ``systemctl restart hub@...`` sends it) and is started again, then
replica B. Each time the replica drains: ``/readyz`` says "draining", HAProxy takes it out,
then its sockets are closed with 1012 ("reconnect now"). The cabin's link is back at once,
without going offline; the console's status says "reconnecting" (never "lost") and is open
again; a reading the cabin sends during the drain, and one right after, reach the console's
waiting room; the replica exits 0 and its log shows the drain. How long each took is printed
(`-s`), never asserted.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

import wire
from fleet.replicas import Replica
from fleet.rig import Fleet, fleet
from kiosk.hub_link import HubLinkState
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS, BrowserDoctor
from tests.fleet.fleet_clients import RealCabin, real_cabin, trust_proxy
from tests.hub.hub_rig import TIMEOUT_S, new_id, patient, vital

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

DRAIN_S = 2
"""The deploy's (deploy/hub/hub.toml): more than HAProxy's two checks 500 ms apart."""
CONSULTATION = "c-rolling-1"
WATCH_BANNER = """() => {
  window.__wsStates = [];
  const banner = document.getElementById('ws-banner');
  const seen = () => window.__wsStates.push(
    { at: performance.now(), state: banner.dataset.state, shown: !banner.hidden });
  const watched = { attributes: true, attributeFilter: ['data-state', 'hidden'] };
  new MutationObserver(seen).observe(banner, watched);
}"""
"""Every change of the console's connection banner, with when, and whether it was shown."""


@asynccontextmanager
async def console_page(running: Fleet, profile: Path) -> AsyncIterator[BrowserDoctor]:
    """Dr A's console in Chromium, through the proxy (its self-signed certificate accepted)."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            ignore_https_errors=True,
            locale="fr-FR",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(TIMEOUT_S * 1000)
            doctor = BrowserDoctor(page, running.url)
            await doctor.login("dr.a", running.passwords["dr.a"])
            yield doctor
        finally:
            await context.close()


async def _banner_states(page: Page) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = await page.evaluate("window.__wsStates")
    return states


def _reading(systolic: float) -> wire.ReadingMessage:
    return wire.ReadingMessage(
        msg_id=new_id("reading"),
        consultation_id=CONSULTATION,
        reading=wire.Vital(
            kind=wire.VitalKind.BLOOD_PRESSURE,
            measured_at=datetime.now(UTC),
            device_id="bp-1",
            systolic_mmhg=systolic,
            diastolic_mmhg=84,
        ),
    )


async def _shows(page: Page, text: str) -> None:
    entry = f'[data-testid=waiting-entry][data-consultation-id="{CONSULTATION}"]'
    await page.locator(f"{entry} [data-testid=entry-vitals]", has_text=text).wait_for()


async def _restart(
    running: Fleet, replica: Replica, cabin: RealCabin, doctor: BrowserDoctor, systolic: float
) -> dict[str, Any]:
    """SIGTERM `replica`, start it again; what the cabin and the console went through."""
    page = doctor.page
    await page.evaluate(WATCH_BANNER)
    page_t0 = await page.evaluate("performance.now()")
    cabin_states_before = len(cabin.states)
    sent_at = time.monotonic()
    stopping = asyncio.ensure_future(asyncio.to_thread(replica.terminate))
    await asyncio.sleep(DRAIN_S / 4)
    await cabin.link.send(_reading(systolic + 1), reliable=True)  # during the drain
    exit_code = await stopping
    stopped_at = time.monotonic()
    assert exit_code == 0, replica.log()[-3000:]
    log = replica.log()
    drained = re.findall(r"hub\.drained sockets=(\d+)", log)
    assert re.search(r"hub\.draining sockets=\d+ delay_s=2\b", log), log[-3000:]
    assert drained, log[-3000:]
    # the cabin's link: never offline, back at once (on the other replica, if it was here)
    await cabin.link.wait_online(TIMEOUT_S)
    states = cabin.states[cabin_states_before:]
    assert HubLinkState.OFFLINE not in [state for _, state in states]
    dropped = [at for at, state in states if state is HubLinkState.CONNECTING]
    back = [at for at, state in states if state is HubLinkState.ONLINE]
    cabin_gap_s = (back[-1] - dropped[0]) if dropped and back else None
    if dropped:
        assert back and back[-1] > dropped[0], states
    # the console: "reconnecting", then open; never "lost"
    await page.locator("#ws-banner[data-state=open]").wait_for(state="attached")
    banner = await _banner_states(page)
    assert all(change["state"] in ("reconnecting", "open") for change in banner), banner
    reconnecting = [c["at"] for c in banner if c["state"] == "reconnecting"]
    opened = [c["at"] for c in banner if c["state"] == "open"]
    console_gap_ms = (opened[-1] - reconnecting[0]) if reconnecting and opened else None
    # no message lost: a reading sent during the drain, and one right after, reach the console
    await cabin.link.send(_reading(systolic), reliable=True)
    await _shows(page, f"{systolic + 1:.0f}/84")
    await _shows(page, f"{systolic:.0f}/84")
    # the replica back, ready, UP in the proxy
    await asyncio.to_thread(running.restart, replica)
    return {
        "replica": replica.name,
        "sockets_drained": int(drained[-1]),
        "sigterm_to_exit_s": round(stopped_at - sent_at, 2),
        "cabin_reconnect_s": None if cabin_gap_s is None else round(cabin_gap_s, 3),
        "console_reconnecting_ms": None if console_gap_ms is None else round(console_gap_ms),
        "console_banner_shown": any(c["shown"] for c in banner),
        "console_changes": len(banner),
        "page_t0_ms": round(page_t0),
    }


def test_a_rolling_restart_costs_a_short_reconnecting_at_most(tmp_path: Path) -> None:
    async def scenario(running: Fleet) -> list[dict[str, Any]]:
        trust_proxy(running)
        async with (
            real_cabin(running, running.url, live=[CONSULTATION]) as cabin,
            console_page(running, tmp_path / "chromium") as doctor,
        ):
            join = wire.QueueJoin(
                msg_id=new_id("join"),
                consultation_id=CONSULTATION,
                language=wire.Language.FR,
                patient=patient(),
                reason="fièvre",
                age_years=88,
                vitals=[vital()],
            )
            await cabin.link.send(join, reliable=True)
            await doctor.wait_for_patient(CONSULTATION)
            await _shows(doctor.page, "132/84")
            seen = []
            for replica, systolic in zip(running.replicas, (141, 152), strict=True):
                seen.append(await _restart(running, replica, cabin, doctor, systolic))
            assert cabin.link.unacknowledged == 0  # every reliable message acknowledged
            return seen

    with fleet(tmp_path / "fleet", config_extra=f"drain_s = {DRAIN_S}\n") as running:
        seen = asyncio.run(scenario(running))
    for restart in seen:
        print("rolling restart:", restart)
    # each replica held a socket at some point of the two restarts: both were drained
    assert sum(restart["sockets_drained"] for restart in seen) >= 2
