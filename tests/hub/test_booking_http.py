"""The public booking API (``/api/public/booking/...``) and the page's files: what a patient's
page asks, and what a bot or a careless client sends. Nothing hostile is a 500: bad bodies are
400/413/415, a proof of work that is missing, wrong, reused or expired is 403, the honeypot is
refused, a taken slot is 409 with words a person understands, and the limits per address, per
phone number, per e-mail and per code hold, also under 100 requests at once. No log line holds
a patient's name, birth date, phone, e-mail or code."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fleet.servers import redis
from hub.accounts import create_doctor, provision_cabin
from hub.app import RunningHub, load_hub_config, start_hub
from hub.booking import AppointmentStatus
from hub.booking_http import PAGE_POLICY, accepted_phone, proof_holds
from hub.config import PublicBookingSection
from hub.schedule import CabinCalendar, OpeningHours, RotaShift
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import FakeClock

API = "/api/public/booking"
BIRTH = date(1948, 3, 27)
TEST_BITS = 6
"""Cheap proofs for the tests (one test keeps the default)."""
DEFAULT_BITS = PublicBookingSection().proof_bits
CABINS = (
    ("cabin-murat", "Murat", "Cabine de Murat"),
    ("cabin-flour-hospital", "Saint-Flour", "Cabine de l'hôpital"),
    ("cabin-flour-mairie", "Saint-Flour", "Cabine de la mairie"),
    ("cabin-allanche", "Allanche", "Cabine d'Allanche"),
)
ROTA_DOCTOR = "dr.rota"


async def seed_booking(hub: RunningHub, now: datetime | None = None) -> None:
    """Four cabins in three towns, open Monday to Saturday 9-12 and 14-17 (closed on Sunday),
    covered by one remote doctor for six weeks from `now` (the wall clock's)."""
    storage = hub.storage
    await create_doctor(
        storage,
        username=ROTA_DOCTOR,
        password="password-of-the-rota-doctor",
        display_name="Dr Rota",
        specialty="Médecine générale",
        argon2_cost="test",
    )
    now = now or datetime.now(UTC)
    for cabin_id, town, name in CABINS:
        await provision_cabin(storage, cabin_id=cabin_id, name=name)
        await storage.put_calendar(CabinCalendar(cabin_id, town))
        hours = [
            OpeningHours(cabin_id, weekday, opens, closes)
            for weekday in range(6)
            for opens, closes in ((time(9), time(12)), (time(14), time(17)))
        ]
        await storage.set_opening_hours(cabin_id, hours)
        await storage.add_shift(
            RotaShift(
                shift_id=f"shift-{cabin_id}",
                doctor=ROTA_DOCTOR,
                cabin_id=cabin_id,
                starts_at=now - timedelta(days=1),
                ends_at=now + timedelta(days=42),
                created_by="test",
                created_at=now,
            )
        )


@asynccontextmanager
async def booking_hub(
    tmp_path: Path, clock: FakeClock | None = None, **booking: Any
) -> AsyncIterator[RunningHub]:
    """A hub with `seed_booking`; `booking`: its [public_booking] settings, and [booking]'s
    limits (``bookings_per_...``); ``trusted_proxies`` is the hub's own."""
    overrides: dict[str, Any] = {"port": 0, "argon2_cost": "test"}
    if "trusted_proxies" in booking:
        overrides["trusted_proxies"] = booking.pop("trusted_proxies")
    overrides["booking"] = {k: booking.pop(k) for k in list(booking) if k.startswith("bookings_")}
    overrides["public_booking"] = {"proof_bits": TEST_BITS} | booking
    config = load_hub_config(None, data_dir=tmp_path / "hub", overrides=overrides)
    hub = await start_hub(config, key=TEST_KEY, clock=clock)
    try:
        await seed_booking(hub, clock.now() if clock is not None else None)
        yield hub
    finally:
        await hub.stop()


def solve(challenge: str, bits: int) -> str:
    nonce = 0
    while not proof_holds(challenge, str(nonce), bits):
        nonce += 1
    return str(nonce)


@dataclass
class Booked:
    appointment_id: str
    code: str
    time: str
    starts_at: str


class Client:
    """The page's side of the API, from one client address (``X-Forwarded-For`` when the hub
    trusts loopback as its proxy)."""

    def __init__(self, http: aiohttp.ClientSession, hub: RunningHub, address: str = "") -> None:
        self.http = http
        self.url = hub.url
        self.headers = {"Origin": hub.url}
        if address:
            self.headers["X-Forwarded-For"] = address

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.url + API + path, headers=self.headers) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        headers = self.headers | kwargs.pop("headers", {})
        async with self.http.post(
            self.url + API + path, json=body, headers=headers, **kwargs
        ) as response:
            return response.status, await response.json()

    async def proof(self) -> dict[str, str]:
        status, challenge = await self.get("/challenge")
        assert status == 200, challenge
        return {
            "challenge": challenge["challenge"],
            "nonce": solve(challenge["challenge"], challenge["bits"]),
        }

    async def free_slots(self, cabin_id: str = "cabin-murat") -> list[dict[str, str]]:
        status, answer = await self.get(f"/slots?cabin={cabin_id}&days=14")
        assert status == 200, answer
        return [slot for day in answer["days"] for slot in day["slots"]]

    async def book(self, slot: str, **fields: Any) -> tuple[int, Any]:
        body = {
            "cabin_id": "cabin-murat",
            "starts_at": slot,
            "family_name": "Martin",
            "given_names": "Jeanne",
            "birth_date": BIRTH.isoformat(),
            "phone": "06 12 34 56 78",
            "email": "jeanne.martin@example.fr",
            "language": "fr",
            "consent": True,
        } | fields
        if "challenge" not in fields:
            body |= await self.proof()
        return await self.post("/book", body)

    async def cancel(self, code: str, birth_date: date = BIRTH, **fields: Any) -> tuple[int, Any]:
        body = {
            "code": code,
            "birth_date": birth_date.isoformat(),
            "reason": "unavailable",
        } | fields
        if "challenge" not in fields:
            body |= await self.proof()
        return await self.post("/cancel", body)


