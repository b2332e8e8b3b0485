"""The coordinator's API on a real hub (loopback, SQLCipher file): who may use it, CSRF and
Origin, bodies that do not decode, booking, moving and cancelling for a caller, the patient
search, the rota's conflicts refused and explained, opening hours and closures, the messages
not delivered; every action in the audit log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fleet.servers import PostgresServer
from hub.booking import (
    AppointmentStatus,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationState,
)
from hub.schedule import OpeningHours, local_instant
from hub.sqlite_storage import SqliteStorage
from simulators.mailbox import Mailbox, appointment_code
from tests.hub.coordination_rig import (
    COORDINATOR,
    COORDINATOR_PASSWORD,
    add_coordinator,
    desk_of,
    open_cabins,
)
from tests.hub.hub_key import TEST_KEY, key_env
from tests.hub.hub_rig import Doctor, FakeClock, Rig, patient, run, running_hub
from tests.hub.pg_backend import TEST_RING_TEXT, fresh_database, postgres_server

ROOT = Path(__file__).resolve().parents[2]
MONDAY = date(2026, 11, 23)
"""FakeClock's day: 09:00 UTC (10:00 in Paris)."""
TUESDAY = MONDAY + timedelta(days=1)
WEDNESDAY = MONDAY + timedelta(days=2)
API = "/api/coordination"
CALLER = {
    "family_name": "Delmas",
    "given_names": "Jeanne",
    "birth_date": "1941-03-12",
}


__all__ = ["postgres_server"]  # a fixture, for the tests on PostgreSQL


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The hub's configuration for its storage: its SQLCipher file, or a fresh database on a
    real PostgreSQL server (with the test data keys in its data folder)."""
    if request.param == "sqlite":
        return {}
    server: PostgresServer = request.getfixturevalue("postgres_server")
    _, dsn = fresh_database(server)
    data = tmp_path / "hub-data"
    data.mkdir(mode=0o700)
    keys = data / "hub-data.keys"
    keys.write_text(TEST_RING_TEXT)
    keys.chmod(0o600)
    return {"storage": {"backend": "postgresql", "dsn": dsn}}


async def signed_in(rig: Rig, username: str, password: str) -> Doctor:
    """Anyone with a session (the rig's client for a doctor works for an agent too)."""
    http = rig.client()
    response = await rig.login_response(username, password, http=http)
    assert response.status == 200, await response.text()
    me = await response.json()
    return Doctor(username, http, me["csrf_token"], rig)


async def get(who: Doctor, path: str) -> tuple[int, Any]:
    response = await who.http.get(f"{who.rig.url}{API}{path}")
    return response.status, await response.json()


async def post(who: Doctor, path: str, body: object = None, **kwargs: Any) -> tuple[int, Any]:
    response = await who.post(f"{API}{path}", json=body, **kwargs)
    answer = await response.json() if response.status != 204 else None
    return response.status, answer


def free_slots(agenda: dict[str, Any], cabin_id: str) -> list[str]:
    column = next(c for c in agenda["cabins"] if c["cabin_id"] == cabin_id)
    return [slot["starts_at"] for slot in column["slots"] if slot["state"] == "free"]


async def book(who: Doctor, cabin_id: str, starts_at: str, **extra: object) -> tuple[int, Any]:
    body = {"cabin_id": cabin_id, "starts_at": starts_at, **CALLER, "consent": True} | extra
    return await post(who, "/appointments", body)


def test_only_a_coordinator_opens_the_page_s_api(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY])
            await add_coordinator(rig.hub)
            await add_coordinator(rig.hub, "agent.alerts", "cabin-1", coordinator=False)
            await add_coordinator(rig.hub, "coord.allanche", "cabin-2")

            anonymous = rig.client()
            page = await anonymous.get(f"{rig.url}/coordination")
            assert page.status == 200
            assert page.headers["Content-Type"].startswith("text/html")
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            script = await anonymous.get(f"{rig.url}/coordination/main.js")
            assert script.headers["Content-Type"].startswith("text/javascript")
            assert (await anonymous.get(f"{rig.url}/coordination/../hub.db")).status == 404
            assert (await anonymous.get(f"{rig.url}{API}/cabins")).status == 401

            doctor = await rig.login("dr.a")
            status, answer = await get(doctor, "/cabins")
            assert (status, answer["reason"]) == (403, "not_coordinator")
            status, _ = await post(doctor, "/appointments", {})
            assert status == 403
            agent = await signed_in(rig, "agent.alerts", COORDINATOR_PASSWORD)
            assert (await get(agent, "/agenda"))[0] == 403
            assert (await post(agent, "/patients/search", CALLER))[0] == 403

            coordinator = await signed_in(rig, COORDINATOR, COORDINATOR_PASSWORD)
            status, answer = await get(coordinator, "/cabins")
            assert status == 200
            assert [c["cabin_id"] for c in answer["cabins"]] == ["cabin-1", "cabin-2"]
            assert answer["cabins"][0]["town"] == "Murat"
            assert answer["cabins"][0]["opening_hours"][0] == {
                "weekday": 0,
                "opens": "09:00",
                "closes": "12:00",
            }
            assert "dr.a" in [d["username"] for d in answer["doctors"]]

            # a coordinator of cabin-2 only sees it, and cannot touch cabin-1's bookings
            other = await signed_in(rig, "coord.allanche", COORDINATOR_PASSWORD)
            status, agenda = await get(other, f"/agenda?day={TUESDAY}")
            assert [c["cabin_id"] for c in agenda["cabins"]] == ["cabin-2"]
            status, mine = await get(coordinator, f"/agenda?day={TUESDAY}")
            status, answer = await book(other, "cabin-1", free_slots(mine, "cabin-1")[0])
            assert (status, answer["reason"]) == (403, "not_your_cabin")
            status, booked = await book(coordinator, "cabin-1", free_slots(mine, "cabin-1")[0])
            assert status == 201
            appointment_id = booked["appointment_id"]
            status, _ = await post(
                other, f"/appointments/{appointment_id}/cancel", {"reason": "pas à moi"}
            )
            assert status == 404

    run(scenario())


