"""The coordinator's page in Debian's Chromium, on a real hub (loopback, SQLCipher file):

a coordinator signs in, sees both cabins' agendas side by side, books a caller in a few clicks
and reads the code, prints the slip (the print stylesheet: the slip alone), finds the patient
by name and birth date, moves the appointment to another slot, cancels it with a reason, adds
a shift that conflicts with the rota and reads why it is refused, and sees a message that
could not be delivered with the patient's phone. In French, then in English. An agent who is
not a coordinator is refused. Every step is checked in the hub's storage and audit log.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from hub.accounts import create_doctor, provision_cabin
from hub.app import RunningHub, load_hub_config, start_hub
from hub.booking import (
    AppointmentStatus,
    Notification,
    NotificationChannel,
    NotificationKind,
)
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from tests.hub.coordination_rig import (
    COORDINATOR,
    COORDINATOR_PASSWORD,
    PARIS,
    add_coordinator,
    open_cabins,
    week_from,
)
from tests.hub.hub_key import TEST_KEY

SHOTS_COPY = Path("/tmp/coordinator-shots")
TIMEOUT_MS = 60_000  # for what takes well under a second: only a real failure waits this long
CALLER = ("Delmas", "Jeanne", "1941-03-12", "06 12 34 56 78")
NO_PRINT = "window.print = () => { document.body.dataset.printed = String(Date.now()); };"


@asynccontextmanager
async def coordination_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """Two cabins open every day, dr.martin on the rota from tomorrow for a week (dr.durand
    too, afternoons at Allanche), a coordinator of both and an agent who is not one."""
    config = load_hub_config(
        None,
        data_dir=tmp_path / "hub",
        overrides={"port": 0, "argon2_cost": "test"},
    )
    hub = await start_hub(config, key=TEST_KEY)
    try:
        for username, name in (("dr.martin", "Dr Claire Martin"), ("dr.durand", "Dr Paul Durand")):
            await create_doctor(
                hub.storage,
                username=username,
                password=f"password-of-{username}",
                display_name=name,
                specialty="Médecine générale",
                argon2_cost="test",
            )
        await provision_cabin(hub.storage, cabin_id="cabin-1", name="Cabine de Murat")
        await provision_cabin(hub.storage, cabin_id="cabin-2", name="Cabine d'Allanche")
        today = datetime.now(UTC).astimezone(PARIS).date()
        await open_cabins(
            hub,
            doctor="dr.martin",
            second_doctor="dr.durand",
            days=week_from(today + timedelta(days=1)),
        )
        await add_coordinator(hub)
        await add_coordinator(hub, "agent.alerts", "cabin-1", coordinator=False)
        yield hub
    finally:
        await hub.stop()


async def signed_in(browser: Browser, url: str, who: tuple[str, str], ready: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="fr-FR", timezone_id="Europe/Paris"
    )
    await context.add_init_script(NO_PRINT)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{url}/coordination")
    await page.fill("#login-username", who[0])
    await page.fill("#login-password", who[1])
    await page.click("#login-submit")
    await page.wait_for_selector(ready, state="visible")
    return page


async def shot(page: Page, shots: Path, name: str, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=full_page)


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)


def column(cabin_id: str) -> str:
    return f'[data-testid="cabin-column"][data-cabin-id="{cabin_id}"]'


def test_a_coordinator_books_prints_finds_moves_and_cancels_and_meets_a_rota_conflict(
    tmp_path: Path,
) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario() -> None:
        async with coordination_hub(tmp_path) as hub, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=list(CHROMIUM_ARGS),
            )
            try:
                await run_the_desk(browser, hub, shots, tmp_path)
            finally:
                await browser.close()

    asyncio.run(scenario())
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for picture in shots.glob("*"):
        shutil.copy(picture, SHOTS_COPY / picture.name)


async def run_the_desk(browser: Browser, hub: RunningHub, shots: Path, tmp_path: Path) -> None:
    storage = hub.storage
    # 0. an agent without the role is told the page is not theirs
    refused = await signed_in(
        browser, hub.url, ("agent.alerts", COORDINATOR_PASSWORD), '[data-testid="refused"]'
    )
    assert "réservée aux coordinateurs" in await refused.inner_text('[data-testid="refused"]')
    await refused.context.close()

    page = await signed_in(
        browser, hub.url, (COORDINATOR, COORDINATOR_PASSWORD), '[data-testid="cabin-column"]'
    )
    murat, allanche = column("cabin-1"), column("cabin-2")
    assert await page.locator('[data-testid="cabin-column"]').count() == 2

    # 1. tomorrow: both agendas side by side, the week's counts above them
    await page.click('[data-testid="day-next"]')
    first_free = page.locator(f'{murat} [data-testid="slot-free"]').first
    await first_free.wait_for()
    assert "Cabine de Murat" in await page.inner_text(murat)
    assert "Cabine d'Allanche" in await page.inner_text(allanche)
    assert "Dr Claire Martin, Dr Paul Durand" in await page.inner_text(
        f'{allanche} [data-testid="column-doctors"]'
    )
    assert "Sans rendez-vous" in await page.inner_text(murat)
    tomorrow = (datetime.now(UTC).astimezone(PARIS).date() + timedelta(days=1)).isoformat()
    strip = page.locator(f'[data-testid="week-day"][data-day="{tomorrow}"]')
    assert re.search(r"\d+ libres", await strip.inner_text())
    await shot(page, shots, "coordinator-agenda-fr")

    # 2. a caller: one click on a free slot, the form, "Réserver": the code, big
    slot_time = await first_free.locator(".slot-time").inner_text()
    # with the keyboard alone: Enter on the slot, the form takes the focus, Enter books
    await first_free.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function("() => document.activeElement.id === 'book-family'")
    await page.keyboard.type(CALLER[0])
    await page.keyboard.press("Tab")
    await page.keyboard.type(CALLER[1])
    await page.fill('[data-testid="book-birth"]', CALLER[2])
    await page.fill('[data-testid="book-phone"]', CALLER[3])
    await page.keyboard.press("Enter")  # the consent box is not ticked yet
    assert "accord" in await page.inner_text('[data-testid="book-error"]')
    await page.focus('[data-testid="book-consent"]')
    await page.keyboard.press("Space")
    assert await page.is_checked('[data-testid="book-consent"]')
    await shot(page, shots, "coordinator-booking-form-fr", full_page=False)
    await page.focus('[data-testid="book-phone"]')
    await page.keyboard.press("Enter")
    code_box = page.locator('[data-testid="booked-code"]')
    await code_box.wait_for()
    shown_code = (await code_box.inner_text()).replace(" ", "")
    assert re.fullmatch(r"\d{6}", shown_code)
    font_px = await code_box.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font_px >= 48
    far = datetime.now(UTC) + timedelta(days=30)
    booked = await storage.appointments(
        cabin_ids=["cabin-1"], starts_from=datetime.now(UTC), starts_before=far
    )
    assert len(booked) == 1
    appointment = booked[0]
    assert appointment.code == shown_code
    assert (appointment.patient.family_name, appointment.phone) == ("Delmas", "+33612345678")
    assert (appointment.channel.value, appointment.booked_by) == ("phone", COORDINATOR)
    assert f"{appointment.starts_at.astimezone(PARIS):%H:%M}" == slot_time
    await shot(page, shots, "coordinator-booked-fr", full_page=False)

    # 3. the slip: printed, it is the slip alone (cabin, town, date, time, code, how to cancel)
    await page.click('[data-testid="booked-print"]')
    await page.wait_for_function("() => document.body.dataset.printed !== undefined")
    await page.emulate_media(media="print")
    assert await page.locator('[data-testid="book-dialog"]').is_hidden()
    assert await page.locator('[data-testid="agenda-grid"]').is_hidden()
    await shot(page, shots, "coordinator-slip-fr")
    pdf = tmp_path / "coordinator-slip-fr.pdf"
    await page.pdf(path=str(pdf), format="A5")
    await page.emulate_media(media="screen")
    text = (await asyncio.to_thread(run_tool, "pdftotext", "-layout", str(pdf), "-")).stdout
    for expected in (
        "Cabine de Murat",
        "Murat",
        slot_time,
        f"{shown_code[:3]} {shown_code[3:]}",
        "Pour annuler",
        "Delmas Jeanne",
    ):
        assert expected in text, (expected, text)
    assert "Sans rendez-vous" not in text and "Agendas" not in text
    png = str(shots / "coordinator-slip-pdf-fr")
    await asyncio.to_thread(run_tool, "pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf), png)
    await page.click('[data-testid="booked-close"]')
    held = page.locator(
        f'{murat} [data-testid="slot-booked"][data-appointment-id="{appointment.appointment_id}"]'
    )
    await held.wait_for()
    assert "Delmas Jeanne" in await held.inner_text()
    assert "06 12" not in await held.inner_text()  # stored and shown as +33...
    assert "+33612345678" in await held.inner_text()

    # 4. the patient calls back: found by name and birth date, moved to the next free slot
    await page.click('[data-testid="tab-patient"]')
    await page.fill('[data-testid="search-family"]', "delmas")
    # the caller gives their family name and birth date: that is enough
    await page.fill('[data-testid="search-birth"]', CALLER[2])
    await page.click('[data-testid="search-submit"]')
    result = page.locator(
        f'[data-testid="result"][data-appointment-id="{appointment.appointment_id}"]'
    )
    await result.wait_for()
    assert "Réservé" in await result.inner_text()
    assert "sans prénom" in await page.inner_text('[data-testid="search-results"]')
    await shot(page, shots, "coordinator-search-fr")
    await result.locator('[data-testid="result-open"]').click()
    await page.click('[data-testid="detail-move"]')
    await page.locator('[data-testid="move-banner"]').wait_for()
    target = page.locator(f'{murat} [data-testid="slot-move-here"]').nth(1)
    target_time = await target.locator(".slot-time").inner_text()
    assert await page.locator(f'{allanche} [data-testid="slot-move-here"]').count() == 0
    await shot(page, shots, "coordinator-moving-fr")
    await target.click()
    await page.locator('[data-testid="detail-dialog"]').wait_for()
    await page.wait_for_function(
        "t => document.querySelector('[data-testid=\"detail-list\"]').textContent.includes(t)",
        arg=target_time,
    )
    moved = await storage.appointment(appointment.appointment_id)
    assert moved is not None and f"{moved.starts_at.astimezone(PARIS):%H:%M}" == target_time
    assert moved.code == appointment.code

    # 5. then they cannot come: cancelled, with the reason they gave
    await page.click('[data-testid="detail-cancel"]')
    await page.click('[data-testid="cancel-confirm"]')
    assert "motif" in (await page.inner_text('[data-testid="cancel-error"]')).lower()
    await page.fill('[data-testid="cancel-reason"]', "Le patient est hospitalisé")
    await page.click('[data-testid="cancel-confirm"]')
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=\"detail-list\"]').textContent"
        ".includes('Annulé')"
    )
    cancelled = await storage.appointment(appointment.appointment_id)
    assert cancelled is not None and cancelled.status is AppointmentStatus.CANCELLED
    assert (cancelled.cancel_reason, cancelled.cancelled_by) == (
        "Le patient est hospitalisé",
        COORDINATOR,
    )
    await page.click("#detail-close")

    # 6. the rota: dr.martin already covers Murat tomorrow; the conflict is refused, explained
    await page.click('[data-testid="tab-rota"]')
    await page.locator('[data-testid="shift"]').first.wait_for()
    days = page.locator('[data-testid="shift-day"]')
    if await page.locator(f'[data-testid="shift-day"][value="{tomorrow}"]').count() == 0:
        await page.click('[data-testid="week-next"]')  # today is a Sunday
    assert await days.count() == 7
    await page.select_option('[data-testid="shift-doctor"]', "dr.martin")
    await page.check('[data-testid="shift-cabin"][value="cabin-1"]')
    await page.check(f'[data-testid="shift-day"][value="{tomorrow}"]')
    await page.fill('[data-testid="shift-starts"]', "10:00")
    await page.fill('[data-testid="shift-ends"]', "11:00")
    shifts_before = await storage.shifts(
        starts_before=far, ends_after=datetime.now(UTC), doctor="dr.martin"
    )
    await page.click('[data-testid="shift-submit"]')
    explanation = page.locator('[data-testid="shift-conflicts"] li')
    await explanation.first.wait_for()
    assert await explanation.count() == 1
    assert "dr.martin couvre déjà cette cabine" in await explanation.first.inner_text()
    assert "Le planning n'a pas été modifié" in await page.inner_text('[data-testid="shift-error"]')
    shifts_after = await storage.shifts(
        starts_before=far, ends_after=datetime.now(UTC), doctor="dr.martin"
    )
    assert len(shifts_after) == len(shifts_before)
    await page.locator('[data-testid="shift-error"]').scroll_into_view_if_needed()
    await shot(page, shots, "coordinator-rota-conflict-fr")

    # 6b. Allanche closes on Sunday afternoons; every cabin on the public holidays of 2027
    await page.select_option('[data-testid="hours-cabin"]', "cabin-2")
    await page.fill('[data-testid="hours-6-afternoon-opens"]', "")
    await page.fill('[data-testid="hours-6-afternoon-closes"]', "")
    await page.click('[data-testid="hours-submit"]')
    await page.locator('[data-testid="notice"]', has_text="Horaires enregistrés").wait_for()
    hours = await storage.opening_hours("cabin-2")
    assert len(hours) == 13 and not [h for h in hours if h.weekday == 6 and h.opens.hour == 14]
    assert len(await storage.opening_hours("cabin-1")) == 14
    await page.fill('[data-testid="holidays-year"]', "2027")
    await page.click('[data-testid="holidays-submit"]')
    await page.locator('[data-testid="notice"]', has_text="22 fermeture(s)").wait_for()
    for cabin_id in ("cabin-1", "cabin-2"):
        closed = await storage.closures(
            cabin_id, first_day=datetime(2027, 1, 1).date(), last_day=datetime(2027, 12, 31).date()
        )
        assert len(closed) == 11

    # 7. the news of the cancellation could not be sent: listed, with the phone to call
    await storage.add_notifications(
        [
            Notification(
                notification_id="n-failed-e2e",
                appointment_id=appointment.appointment_id,
                channel=NotificationChannel.SMS,
                kind=NotificationKind.CANCELLATION,
                due_at=datetime.now(UTC),
            )
        ]
    )
    await storage.mark_notification_failed(
        "n-failed-e2e", error="SMS provider answered 503", retry_at=None
    )
    await page.click('[data-testid="tab-failed"]')
    failed = page.locator('[data-testid="failed"][data-notification-id="n-failed-e2e"]')
    await failed.wait_for()
    assert "Annulation par SMS" in await failed.inner_text()
    assert await failed.locator('[data-testid="failed-call"]').get_attribute("href") == (
        "tel:+33612345678"
    )
    await shot(page, shots, "coordinator-failed-fr")

    # 8. in English
    await page.click('[data-testid="lang-toggle"]')
    await failed.locator("text=Cancellation by SMS").wait_for()
    await shot(page, shots, "coordinator-failed-en")
    await page.click('[data-testid="tab-rota"]')
    await page.click('[data-testid="shift-submit"]')
    await page.locator('[data-testid="shift-conflicts"] li').first.wait_for()
    assert "The rota was not changed" in await page.inner_text('[data-testid="shift-error"]')
    await shot(page, shots, "coordinator-rota-conflict-en")
    await page.click('[data-testid="tab-agenda"]')
    await page.locator(f'{murat} [data-testid="slot-free"]').first.click()
    await page.locator('[data-testid="book-dialog"]').wait_for()
    assert "Book an appointment" in await page.inner_text('[data-testid="book-dialog"]')
    await page.fill('[data-testid="book-family"]', "Smith")
    await page.fill('[data-testid="book-given"]', "John")
    await page.fill('[data-testid="book-birth"]', "1950-06-01")
    await page.select_option('[data-testid="book-language"]', "en")
    await page.check('[data-testid="book-consent"]')
    await page.click('[data-testid="book-submit"]')
    await page.locator('[data-testid="booked-code"]').wait_for()
    assert "Read this code" in await page.inner_text('[data-testid="booked"]')
    await shot(page, shots, "coordinator-booked-en", full_page=False)
    await page.click('[data-testid="booked-close"]')
    await page.locator('[data-testid="slot-booked"]').first.wait_for()
    await shot(page, shots, "coordinator-agenda-en")
    smith = page.locator(f'{murat} [data-testid="slot-booked"]', has_text="Smith John")
    await smith.click()
    assert await page.locator('[data-testid="detail-code"]').is_visible()  # not sent unasked
    assert "Code" not in await page.inner_text('[data-testid="detail-list"]')
    await page.click('[data-testid="detail-print"]')  # asks the hub for it (audited)
    await page.locator('[data-testid="detail-list"] dd[data-field="code"]').wait_for()
    await page.emulate_media(media="print")
    assert "To cancel" in await page.inner_text('[data-testid="slip"]')
    smith_booking = next(
        a
        for a in await storage.appointments(
            cabin_ids=["cabin-1"], starts_from=datetime.now(UTC), starts_before=far
        )
        if a.patient.family_name == "Smith"
    )
    slip_code = (await page.inner_text('[data-testid="slip-code"]')).replace(" ", "")
    assert slip_code == smith_booking.code
    await shot(page, shots, "coordinator-slip-en")
    await page.emulate_media(media="screen")
    # the slip is in the patient's language, not the coordinator's page's
    await page.click("#detail-close")
    await page.click('[data-testid="lang-toggle"]')
    await smith.click()
    await page.click('[data-testid="detail-print"]')
    await page.emulate_media(media="print")
    assert "To cancel" in await page.inner_text('[data-testid="slip"]')
    assert await page.get_attribute('[data-testid="slip"]', "lang") == "en"
    await page.emulate_media(media="screen")
    assert "Annuler le rendez-vous" in await page.inner_text('[data-testid="detail-dialog"]')
    await page.click("#detail-close")
    await page.click('[data-testid="lang-toggle"]')

    # 8b. Smith is booked tomorrow at Murat: dr.martin's shift there cannot be removed
    await page.click('[data-testid="tab-rota"]')
    tomorrow_murat = page.locator(  # the week's first: tomorrow's
        '[data-testid="shift"]', has_text=re.compile(r"09:00.18:00 . Cabine de Murat")
    ).first
    await tomorrow_murat.locator('[data-testid="shift-remove"]').click()
    refusal = page.locator('[data-testid="shift-remove-conflicts"] li')
    await refusal.first.wait_for()
    assert "would be left without a doctor" in await refusal.first.inner_text()
    assert await page.inner_text('[data-testid="shift-remove-error"]') == "The shift is kept:"
    assert await tomorrow_murat.is_visible()
    assert len(await storage.shifts(starts_before=far, ends_after=datetime.now(UTC))) == 21
    await page.locator('[data-testid="shift-remove-error"]').scroll_into_view_if_needed()
    await shot(page, shots, "coordinator-shift-kept-en")

    # 9. every action in the audit log, by the coordinator
    entries = [e for e in await storage.audit_entries() if e.actor_id == COORDINATOR]
    actions = [e.action for e in entries]
    for action in (
        "appointment.booked",
        "appointment.moved",
        "appointment.cancelled",
        "coordination.patient_search",
        "coordination.appointment_read",
    ):
        assert action in actions, actions
    assert actions.count("appointment.booked") == 2
    assert "shift.added" not in actions