async def book_by_api(hub: RunningHub, slot_index: int = 0, **fields: Any) -> Booked:
    """Book the cabin of Murat's `slot_index`th free slot as the page does (for other tests)."""
    async with aiohttp.ClientSession() as http:
        client = Client(http, hub)
        slot = (await client.free_slots())[slot_index]
        status, answer = await client.book(slot["starts_at"], **fields)
        assert status == 201, answer
        return Booked(answer["appointment_id"], answer["code"], answer["time"], slot["starts_at"])


async def _within(coroutine: Any, timeout_s: float) -> Any:
    async with asyncio.timeout(timeout_s):
        return await coroutine


def run(coroutine: Any) -> Any:
    return asyncio.run(_within(coroutine, 120))


# --- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("06-12-34-56-78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "+33612345678"),
        ("0033 6 12 34 56 78", "+33612345678"),
        ("04 71 20 00 00", "+33471200000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("06 12 34", None),
        ("00 12 34 56 78", None),
        ("+33 6 12 34 56 78 9", None),
        ("abc", None),
        ("+", None),
    ],
)
def test_french_phone_numbers_become_e164(written: str, e164: str | None) -> None:
    """As the page's form (main.js `normalisePhone`) and the API read them alike."""
    assert accepted_phone(written) == e164


def test_the_proof_counts_leading_zero_bits() -> None:
    challenge = "0" * 32
    nonce = solve(challenge, 12)
    digest = hashlib.sha256(f"{challenge}{nonce}".encode()).digest()
    assert digest[0] == 0 and digest[1] >> 4 == 0
    assert proof_holds(challenge, "anything", 0)


# --- reading -------------------------------------------------------------------------------------


