"""The booking pages of the scripted demo, played in Debian's Chromium, as the people who use
them would (each role a process of its own, as the doctor and the agent are):

- ``patient``: the patient books on the public page (``/rendez-vous``) on a phone (360x740):
  the town, the day, the slot the demo asks for, the form with an e-mail address, the code;
  the same page in English up to the filled form. Screenshots ``booking-*-fr.png`` and
  ``booking-*-en.png``.
- ``coordinator``: a coordinator takes a caller's booking on ``/coordination`` (the first free
  slot of the day), reads the code; in French, then English. Screenshots ``coordinator-*``.
- ``week``: the doctor of the week sees the caller who did not come turn into a no-show on the
  console's agenda, writes the end-of-week handover (the demo's patient linked to her
  consultation); the next week's doctor signs in, reads it first and acknowledges it.
  Screenshots ``console-agenda-*``, ``console-handover-*``.

Each writes ``booking-<role>.json`` into ``--out`` (what it saw), and exits 0 if every step
held. ``python -m simulators.booking_web <role> --help``.
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

from playwright.async_api import Browser, Page, async_playwright

from simulators.doctor import CHROMIUM, CHROMIUM_ARGS

TIMEOUT_MS = 30_000
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class WebReport:
    ok: bool = False
    seen: dict[str, Any] = field(default_factory=dict)
    screenshots: list[str] = field(default_factory=list)
    error: str = ""


class Shots:
    def __init__(self, out: Path, report: WebReport) -> None:
        self.out = out
        self.report = report

    async def take(self, page: Page, name: str, *, full_page: bool = False) -> None:
        path = self.out / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        self.report.screenshots.append(path.name)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser, viewport: dict[str, int]) -> Page:
    context = await browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale="fr-FR",
        timezone_id="Europe/Paris",
    )
    await context.add_init_script("window.print = () => {};")  # no print dialog headless
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


async def set_language(page: Page, language: str, toggle: str = "#lang-toggle") -> None:
    """The page's language button (clicked from script: an open dialog makes the rest of the
    page inert to the pointer, not to the page's own code)."""
    if await page.evaluate("document.documentElement.lang") != language:
        await page.locator(toggle).evaluate("button => button.click()")
        await page.wait_for_function(f"document.documentElement.lang === {language!r}")


# --- the patient, on the public page ---------------------------------------------------------


async def _to_the_slots(page: Page, town: str) -> None:
    await page.wait_for_selector('body[data-ready="true"]')
    await page.fill("#town", town[:5].lower())
    await page.locator(f'#town-list button[data-town="{town}"]').click()
    await page.wait_for_selector('body[data-slots="loaded"]')
    await page.locator("#time-list button").first.wait_for()


async def _fill_the_form(
    page: Page, patient: tuple[str, str, str], email: str, slot_index: int
) -> str:
    chosen = page.locator("#time-list button").nth(slot_index)
    starts_at = str(await chosen.get_attribute("data-starts-at"))
    await chosen.click()
    await page.wait_for_selector('body[data-step="form"]')
    family, given, birth = patient
    day, month, year = birth.split("/")
    await page.fill("#family-name", family)
    await page.fill("#given-names", given)
    await page.fill("#birth-day", day)
    await page.fill("#birth-month", month)
    await page.fill("#birth-year", year)
    await page.fill("#email", email)
    await page.check("#consent")
    return starts_at


