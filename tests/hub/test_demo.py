"""The demo's accounts and its doctor's portrait."""

from __future__ import annotations

import struct
from pathlib import Path

from hub.accounts import set_doctor_details, verify_cabin_token
from hub.demo import DEMO_CABIN_ID, DEMO_DOCTORS, demo_photo, seed_demo
from hub.passwords import PasswordHasher
from hub.sqlite_storage import SqliteStorage
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import run, stored_doctor


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