def test_changes_need_the_csrf_token_the_origin_and_a_body_that_decodes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY])
            await add_coordinator(rig.hub)
            coordinator = await signed_in(rig, COORDINATOR, COORDINATOR_PASSWORD)
            _, agenda = await get(coordinator, f"/agenda?day={TUESDAY}")
            slot = free_slots(agenda, "cabin-1")[0]
            body = {"cabin_id": "cabin-1", "starts_at": slot, **CALLER, "consent": True}

            no_token = await coordinator.http.post(
                f"{rig.url}{API}/appointments", json=body, headers={"Origin": rig.url}
            )
            assert no_token.status == 403
            wrong_token = await coordinator.post(
                f"{API}/appointments", json=body, headers={"X-CSRF-Token": "not-it"}
            )
            assert wrong_token.status == 403
            elsewhere = await coordinator.post(
                f"{API}/appointments", json=body, headers={"Origin": "https://evil.example"}
            )
            assert elsewhere.status == 403
            assert (
                await rig.hub.storage.appointments(
                    cabin_ids=None,
                    starts_from=datetime(2026, 1, 1, tzinfo=UTC),
                    starts_before=datetime(2027, 1, 1, tzinfo=UTC),
                )
                == []
            )

            garbage: list[tuple[object, str | None]] = [
                (b"{not json", None),
                (b"\xff\xfe\x00", None),
                (b"[" * 5000, None),
                ({**body, "admin": True}, None),
                ({**body, "birth_date": "12/03/1941"}, None),
                ({**body, "starts_at": "demain"}, None),
                ({**body, "starts_at": "2026-11-24T09:00:00"}, None),
                ({**body, "family_name": ""}, None),
                ({**body, "family_name": "x" * 5000}, None),
                ({**body, "phone": "call me"}, "bad_phone"),
                ({**body, "email": "nobody"}, "bad_email"),
                ({**body, "consent": False}, None),
                ({**body, "cabin_id": 42}, None),
                ([], None),
            ]
            for sent, reason in garbage:
                if isinstance(sent, bytes):
                    response = await coordinator.post(
                        f"{API}/appointments",
                        data=sent,
                        headers={"Content-Type": "application/json"},
                    )
                else:
                    response = await coordinator.post(f"{API}/appointments", json=sent)
                assert response.status in (400, 409), (sent, response.status)
                if reason is not None:
                    assert (await response.json())["reason"] == reason
            plain = await coordinator.post(f"{API}/appointments", data="x")
            assert plain.status == 415
            for path, sent in [
                ("/shifts", {"doctor": "dr.a", "cabin_ids": [], "days": [], "starts": "9h"}),
                ("/shifts", {"doctor": "dr.a", "cabin_ids": ["cabin-1"], "days": ["x"]}),
                ("/cabins/cabin-1/opening-hours", {"hours": [{"weekday": 9}]}),
                ("/closures", {"cabin_ids": ["cabin-1"], "first_day": "2026-13-01"}),
                ("/closures/holidays", {"year": "next"}),
                ("/patients/search", {"family_name": "Delmas"}),
                ("/patients/search", {"birth_date": "1941-03-12"}),
                ("/appointments/nope/move", {"starts_at": slot}),
            ]:
                status, _ = await post(coordinator, path, sent)
                assert status in (400, 404), (path, status)
            status, _ = await get(coordinator, "/agenda?day=tomorrow")
            assert status == 400
            status, _ = await get(coordinator, "/rota?week=2026-02-30")
            assert status == 400

    run(scenario())


