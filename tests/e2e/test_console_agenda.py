"""The doctor's agenda and the weekly handover in Debian's Chromium.

Doctor A, on the rota this week, sees today's agenda with every state (booked, checked in, in
the cabin, seen, no-show, the late ones marked) and the week with its no-shows counted, flags
the patient in the cabin "to follow up", and writes the end-of-week handover with that patient
linked to her consultation. Doctor B, on the rota next week, signs in: the handover comes first
(not blocking: the tabs stay usable), B opens the linked consultation, acknowledges it, and
finds the patient on the follow-up list. Screenshots in French and English of the agenda, the
week, the handover form and the handover as read.

The hub runs in-process on loopback with a clock set to Wednesday 9 December 2026, 10:20 in
Paris (the seeded week, `tests.hub.agenda_week`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from hub.accounts import create_doctor
from hub.app import RunningHub, load_hub_config, start_hub
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from tests.hub.agenda_week import NOW, seed_week
from tests.hub.hub_key import TEST_KEY

DOCTOR_A = ("dr.durand", "password-of-dr-durand", "Dr Claire Durand")
DOCTOR_B = ("dr.martin", "password-of-dr-martin", "Dr Paul Martin")
DOCTOR_C = ("dr.roux", "password-of-dr-roux", "Dr Anne Roux")
"""A colleague helping on Wednesday: the patient in the cabin now is with her."""
SHOTS = Path(__file__).resolve().parents[2] / "test-out" / "screens"
TIMEOUT_MS = 60_000  # for what takes well under a second idle: only a real failure waits this long


class ShiftedClock:
    """The machine's clock, moved to the seeded Wednesday morning (it goes on ticking)."""

    def __init__(self, now: datetime) -> None:
        self._offset = now - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()


@asynccontextmanager
async def hub_with_week(tmp_path: Path) -> AsyncIterator[RunningHub]:
    config = load_hub_config(
        None, data_dir=tmp_path / "hub", overrides={"port": 0, "argon2_cost": "test"}
    )
    hub = await start_hub(config, key=TEST_KEY, clock=ShiftedClock(NOW))
    try:
        for username, password, name in (DOCTOR_A, DOCTOR_B, DOCTOR_C):
            await create_doctor(
                hub.storage,
                username=username,
                password=password,
                display_name=name,
                specialty="Médecine générale",
                argon2_cost="test",
            )
        await seed_week(hub.storage, DOCTOR_A[0], DOCTOR_B[0], in_cabin_with=DOCTOR_C[0])
        yield hub
    finally:
        await hub.stop()


async def signed_in(
    browser: Browser, url: str, who: tuple[str, str, str]
) -> tuple[Page, list[str]]:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="fr-FR", timezone_id="Europe/Paris"
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await page.fill("#login-username", who[0])
    await page.fill("#login-password", who[1])
    await page.click("#login-submit")
    await page.locator("#console-tabs").wait_for(state="visible")
    return page, errors


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def english(page: Page, on: bool) -> None:
    want = "en" if on else "fr"
    if await page.evaluate("document.documentElement.lang") != want:
        await page.click("#lang-toggle")
    assert await page.evaluate("document.documentElement.lang") == want


async def agenda_loaded(page: Page, span: str) -> None:
    await page.locator(f'#agenda[data-span="{span}"][data-loaded="true"]').wait_for()


def test_the_agenda_and_the_handover_from_one_weekly_doctor_to_the_next(tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)

    async def scenario() -> None:
        async with hub_with_week(tmp_path) as hub, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
            )
            try:
                await doctor_a(browser, hub)
                await doctor_b(browser, hub)
            finally:
                await browser.close()
            actions = [
                (e.action, e.actor_id, e.consultation_id) for e in await hub.storage.audit_entries()
            ]
            assert ("handover.written", DOCTOR_A[0], None) in actions
            assert ("handover.linked", DOCTOR_A[0], "c-tue") in actions
            assert ("followup.flagged", DOCTOR_A[0], "c-tue") in actions
            assert ("history.read", DOCTOR_B[0], "c-tue") in actions
            assert ("handover.read", DOCTOR_B[0], None) in actions
            assert ("followup.cleared", DOCTOR_B[0], "c-tue") in actions

    asyncio.run(scenario())