async def play_patient(
    hub_url: str, out: Path, patient: tuple[str, str, str], email: str, town: str, slot: int
) -> WebReport:
    """Book the `slot`-th free time of the first day that has one (0: the first)."""
    report = WebReport()
    shots = Shots(out, report)
    url = hub_url.rstrip("/") + "/rendez-vous"
    async with chromium() as browser:
        # English first, up to the filled form (not sent): the page as an English speaker sees it.
        page = await new_page(browser, PHONE)
        await page.goto(url)
        await page.wait_for_selector('body[data-ready="true"]')
        await set_language(page, "en")
        await shots.take(page, "booking-1-town-en")
        await _to_the_slots(page, town)
        await shots.take(page, "booking-2-slots-en", full_page=True)
        await _fill_the_form(page, patient, email, slot)
        await shots.take(page, "booking-3-form-en", full_page=True)
        await page.context.close()
        # Then in French, booked for real.
        page = await new_page(browser, PHONE)
        await page.goto(url)
        await page.wait_for_selector('body[data-ready="true"]')
        await set_language(page, "fr")
        await shots.take(page, "booking-1-town-fr")
        await _to_the_slots(page, town)
        await shots.take(page, "booking-2-slots-fr", full_page=True)
        starts_at = await _fill_the_form(page, patient, email, slot)
        await shots.take(page, "booking-3-form-fr", full_page=True)
        started = time.monotonic()
        await page.click("#book-submit")
        await page.wait_for_selector('body[data-step="done"]')
        report.seen["submit_to_code_s"] = round(time.monotonic() - started, 2)
        code = (await page.inner_text('[data-testid="done-code"]')).replace(" ", "").strip()
        report.seen["code"] = code
        report.seen["starts_at"] = starts_at
        report.seen["when_fr"] = (await page.inner_text('[data-testid="done-when"]')).strip()
        report.seen["messages_fr"] = (
            await page.inner_text('[data-testid="done-messages"]')
        ).strip()
        await shots.take(page, "booking-4-done-fr", full_page=True)
        await set_language(page, "en")
        report.seen["when_en"] = (await page.inner_text('[data-testid="done-when"]')).strip()
        await shots.take(page, "booking-4-done-en", full_page=True)
        await set_language(page, "fr")  # the device remembers the language: leave it French
        await page.context.close()
    report.ok = len(code) == 6 and code.isdigit()
    return report


# --- the coordinator, on the phone -----------------------------------------------------------


async def play_coordinator(
    hub_url: str,
    out: Path,
    username: str,
    password: str,
    caller: tuple[str, str, str, str],
) -> WebReport:
    """Book the first free slot of today for `caller` (family, given, ISO birth date, phone)."""
    report = WebReport()
    shots = Shots(out, report)
    async with chromium() as browser:
        page = await new_page(browser, DESKTOP)
        await page.goto(hub_url.rstrip("/") + "/coordination")
        await page.fill("#login-username", username)
        await page.fill("#login-password", password)
        await page.click("#login-submit")
        await page.wait_for_selector('[data-testid="cabin-column"]', state="visible")
        free = page.locator('[data-testid="slot-free"]').first
        await free.wait_for()
        await set_language(page, "fr", '[data-testid="lang-toggle"]')
        await shots.take(page, "coordinator-1-agenda-fr", full_page=True)
        starts_at = str(await free.get_attribute("data-starts-at"))
        report.seen["slot_time"] = (await free.locator(".slot-time").inner_text()).strip()
        await free.click()
        await page.locator('[data-testid="book-dialog"]').wait_for()
        family, given, birth, phone = caller
        await page.fill('[data-testid="book-family"]', family)
        await page.fill('[data-testid="book-given"]', given)
        await page.fill('[data-testid="book-birth"]', birth)
        await page.fill('[data-testid="book-phone"]', phone)
        await page.check('[data-testid="book-consent"]')
        await shots.take(page, "coordinator-2-form-fr")
        await set_language(page, "en", '[data-testid="lang-toggle"]')
        await shots.take(page, "coordinator-2-form-en")
        await set_language(page, "fr", '[data-testid="lang-toggle"]')
        started = time.monotonic()
        await page.click('[data-testid="book-submit"]')
        code_box = page.locator('[data-testid="booked-code"]')
        await code_box.wait_for()
        report.seen["submit_to_code_s"] = round(time.monotonic() - started, 2)
        code = (await code_box.inner_text()).replace(" ", "").strip()
        report.seen["code"] = code
        report.seen["starts_at"] = starts_at
        await shots.take(page, "coordinator-3-booked-fr")
        await set_language(page, "en", '[data-testid="lang-toggle"]')
        await shots.take(page, "coordinator-3-booked-en")
        await page.click('[data-testid="booked-close"]')
        await page.locator('[data-testid="slot-booked"]').first.wait_for()
        await shots.take(page, "coordinator-4-agenda-en", full_page=True)
        await page.context.close()
    report.ok = len(code) == 6 and code.isdigit()
    return report