def test_a_caller_is_booked_found_moved_and_cancelled_every_step_audited(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    clock = FakeClock()

    async def scenario() -> None:
        async with running_hub(tmp_path, clock=clock, **backend) as rig:
            await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY, WEDNESDAY])
            await add_coordinator(rig.hub)
            coordinator = await signed_in(rig, COORDINATOR, COORDINATOR_PASSWORD)

            status, agenda = await get(coordinator, f"/agenda?day={TUESDAY}")
            assert status == 200
            assert [c["cabin_id"] for c in agenda["cabins"]] == ["cabin-1", "cabin-2"]
            states = {slot["state"] for slot in agenda["cabins"][0]["slots"]}
            assert states == {"free", "walk_in"}
            first = agenda["cabins"][0]["slots"][0]
            assert first["local_time"] == "09:00"  # 08:00 UTC, shown in Paris time
            assert first["starts_at"].startswith("2026-11-24T08:00:00")
            week = {count["day"]: count for count in agenda["week"]}
            free_tuesday = week[str(TUESDAY)]["free"]
            assert free_tuesday == sum(len(free_slots(agenda, c)) for c in ("cabin-1", "cabin-2"))
            assert week[str(MONDAY + timedelta(days=5))] == {
                "day": str(MONDAY + timedelta(days=5)),
                "booked": 0,
                "free": 0,
            }

            slot = free_slots(agenda, "cabin-1")[2]
            status, booked = await book(coordinator, "cabin-1", slot, phone="06 12 34 56 78")
            assert status == 201, booked
            assert booked["code"].isdigit() and len(booked["code"]) == 6
            assert (booked["status"], booked["channel"]) == ("booked", "phone")
            assert (booked["booked_by"], booked["phone"]) == (COORDINATOR, "+33612345678")
            assert (booked["cabin_name"], booked["town"]) == ("Cabine cabin-1", "Murat")
            assert booked["local_date"] == str(TUESDAY)
            stored = await rig.hub.storage.appointment(booked["appointment_id"])
            assert stored is not None and stored.code == booked["code"]
            assert stored.consent_at is not None

            status, again = await book(coordinator, "cabin-1", slot)
            assert (status, again["reason"]) == (409, "slot_taken")
            assert "vient d'être pris" in again["fr"]
            walk_in = next(
                s["starts_at"] for s in agenda["cabins"][0]["slots"] if s["state"] == "walk_in"
            )
            status, refused = await book(coordinator, "cabin-1", walk_in)
            assert (status, refused["reason"]) == (409, "walk_in")

            _, agenda = await get(coordinator, f"/agenda?day={TUESDAY}")
            held = next(s for s in agenda["cabins"][0]["slots"] if s["starts_at"] == slot)
            assert held["state"] == "booked"
            assert held["appointment"]["family_name"] == "Delmas"
            assert held["appointment"]["code"] == ""  # only asked for, one at a time
            status, one = await get(coordinator, f"/appointments/{booked['appointment_id']}")
            assert (status, one["code"]) == (200, booked["code"])
            assert (await get(coordinator, "/appointments/apt-nope"))[0] == 404
            assert {c["day"]: c["booked"] for c in agenda["week"]}[str(TUESDAY)] == 1

            status, found = await post(coordinator, "/patients/search", CALLER)
            assert status == 200
            assert [a["appointment_id"] for a in found["appointments"]] == [
                booked["appointment_id"]
            ]
            assert found["appointments"][0]["code"] == ""
            spelled = {**CALLER, "family_name": "DELMAS", "given_names": "jeanne"}
            status, found = await post(coordinator, "/patients/search", spelled)
            assert len(found["appointments"]) == 1
            status, nobody = await post(
                coordinator, "/patients/search", {**CALLER, "birth_date": "1941-03-13"}
            )
            assert nobody == {"appointments": [], "visits": []}
            status, by_family = await post(
                coordinator,
                "/patients/search",
                {"family_name": "DELMAS", "birth_date": CALLER["birth_date"]},
            )
            assert status == 200
            assert [a["appointment_id"] for a in by_family["appointments"]] == [
                booked["appointment_id"]
            ]

            # a visit at cabin-1 (without an appointment) shows in the search: when, where
            visitor = patient()
            await rig.join(await rig.cabin("cabin-1"), "c-visit-1", visitor)
            clock.advance(60)
            who = {
                "family_name": visitor.family_name,
                "given_names": visitor.given_names,
                "birth_date": visitor.birth_date.isoformat(),
            }
            status, found = await post(coordinator, "/patients/search", who)
            assert found["appointments"] == []
            assert [(v["cabin_id"], v["cabin_name"]) for v in found["visits"]] == [
                ("cabin-1", "Cabine cabin-1")
            ]
            assert found["visits"][0]["at"].startswith("2026-11-23T09:00")

            _, wednesday = await get(coordinator, f"/agenda?day={WEDNESDAY}")
            target = free_slots(wednesday, "cabin-1")[0]
            status, moved = await post(
                coordinator,
                f"/appointments/{booked['appointment_id']}/move",
                {"starts_at": target},
            )
            assert status == 200, moved
            assert (moved["local_date"], moved["code"]) == (str(WEDNESDAY), booked["code"])
            status, refused = await post(
                coordinator,
                f"/appointments/{booked['appointment_id']}/move",
                {"starts_at": "2026-11-25T02:00:00Z"},
            )
            assert (status, refused["reason"]) == (409, "not_a_slot")

            status, refused = await post(
                coordinator, f"/appointments/{booked['appointment_id']}/cancel", {"reason": " "}
            )
            assert (status, refused["reason"]) == (400, "reason_required")
            status, cancelled = await post(
                coordinator,
                f"/appointments/{booked['appointment_id']}/cancel",
                {"reason": "hospitalisée"},
            )
            assert status == 200
            assert cancelled["status"] == "cancelled" and cancelled["code"] == ""
            assert (cancelled["cancel_reason"], cancelled["cancelled_by"]) == (
                "hospitalisée",
                COORDINATOR,
            )
            status, refused = await post(
                coordinator,
                f"/appointments/{booked['appointment_id']}/cancel",
                {"reason": "encore"},
            )
            assert (status, refused["reason"]) == (409, "not_booked")
            stored = await rig.hub.storage.appointment(booked["appointment_id"])
            assert stored is not None and stored.status is AppointmentStatus.CANCELLED
            _, wednesday = await get(coordinator, f"/agenda?day={WEDNESDAY}")
            assert [a["appointment_id"] for a in wednesday["cabins"][0]["cancelled"]] == [
                booked["appointment_id"]
            ]
            assert target in free_slots(wednesday, "cabin-1")

            audit = await rig.hub.storage.audit_entries()
            mine = [(e.action, e.subject) for e in audit if e.actor_id == COORDINATOR]
            subject = f"appointment:{booked['appointment_id']}"
            for action in ("appointment.booked", "appointment.moved", "appointment.cancelled"):
                assert (action, subject) in mine
            assert sum(1 for a, _ in mine if a == "coordination.patient_search") == 5
            assert ("coordination.agenda_read", f"day:{TUESDAY}") in mine
            assert ("coordination.appointment_read", subject) in mine
            booked_entry = next(e for e in audit if e.action == "appointment.booked")
            assert booked_entry.client_address == "127.0.0.1"

    run(scenario())