async def doctor_a(browser: Browser, hub: RunningHub) -> None:
    page, errors = await signed_in(browser, f"{hub.url}/", DOCTOR_A)
    # Nothing unread: A stays on the waiting room.
    await page.locator("#waiting-room").wait_for(state="visible")
    assert await page.locator('[data-testid="handover-badge"]').is_hidden()

    # Today's agenda, every state, the late ones marked.
    await page.click('[data-testid="tab-agenda"]')
    await agenda_loaded(page, "day")
    rows = page.locator('[data-testid="agenda-entry"]')
    assert await rows.count() == 6
    statuses = [await rows.nth(i).get_attribute("data-status") for i in range(6)]
    assert statuses == ["seen", "noshow", "in_cabin", "checked_in", "booked", "booked"]
    assert [await rows.nth(i).get_attribute("data-late") for i in range(6)] == [
        "false", "false", "false", "true", "true", "false",
    ]  # fmt: skip
    table = await page.locator('[data-testid="agenda-table"]').inner_text()
    for text in (
        "QUÉLENNEC",
        "En cabine",
        "Arrivé, en attente",
        "Absent",
        "Vu",
        "Réservé",
        "Murat",
    ):
        assert text in table, text
    assert "arrivé avec 17 min de retard" in table
    assert "en retard de" in table
    assert "mercredi 9 décembre 2026" in str(
        await page.locator('[data-testid="agenda-heading"]').text_content()
    )
    assert (
        "Absents ce jour : 1" in await page.locator('[data-testid="agenda-noshows"]').inner_text()
    )
    await shot(page, "console-agenda-day-fr")
    await english(page, True)
    assert "In the cabin" in await page.locator('[data-testid="agenda-table"]').inner_text()
    await shot(page, "console-agenda-day-en")

    # The week: Monday to Sunday, three no-shows.
    await page.click('[data-testid="agenda-week"]')
    await agenda_loaded(page, "week")
    assert await page.locator('[data-testid="agenda-week-day"]').count() == 7
    assert await page.locator('[data-testid="agenda-entry"]').count() == 11
    noshows = page.locator('[data-testid="agenda-noshows"]')
    assert "No-shows this week: 3" in await noshows.inner_text()
    await shot(page, "console-agenda-week-en")
    await english(page, False)
    assert "Absents cette semaine : 3" in await noshows.inner_text()
    await shot(page, "console-agenda-week-fr")

    # Yesterday: the patient A saw flagged "to follow up" (only A's own patients offer it).
    await page.click('[data-testid="agenda-day"]')
    await agenda_loaded(page, "day")
    assert await page.locator('[data-testid="followup-flag"]').count() == 1  # Bernard, seen by A
    await page.click('[data-testid="agenda-previous"]')
    await page.locator('#agenda[data-loaded="true"] [data-appointment="a-tue-1"]').wait_for()
    assert "mardi 8 décembre 2026" in str(
        await page.locator('[data-testid="agenda-heading"]').text_content()
    )
    flag = page.locator('[data-testid="followup-flag"][data-consultation="c-tue"]')
    await flag.locator('[data-testid="followup-open"]').click()
    await flag.locator('[data-testid="followup-note"]').fill("TA à recontrôler dans 8 jours")
    await flag.locator('[data-testid="followup-submit"]').click()
    await flag.locator('[data-testid="followup-done"]').wait_for()

    # The end-of-week handover, the patient linked to her consultation.
    await page.click('[data-testid="tab-handover"]')
    await page.click('[data-testid="handover-write"]')
    form = page.locator('[data-testid="handover-form"]')
    await form.wait_for()
    recipient_b = form.locator(f'[data-testid="handover-recipient"][data-username="{DOCTOR_B[0]}"]')
    assert await recipient_b.is_checked()  # the next doctor on the rota
    await form.locator('[data-testid="handover-form-summary"]').fill(
        "Semaine chargée à Murat ; deux absents non excusés."
    )
    first = form.locator('[data-testid="handover-form-item"]').nth(0)
    await first.locator('[data-testid="handover-item-kind"]').select_option("patient")
    await first.locator('[data-testid="handover-item-text"]').fill(
        "Mme Quélennec : vertiges, TA 165/95, à revoir"
    )
    await first.locator('[data-testid="handover-item-consultation"]').select_option("c-tue")
    await first.locator('[data-testid="handover-item-due"]').fill("2026-12-16")
    await form.locator('[data-testid="handover-add-item"]').click()
    second = form.locator('[data-testid="handover-form-item"]').nth(1)
    await second.locator('[data-testid="handover-item-kind"]').select_option("result")
    await second.locator('[data-testid="handover-item-text"]').fill(
        "NFS de M. Lefèvre attendue au labo de Murat"
    )
    await shot(page, "console-handover-form-fr")
    await english(page, True)
    assert "Send the handover" in await form.inner_text()
    await shot(page, "console-handover-form-en")
    await english(page, False)
    await form.locator('[data-testid="handover-submit"]').click()
    mine = page.locator('[data-testid="handover-mine"] [data-testid="handover-card"]')
    await mine.wait_for()
    assert "Pas encore lue" in await mine.inner_text()
    assert errors == []
    await page.context.close()


