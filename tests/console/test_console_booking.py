"""A booked patient in the console's waiting room, in real Chromium: their slot and the doctor
they booked with ("Rendez-vous avec vous à 10:15"), in French and English, and a take refused
because another doctor is offered the patient first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

import wire
from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.schedule import CabinCalendar
from tests.console.harness import DOCTOR, OTHER_DOCTOR, Hub, sign_in
from tests.console.scripted_cabin import DoctorClient, ScriptedCabin

PATIENT = wire.PatientSummary(
    family_name="Martin", given_names="Jeanne", birth_date=date(1944, 5, 2)
)


def book(hub: Hub, appointment_id: str, cabin_id: str, doctor: str, code: str) -> datetime:
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
    hub.run(
        hub.running.storage.add_appointment(
            Appointment(
                appointment_id=appointment_id,
                cabin_id=cabin_id,
                doctor=doctor,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=15),
                status=AppointmentStatus.BOOKED,
                patient=PATIENT,
                code=code,
                channel=BookingChannel.PHONE,
                booked_at=starts - timedelta(days=2),
                booked_by="coord.1",
            )
        )
    )
    return starts


def join(cabin: ScriptedCabin, consultation_id: str, appointment_id: str) -> wire.QueueJoin:
    return wire.QueueJoin(
        msg_id=cabin.next_id("join"),
        consultation_id=consultation_id,
        language=wire.Language.FR,
        patient=PATIENT,
        appointment_id=appointment_id,
    )


@pytest.fixture
def two_cabins(hub: Hub) -> Iterator[tuple[ScriptedCabin, ScriptedCabin]]:
    cabins = []
    for name in ("Cabine de Murat", "Cabine d'Allanche"):
        cabin_id, token = hub.provision_cabin(name)
        scripted = ScriptedCabin(hub.url, cabin_id, token)
        hub.run(scripted.connect())
        cabins.append(scripted)
    yield cabins[0], cabins[1]
    for scripted in cabins:
        hub.run(scripted.close())


def acking(msg_id: str) -> Callable[[wire.Ack], bool]:
    return lambda ack: ack.ack_of == msg_id


def entry_of(page: Page, consultation_id: str) -> Locator:
    return page.locator(f'[data-testid=waiting-entry][data-consultation-id="{consultation_id}"]')


def test_a_booked_patient_shows_their_slot_and_their_doctor(
    page: Page, hub: Hub, two_cabins: tuple[ScriptedCabin, ScriptedCabin], screens_dir: Path
) -> None:
    mine, theirs = two_cabins
    paris = ZoneInfo("Europe/Paris")
    at_mine = book(hub, "ap-console-1", mine.cabin_id, DOCTOR.username, "700001")
    at_theirs = book(hub, "ap-console-2", theirs.cabin_id, OTHER_DOCTOR.username, "700002")
    # the other cabin is in La Réunion: its slot is shown at its own time, not the browser's
    reunion = ZoneInfo("Indian/Reunion")
    hub.run(
        hub.running.storage.put_calendar(
            CabinCalendar(cabin_id=theirs.cabin_id, town="Saint-Denis", timezone=reunion.key)
        )
    )
    other = DoctorClient(hub.url)
    hub.run(other.sign_in(OTHER_DOCTOR.username, OTHER_DOCTOR.password))
    try:
        sign_in(page, hub)
        expect(page.locator("#waiting-room")).to_be_visible()
        hub.run(mine.queue(join(mine, "consult-booked-1", "ap-console-1")))
        hub.run(theirs.queue(join(theirs, "consult-booked-2", "ap-console-2")))
        booked = entry_of(page, "consult-booked-1").locator("[data-testid=entry-booked]")
        expect(booked).to_have_text(f"Rendez-vous avec vous à {at_mine.astimezone(paris):%H:%M}")
        expect(booked).to_have_attribute("data-mine", "true")
        elsewhere = entry_of(page, "consult-booked-2").locator("[data-testid=entry-booked]")
        expect(elsewhere).to_have_text(
            f"Rendez-vous avec {OTHER_DOCTOR.display_name} à {at_theirs.astimezone(reunion):%H:%M}"
        )
        page.screenshot(path=screens_dir / "console-waiting-room-booked.png")

        # the other doctor is connected: they are offered their patient first
        entry_of(page, "consult-booked-2").locator("[data-testid=accept-button]").click()
        expect(page.locator("#waiting-notice")).to_contain_text(
            "a rendez-vous avec un autre médecin"
        )
        expect(page.locator("#call-view")).to_have_count(0)
        page.screenshot(path=screens_dir / "console-booked-first.png")

        page.click("[data-testid=lang-toggle]")
        expect(booked).to_have_text(f"Booked with you at {at_mine.astimezone(paris):%H:%M}")
        page.screenshot(path=screens_dir / "console-waiting-room-booked-en.png")
        page.click("[data-testid=lang-toggle]")
        for cabin, consultation_id in ((mine, "consult-booked-1"), (theirs, "consult-booked-2")):
            leave = wire.QueueLeave(
                msg_id=cabin.next_id("leave"),
                consultation_id=consultation_id,
                reason=wire.LeaveReason.CANCELLED,
            )
            hub.run(cabin.send(leave))
            hub.run(cabin.expect(wire.Ack, acking(leave.msg_id)))
    finally:
        hub.run(other.close())