def test_rota_conflicts_are_refused_and_explained_and_nothing_half_done(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(), **backend) as rig:
            await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY])
            await add_coordinator(rig.hub)
            coordinator = await signed_in(rig, COORDINATOR, COORDINATOR_PASSWORD)

            status, added = await post(
                coordinator,
                "/shifts",
                {
                    "doctor": "dr.b",
                    "cabin_ids": ["cabin-1", "cabin-2"],
                    "days": [str(WEDNESDAY), str(WEDNESDAY + timedelta(days=1))],
                    "starts": "09:00",
                    "ends": "12:00",
                },
            )
            assert (status, added["added"]) == (201, 4)

            # dr.a already covers cabin-1 on Tuesday; Friday alone would be fine: neither added
            friday = str(MONDAY + timedelta(days=4))
            status, refused = await post(
                coordinator,
                "/shifts",
                {
                    "doctor": "dr.a",
                    "cabin_ids": ["cabin-1"],
                    "days": [str(TUESDAY), friday],
                    "starts": "10:00",
                    "ends": "11:00",
                },
            )
            assert (status, refused["reason"]) == (409, "rota_conflict")
            assert len(refused["conflicts"]) == 1
            assert refused["conflicts"][0]["fr"] and refused["conflicts"][0]["en"]
            status, week = await get(coordinator, f"/rota?week={friday}")
            assert status == 200 and week["week"] == str(MONDAY)
            assert not [s for s in week["shifts"] if s["local_day"] == friday]
            assert sorted((s["doctor"], s["local_day"], s["cabin_id"]) for s in week["shifts"]) == [
                ("dr.a", str(TUESDAY), "cabin-1"),
                ("dr.a", str(TUESDAY), "cabin-2"),
                ("dr.b", str(WEDNESDAY), "cabin-1"),
                ("dr.b", str(WEDNESDAY), "cabin-2"),
                ("dr.b", str(WEDNESDAY + timedelta(days=1)), "cabin-1"),
                ("dr.b", str(WEDNESDAY + timedelta(days=1)), "cabin-2"),
            ]
            tuesday_shift = next(
                s for s in week["shifts"] if (s["doctor"], s["cabin_id"]) == ("dr.a", "cabin-1")
            )
            assert (tuesday_shift["local_starts"], tuesday_shift["local_ends"]) == (
                "09:00",
                "18:00",
            )
            assert tuesday_shift["doctor_name"] == "Dr A"
            status, refused = await post(
                coordinator,
                "/shifts",
                {
                    "doctor": "dr.b",
                    "cabin_ids": ["cabin-1"],
                    "days": [friday],
                    "starts": "12:00",
                    "ends": "09:00",
                },
            )
            assert (status, refused["reason"]) == (409, "rota_conflict")
            status, refused = await post(
                coordinator,
                "/shifts",
                {
                    "doctor": "dr.nobody",
                    "cabin_ids": ["cabin-1"],
                    "days": [friday],
                    "starts": "09:00",
                    "ends": "12:00",
                },
            )
            assert (status, refused["reason"]) == (400, "unknown_doctor")

            # a booked patient on Tuesday: dr.a's shift stays, and the hours, and no closure
            _, agenda = await get(coordinator, f"/agenda?day={TUESDAY}")
            status, _ = await book(coordinator, "cabin-1", free_slots(agenda, "cabin-1")[0])
            assert status == 201
            status, refused = await post(coordinator, f"/shifts/{tuesday_shift['shift_id']}/remove")
            assert (status, refused["reason"]) == (409, "rota_conflict")
            assert len(refused["conflicts"]) == 1
            assert refused["conflicts"][0]["fr"].startswith("Un rendez-vous, le mardi 24 novembre")
            assert "without a doctor" in refused["conflicts"][0]["en"]
            status, refused = await post(
                coordinator,
                "/cabins/cabin-1/opening-hours",
                {"hours": [{"weekday": 1, "opens": "14:00", "closes": "18:00"}]},
            )
            assert (status, refused["reason"]) == (409, "has_appointments")
            assert "Déplacez-les" in refused["fr"]
            status, refused = await post(
                coordinator,
                "/closures",
                {
                    "cabin_ids": ["cabin-1", "cabin-2"],
                    "first_day": str(TUESDAY),
                    "last_day": str(TUESDAY),
                    "reason": "travaux",
                },
            )
            assert (status, refused["reason"]) == (409, "has_appointments")
            assert refused["fr"].startswith("1 fermeture")
            assert refused["conflicts"][0]["fr"].startswith("Cabine cabin-1")

            # what conflicts with nothing goes through
            wednesday_shift = next(s for s in week["shifts"] if s["doctor"] == "dr.b")
            status, _ = await post(coordinator, f"/shifts/{wednesday_shift['shift_id']}/remove")
            assert status == 204
            status, _ = await post(coordinator, f"/shifts/{wednesday_shift['shift_id']}/remove")
            assert status == 404
            status, _ = await post(
                coordinator,
                "/cabins/cabin-2/opening-hours",
                {"hours": [{"weekday": d, "opens": "08:30", "closes": "12:30"} for d in range(5)]},
            )
            assert status == 204
            _, cabins = await get(coordinator, "/cabins")
            assert cabins["cabins"][1]["opening_hours"][0] == {
                "weekday": 0,
                "opens": "08:30",
                "closes": "12:30",
            }
            status, answer = await post(coordinator, "/closures/holidays", {"year": 2027})
            assert (status, answer["added"]) == (201, 22)
            status, week = await get(coordinator, "/rota?week=2027-07-14")
            assert [(c["cabin_id"], c["reason"]) for c in week["closures"]] == [
                ("cabin-1", "Fête nationale"),
                ("cabin-2", "Fête nationale"),
            ]
            status, _ = await post(
                coordinator, f"/closures/{week['closures'][0]['closure_id']}/remove"
            )
            assert status == 204
            _, week = await get(coordinator, "/rota?week=2027-07-14")
            assert len(week["closures"]) == 1

            actions = [
                e.action for e in await rig.hub.storage.audit_entries() if e.actor_id == COORDINATOR
            ]
            # 4, and Friday's of the refused request, taken back (audited both ways)
            assert actions.count("shift.added") == 4 + 1
            assert actions.count("shift.removed") == 1 + 1
            assert "cabin.opening_hours_set" in actions
            assert actions.count("closure.added") == 1 + 22
            assert "closure.removed" in actions

    run(scenario())