def test_towns_cabins_and_fourteen_days_of_slots_in_the_cabins_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booking_hub(tmp_path) as hub, aiohttp.ClientSession() as http:
            client = Client(http, hub)
            assert await client.get("/towns") == (
                200,
                {"towns": ["Allanche", "Murat", "Saint-Flour"], "unavailable": []},
            )
            status, answer = await client.get("/cabins?town=saint-flour")
            assert status == 200
            assert {c["cabin_id"] for c in answer["cabins"]} == {
                "cabin-flour-hospital",
                "cabin-flour-mairie",
            }
            assert answer["cabins"][0]["timezone"] == "Europe/Paris"
            status, slots = await client.get("/slots?cabin=cabin-murat&days=14")
            assert status == 200, slots
            assert len(slots["days"]) == 14
            assert len(slots["challenge"]["challenge"]) == 32
            assert slots["challenge"]["bits"] == TEST_BITS
            for day in slots["days"]:
                weekday = date.fromisoformat(day["day"]).weekday()
                if weekday == 6:
                    assert day["slots"] == []  # closed on Sunday: shown, and empty
                for slot in day["slots"]:
                    local = datetime.fromisoformat(slot["starts_at"]).astimezone(
                        __import__("zoneinfo").ZoneInfo("Europe/Paris")
                    )
                    assert slot["time"] == local.strftime("%H:%M")
                    assert local.date().isoformat() == day["day"]
                    assert time(9) <= local.time() < time(12) or time(14) <= local.time() < time(17)
            assert sum(len(d["slots"]) for d in slots["days"]) > 0
            # bounded and checked
            status, many = await client.get("/slots?cabin=cabin-murat&days=100000")
            assert status == 200 and len(many["days"]) <= 31
            assert (await client.get("/slots?cabin=cabin-murat&from=yesterday"))[0] == 400
            assert (await client.get("/slots?cabin=cabin-murat&days=x"))[0] == 400
            assert (await client.get("/slots?cabin=nowhere"))[0] == 404
            assert (await client.get("/slots?cabin=" + "x" * 5000))[0] in (404, 414)
            assert (await client.get("/cabins?town="))[0] == 400

    run(scenario())


@pytest.mark.parametrize(
    ("now", "change"),
    [
        (datetime(2027, 3, 22, 12, tzinfo=UTC), date(2027, 3, 28)),  # to summer time
        (datetime(2027, 10, 25, 12, tzinfo=UTC), date(2027, 10, 31)),  # to winter time
    ],
)
def test_a_nine_o_clock_slot_stays_at_nine_across_the_clock_change(
    tmp_path: Path, now: datetime, change: date
) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(tmp_path, clock=FakeClock(now)) as hub,
            aiohttp.ClientSession() as http,
        ):
            client = Client(http, hub)
            status, answer = await client.get("/slots?cabin=cabin-murat&days=14")
            assert status == 200, answer
            firsts = {
                day["day"]: (day["slots"][0]["time"], day["slots"][0]["starts_at"])
                for day in answer["days"]
                if day["slots"]
            }
            before = (change - timedelta(days=2)).isoformat()  # the Friday before
            after = (change + timedelta(days=1)).isoformat()  # the Monday after
            assert firsts[before][0] == firsts[after][0] == "09:00"
            offsets = {
                day: datetime.fromisoformat(starts_at).hour
                for day, (_, starts_at) in firsts.items()
            }
            assert offsets[before] != offsets[after]  # 08:00Z then 07:00Z (or the reverse)
            status, booked = await client.book(firsts[after][1], phone="", email="")
            assert status == 201 and booked["time"] == "09:00" and booked["day"] == after

    run(scenario())


