"""The public booking page in Debian's Chromium: a patient books at a phone's size (360x740) and
on a desktop (1280x800), in French and in English, with the mouse or with the keyboard alone
(Tab, Enter, Space, and typing); then cancels with the code, the birth date and a reason.

Every step's screenshot is saved (``booking-...png``, copied to /tmp/booking-shots); each
step's visible text is at least 18 px, its buttons and fields at least 48 px high, the
honeypot out of reach, and no request leaves 127.0.0.1. The hub runs in-process on loopback,
with its real storage and booking desk.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, async_playwright

from hub.app import RunningHub, load_hub_config, start_hub
from hub.booking import AppointmentStatus
from hub.booking_http import proof_holds
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from simulators.mailbox import Mailbox, appointment_code
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import FakeClock
from tests.hub.test_booking_http import BIRTH, book_by_api, seed_booking

SHOTS_COPY = Path("/tmp/booking-shots")
TIMEOUT_MS = 30_000  # for what takes well under a second idle: only a real failure waits this long
MONDAY_MORNING = datetime(2027, 1, 11, 6, 30, tzinfo=UTC)
"""07:30 in Paris: the whole Monday's slots are free, and Sunday the 17th is closed."""
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}

# Every visible element that holds text directly: its computed font size; the interactive
# ones' height; every field's label and every button's name. Reported as a list of what is
# wrong (empty: all good).
_TOO_SMALL = """() => {
  const small = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2 || getComputedStyle(el).visibility === "hidden") continue;
    if (el.closest("[hidden], [aria-hidden=true]")) continue;
    const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const size = parseFloat(getComputedStyle(el).fontSize);
    if ((ownText || el.matches("input, button")) && size < 18) {
      small.push(`${el.tagName}#${el.id}.${el.className} font ${size}px`);
    }
    if (el.matches("input") && el.labels.length === 0) small.push(`INPUT#${el.id} has no label`);
    if (el.matches("button") && !(el.getAttribute("aria-label") || el.textContent.trim())) {
      small.push(`BUTTON#${el.id} has no name`);
    }
    const tick = el.matches("input[type=checkbox], input[type=radio]");
    if (el.matches("button, a, input") && (box.height < 48 || (tick && box.width < 48))) {
      const size = `${Math.round(box.width)}x${Math.round(box.height)}`;
      small.push(`${el.tagName}#${el.id}.${el.className} ${size}`);
    }
  }
  return small;
}"""


@dataclass
class Visit:
    page: Page
    shots: Path
    prefix: str
    hosts: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    """The page's script errors and console errors (a CSP refusal is one), but for the HTTP
    refusals the tests provoke ("Failed to load resource: ... 409")."""

    async def shot(self, name: str) -> None:
        await self.page.screenshot(
            path=str(self.shots / f"{self.prefix}-{name}.png"), full_page=True
        )
        assert await self.page.evaluate(_TOO_SMALL) == [], name

    def loopback_only(self) -> None:
        """Every request went to the hub on 127.0.0.1, and the page raised no error."""
        assert self.hosts == {"127.0.0.1"}, self.hosts
        assert self.errors == [], self.errors


@asynccontextmanager
async def booking_hub(tmp_path: Path, **overrides: Any) -> AsyncIterator[RunningHub]:
    """The hub at a fixed time (`MONDAY_MORNING`), whatever the hour the tests run at."""
    config = load_hub_config(
        None,
        data_dir=tmp_path / "hub",
        overrides={"port": 0, "argon2_cost": "test"} | overrides,
    )
    clock = FakeClock(MONDAY_MORNING)
    hub = await start_hub(config, key=TEST_KEY, clock=clock)
    try:
        await seed_booking(hub, clock.now())
        yield hub
    finally:
        await hub.stop()


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