async def doctor_b(browser: Browser, hub: RunningHub) -> None:
    page, errors = await signed_in(browser, f"{hub.url}/", DOCTOR_B)
    # The handover first, with its badge; nothing blocks the other tabs.
    unread = page.locator('[data-testid="handover-unread"]')
    await unread.wait_for(state="visible")
    assert await page.evaluate("document.body.dataset.screen") == "handover"
    assert (await page.locator('[data-testid="handover-badge"]').inner_text()).startswith("1")
    card = unread.locator('[data-testid="handover-card"]')
    text = await card.text_content() or ""
    for expected in (
        "Dr Claire Durand",
        "Patient à suivre",
        "Résultat en attente",
        "16 décembre",
        "Cabines : Murat, Saint-Flour",
    ):
        assert expected in text, expected
    assert "Quélennec Yvonne, 88" in text
    followups = page.locator('[data-testid="followup-entry"]')
    assert await followups.count() == 1
    assert "TA à recontrôler dans 8 jours" in await followups.inner_text()
    await shot(page, "console-handover-unread-fr")

    # The linked consultation: the patient's record, this visit and the one before.
    await card.locator('[data-testid="handover-open"]').click()
    history = card.locator('[data-testid="linked-history"] [data-testid="history-entry"]')
    await history.first.wait_for()
    assert await history.count() == 2
    opened = card.locator('[data-testid="history-entry"][data-consultation="c-tue"]')
    assert await opened.get_attribute("open") is not None

    # "Later" goes to work, the handover still there and counted; then "I have read it".
    await unread.locator('[data-testid="handover-later"]').click()
    await page.locator("#waiting-room").wait_for(state="visible")
    assert await page.locator('[data-testid="handover-badge"]').is_visible()
    await page.click('[data-testid="tab-handover"]')
    await unread.locator('[data-testid="handover-ack"]').click()
    read = page.locator('[data-testid="handover-received"] [data-testid="handover-card"]')
    await read.wait_for()
    assert await read.get_attribute("data-read") == "true"
    assert "Lue le" in await read.inner_text()
    assert await page.locator('[data-testid="handover-badge"]').is_hidden()
    await shot(page, "console-handover-read-fr")
    await english(page, True)
    assert "Read on" in await read.inner_text()
    assert "Patients to follow up" in await page.locator('[data-testid="followups"]').inner_text()
    await shot(page, "console-handover-read-en")

    # B sees the patient, and clears the flag with a note (a note is required).
    entry = page.locator('[data-testid="followup-entry"]')
    await entry.locator('[data-testid="followup-clear"]').click()
    await entry.locator('[data-testid="followup-clear-submit"]').click()
    assert "Write a note" in await entry.inner_text()
    await entry.locator('[data-testid="followup-clear-note"]').fill("Seen on Monday: BP 128/80")
    await entry.locator('[data-testid="followup-clear-submit"]').click()
    await page.locator('[data-testid="followups"]', has_text="No patient to follow up").wait_for()
    assert errors == []
    await page.context.close()