def test_the_page_and_its_files_with_a_strict_policy(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booking_hub(tmp_path) as hub, aiohttp.ClientSession() as http:
            for path in ("/rendez-vous", "/rendez-vous/annuler", "/rendez-vous/"):
                async with http.get(hub.url + path) as response:
                    assert response.status == 200
                    assert response.content_type == "text/html"
                    assert response.headers["Content-Security-Policy"] == PAGE_POLICY
                    assert response.headers["X-Frame-Options"] == "DENY"
                    assert '<script type="module" src="/rendez-vous/main.js">' in (
                        await response.text()
                    )
            for name, kind in (
                ("main.js", "text/javascript"),
                ("i18n.js", "text/javascript"),
                ("booking.css", "text/css"),
            ):
                async with http.get(f"{hub.url}/rendez-vous/{name}") as response:
                    assert (response.status, response.content_type) == (200, kind)
            for path in (
                "/rendez-vous/index.html.bak",
                "/rendez-vous/..%2Fapp.py",
                "/rendez-vous/x",
            ):
                async with http.get(hub.url + path) as response:
                    assert response.status == 404

    run(scenario())


# --- booking -------------------------------------------------------------------------------------


def test_a_booking_and_the_same_slot_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> str:
        async with booking_hub(tmp_path) as hub, aiohttp.ClientSession() as http:
            client = Client(http, hub)
            slot = (await client.free_slots())[0]
            status, booked = await client.book(slot["starts_at"])
            assert status == 201, booked
            assert len(booked["code"]) == 6 and booked["code"].isdigit()
            assert booked["time"] == slot["time"] and booked["by_sms"] and booked["by_email"]
            assert booked["cabin"]["town"] == "Murat"
            stored = await hub.storage.appointment_by_code(booked["code"])
            assert stored is not None and stored.phone == "+33612345678"
            assert stored.status is AppointmentStatus.BOOKED
            # the slot is no longer offered; booking it again is a clear 409
            assert slot["starts_at"] not in [s["starts_at"] for s in await client.free_slots()]
            status, again = await client.book(slot["starts_at"], phone="", email="")
            assert status == 409, again
            assert again["reason"] in ("slot_taken", "slot_unavailable")
            assert "choose another" in again["error"]
            # a slot that is not one: refused, not a 500
            status, odd = await client.book("2026-12-25T03:07:00+00:00", phone="", email="")
            assert status == 409 and odd["reason"] in ("slot_unavailable", "slot_taken"), odd
            return str(booked["code"])

    code = run(scenario())
    logged = caplog.text
    for secret in (code, "Martin", "Jeanne", "1948-03-27", "612345678", "jeanne.martin"):
        assert secret not in logged


def test_hostile_bodies_are_refused_and_never_a_500(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(tmp_path) as hub,
            aiohttp.ClientSession() as http,
        ):
            client = Client(http, hub)
            slot = (await client.free_slots())[0]["starts_at"]
            url = hub.url + API + "/book"
            origin = {"Origin": hub.url}
            raw_cases: list[tuple[bytes, str, int]] = [
                (b"{", "application/json", 400),
                (b"[]", "application/json", 400),
                (b"null", "application/json", 400),
                (b"\xff\xfe\x00garbage", "application/json", 400),
                (b'{"cabin_id": 1}', "application/json", 400),
                (b"cabin_id=x", "application/x-www-form-urlencoded", 415),
                (b"{" + b'"a":' * 3000 + b"1" + b"}" * 3000, "application/json", 413),
                (b'{"x": "' + b"y" * 5000 + b'"}', "application/json", 413),
                (b'{"x": "' + b"y" * 70_000 + b'"}', "application/json", 413),
            ]
            for body, kind, expected in raw_cases:
                async with http.post(
                    url, data=body, headers=origin | {"Content-Type": kind}
                ) as response:
                    assert response.status == expected, (body[:40], await response.text())
            # typed fields: each wrong one named
            proof = await client.proof()
            wrong: list[tuple[dict[str, Any], str]] = [
                ({"birth_date": 19480327}, "birth_date"),
                ({"birth_date": "27/03/1948"}, "birth_date"),
                ({"birth_date": "2999-01-01"}, "birth_date"),
                ({"birth_date": "1812-01-01"}, "birth_date"),
                ({"starts_at": "2026-12-08T09:00:00"}, "starts_at"),  # no zone
                ({"family_name": ""}, "family_name"),
                ({"family_name": "x" * 101}, "family_name"),
                ({"given_names": "   "}, "given_names"),
                ({"phone": "06 12"}, "phone"),
                ({"email": "not an address"}, "email"),
                ({"consent": False}, "consent"),
                ({"consent": "yes"}, "consent"),
                ({"language": "de"}, "language"),
                ({"nonce": "-1"}, "nonce"),
                ({"challenge": "zz"}, "challenge"),
                ({"extra": 1}, "body"),
            ]
            for fields, field in wrong:
                status, answer = await client.book(slot, **(proof | fields))
                assert status == 400, (fields, answer)
                assert answer["reason"] == "invalid"
                if field != "body":
                    assert answer["field"] == field, (fields, answer)
            # none of that used the proof: it still books
            status, booked = await client.book(slot, **proof)
            assert status == 201, booked
            # no Origin (another site's form, a script): refused before anything
            async with http.post(
                url, json={"cabin_id": "cabin-murat"}, headers={"Origin": "https://evil.example"}
            ) as response:
                assert response.status == 403

    run(scenario())


def test_a_proof_missing_wrong_reused_or_expired_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(
                tmp_path,
                proof_bits=DEFAULT_BITS,
                challenge_ttl_s=1.0,
                bookings_per_client_per_hour=100,
            ) as hub,
            aiohttp.ClientSession() as http,
        ):
            client = Client(http, hub)
            slots = await client.free_slots()
            status, challenge = await client.get("/challenge")
            assert status == 200 and challenge["bits"] == DEFAULT_BITS
            wrong_nonce = "0"
            while proof_holds(challenge["challenge"], wrong_nonce, DEFAULT_BITS):
                wrong_nonce += "0"
            status, answer = await client.book(
                slots[0]["starts_at"], challenge=challenge["challenge"], nonce=wrong_nonce
            )
            assert (status, answer["reason"]) == (403, "proof")
            # that challenge is spent, even with the right nonce now
            right = solve(challenge["challenge"], DEFAULT_BITS)
            status, answer = await client.book(
                slots[0]["starts_at"], challenge=challenge["challenge"], nonce=right
            )
            assert (status, answer["reason"]) == (403, "proof")
            # a challenge the hub never gave
            made_up = "ab" * 16
            status, answer = await client.book(
                slots[0]["starts_at"], challenge=made_up, nonce=solve(made_up, DEFAULT_BITS)
            )
            assert (status, answer["reason"]) == (403, "proof")
            # used once only
            proof = await client.proof()
            assert (await client.book(slots[0]["starts_at"], **proof))[0] == 201
            status, answer = await client.book(slots[1]["starts_at"], **proof)
            assert (status, answer["reason"]) == (403, "proof")
            # expired
            proof = await client.proof()
            await asyncio.sleep(1.3)
            status, answer = await client.book(slots[1]["starts_at"], **proof)
            assert (status, answer["reason"]) == (403, "proof")
            assert (await client.book(slots[1]["starts_at"]))[0] == 201

    run(scenario())