@asynccontextmanager
async def visit(
    browser: Browser, url: str, shots: Path, prefix: str, viewport: dict[str, int]
) -> AsyncIterator[Visit]:
    context = await browser.new_context(viewport=viewport, locale="fr-FR")  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    seen = Visit(page, shots, prefix)
    page.on("request", lambda request: seen.hosts.add(urlsplit(request.url).hostname or ""))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            seen.errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    await page.goto(url)
    try:
        yield seen
    finally:
        await context.close()


async def town_ready(page: Page) -> None:
    await page.wait_for_selector('body[data-ready="true"]')
    assert await page.is_enabled("#town")


async def book_with_the_mouse(seen: Visit, *, english: bool) -> str:
    page = seen.page
    await town_ready(page)
    if english:
        await page.click("#lang-toggle")
        await page.wait_for_function("document.documentElement.lang === 'en'")
    await seen.shot("1-town")
    await page.fill("#town", "saint")
    await page.locator('#town-list button[data-town="Saint-Flour"]').wait_for()
    assert await page.locator("#town-list button").count() == 1
    await page.click('#town-list button[data-town="Saint-Flour"]')
    await page.locator("#cabin-list button").first.wait_for()
    assert await page.locator("#cabin-list button").count() == 2  # two cabins in that town
    await seen.shot("1-cabins")
    await page.click('#cabin-list button[data-cabin="cabin-flour-hospital"]')
    await page.wait_for_selector('body[data-slots="loaded"]')
    await page.locator("#time-list button").first.wait_for()
    # the closed Sunday says so plainly
    empty_day = page.locator("#day-list button.empty").first
    await empty_day.click()
    await page.locator('[data-testid="day-empty"]').wait_for(state="visible")
    assert ("No free slot" if english else "Aucun créneau libre") in await page.inner_text(
        '[data-testid="day-empty"]'
    )
    await page.locator("#day-list button:not(.empty)").first.click()
    await seen.shot("2-slots")
    first = page.locator("#time-list button").first
    shown_time = (await first.inner_text()).strip()
    assert re.fullmatch(r"(09|1[0-6]):[0-5][05]", shown_time), shown_time  # the cabin's hours
    await first.click()
    await page.wait_for_selector('body[data-step="form"]')
    # a wrong form first: every error shown and announced, the first wrong field focused
    await page.fill("#phone", "06 12 34")
    await page.click("#book-submit")
    await page.locator('[data-testid="form-error"]').wait_for(state="visible")
    assert await page.get_attribute('[data-testid="form-error"]', "role") == "alert"
    assert await page.evaluate("document.activeElement.id") == "family-name"
    await seen.shot("3-errors")
    await page.fill("#family-name", "Le Gall-Éon")
    assert await page.is_hidden("#family-name-error")  # corrected: its error goes at once
    assert await page.is_visible('[data-testid="form-error"]')  # others are still wrong
    await page.fill("#given-names", "Anne Marie")
    await page.fill("#birth-day", str(BIRTH.day))
    await page.fill("#birth-month", str(BIRTH.month))
    await page.fill("#birth-year", str(BIRTH.year))
    await page.fill("#phone", "06.12.34.56.78")
    await page.fill("#email", "anne.legall@example.fr")
    await page.check("#consent")
    assert await page.is_hidden('[data-testid="form-error"]')  # nothing left to correct
    await seen.shot("3-form")
    await page.click("#book-submit")
    await page.wait_for_selector('body[data-step="done"]')
    code = (await page.inner_text('[data-testid="done-code"]')).strip()
    assert re.fullmatch(r"[0-9]{6}", code), code
    messages = await page.inner_text('[data-testid="done-messages"]')
    assert ("by e-mail and by text" if english else "par e-mail et par SMS") in messages
    assert shown_time in await page.inner_text('[data-testid="done-when"]')
    await seen.shot("4-done")
    await page.emulate_media(media="print")
    await page.screenshot(path=str(seen.shots / f"{seen.prefix}-5-print.png"), full_page=True)
    hidden_in_print = await page.evaluate(
        "getComputedStyle(document.querySelector('#print')).visibility"
    )
    assert hidden_in_print == "hidden"
    assert (
        await page.evaluate("getComputedStyle(document.querySelector('#done-code')).visibility")
        == "visible"
    )
    await page.emulate_media(media="screen")
    return code