# --- the doctors' week ------------------------------------------------------------------------


async def _console(browser: Browser, hub_url: str, username: str, password: str) -> Page:
    page = await new_page(browser, {"width": 1440, "height": 900})
    await page.goto(hub_url.rstrip("/") + "/")
    await page.fill("#login-username", username)
    await page.fill("#login-password", password)
    await page.click("#login-submit")
    await page.locator("#console-tabs").wait_for(state="visible")
    return page


async def _until_noshow(page: Page, family: str, wait_s: float) -> str:
    """Open the agenda again until the caller's row says no-show; its status."""
    row = page.locator('[data-testid="agenda-entry"]', has_text=family.upper())
    deadline = time.monotonic() + wait_s
    status = ""
    await page.click('[data-testid="tab-agenda"]')
    while True:
        await page.click('[data-testid="agenda-day"]')
        await page.locator('#agenda[data-span="day"][data-loaded="true"]').wait_for()
        if await row.count():
            status = str(await row.first.get_attribute("data-status"))
            if status == "noshow":
                return status
        if time.monotonic() > deadline:
            return status
        await asyncio.sleep(2.0)


async def _write_handover(
    page: Page, shots: Shots, report: WebReport, next_username: str, consultation_id: str
) -> None:
    # The end-of-week handover, the demo's patient linked to her consultation.
    await page.click('[data-testid="tab-handover"]')
    await page.click('[data-testid="handover-write"]')
    form = page.locator('[data-testid="handover-form"]')
    await form.wait_for()
    recipient = form.locator(f'[data-testid="handover-recipient"][data-username="{next_username}"]')
    report.seen["next_doctor_ticked"] = await recipient.is_checked()
    if not report.seen["next_doctor_ticked"]:
        await recipient.check()
    await form.locator('[data-testid="handover-form-summary"]').fill(
        "Semaine calme à Saint-Flour ; un patient absent sans prévenir."
    )
    first = form.locator('[data-testid="handover-form-item"]').nth(0)
    await first.locator('[data-testid="handover-item-kind"]').select_option("patient")
    await first.locator('[data-testid="handover-item-text"]').fill(
        "Toux sèche depuis 3 jours : rappeler si fièvre, revoir dans 8 jours"
    )
    linked = first.locator('[data-testid="handover-item-consultation"]')
    await linked.select_option(consultation_id)
    await form.locator('[data-testid="handover-add-item"]').click()
    second = form.locator('[data-testid="handover-form-item"]').nth(1)
    await second.locator('[data-testid="handover-item-kind"]').select_option("action")
    await second.locator('[data-testid="handover-item-text"]').fill(
        "Rappeler le patient absent de ce jour pour un nouveau rendez-vous"
    )
    await shots.take(page, "console-handover-form-fr", full_page=True)
    await set_language(page, "en")
    await shots.take(page, "console-handover-form-en", full_page=True)
    await set_language(page, "fr")
    await form.locator('[data-testid="handover-submit"]').click()
    await page.locator('[data-testid="handover-mine"] [data-testid="handover-card"]').wait_for()
    report.seen["handover_sent"] = True


async def _read_handover(page: Page, shots: Shots, report: WebReport) -> None:
    # The next week's doctor: the handover comes first.
    unread = page.locator('[data-testid="handover-unread"]')
    await unread.wait_for(state="visible")
    report.seen["handover_first"] = (
        await page.evaluate("document.body.dataset.screen") == "handover"
    )
    card = unread.locator('[data-testid="handover-card"]')
    report.seen["handover_text"] = (await card.inner_text()).strip()
    await shots.take(page, "console-handover-unread-fr", full_page=True)
    await set_language(page, "en")
    await shots.take(page, "console-handover-unread-en", full_page=True)
    await set_language(page, "fr")
    await unread.locator('[data-testid="handover-ack"]').click()
    read = page.locator('[data-testid="handover-received"] [data-testid="handover-card"]')
    await read.first.wait_for()
    report.seen["handover_read"] = await read.first.get_attribute("data-read") == "true"
    await shots.take(page, "console-handover-read-fr", full_page=True)
    await set_language(page, "en")
    await shots.take(page, "console-handover-read-en", full_page=True)