def test_the_honeypot_filled_is_refused_and_nothing_is_booked(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booking_hub(tmp_path) as hub, aiohttp.ClientSession() as http:
            client = Client(http, hub)
            slot = (await client.free_slots())[0]["starts_at"]
            status, answer = await client.book(slot, website="http://spam.example")
            assert (status, answer["reason"]) == (400, "refused")
            assert slot in [s["starts_at"] for s in await client.free_slots()]
            status, answer = await client.cancel("123456", website="x")
            assert (status, answer["reason"]) == (400, "refused")

    run(scenario())


# --- limits --------------------------------------------------------------------------------------


def test_a_hundred_requests_at_once_from_one_address_are_limited(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(tmp_path, reads_per_minute=30, trusted_proxies=["127.0.0.1"]) as hub,
            aiohttp.ClientSession() as http,
        ):
            busy = Client(http, hub, "203.0.113.7")
            answers = await asyncio.gather(*(busy.get("/towns") for _ in range(100)))
            statuses = sorted(status for status, _ in answers)
            assert statuses.count(200) == 30 and statuses.count(429) == 70
            refused = next(answer for status, answer in answers if status == 429)
            assert refused["reason"] == "rate_limited" and 1 <= refused["retry_after_s"] <= 60
            # another address is not held back by it
            assert (await Client(http, hub, "198.51.100.9").get("/towns"))[0] == 200

    run(scenario())


def test_a_hundred_bookings_of_one_slot_at_once_one_wins(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(tmp_path, trusted_proxies=["127.0.0.1"]) as hub,
            aiohttp.ClientSession() as http,
        ):
            slot = (await Client(http, hub).free_slots())[0]["starts_at"]
            clients = [Client(http, hub, f"198.51.100.{i}") for i in range(100)]
            proofs = [await client.proof() for client in clients]
            answers = await asyncio.gather(
                *(
                    client.book(slot, phone="", email="", **proof)
                    for client, proof in zip(clients, proofs, strict=True)
                )
            )
            statuses = sorted(status for status, _ in answers)
            assert statuses.count(201) == 1, statuses
            assert statuses.count(409) == 99, statuses

    run(scenario())


def test_bookings_are_limited_per_address_and_per_phone_and_email(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(
                tmp_path,
                bookings_per_client_per_hour=3,
                bookings_per_phone_per_day=2,
                trusted_proxies=["127.0.0.1"],
            ) as hub,
            aiohttp.ClientSession() as http,
        ):
            slots = [s["starts_at"] for s in await Client(http, hub).free_slots()]
            one = Client(http, hub, "192.0.2.1")
            for i in range(3):
                status, _ = await one.book(slots[i], phone="", email="")
                assert status == 201
            status, answer = await one.book(slots[3], phone="", email="")
            assert (status, answer["reason"]) == (429, "rate_limited")
            assert answer["retry_after_s"] > 60  # "try again in N minutes"
            # one phone number, however written, from many addresses
            written = ("06 11 22 33 44", "+33 6 11 22 33 44", "0611223344")
            results = []
            for i, phone in enumerate(written):
                results.append(
                    (
                        await Client(http, hub, f"192.0.2.{10 + i}").book(
                            slots[4 + i], phone=phone, email=""
                        )
                    )[0]
                )
            assert results == [201, 201, 429]
            # one e-mail the same way
            results = []
            for i in range(3):
                results.append(
                    (
                        await Client(http, hub, f"192.0.2.{20 + i}").book(
                            slots[8 + i], phone="", email="same@example.fr"
                        )
                    )[0]
                )
            assert results == [201, 201, 429]

    run(scenario())


# --- cancelling ----------------------------------------------------------------------------------


def test_cancel_needs_the_code_and_the_birth_date_and_says_nothing_more(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(tmp_path, trusted_proxies=["127.0.0.1"]) as hub,
            aiohttp.ClientSession() as http,
        ):
            booked = await book_by_api(hub)
            client = Client(http, hub, "192.0.2.50")
            wrong_birth = await client.cancel(booked.code, date(1950, 1, 1))
            unknown = "000000" if booked.code != "000000" else "111111"
            wrong_code = await client.cancel(unknown)
            assert wrong_birth == wrong_code  # the same words: no hint which was wrong
            assert wrong_birth[0] == 404 and wrong_birth[1]["reason"] == "not_found"
            status, answer = await client.cancel(booked.code, reason="other")
            assert (status, answer["field"]) == (400, "reason_text")  # "other" says why
            status, answer = await client.cancel(
                booked.code, reason="other", reason_text="Je pars en voyage"
            )
            assert status == 200, answer
            assert answer["time"] == booked.time and answer["cabin"]["town"] == "Murat"
            stored = await hub.storage.appointment(booked.appointment_id)
            assert stored is not None and stored.status is AppointmentStatus.CANCELLED
            assert stored.cancel_reason.endswith("Je pars en voyage")
            assert stored.cancelled_by == "patient"
            assert (await client.cancel(booked.code))[0] == 404  # once only
            status, answer = await client.cancel(booked.code, reason="because")
            assert (status, answer["field"]) == (400, "reason")  # the reason is required

    run(scenario())


def test_cancel_tries_are_limited_per_code_from_any_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            booking_hub(tmp_path, cancels_per_code_per_day=3, trusted_proxies=["127.0.0.1"]) as hub,
            aiohttp.ClientSession() as http,
        ):
            booked = await book_by_api(hub)
            for i in range(3):
                guess = date(1940 + i, 1, 1)
                status, _ = await Client(http, hub, f"192.0.2.{60 + i}").cancel(booked.code, guess)
                assert status == 404
            status, answer = await Client(http, hub, "192.0.2.99").cancel(booked.code)
            assert (status, answer["reason"]) == (429, "rate_limited")  # even the right one
            stored = await hub.storage.appointment(booked.appointment_id)
            assert stored is not None and stored.status is AppointmentStatus.BOOKED

    run(scenario())


