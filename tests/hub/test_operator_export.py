"""The operator's export endpoint over HTTP on a real hub in process: no token, a wrong or a
revoked one are refused (401); the right one gets a FHIR R4 Bundle that fhir.resources
validates, with appointments of every status, never cached, audited; tries are limited. The
stream, read a few appointments at a time, holds what the CLI's export holds. Tokens come from
``python -m hub new-operator-token`` and end with ``revoke-operator-token``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

import wire
from hub.booking import Appointment, BookingChannel
from hub.bookings import BookingDesk
from hub.fhir_booking import build_export_bundle, collect_export
from hub.operator_export import EXPORTS_PER_HOUR, PATH, export_chunks
from hub.schedule import local_instant
from hub.services import SERVICES
from hub.storage import ActorKind
from tests.hub.coordination_rig import desk_of, open_cabins
from tests.hub.hub_key import key_env
from tests.hub.hub_rig import FakeClock, Rig, running_hub
from tests.hub.test_coordinator_http import MONDAY, TUESDAY, WEDNESDAY
from tests.hub.test_fhir_booking import resources, validate

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60
PARIS = ZoneInfo("Europe/Paris")


def _cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    config = rig.hub.app[SERVICES].config
    toml = config.data_path / "cli.toml"
    toml.write_text('argon2_cost = "test"\n')
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            *args,
            "--config",
            str(toml),
            "--data",
            str(config.data_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=key_env(),
        timeout=60,
        check=False,
    )


async def _book(desk: BookingDesk, day: date, hh: int, mm: int, family: str) -> Appointment:
    return await desk.book(
        "cabin-1",
        local_instant(day, time(hh, mm), PARIS),
        patient=wire.PatientSummary(
            family_name=family, given_names="Jeanne", birth_date=MONDAY.replace(year=1941)
        ),
        phone="+33612345678",
        channel=BookingChannel.PHONE,
        booked_by="coord",
        consent=True,
    )


async def _every_status(rig: Rig, clock: FakeClock) -> None:
    """Appointments booked, arrived, fulfilled, cancelled and a no-show."""
    await open_cabins(rig.hub, doctor="dr.a", days=[TUESDAY, WEDNESDAY])
    desk = desk_of(rig.hub)
    cancelled = await _book(desk, TUESDAY, 9, 0, "Annulé")
    fulfilled = await _book(desk, TUESDAY, 9, 15, "Vu")
    arrived = await _book(desk, TUESDAY, 9, 30, "Arrivé")
    await _book(desk, TUESDAY, 10, 0, "Absent")
    await _book(desk, WEDNESDAY, 9, 0, "Vu")  # the patient seen on Tuesday comes back
    await desk.cancel(cancelled.appointment_id, reason="empêché", by="coord")
    clock.advance(timedelta(days=1).total_seconds())  # Tuesday, 10:00 in Paris
    await desk.arrive(fulfilled.appointment_id, None)
    await desk.fulfil(fulfilled.appointment_id)
    await desk.arrive(arrived.appointment_id, None)
    clock.advance(timedelta(hours=2).total_seconds())
    await desk.mark_noshows()


async def _get(
    session: aiohttp.ClientSession, url: str, token: str | None
) -> tuple[int, dict[str, str], bytes]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with session.get(url + PATH, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


def test_the_export_endpoint_needs_a_live_operator_token_and_gives_every_status(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with asyncio.timeout(TIMEOUT_S), running_hub(tmp_path, clock=clock) as rig:
            await _every_status(rig, clock)
            made = await asyncio.to_thread(_cli, rig, "new-operator-token", "mairie-murat")
            assert made.returncode == 0, made.stderr
            token = made.stdout.strip()
            assert len(token) >= 40 and "\n" not in token
            session = rig.client()

            status, headers, _ = await _get(session, rig.url, None)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
            assert (await _get(session, rig.url, token[:-2] + "xx"))[0] == 401
            async with session.get(
                rig.url + PATH, headers={"Authorization": f"Basic {token}"}
            ) as basic:
                assert basic.status == 401
            assert not [
                e for e in await rig.hub.storage.audit_entries() if e.action == "bookings.exported"
            ]

            status, headers, body = await _get(session, rig.url, token)
            assert status == 200
            assert headers["Content-Type"].startswith("application/fhir+json")
            assert headers["Cache-Control"] == "no-store"
            assert "attachment" in headers["Content-Disposition"]
            validate(body)
            bundle = json.loads(body)
            assert bundle["type"] == "collection" and bundle["resourceType"] == "Bundle"
            statuses = sorted(a["status"] for a in resources(body, "Appointment"))
            assert statuses == ["arrived", "booked", "cancelled", "fulfilled", "noshow"]
            assert b"+33612345678" in body  # the patients' contacts: the town's data
            for appointment in await rig.hub.storage.appointments(
                cabin_ids=None,
                starts_from=clock.now() - timedelta(days=9),
                starts_before=clock.now() + timedelta(days=9),
            ):
                assert appointment.code.encode() not in body  # the cabin's key, not data
            [entry] = [
                e for e in await rig.hub.storage.audit_entries() if e.action == "bookings.exported"
            ]
            assert entry.actor_kind is ActorKind.OPERATOR and entry.actor_id == "mairie-murat"
            assert entry.client_address == "127.0.0.1"

            revoked = await asyncio.to_thread(_cli, rig, "revoke-operator-token", "mairie-murat")
            assert revoked.returncode == 0, revoked.stderr
            assert (await _get(session, rig.url, token))[0] == 401
            again = await asyncio.to_thread(_cli, rig, "revoke-operator-token", "mairie-murat")
            assert again.returncode != 0

    asyncio.run(scenario())


def test_tries_are_limited_per_client_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with asyncio.timeout(TIMEOUT_S), running_hub(tmp_path, clock=FakeClock()) as rig:
            session = rig.client()
            answers = [
                (await _get(session, rig.url, f"guess-{n}"))[0] for n in range(EXPORTS_PER_HOUR + 2)
            ]
            assert answers[:EXPORTS_PER_HOUR] == [401] * EXPORTS_PER_HOUR
            assert answers[EXPORTS_PER_HOUR:] == [429, 429]

    asyncio.run(scenario())


def test_the_stream_read_a_few_at_a_time_holds_what_the_cli_export_holds(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with asyncio.timeout(TIMEOUT_S), running_hub(tmp_path, clock=clock) as rig:
            await _every_status(rig, clock)
            storage = rig.hub.storage
            now = clock.now()
            streamed = b"".join(
                [chunk async for chunk in export_chunks(storage, now=now, page_size=2)]
            )
            validate(streamed)
            whole = build_export_bundle(await collect_export(storage, now=now))

            def by_url(data: bytes) -> dict[str, Any]:
                entries = json.loads(data)["entry"]
                urls = [e["fullUrl"] for e in entries]
                assert len(urls) == len(set(urls))  # each resource once
                return {e["fullUrl"]: e["resource"] for e in entries}

            assert by_url(streamed) == by_url(whole)
            assert {k: v for k, v in json.loads(streamed).items() if k != "entry"} == {
                k: v for k, v in json.loads(whole).items() if k != "entry"
            }

    asyncio.run(scenario())
