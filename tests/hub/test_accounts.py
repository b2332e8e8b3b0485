"""Creating accounts, photos, cabin tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

import wire
from hub.accounts import (
    create_doctor,
    doctor_info,
    provision_cabin,
    set_doctor_details,
    set_doctor_photo,
    verify_cabin_token,
)
from hub.errors import AccountError
from hub.sqlite_storage import SqliteStorage
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import run, stored_doctor

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def test_a_doctor_is_created_with_an_argon2id_hash_never_the_password(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            record = await create_doctor(
                storage,
                username="dr.martin",
                password="a-long-enough-password",
                display_name="Dr Claire Martin",
                specialty="Médecine générale",
                registration_number="10101010101",
                photo=PNG,
                argon2_cost="test",
            )
            assert record.password_hash.startswith("$argon2id$")
            stored = await stored_doctor(storage, "dr.martin")
            assert stored == record
        finally:
            await storage.close()
        assert b"a-long-enough-password" not in (tmp_path / "hub.db").read_bytes()

    run(scenario())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"username": "Dr Martin"}, "username"),
        ({"password": "short"}, "password"),
        ({"display_name": "  "}, "display name"),
        ({"registration_number": "10 10"}, "registration"),
        ({"phone": "04 71 60 12 34 ext. 2"}, "phone"),
        ({"email": "claire.martin"}, "e-mail"),
        ({"email": "a b@cabinet.fr"}, "e-mail"),
        ({"address": "1\n2\n3\n4\n5"}, "address"),
        ({"address": "x" * 501}, "address"),
        ({"address": "12 rue\x07 des Lacs"}, "control"),
        ({"photo": b"GIF89a...."}, "PNG or JPEG"),
        ({"photo": PNG + b"\x00" * 200_000}, "at most"),
    ],
)
def test_a_bad_account_is_refused_with_a_reason(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            fields = {
                "username": "dr.martin",
                "password": "a-long-enough-password",
                "display_name": "Dr Claire Martin",
                "specialty": "Médecine générale",
                "argon2_cost": "test",
                **changes,
            }
            with pytest.raises(AccountError, match=message):
                await create_doctor(storage, **fields)
        finally:
            await storage.close()

    run(scenario())


def test_the_prescribers_details_are_kept_and_travel_in_doctor_info(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await create_doctor(
                storage,
                username="dr.a",
                password="a-long-enough-password",
                display_name="Dr A",
                specialty="Médecine générale",
                address="  Cabinet médical \n\n 12  rue des Lacs\r\n15100 Saint-Flour ",
                phone=" 04 71 60 12 34 ",
                email="dr.a@cabinet.example",
                argon2_cost="test",
            )
            doctor = await stored_doctor(storage, "dr.a")
            assert doctor.address == "Cabinet médical\n12 rue des Lacs\n15100 Saint-Flour"
            assert doctor.phone == "04 71 60 12 34"
            assert doctor.registration_number is None

            # only what is given changes; an empty value removes a detail
            changed = await set_doctor_details(
                storage, username="dr.a", registration_number="10003841722", phone="+33 4 71 60"
            )
            assert changed.registration_number == "10003841722"
            assert changed.phone == "+33 4 71 60"
            assert changed.address == doctor.address
            assert changed.email == "dr.a@cabinet.example"
            removed = await set_doctor_details(storage, username="dr.a", email="")
            assert removed.email == ""
            await set_doctor_details(storage, username="dr.a", registration_number="")
            assert (await stored_doctor(storage, "dr.a")).registration_number is None
            with pytest.raises(AccountError, match="phone"):
                await set_doctor_details(storage, username="dr.a", phone="call me")
            with pytest.raises(AccountError, match="no doctor"):
                await set_doctor_details(storage, username="dr.nobody", phone="")

            info = doctor_info(changed, with_photo=False)
            assert (info.address, info.phone, info.email) == (
                changed.address,
                "+33 4 71 60",
                "dr.a@cabinet.example",
            )
            assert info.registration_number == "10003841722"
            # what the hub accepts, the wire accepts
            again = msgspec.json.decode(msgspec.json.encode(info), type=wire.DoctorInfo)
            assert again == info
        finally:
            await storage.close()

    run(scenario())


def test_a_photo_is_set_and_removed(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await create_doctor(
                storage,
                username="dr.a",
                password="a-long-enough-password",
                display_name="Dr A",
                specialty="MG",
                argon2_cost="test",
            )
            await set_doctor_photo(storage, username="dr.a", photo=PNG)
            assert (await stored_doctor(storage, "dr.a")).photo == PNG
            await set_doctor_photo(storage, username="dr.a", photo=None)
            assert (await stored_doctor(storage, "dr.a")).photo is None
            with pytest.raises(AccountError, match="no doctor"):
                await set_doctor_photo(storage, username="dr.nobody", photo=PNG)
        finally:
            await storage.close()

    run(scenario())


def test_a_cabin_token_is_given_once_and_rotates(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            first = await provision_cabin(storage, cabin_id="cabin-1", name="Mairie")
            assert len(first) >= 43
            assert await verify_cabin_token(storage, cabin_id="cabin-1", token=first)
            assert not await verify_cabin_token(storage, cabin_id="cabin-2", token=first)
            second = await provision_cabin(storage, cabin_id="cabin-1", name="Mairie")
            assert second != first
            assert not await verify_cabin_token(storage, cabin_id="cabin-1", token=first)
            assert await verify_cabin_token(storage, cabin_id="cabin-1", token=second)
            with pytest.raises(AccountError):
                await provision_cabin(storage, cabin_id="bad id!", name="x")
        finally:
            await storage.close()
        assert second.encode() not in (tmp_path / "hub.db").read_bytes()

    run(scenario())