# --- two replicas ------------------------------------------------------------------------------


@asynccontextmanager
async def two_replicas(
    tmp_path: Path, redis_url: str, **booking: Any
) -> AsyncIterator[tuple[RunningHub, RunningHub]]:
    """Two hubs on one database (the SQLCipher file) and one real Redis, as behind a proxy."""
    overrides: dict[str, Any] = {
        "port": 0,
        "argon2_cost": "test",
        "trusted_proxies": ["127.0.0.1"],
        "cluster": {"backend": "redis", "redis_url": redis_url, "key_prefix": "booking"},
        "booking": {k: booking.pop(k) for k in list(booking) if k.startswith("bookings_")},
        "public_booking": {"proof_bits": TEST_BITS} | booking,
    }
    config = load_hub_config(None, data_dir=tmp_path / "hub", overrides=overrides)
    a = await start_hub(config, key=TEST_KEY)
    try:
        await seed_booking(a)
        b = await start_hub(config, key=TEST_KEY)
        try:
            yield a, b
        finally:
            await b.stop()
    finally:
        await a.stop()


def test_two_replicas_share_the_challenges_the_limits_and_the_slot(tmp_path: Path) -> None:
    async def scenario(redis_url: str) -> None:
        async with (
            two_replicas(tmp_path, redis_url, bookings_per_client_per_hour=2) as (a, b),
            aiohttp.ClientSession() as http,
        ):
            on_a, on_b = Client(http, a, "192.0.2.7"), Client(http, b, "192.0.2.7")
            slots = [s["starts_at"] for s in await on_a.free_slots()]
            # a challenge from A proves the work on B, once
            proof = await on_a.proof()
            assert (await on_b.book(slots[0], phone="", email="", **proof))[0] == 201
            status, answer = await on_a.book(slots[1], phone="", email="", **proof)
            assert (status, answer["reason"]) == (403, "proof")
            # the address's bookings are counted by both together (2 an hour)
            status, answer = await on_b.book(slots[1], phone="", email="")
            assert (status, answer["reason"]) == (429, "rate_limited"), answer
            # 100 bookings of one slot, half through each replica: one wins
            clients = [Client(http, (a, b)[i % 2], f"198.51.100.{i}") for i in range(100)]
            proofs = [await client.proof() for client in clients]
            answers = await asyncio.gather(
                *(
                    client.book(slots[5], phone="", email="", **proof)
                    for client, proof in zip(clients, proofs, strict=True)
                )
            )
            statuses = sorted(status for status, _ in answers)
            assert statuses.count(201) == 1 and statuses.count(409) == 99, statuses

    with redis(tmp_path / "redis") as server:
        run(scenario(server.url))
