"""The demo's accounts and its doctor's portrait."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hub.accounts import set_doctor_details, verify_cabin_token
from hub.app import load_hub_config, start_hub
from hub.bookings import BOOKING_DESK
from hub.demo import (
    DEMO_CABIN_ID,
    DEMO_DOCTORS,
    DEMO_TOWN,
    demo_photo,
    seed_demo,
    seed_demo_bookings,
)
from hub.passwords import PasswordHasher
from hub.sqlite_storage import SqliteStorage
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import FakeClock, run, stored_doctor


def test_the_portrait_is_a_png_of_about_256_pixels() -> None:
    photo = demo_photo("doctor.png")
    assert photo.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", photo[16:24])
    assert (width, height) == (256, 256)
    assert len(photo) < 160 * 1024


def _luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def test_the_demo_doctors_have_realistic_but_fictional_practice_details() -> None:
    for doctor in DEMO_DOCTORS:
        assert doctor.registration_number is not None
        assert len(doctor.registration_number) == 11 and doctor.registration_number.isdigit()
        assert _luhn_valid(doctor.registration_number)
        assert doctor.phone.startswith("04 65 71 ")  # ARCEP's range for fiction
        assert doctor.email.endswith(".example")
        assert doctor.address.splitlines()[-1][:5].isdigit()  # a postcode and a town


def test_seeding_is_idempotent_and_rotates_the_cabin_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            first = await seed_demo(storage, argon2_cost="test")
            second = await seed_demo(storage, argon2_cost="test")
            assert first.cabin_id == DEMO_CABIN_ID
            assert first.cabin_token != second.cabin_token
            assert not await verify_cabin_token(
                storage, cabin_id=DEMO_CABIN_ID, token=first.cabin_token
            )
            assert await verify_cabin_token(
                storage, cabin_id=DEMO_CABIN_ID, token=second.cabin_token
            )
            doctors = await storage.doctors()
            assert [d.username for d in doctors] == ["dr.durand", "dr.martin"]
            martin = await stored_doctor(storage, "dr.martin")
            assert martin.display_name == "Dr Claire Martin"
            assert martin.specialty == "Médecine générale"
            assert martin.registration_number == "10003841722"
            assert martin.address.splitlines()[-1] == "15100 Saint-Flour"
            assert martin.phone == "04 65 71 20 14"
            assert martin.email.endswith(".example")
            assert martin.photo == demo_photo("doctor.png")
            assert await PasswordHasher("test").verify(martin.password_hash, "demo-docteur-2468")
            durand = await stored_doctor(storage, "dr.durand")
            assert durand.display_name == "Dr Paul Durand"
            assert await PasswordHasher("test").verify(durand.password_hash, "demo-docteur-1357")
            assert durand.registration_number == "10005619407"
            assert durand.address and durand.phone and durand.email

            # a demo hub seeded before doctors had practice details gets them at its next start
            await set_doctor_details(
                storage, username="dr.durand", registration_number="", address="", phone=""
            )
            await seed_demo(storage, argon2_cost="test")
            assert await stored_doctor(storage, "dr.durand") == durand
        finally:
            await storage.close()

    run(scenario())


def test_the_demo_cabin_opens_a_minute_after_the_hub_with_this_and_next_weeks_doctors(
    tmp_path: Path,
) -> None:
    """The demo hub's bookings: a calendar in Saint-Flour, today's first slot a minute or two
    ahead (whatever the hour: the hub's clock is set to a Wednesday evening in Paris), then
    ordinary hours; dr.martin this week, dr.durand the next; a coordinator. Seeding again (a
    hub restarted) adds no second shift."""
    now = datetime(2026, 12, 9, 20, 7, 30, tzinfo=UTC)  # 21:07:30 in Paris

    async def scenario() -> None:
        config = load_hub_config(
            None, data_dir=tmp_path / "hub", overrides={"port": 0, "argon2_cost": "test"}
        )
        hub = await start_hub(config, key=TEST_KEY, clock=FakeClock(now))
        try:
            await seed_demo(hub.storage, argon2_cost="test")
            desk = hub.app[BOOKING_DESK]
            first = await seed_demo_bookings(desk, hub.storage, now)
            assert first == datetime(2026, 12, 9, 20, 9, tzinfo=UTC)  # 21:09 in Paris
            assert await desk.towns() == [DEMO_TOWN]
            slots = await desk.free_slots(DEMO_CABIN_ID, now.date(), 1)
            assert [s.starts_at for s in slots[:3]] == [
                first + timedelta(minutes=15 * n) for n in range(3)
            ]  # walk-ins are the 4th, 8th...
            assert all(s.doctors == ("dr.martin",) for s in slots)
            next_week = await desk.free_slots(DEMO_CABIN_ID, date(2026, 12, 15), 1)
            assert next_week[0].doctors == ("dr.durand",)
            assert next_week[0].starts_at == datetime(2026, 12, 15, 7, 30, tzinfo=UTC)  # 08:30
            coordinator = await hub.storage.agent("coord.cantal")
            assert coordinator is not None and coordinator.coordinator
            assert coordinator.cabins == (DEMO_CABIN_ID,)
            await seed_demo_bookings(desk, hub.storage, now)
            shifts = await hub.storage.shifts(
                starts_before=now + timedelta(days=30), ends_after=now - timedelta(days=7)
            )
            assert sorted(s.doctor for s in shifts) == ["dr.durand", "dr.martin"]
        finally:
            await hub.stop()

    run(scenario())