def _copy_shots(shots: Path) -> None:
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for png in shots.glob("*.png"):
        shutil.copy(png, SHOTS_COPY / png.name)


def test_a_patient_books_on_a_phone_in_french_and_on_a_desktop_in_english(tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with booking_hub(tmp_path) as hub, chromium() as browser:
            url = f"{hub.url}/rendez-vous"
            async with visit(browser, url, shots, "booking-phone-fr", PHONE) as phone:
                code = await book_with_the_mouse(phone, english=False)
                phone.loopback_only()
            found = await hub.storage.appointment_by_code(code)
            assert found is not None and found.status is AppointmentStatus.BOOKED
            assert found.cabin_id == "cabin-flour-hospital"
            assert (found.patient.family_name, found.patient.given_names) == (
                "Le Gall-Éon",
                "Anne Marie",
            )
            assert found.patient.birth_date == BIRTH
            assert (found.phone, found.email) == ("+33612345678", "anne.legall@example.fr")
            assert found.language.value == "fr" and found.consent_at is not None
            assert found.channel.value == "online"

            async with visit(browser, url, shots, "booking-desktop-en", DESKTOP) as desk:
                code_en = await book_with_the_mouse(desk, english=True)
                # switched back on the slip: everything in French, the day too
                when_en = await desk.page.inner_text('[data-testid="done-when"]')
                await desk.page.click("#lang-toggle")
                await desk.page.wait_for_function("document.documentElement.lang === 'fr'")
                when_fr = await desk.page.inner_text('[data-testid="done-when"]')
                assert " at " in when_en and " à " in when_fr, (when_en, when_fr)
                assert "Votre code" in await desk.page.inner_text('[data-testid="slip"]')
                assert "par e-mail et par SMS" in await desk.page.inner_text(
                    '[data-testid="done-messages"]'
                )
                await desk.page.click("#lang-toggle")
                # the language is remembered on the device
                await desk.page.goto(url)
                await town_ready(desk.page)
                assert await desk.page.evaluate("document.documentElement.lang") == "en"
                assert "Your town" in await desk.page.inner_text("label[for=town]")
                desk.loopback_only()
            found_en = await hub.storage.appointment_by_code(code_en)
            assert found_en is not None and found_en.language.value == "en"

    asyncio.run(scenario())
    _copy_shots(shots)


async def press(page: Page, key: str, times: int = 1) -> None:
    for _ in range(times):
        await page.keyboard.press(key)


async def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Tab until `selector` has the focus (fails after `limit` presses)."""
    for _ in range(limit):
        if await page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_a_patient_books_with_the_keyboard_alone(tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with (
            booking_hub(tmp_path) as hub,
            chromium() as browser,
            visit(browser, f"{hub.url}/rendez-vous", shots, "booking-keyboard", PHONE) as seen,
        ):
            page = seen.page
            await town_ready(page)
            await tab_to(page, "#town")
            await page.keyboard.type("mura")
            await page.locator('#town-list button[data-town="Murat"]').wait_for()
            await press(page, "Enter")  # one town matches: chosen, its one cabin too
            await page.wait_for_selector('body[data-slots="loaded"]')
            assert await page.evaluate("document.activeElement.id") == "slot-title"
            await tab_to(page, "#time-list button")
            focus_ring = await page.evaluate(
                "getComputedStyle(document.activeElement).outlineStyle"
            )
            assert focus_ring == "solid"
            await seen.shot("slot-focused")
            await press(page, "Space")
            await page.wait_for_selector('body[data-step="form"]')
            await tab_to(page, "#family-name")
            await page.keyboard.type("Durand")
            await press(page, "Tab")
            await page.keyboard.type("Paul")
            await press(page, "Tab")
            await page.keyboard.type("2")
            await press(page, "Tab")
            await page.keyboard.type("11")
            await press(page, "Tab")
            await page.keyboard.type("1939")
            await press(page, "Tab")
            assert await page.evaluate("document.activeElement.id") == "phone"
            await page.keyboard.type("+33 (0)4 71 20 00 00")
            await press(page, "Tab")
            assert await page.evaluate("document.activeElement.id") == "email"
            await press(page, "Tab")  # the honeypot is skipped
            assert await page.evaluate("document.activeElement.id") == "consent"
            await press(page, "Space")
            assert await page.is_checked("#consent")
            await press(page, "Tab")
            assert await page.evaluate("document.activeElement.id") == "book-submit"
            await seen.shot("form-filled")
            await press(page, "Enter")
            await page.wait_for_selector('body[data-step="done"]')
            assert await page.evaluate("document.activeElement.id") == "done-title"
            code = (await page.inner_text('[data-testid="done-code"]')).strip()
            assert "SMS" in await page.inner_text('[data-testid="done-messages"]')
            await seen.shot("done")
            seen.loopback_only()
            found = await hub.storage.appointment_by_code(code)
            assert found is not None and found.cabin_id == "cabin-murat"
            assert found.phone == "+33471200000" and found.email == ""
            assert found.patient.birth_date == date(1939, 11, 2)

    asyncio.run(scenario())
    _copy_shots(shots)


def test_a_patient_cancels_with_the_code_the_birth_date_and_a_reason(tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with booking_hub(tmp_path) as hub, chromium() as browser:
            first = await book_by_api(hub)
            second = await book_by_api(hub, slot_index=1)
            # French, from the link in a message (the code filled in), a wrong birth date first
            link = f"{hub.url}/rendez-vous/annuler?code={first.code}"
            async with visit(browser, link, shots, "booking-cancel-fr", PHONE) as seen:
                page = seen.page
                await page.wait_for_selector('body[data-ready="true"]')
                assert await page.input_value("#cancel-code") == first.code
                await seen.shot("1-form")
                await page.click("#cancel-submit")  # nothing filled: each field says what
                await page.locator("#cancel-birth-error").wait_for(state="visible")
                await page.locator("#reason-error").wait_for(state="visible")
                await page.fill("#cancel-birth-day", "1")
                await page.fill("#cancel-birth-month", "1")
                await page.fill("#cancel-birth-year", "1950")
                await page.check("#reason-other")
                await page.click("#cancel-submit")
                await page.locator("#reason-text-error").wait_for(state="visible")
                await page.fill("#reason-text", "Je pars en voyage")
                await page.click("#cancel-submit")
                error = page.locator('[data-testid="cancel-error"]')
                await error.wait_for(state="visible")
                assert "Aucun rendez-vous à annuler ne correspond" in await error.inner_text()
                await seen.shot("2-refused")
                await page.fill("#cancel-birth-day", str(BIRTH.day))
                await page.fill("#cancel-birth-month", str(BIRTH.month))
                await page.fill("#cancel-birth-year", str(BIRTH.year))
                await page.click("#cancel-submit")
                await page.wait_for_selector('body[data-step="cancelled"]')
                done = await page.inner_text('[data-testid="cancel-done-text"]')
                assert "est annulé" in done and first.time in done
                await seen.shot("3-done")
                seen.loopback_only()
            cancelled = await hub.storage.appointment(first.appointment_id)
            assert cancelled is not None and cancelled.status is AppointmentStatus.CANCELLED
            assert "Je pars en voyage" in cancelled.cancel_reason
            assert cancelled.cancelled_by == "patient"

            # English, typing the code, a listed reason
            async with visit(
                browser,
                f"{hub.url}/rendez-vous/annuler?lang=en",
                shots,
                "booking-cancel-en",
                DESKTOP,
            ) as seen:
                page = seen.page
                await page.wait_for_selector('body[data-ready="true"]')
                await page.fill("#cancel-code", second.code)
                await page.fill("#cancel-birth-day", str(BIRTH.day))
                await page.fill("#cancel-birth-month", str(BIRTH.month))
                await page.fill("#cancel-birth-year", str(BIRTH.year))
                await page.check("#reason-better")
                await seen.shot("1-form")
                await page.click("#cancel-submit")
                await page.wait_for_selector('body[data-step="cancelled"]')
                assert "is cancelled" in await page.inner_text('[data-testid="cancel-done-text"]')
                await seen.shot("2-done")
                seen.loopback_only()
            cancelled = await hub.storage.appointment(second.appointment_id)
            assert cancelled is not None and cancelled.status is AppointmentStatus.CANCELLED
            assert "Feeling better" in cancelled.cancel_reason

    asyncio.run(scenario())
    _copy_shots(shots)


def test_a_slot_taken_meanwhile_sends_the_patient_back_to_the_times(tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with (
            booking_hub(tmp_path) as hub,
            chromium() as browser,
            visit(browser, f"{hub.url}/rendez-vous", shots, "booking-taken", PHONE) as seen,
        ):
            page = seen.page
            await town_ready(page)
            await page.fill("#town", "Murat")
            await page.press("#town", "Enter")
            first = page.locator("#time-list button").first
            await first.wait_for()
            starts_at = await first.get_attribute("data-starts-at")
            await first.click()
            await page.fill("#family-name", "Bernard")
            await page.fill("#given-names", "Louise")
            await page.fill("#birth-day", "5")
            await page.fill("#birth-month", "6")
            await page.fill("#birth-year", "1944")
            await page.check("#consent")
            # someone else books that very slot meanwhile
            other = await book_by_api(hub, slot_index=0)
            assert other.starts_at == starts_at
            await page.click("#book-submit")
            error = page.locator('[data-testid="slot-error"]')
            await error.wait_for(state="visible")
            assert "vient d'être pris" in await error.inner_text()
            assert await page.evaluate("document.body.dataset.step") == "slot"
            await page.locator(f'#time-list button[data-starts-at="{starts_at}"]').wait_for(
                state="detached"
            )
            await seen.shot("back-to-times")
            # the next time books, the names kept
            await page.locator("#time-list button").first.click()
            assert await page.input_value("#family-name") == "Bernard"
            await page.click("#book-submit")
            await page.wait_for_selector('body[data-step="done"]')
            seen.loopback_only()

    asyncio.run(scenario())
    _copy_shots(shots)


def test_the_confirmation_e_mail_carries_the_code_and_a_link_that_cancels(tmp_path: Path) -> None:
    """The demo's path: booked on the page at a phone's size, the confirmation reaches a real
    SMTP server with the code on the screen, and its link opens the cancel form with the code
    filled in; the cancellation's notice follows."""
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario(mailbox: Mailbox) -> None:
        async with (
            booking_hub(tmp_path, mail=mailbox.hub_mail_config()) as hub,
            chromium() as browser,
            visit(browser, f"{hub.url}/rendez-vous", shots, "booking-mail", PHONE) as seen,
        ):
            page = seen.page
            await town_ready(page)
            await page.fill("#town", "murat")
            await page.press("#town", "Enter")
            await page.locator("#time-list button").first.click()
            await page.fill("#family-name", "Roux")
            await page.fill("#given-names", "Paul")
            await page.fill("#birth-day", str(BIRTH.day))
            await page.fill("#birth-month", str(BIRTH.month))
            await page.fill("#birth-year", str(BIRTH.year))
            await page.fill("#email", "paul.roux@example.fr")
            await page.check("#consent")
            await page.click("#book-submit")
            await page.wait_for_selector('body[data-step="done"]')
            code = (await page.inner_text('[data-testid="done-code"]')).strip()
            assert "par e-mail" in await page.inner_text('[data-testid="done-messages"]')

            confirmation = (await mailbox.wait(1, timeout_s=30))[0]
            assert confirmation["To"] == "paul.roux@example.fr"
            assert appointment_code(confirmation) == code
            body = confirmation.get_body(preferencelist=("plain",))
            assert body is not None
            link = re.search(
                r"(https?://\S+/rendez-vous/annuler\?code=[0-9]{6})", body.get_content()
            )
            assert link is not None and link.group(1).startswith(hub.url)

            await page.goto(link.group(1))
            await page.wait_for_selector('body[data-ready="true"]')
            assert await page.input_value("#cancel-code") == code
            await page.fill("#cancel-birth-day", str(BIRTH.day))
            await page.fill("#cancel-birth-month", str(BIRTH.month))
            await page.fill("#cancel-birth-year", str(BIRTH.year))
            await page.check("#reason-elsewhere")
            await page.click("#cancel-submit")
            await page.wait_for_selector('body[data-step="cancelled"]')
            await seen.shot("cancelled-from-the-link")
            seen.loopback_only()
            notice = (await mailbox.wait(2, timeout_s=30))[1]
            assert "annulé" in notice["Subject"]

    with Mailbox() as mailbox:
        asyncio.run(scenario(mailbox))
    _copy_shots(shots)


def test_too_many_requests_are_refused_in_words_with_the_wait(tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with (
            booking_hub(tmp_path, public_booking={"reads_per_minute": 3}) as hub,
            chromium() as browser,
            visit(browser, f"{hub.url}/rendez-vous", shots, "booking-limited", PHONE) as seen,
        ):
            page = seen.page
            await town_ready(page)  # 1: the towns
            await page.fill("#town", "murat")
            await page.press("#town", "Enter")  # 2: the cabins, 3: the slots
            await page.wait_for_selector('body[data-slots="loaded"]')
            await page.click("#days-later")  # 4: one too many this minute
            error = page.locator('[data-testid="slot-error"]')
            await error.wait_for(state="visible")
            text = await error.inner_text()
            assert text == "Trop de demandes : réessayez dans 1 minute.", text
            assert await error.get_attribute("role") == "alert"
            await seen.shot("refused")

    asyncio.run(scenario())
    _copy_shots(shots)


_SHA256_CHECK = """async () => {
  const { sha256, solveChallenge } = await import("/rendez-vous/main.js");
  const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  const differ = [];
  for (const size of [0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 200]) {
    const bytes = crypto.getRandomValues(new Uint8Array(size));
    const ours = hex(sha256(bytes));
    const theirs = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
    if (ours !== theirs) differ.push(size);
  }
  const nonce = await solveChallenge("00112233445566778899aabbccddeeff", 10, { subtle: null });
  return { differ, nonce, abc: hex(sha256(new TextEncoder().encode("abc"))) };
}"""


def test_the_page_proves_its_work_without_crypto_subtle_too(tmp_path: Path) -> None:
    """Over plain HTTP on a local network the browser has no crypto.subtle: the page's own
    SHA-256 gives the same digests, and its nonce satisfies the hub."""

    async def scenario() -> None:
        async with (
            booking_hub(tmp_path) as hub,
            chromium() as browser,
            visit(browser, f"{hub.url}/rendez-vous", tmp_path, "booking-sha", PHONE) as seen,
        ):
            await town_ready(seen.page)
            found = await seen.page.evaluate(_SHA256_CHECK)
            assert found["differ"] == []
            assert found["abc"] == hashlib.sha256(b"abc").hexdigest()
            assert proof_holds("00112233445566778899aabbccddeeff", found["nonce"], 10)

    asyncio.run(scenario())
