"""The on-site agent at their alert page (``/agent`` on the hub), played in Debian's Chromium.

The scripted demo runs it in a process of its own, as it does the doctor: sign in, wait for the
cabin's alert to ring, look at it, press "J'y vais", and write what was seen (screenshots
``agent-*.png`` and ``agent.json``). ``python -m simulators.agent`` plays that against a
running hub.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from playwright.async_api import async_playwright

from simulators.doctor import CHROMIUM, CHROMIUM_ARGS

TIMEOUT_MS = 30_000
_OPEN_IDS = """() => Array.from(document.querySelectorAll('[data-testid="open-alert"]'))
  .map(card => card.dataset.alertId)"""
_A_NEW_ONE = """(known) => Array.from(document.querySelectorAll('[data-testid="open-alert"]'))
  .some(card => !known.includes(card.dataset.alertId))"""


@dataclass
class AgentReport:
    logged_in: bool = False
    alert_text: str = ""
    alarm: str = ""  # "ringing" while an alert waits
    sound: str = ""  # the page's AudioContext state
    answered: bool = False
    screenshots: list[str] = field(default_factory=list)
    seconds_waiting: float | None = None


async def answer_one_alert(
    hub_url: str, username: str, password: str, out: Path, wait_s: float
) -> AgentReport:
    report = AgentReport()
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
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
            await page.goto(hub_url.rstrip("/") + "/agent")
            await page.fill("#login-username", username)
            await page.fill("#login-password", password)
            await page.click("#login-submit")
            await page.wait_for_selector("#alerts-screen", state="visible")
            report.logged_in = True
            await shot(page, out, "agent-waiting", report)
            # Alerts still open from before (nobody closed them) stay listed, sent by the hub
            # just after the page connects: let them come, then wait for a new one.
            await page.wait_for_timeout(1500)
            known = await page.evaluate(_OPEN_IDS)
            started = time.monotonic()
            await page.wait_for_function(_A_NEW_ONE, arg=known, timeout=wait_s * 1000)
            new_id = next(i for i in await page.evaluate(_OPEN_IDS) if i not in known)
            card = page.locator(f'[data-testid="open-alert"][data-alert-id="{new_id}"]')
            report.seconds_waiting = round(time.monotonic() - started, 2)
            await page.wait_for_function("() => document.body.dataset.alarm === 'ringing'")
            report.alert_text = (await card.inner_text()).strip()
            report.alarm = str(await page.evaluate("document.body.dataset.alarm"))
            report.sound = str(await page.evaluate("document.body.dataset.audio"))
            await shot(page, out, "agent-alert", report)
            await card.locator('[data-testid="alert-go"]').click()
            await page.locator(f'[data-testid="handled-alert"][data-alert-id="{new_id}"]').wait_for(
                state="visible"
            )
            report.answered = True
            await shot(page, out, "agent-handled", report)
        finally:
            await browser.close()
    return report


async def shot(page: object, out: Path, name: str, report: AgentReport) -> None:
    path = out / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    report.screenshots.append(path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.agent", description=__doc__)
    parser.add_argument("--hub", required=True, help="the hub's address (http://127.0.0.1:8765)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="screenshots and agent.json")
    parser.add_argument("--wait", type=float, default=600.0, help="seconds to wait for an alert")
    args = parser.parse_args(argv)
    password = args.password_file.read_text(encoding="utf-8").strip()
    report = AgentReport()
    status = 0
    try:
        report = asyncio.run(
            answer_one_alert(args.hub, args.username, password, args.out, args.wait)
        )
    except (TimeoutError, AssertionError, OSError) as exc:
        print(f"agent: no alert answered: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    except Exception as exc:  # noqa: BLE001 - Playwright's own errors: reported, not raised
        print(f"agent: the browser failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "agent.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