def test_messages_not_delivered_are_listed_with_the_patient_s_phone(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY])
            await add_coordinator(rig.hub)
            await add_coordinator(rig.hub, "coord.allanche", "cabin-2")
            coordinator = await signed_in(rig, COORDINATOR, COORDINATOR_PASSWORD)
            _, agenda = await get(coordinator, f"/agenda?day={TUESDAY}")
            _, booked = await book(
                coordinator, "cabin-1", free_slots(agenda, "cabin-1")[0], phone="0612345678"
            )
            assert (await get(coordinator, "/notifications/failed")) == (200, [])
            storage = rig.hub.storage
            failed = Notification(
                notification_id="n-failed-1",
                appointment_id=booked["appointment_id"],
                channel=NotificationChannel.SMS,
                kind=NotificationKind.CONFIRMATION,
                due_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
            )
            await storage.add_notifications([failed])
            await storage.mark_notification_failed(
                "n-failed-1", error="provider answered 503", retry_at=None
            )
            status, listed = await get(coordinator, "/notifications/failed")
            assert status == 200
            assert [(n["notification_id"], n["channel"], n["kind"]) for n in listed] == [
                ("n-failed-1", "sms", "confirmation")
            ]
            assert listed[0]["error"] == "provider answered 503"
            assert listed[0]["appointment"]["phone"] == "+33612345678"
            assert await storage.notifications(states=frozenset({NotificationState.FAILED}))
            # once cancelled, its confirmation no longer matters; the cancellation's news does
            await post(
                coordinator, f"/appointments/{booked['appointment_id']}/cancel", {"reason": "x y"}
            )
            assert (await get(coordinator, "/notifications/failed")) == (200, [])
            news = Notification(
                notification_id="n-failed-2",
                appointment_id=booked["appointment_id"],
                channel=NotificationChannel.SMS,
                kind=NotificationKind.CANCELLATION,
                due_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
            )
            await storage.add_notifications([news])
            await storage.mark_notification_failed("n-failed-2", error="503", retry_at=None)
            _, listed = await get(coordinator, "/notifications/failed")
            assert [n["notification_id"] for n in listed] == ["n-failed-2"]
            other = await signed_in(rig, "coord.allanche", COORDINATOR_PASSWORD)
            assert (await get(other, "/notifications/failed")) == (200, [])

    run(scenario())