async def play_week(
    hub_url: str,
    out: Path,
    doctor: tuple[str, str],
    next_doctor: tuple[str, str],
    absent_family: str,
    consultation_id: str,
    noshow_wait_s: float,
) -> WebReport:
    report = WebReport()
    shots = Shots(out, report)
    async with chromium() as browser:
        page = await _console(browser, hub_url, *doctor)
        status = await _until_noshow(page, absent_family, noshow_wait_s)
        report.seen["absent_status"] = status
        report.seen["noshows_text"] = (
            await page.locator('[data-testid="agenda-noshows"]').inner_text()
        ).strip()
        await set_language(page, "fr")
        await shots.take(page, "console-agenda-noshow-fr", full_page=True)
        await set_language(page, "en")
        await shots.take(page, "console-agenda-noshow-en", full_page=True)
        await set_language(page, "fr")
        await _write_handover(page, shots, report, next_doctor[0], consultation_id)
        await page.context.close()
        page = await _console(browser, hub_url, *next_doctor)
        await _read_handover(page, shots, report)
    report.ok = (
        status == "noshow"
        and bool(report.seen["handover_first"])
        and bool(report.seen["handover_read"])
    )
    return report


# --- the command line ---------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.booking_web", description=__doc__)
    parser.add_argument("role", choices=["patient", "coordinator", "week"])
    parser.add_argument("--hub", required=True, help="the hub's address (http://127.0.0.1:8765)")
    parser.add_argument("--out", type=Path, required=True, help="screenshots and the report")
    parser.add_argument("--patient", help="FAMILY;GIVEN;DD/MM/YYYY (patient, coordinator)")
    parser.add_argument("--email", default="", help="the patient's e-mail address")
    parser.add_argument("--phone", default="", help="the caller's phone (coordinator)")
    parser.add_argument("--town", default="Saint-Flour")
    parser.add_argument("--slot", type=int, default=0, help="which free time of the day (0..)")
    parser.add_argument("--username", help="the coordinator, or the doctor of the week")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--next-username", help="the next week's doctor (week)")
    parser.add_argument("--next-password-file", type=Path)
    parser.add_argument("--consultation", default="", help="the consultation to hand over")
    parser.add_argument("--wait-s", type=float, default=120.0, help="for the no-show (week)")
    return parser.parse_args(argv)


def _secret(path: Path | None) -> str:
    if path is None:
        raise SystemExit("a --password-file is needed")
    return path.read_text(encoding="utf-8").strip()


async def _play(args: argparse.Namespace) -> WebReport:
    patient = tuple((args.patient or ";;").split(";"))
    if args.role == "patient":
        family, given, birth = patient
        return await play_patient(
            args.hub, args.out, (family, given, birth), args.email, args.town, args.slot
        )
    if args.role == "coordinator":
        family, given, birth = patient
        day, month, year = birth.split("/")
        return await play_coordinator(
            args.hub,
            args.out,
            args.username,
            _secret(args.password_file),
            (family, given, f"{year}-{month}-{day}", args.phone),
        )
    return await play_week(
        args.hub,
        args.out,
        (args.username, _secret(args.password_file)),
        (args.next_username, _secret(args.next_password_file)),
        patient[0],
        args.consultation,
        args.wait_s,
    )


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        report = asyncio.run(_play(args))
    except Exception as exc:  # noqa: BLE001 - Playwright's own errors: reported, not raised
        report = WebReport(error=f"{type(exc).__name__}: {exc}")
        print(f"booking_web {args.role}: failed: {report.error}", file=sys.stderr)
    text = json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n"
    (args.out / f"booking-{args.role}.json").write_text(text, encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
