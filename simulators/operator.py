"""The fleet's operator at the hub's fleet page (``/flotte``), played in Debian's Chromium.

The scripted demo runs it in a process of its own, as it does the doctor and the agent: sign in
as the demo operator, wait for the demo cabin's row (online; with its last self-test when the
cabin has sent one, waited for up to ``--selftest-wait`` seconds), open its details, and write
what was seen (``fleet-page.png``, ``fleet-page-detail.png`` and ``operator.json``).
``python -m simulators.operator`` plays that against a running hub.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from playwright.async_api import Page, async_playwright

from simulators.doctor import CHROMIUM, CHROMIUM_ARGS

TIMEOUT_MS = 30_000
_NO_SELFTEST = ("Aucun reçu", "None received")


@dataclass
class OperatorReport:
    logged_in: bool = False
    cabin_found: bool = False
    cabin_state: str = ""  # online, offline, never_seen
    version: str = ""
    selftest: str = ""  # the row's self-test cell, as shown
    has_selftest: bool = False
    row: str = ""
    detail: str = ""
    cabins: int = 0
    screenshots: list[str] = field(default_factory=list)


async def look_at_the_fleet(
    hub_url: str,
    username: str,
    password: str,
    cabin_id: str,
    out: Path,
    selftest_wait_s: float,
) -> OperatorReport:
    report = OperatorReport()
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    row = f'[data-testid="cabin-row"][data-cabin-id="{cabin_id}"]'
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1440, "height": 900},
                locale="fr-FR",
                timezone_id="Europe/Paris",  # the operator's, as the demo cabin's
            )
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(hub_url.rstrip("/") + "/flotte")
            await page.fill("#login-username", username)
            await page.fill("#login-password", password)
            await page.click("#login-submit")
            await page.wait_for_selector("#fleet-screen", state="visible")
            report.logged_in = True
            await page.wait_for_selector(row)
            report.cabin_found = True
            await _wait_for_selftest(page, row, selftest_wait_s)
            cells = page.locator(row)
            report.cabin_state = await cells.get_attribute("data-state") or ""
            report.version = (
                await cells.locator('[data-testid="cabin-version"]').inner_text()
            ).strip()
            report.selftest = (
                await cells.locator('[data-testid="cabin-selftest"]').inner_text()
            ).strip()
            report.has_selftest = not report.selftest.startswith(_NO_SELFTEST)
            report.row = (await cells.inner_text()).strip()
            report.cabins = await page.locator('[data-testid="cabin-row"]').count()
            await shot(page, out, "fleet-page", report)
            await cells.locator('[data-testid="cabin-toggle"]').click()
            detail = page.locator(f'[data-testid="cabin-detail"][data-cabin-id="{cabin_id}"]')
            await detail.wait_for()
            report.detail = (await detail.inner_text()).strip()
            await shot(page, out, "fleet-page-detail", report)
        finally:
            await browser.close()
    return report


async def _wait_for_selftest(page: Page, row: str, wait_s: float) -> None:
    """The page polls the hub every 10 s: a self-test sent meanwhile shows at the next poll."""
    if wait_s <= 0:
        return
    script = """([row, none]) => {
      const cell = document.querySelector(row + ' [data-testid="cabin-selftest"]');
      return cell !== null && !none.some((text) => cell.textContent.startsWith(text));
    }"""
    try:
        await page.wait_for_function(script, arg=[row, list(_NO_SELFTEST)], timeout=wait_s * 1000)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError: no self-test yet, said in the report
        return


async def shot(page: Page, out: Path, name: str, report: OperatorReport) -> None:
    path = out / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    report.screenshots.append(path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.operator", description=__doc__)
    parser.add_argument("--hub", required=True, help="the hub's address (http://127.0.0.1:8765)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--cabin", required=True, help="the cabin to look for")
    parser.add_argument("--out", type=Path, required=True, help="screenshots and operator.json")
    parser.add_argument(
        "--selftest-wait",
        type=float,
        default=0.0,
        help="seconds to wait for the cabin's last self-test to show",
    )
    args = parser.parse_args(argv)
    password = args.password_file.read_text(encoding="utf-8").strip()
    report = OperatorReport()
    status = 0
    try:
        report = asyncio.run(
            look_at_the_fleet(
                args.hub, args.username, password, args.cabin, args.out, args.selftest_wait
            )
        )
    except (TimeoutError, AssertionError, OSError) as exc:
        print(f"operator: the fleet page failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    except Exception as exc:  # noqa: BLE001 - Playwright's own errors: reported, not raised
        print(f"operator: the browser failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "operator.json").write_text(
        json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