def test_create_agent_coordinator_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('argon2_cost = "test"\n')
    common = ["--config", str(config), "--data", str(tmp_path / "data")]
    for username, extra in (("coord.cli", ["--coordinator"]), ("agent.cli", [])):
        created = subprocess.run(
            [
                *(sys.executable, "-m", "hub", "create-agent", username, "--name", "Mairie"),
                *("--cabin", "cabin-1", *extra, "--password-stdin", *common),
            ],
            input="a-long-enough-password\n",
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=key_env(),
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "hub", "list-agents", *common],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=key_env(),
        timeout=60,
        check=True,
    )
    rows = sorted(line.split("\t")[:4] for line in listed.stdout.splitlines())
    assert rows == [
        ["agent.cli", "Mairie", "cabin-1", "agent"],
        ["coord.cli", "Mairie", "cabin-1", "coordinator"],
    ]

    async def check() -> None:
        storage = await SqliteStorage.open(tmp_path / "data" / "hub.db", TEST_KEY)
        try:
            coordinator = await storage.agent("coord.cli")
            plain = await storage.agent("agent.cli")
            assert coordinator is not None and coordinator.coordinator
            assert plain is not None and not plain.coordinator
        finally:
            await storage.close()

    run(check())


def test_each_cabin_s_times_are_shown_in_its_own_time_zone(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY], cabins=["cabin-1"])
            desk = desk_of(rig.hub)
            reunion = ZoneInfo("Indian/Reunion")  # UTC+4, no daylight saving
            await desk.put_calendar(
                replace(desk.new_calendar("cabin-2", "Saint-Denis"), timezone=reunion.key),
                by="operator",
            )
            await desk.set_opening_hours(
                "cabin-2", [OpeningHours("cabin-2", 1, time(9), time(12))], by="operator"
            )
            await desk.add_shift(
                "cabin-2",
                "dr.b",
                local_instant(TUESDAY, time(9), reunion),
                local_instant(TUESDAY, time(12), reunion),
                by="operator",
            )
            await add_coordinator(rig.hub)
            coordinator = await signed_in(rig, COORDINATOR, COORDINATOR_PASSWORD)
            _, agenda = await get(coordinator, f"/agenda?day={TUESDAY}")
            firsts = {c["cabin_id"]: c["slots"][0] for c in agenda["cabins"]}
            assert firsts["cabin-1"]["local_time"] == firsts["cabin-2"]["local_time"] == "09:00"
            assert firsts["cabin-1"]["starts_at"].startswith("2026-11-24T08:00:00")
            assert firsts["cabin-2"]["starts_at"].startswith("2026-11-24T05:00:00")
            slot = free_slots(agenda, "cabin-2")[0]
            status, booked = await book(coordinator, "cabin-2", slot)
            assert status == 201
            assert (booked["timezone"], booked["local_time"]) == (reunion.key, "09:00")
            _, week = await get(coordinator, f"/rota?week={TUESDAY}")
            reunion_shift = next(s for s in week["shifts"] if s["cabin_id"] == "cabin-2")
            assert (reunion_shift["local_starts"], reunion_shift["local_ends"]) == (
                "09:00",
                "12:00",
            )
            _, cabins = await get(coordinator, "/cabins")
            assert [c["timezone"] for c in cabins["cabins"]] == ["Europe/Paris", reunion.key]

    run(scenario())


def test_a_caller_booked_on_the_phone_gets_the_confirmation_by_e_mail(tmp_path: Path) -> None:
    """Through the hub's outbox and a real SMTP server (aiosmtpd) on loopback."""

    async def scenario(mailbox: Mailbox) -> None:
        async with running_hub(tmp_path, clock=FakeClock(), mail=mailbox.hub_mail_config()) as rig:
            await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY])
            await add_coordinator(rig.hub)
            coordinator = await signed_in(rig, COORDINATOR, COORDINATOR_PASSWORD)
            _, agenda = await get(coordinator, f"/agenda?day={TUESDAY}")
            status, booked = await book(
                coordinator,
                "cabin-1",
                free_slots(agenda, "cabin-1")[0],
                email="jeanne.delmas@example.fr",
            )
            assert status == 201
            (mail,) = await asyncio.to_thread(mailbox.wait_for, 1, 20.0)
            assert mail["To"] == "jeanne.delmas@example.fr"
            assert appointment_code(mail) == booked["code"]

    with Mailbox() as mailbox:
        run(scenario(mailbox))
