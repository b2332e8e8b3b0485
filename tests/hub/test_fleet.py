"""The hub's side of the fleet (issue 18): a real cabin link sends its heartbeat, self-test
reports and call quality; the operator's API shows them; a cabin silent too long, or failing a
self-test, alerts its agents exactly once (with two replicas on PostgreSQL and Redis too), and
the hub resolves the alert when the cabin is back; booking sees it "temporarily unavailable"."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

import wire
from fleet.servers import PostgresServer, RedisServer
from hub.accounts import create_agent, create_operator, provision_cabin
from hub.demo import DEMO_OPERATORS, seed_demo
from hub.fleet import blocks_consultations, offline_alert_id
from hub.fleet_desk import MESSAGES_PER_MINUTE
from hub.passwords import PasswordHasher
from hub.sqlite_storage import SqliteStorage
from hub.storage import AccountRole, AckRole
from tests.hub.hub_key import TEST_KEY, key_env
from tests.hub.hub_rig import (
    AGENT_PASSWORD,
    PASSWORDS,
    FakeClock,
    Peer,
    Rig,
    new_id,
    run,
    running_hub,
)
from tests.hub.pg_backend import TEST_RING_TEXT, fresh_database, postgres_server
from tests.hub.test_booking_http import Client, booking_hub
from tests.hub.test_replicas import redis_server, two_replicas

__all__ = ["postgres_server", "redis_server"]  # fixtures

MONDAY_MORNING = datetime(2027, 1, 11, 6, 30, tzinfo=UTC)
"""07:30 in Paris: the Monday's slots are all ahead."""
OPERATOR = "ope.flotte"
OPERATOR_PASSWORD = "password-of-the-operator"
ROOT = Path(__file__).resolve().parents[2]
QUIET: dict[str, Any] = {"fleet": {"offline_after_min": 5, "check_s": 3600}}
"""The periodic check asleep: the tests call `FleetDesk.check` when the clock has moved."""


def status(
    version: str = "1.8.0", paper: wire.PaperLevel = wire.PaperLevel.LOW
) -> wire.CabinStatus:
    return wire.CabinStatus(
        msg_id=new_id("status"),
        sent_at=FakeClock().now(),
        software_version=version,
        instruments=[
            wire.InstrumentState(
                instrument_id="tensio-1", kind="blood_pressure", connected=True, battery_percent=12
            ),
            wire.InstrumentState(instrument_id="oxy-1", kind="oximeter", connected=False),
        ],
        paper=paper,
        disk_free_mb=20_480,
    )


def report(
    report_id: str, *, failed: wire.SelfTestCheck | None = wire.SelfTestCheck.CAMERA
) -> wire.SelfTestReport:
    now = FakeClock().now()
    results = [
        wire.SelfTestResult(check=check, outcome=wire.SelfTestOutcome.PASSED)
        for check in (wire.SelfTestCheck.HUB, wire.SelfTestCheck.DISK, wire.SelfTestCheck.CAMERA)
        if check is not failed
    ]
    if failed is not None:
        results.append(
            wire.SelfTestResult(
                check=failed,
                outcome=wire.SelfTestOutcome.FAILED,
                detail="images toutes noires (objectif couvert ?)",
            )
        )
    return wire.SelfTestReport(
        msg_id=new_id("selftest"),
        report_id=report_id,
        trigger=wire.SelfTestTrigger.START,
        started_at=now - timedelta(seconds=30),
        finished_at=now,
        results=results,
    )


def quality(consultation_id: str, kbps: float, *, final: bool = False) -> wire.CallQuality:
    return wire.CallQuality(
        msg_id=new_id("quality"),
        consultation_id=consultation_id,
        sent_at=FakeClock().now(),
        sample=wire.CallQualitySample(
            sent_kbps=kbps, received_kbps=kbps * 0.8, loss_percent=0.5, round_trip_ms=48.0
        ),
        final=final,
    )


async def add_operator(rig: Rig) -> None:
    await create_operator(
        rig.hub.storage,
        username=OPERATOR,
        password=OPERATOR_PASSWORD,
        display_name="Exploitation",
        argon2_cost="test",
    )


async def signed_in(rig: Rig, username: str, password: str) -> aiohttp.ClientSession:
    http = rig.client()
    response = await rig.login_response(username, password, http=http)
    assert response.status == 200, await response.text()
    return http


async def fleet(rig: Rig, http: aiohttp.ClientSession) -> dict[str, Any]:
    response = await http.get(f"{rig.url}/api/fleet/cabins")
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def cabin_of(view: dict[str, Any], cabin_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in view["cabins"] if c["cabin_id"] == cabin_id]
    assert len(found) == 1, view
    return found[0]


async def acked(cabin: Peer, message: wire.Message) -> None:
    await cabin.send(message)
    ack = await cabin.expect(wire.Ack)
    assert ack.ack_of == message.msg_id


def test_a_cabin_reports_and_the_operator_sees_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, **QUIET) as rig:
            await add_operator(rig)
            cabin = await rig.cabin("cabin-1")
            await rig.join(cabin, "c-1")
            await cabin.send(status())
            selftest = report("r-1")
            await acked(cabin, selftest)
            await acked(cabin, selftest)  # sent again (the ack was lost): acknowledged again
            await cabin.send(quality("c-1", 900))
            await cabin.send(quality("c-1", 1100, final=True))
            await acked(cabin, report("r-0", failed=None))
            http = await signed_in(rig, OPERATOR, OPERATOR_PASSWORD)
            me = await (await http.get(f"{rig.url}/api/me")).json()
            assert me["role"] == "operator" and me["operator"]["display_name"] == "Exploitation"
            view = await fleet(rig, http)
            one = cabin_of(view, "cabin-1")
            assert one["state"] == "online"
            assert one["software_version"] == "1.8.0"
            assert one["paper"] == "low"
            assert [i["instrument_id"] for i in one["instruments"]] == ["tensio-1", "oxy-1"]
            assert one["consultations_today"] == 1 and one["consultations_week"] == 1
            assert one["quality"]["last"]["sent_kbps"] == 1100 and one["quality"]["last"]["final"]
            assert one["quality"]["calls_this_week"] == 1
            assert one["timezone"] == "Europe/Paris"
            # the latest report (by its end): r-0 and r-1 end at the same instant, the later
            # received wins (received_at)
            assert one["selftest"]["report_id"] in ("r-0", "r-1")
            two = cabin_of(view, "cabin-2")
            assert two["state"] == "never_seen"
            assert "never_seen" in two["problems"]
            # problems first
            assert view["cabins"][0]["cabin_id"] == "cabin-1"
            assert "battery_low" in one["problems"] and "instrument_disconnected" in one["problems"]
            # the detail of one cabin, and hostile ids
            got = await http.get(f"{rig.url}/api/fleet/cabins/cabin-1")
            assert got.status == 200 and (await got.json())["cabin_id"] == "cabin-1"
            for bad, code in (("x" * 65, 400), ("nobody", 404), ("%00", 404), ("..%2F..", 404)):
                response = await http.get(f"{rig.url}/api/fleet/cabins/{bad}")
                assert response.status == code, (bad, response.status)
            huge = await http.post(
                f"{rig.url}/api/fleet/cabins",
                data=b"x" * (200 * 1024),
                headers={"Origin": rig.url, "Content-Type": "application/json"},
            )
            assert huge.status in (403, 405, 413)
            await cabin.close()

    run(scenario())


def test_only_operators_open_the_fleet_page_and_its_api(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, **QUIET) as rig:
            await add_operator(rig)
            await rig.add_agent("agent.a", "cabin-1")
            anonymous = rig.client()
            response = await anonymous.get(f"{rig.url}/api/fleet/cabins")
            assert response.status == 401
            page = await anonymous.get(f"{rig.url}/flotte")
            assert page.status == 200  # the page itself: its sign-in form
            assert "script-src" not in page.headers["Content-Security-Policy"]
            assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
            moved = await anonymous.get(f"{rig.url}/fleet", allow_redirects=False)
            assert moved.status == 302 and moved.headers["Location"] == "/flotte"
            for username, password in (("dr.a", PASSWORDS["dr.a"]), ("agent.a", AGENT_PASSWORD)):
                http = await signed_in(rig, username, password)
                response = await http.get(f"{rig.url}/api/fleet/cabins")
                assert response.status == 403, username
                assert (await response.json())["reason"] == "not_operator"
            # an operator opens neither the console's socket nor the agents'
            http = await signed_in(rig, OPERATOR, OPERATOR_PASSWORD)
            me = await (await http.get(f"{rig.url}/api/me")).json()
            for path in ("/ws/console", "/ws/agent"):
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await http.ws_connect(
                        f"{rig.url}{path}?csrf={me['csrf_token']}", headers={"Origin": rig.url}
                    )
            # a page left open polls: the limit answers 429 well above it
            statuses = [(await http.get(f"{rig.url}/api/fleet/cabins")).status for _ in range(40)]
            assert statuses.count(200) == 30 and statuses[-1] == 429

    run(scenario())


def test_a_silent_cabin_alerts_its_agents_once_and_is_resolved_when_it_is_back(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, **QUIET) as rig:
            await rig.add_agent("agent.a", "cabin-1")
            await rig.add_agent("agent.b", "cabin-2")
            page = await rig.agent_page("agent.a")
            other = await rig.agent_page("agent.b")
            fleet_desk = rig.switchboard.fleet
            cabin = await rig.cabin("cabin-1")
            await cabin.send(status())
            await cabin.close()
            clock.advance(4 * 60)
            await fleet_desk.check()
            await page.nothing_more(0.3)  # 4 min: not yet
            clock.advance(2 * 60)
            await fleet_desk.check()
            alert = await page.expect(wire.AlertMessage)
            assert alert.kind is wire.AlertKind.CABIN_OFFLINE and alert.cabin_id == "cabin-1"
            assert alert.alert_id.startswith("hub-offline-")
            await fleet_desk.check()  # and again: the same outage, no second alert
            await page.nothing_more(0.3)
            await other.nothing_more(0.1)  # not their cabin
            assert "cabin-1" in await fleet_desk.unavailable()
            # the cabin comes back: the alert is resolved by the hub
            cabin = await rig.cabin("cabin-1")
            ack = await page.expect(wire.AlertAck)
            assert ack.alert_id == alert.alert_id and ack.acknowledged_by == "hub:back_online"
            stored = await rig.hub.storage.alert(alert.alert_id)
            assert stored is not None and stored.acknowledged_role is AckRole.HUB
            assert "cabin-1" not in fleet_desk.unavailable_of(
                await rig.hub.storage.cabin_health(), clock.now()
            )
            # the cabin never gets the hub's own alert nor its resolution
            await cabin.nothing_more(0.3, ignore=(wire.TodaysAppointments,))
            await cabin.close()

    run(scenario())


def test_a_failed_self_test_alerts_the_agents_and_a_passed_one_resolves_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, **QUIET) as rig:
            await rig.add_agent("agent.a", "cabin-1")
            page = await rig.agent_page("agent.a")
            cabin = await rig.cabin("cabin-1")
            fleet_desk = rig.switchboard.fleet
            await acked(cabin, report("r-1", failed=wire.SelfTestCheck.CAMERA))
            alert = await page.expect(wire.AlertMessage)
            assert alert.kind is wire.AlertKind.SELFTEST_FAILED
            assert alert.severity is wire.AlertSeverity.WARNING  # a camera stops consultations
            assert "caméra" in alert.detail and "noires" in alert.detail
            assert "cabin-1" in await fleet_desk.unavailable()
            await acked(cabin, report("r-1", failed=wire.SelfTestCheck.CAMERA))  # again: once
            await acked(cabin, report("r-2", failed=wire.SelfTestCheck.CAMERA))  # still open
            await page.nothing_more(0.3)
            clock.advance(60)
            await acked(cabin, report("r-3", failed=None))
            ack = await page.expect(wire.AlertAck)
            assert ack.alert_id == alert.alert_id and ack.acknowledged_by == "hub:selftest_passed"
            clock.advance(60)
            # an instrument failing alone: an alert, but the cabin stays bookable
            await acked(cabin, report("r-4", failed=wire.SelfTestCheck.INSTRUMENT))
            minor = await page.expect(wire.AlertMessage)
            assert minor.severity is wire.AlertSeverity.INFO
            assert "cabin-1" not in fleet_desk.unavailable_of(
                await rig.hub.storage.cabin_health(), clock.now()
            )
            await cabin.close()

    run(scenario())


def _postgres(tmp_path: Path, server: PostgresServer) -> dict[str, Any]:
    _, dsn = fresh_database(server, "fleet")
    data = tmp_path / "hub-data"
    data.mkdir(mode=0o700, exist_ok=True)
    keys = data / "hub-data.keys"
    keys.write_text(TEST_RING_TEXT)
    keys.chmod(0o600)
    return {"storage": {"backend": "postgresql", "dsn": dsn}}


def test_two_replicas_raise_and_resolve_an_offline_alert_exactly_once(
    tmp_path: Path, redis_server: RedisServer, postgres_server: PostgresServer
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        settings = _postgres(tmp_path, postgres_server) | QUIET
        async with two_replicas(tmp_path, redis_server, clock=clock, **settings) as (a, b):
            await a.add_agent("agent.a", "cabin-1")
            on_a, on_b = await a.agent_page("agent.a"), await b.agent_page("agent.a")
            cabin = await a.cabin("cabin-1")
            await cabin.send(status())
            await cabin.close()
            clock.advance(10 * 60)
            # both replicas look at once, several times
            for _ in range(3):
                await asyncio.gather(a.switchboard.fleet.check(), b.switchboard.fleet.check())
            first = await on_a.expect(wire.AlertMessage)
            second = await on_b.expect(wire.AlertMessage)
            assert first.alert_id == second.alert_id
            await on_a.nothing_more(0.5)
            await on_b.nothing_more(0.1)
            health = {h.cabin_id: h for h in await a.hub.storage.cabin_health()}
            last_seen = health["cabin-1"].last_seen_at
            assert last_seen is not None
            assert first.alert_id == offline_alert_id("cabin-1", last_seen)
            open_ids = [
                r.alert_id
                for r in await a.hub.storage.open_alerts(since=clock.now() - timedelta(days=1))
                if r.kind is wire.AlertKind.CABIN_OFFLINE
            ]
            assert open_ids == [first.alert_id]
            # back through B: resolved once, every page told once
            cabin = await b.cabin("cabin-1")
            for page in (on_a, on_b):
                ack = await page.expect(wire.AlertAck)
                assert ack.acknowledged_by == "hub:back_online"
            await a.switchboard.fleet.check()  # A has not seen it back: the database has
            await on_a.nothing_more(0.5, ignore=(wire.AlertAck,))
            await on_b.nothing_more(0.1, ignore=(wire.AlertAck,))
            await cabin.close()

    run(scenario())


def test_booking_takes_nothing_today_at_a_cabin_whose_self_test_stops_consultations(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock(MONDAY_MORNING)
        async with booking_hub(tmp_path, clock) as hub, aiohttp.ClientSession() as http:
            client = Client(http, hub)
            before = await client.free_slots()
            today = [s["starts_at"] for s in before if s["starts_at"].startswith("2027-01-11")]
            tomorrow = [s["starts_at"] for s in before if s["starts_at"].startswith("2027-01-12")]
            assert today and tomorrow
            token = await provision_cabin(hub.storage, cabin_id="cabin-murat", name="Murat")
            rig = Rig(hub, {"cabin-murat": token})
            try:
                cabin = await rig.cabin("cabin-murat")
                await acked(cabin, report("r-1", failed=wire.SelfTestCheck.DATABASE))
                status_code, towns = await client.get("/towns")
                assert status_code == 200 and towns["unavailable"] == ["Murat"]
                _, cabins = await client.get("/cabins?town=Murat")
                assert cabins["cabins"][0]["unavailable"] is True
                after = await client.free_slots()
                assert not [s for s in after if s["starts_at"].startswith("2027-01-11")]
                assert [s["starts_at"] for s in after if s["starts_at"] in tomorrow] == tomorrow
                code, answer = await client.book(today[0])
                assert (code, answer["reason"]) == (409, "cabin_unavailable")
                code, answer = await client.book(tomorrow[0])
                assert code == 201, answer
                # it passes again: bookable today again
                await acked(cabin, report("r-2", failed=None))
                assert [s for s in await client.free_slots() if s["starts_at"] in today]
                await cabin.close()
            finally:
                await rig.close()

    run(scenario())


def test_a_cabin_flooding_the_hub_with_statuses_is_cut_short(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, **QUIET) as rig:
            cabin = await rig.cabin("cabin-1")
            for n in range(MESSAGES_PER_MINUTE):
                await cabin.send(status(f"1.0.{n}"))
            await cabin.send(status("9.9.9"))  # one too many: dropped
            late = report("r-late", failed=None)
            await cabin.send(late)
            refused = await cabin.expect(wire.ErrorMessage)
            assert refused.code is wire.ErrorCode.RATE_LIMITED
            assert refused.in_reply_to == late.msg_id
            health = {h.cabin_id: h for h in await rig.hub.storage.cabin_health()}
            stored = health["cabin-1"].status
            assert (
                stored is not None and stored.software_version == f"1.0.{MESSAGES_PER_MINUTE - 1}"
            )
            assert health["cabin-1"].selftest is None
            clock.advance(61)  # a minute later: taken again
            await acked(cabin, late)
            await cabin.close()

    run(scenario())


def test_add_operator_on_the_command_line_and_the_demos_operator(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('argon2_cost = "test"\n')
    common = ["--config", str(config), "--data", str(tmp_path / "data")]
    for command, username in (("create-operator", "ope.cli"), ("add-operator", "ope.alias")):
        created = subprocess.run(
            [sys.executable, "-m", "hub", command, username, "--name", "Exploitation",
             "--password-stdin", *common],
            input="a-long-enough-password\n", capture_output=True, text=True, cwd=ROOT,
            env=key_env(), timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
    taken = subprocess.run(
        [sys.executable, "-m", "hub", "add-operator", "ope.cli", "--name", "Encore",
         "--password-stdin", *common],
        input="a-long-enough-password\n", capture_output=True, text=True, cwd=ROOT,
        env=key_env(), timeout=60, check=False,
    )  # fmt: skip
    assert taken.returncode != 0 and "already exists" in taken.stderr

    async def check() -> None:
        storage = await SqliteStorage.open(tmp_path / "data" / "hub.db", TEST_KEY)
        try:
            operator = await storage.operator("ope.cli")
            assert operator is not None and operator.display_name == "Exploitation"
            assert await PasswordHasher("test").verify(
                operator.password_hash, "a-long-enough-password"
            )
            assert await storage.operator("ope.alias") is not None
            await seed_demo(storage, argon2_cost="test")
            await seed_demo(storage, argon2_cost="test")  # again: once
            demo = await storage.operator(DEMO_OPERATORS[0].username)
            assert demo is not None and demo.username == "operateur.demo"
            account = await storage.login_account("operateur.demo")
            assert account is not None and account.role is AccountRole.OPERATOR
        finally:
            await storage.close()

    run(check())


@pytest.mark.parametrize("check", list(wire.SelfTestCheck))
def test_which_failed_checks_make_a_cabin_unavailable(check: wire.SelfTestCheck) -> None:
    stops = {
        wire.SelfTestCheck.TURN,
        wire.SelfTestCheck.CAMERA,
        wire.SelfTestCheck.MICROPHONE,
        wire.SelfTestCheck.SPEAKER,
        wire.SelfTestCheck.DISK,
        wire.SelfTestCheck.DATABASE,
    }
    assert blocks_consultations(report("r", failed=check)) is (check in stops)
    warned = msgspec.structs.replace(
        report("r", failed=check),
        results=[
            wire.SelfTestResult(check=check, outcome=outcome)
            for outcome in (wire.SelfTestOutcome.WARNING, wire.SelfTestOutcome.SKIPPED)
        ],
    )
    assert not blocks_consultations(warned)  # only a failure stops it
    assert not blocks_consultations(None)


def test_a_cabin_cannot_raise_the_hubs_own_alerts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, **QUIET) as rig:
            cabin = await rig.cabin("cabin-1")
            for kind in (wire.AlertKind.CABIN_OFFLINE, wire.AlertKind.SELFTEST_FAILED):
                forged = wire.AlertMessage(
                    msg_id=new_id("alert"),
                    alert_id=new_id("a"),
                    cabin_id="cabin-1",
                    kind=kind,
                    severity=wire.AlertSeverity.WARNING,
                    raised_at=FakeClock().now(),
                    confidence=1.0,
                )
                await cabin.send(forged)
                refused = await cabin.expect(wire.ErrorMessage)
                assert refused.code is wire.ErrorCode.UNAUTHORIZED
                assert refused.in_reply_to == forged.msg_id
                assert await rig.hub.storage.alert(forged.alert_id) is None
            await cabin.close()

    run(scenario())


def test_a_long_self_test_report_makes_an_alert_the_pages_can_read(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, **QUIET) as rig:
            await rig.add_agent("agent.a", "cabin-1")
            page = await rig.agent_page("agent.a")
            cabin = await rig.cabin("cabin-1")
            long = msgspec.structs.replace(
                report("r-long"),
                results=[
                    wire.SelfTestResult(
                        check=check, outcome=wire.SelfTestOutcome.FAILED, detail="é" * 500
                    )
                    for check in wire.SelfTestCheck
                ],
            )
            await acked(cabin, long)
            alert = await page.expect(wire.AlertMessage)  # decoded against the schema
            assert len(alert.detail) == 120 and alert.detail.endswith("…")
            await cabin.close()

    run(scenario())


def test_a_call_sample_dated_in_the_future_is_kept_at_the_hubs_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, **QUIET) as rig:
            cabin = await rig.cabin("cabin-1")
            future = msgspec.structs.replace(
                quality("c-9", 700), sent_at=datetime(2099, 1, 1, tzinfo=UTC)
            )
            await cabin.send(future)
            # a cabin's messages are handled in order: once this is acknowledged, the sample is in
            await acked(cabin, report("r-barrier", failed=None))
            [kept] = await rig.hub.storage.call_qualities(since=clock.now() - timedelta(days=1))
            assert kept.sent_at == clock.now()
            await cabin.close()

    run(scenario())


def test_the_coordinators_agenda_shows_a_blocked_cabin(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(MONDAY_MORNING)
        async with booking_hub(tmp_path, clock) as hub:
            await create_agent(
                hub.storage, username="coord.murat", password=AGENT_PASSWORD,
                display_name="Mairie de Murat", cabins=("cabin-murat", "cabin-allanche"),
                argon2_cost="test", coordinator=True,
            )  # fmt: skip
            token = await provision_cabin(hub.storage, cabin_id="cabin-murat", name="Murat")
            rig = Rig(hub, {"cabin-murat": token})
            try:
                http = await signed_in(rig, "coord.murat", AGENT_PASSWORD)

                async def columns() -> dict[str, bool]:
                    got = await http.get(f"{hub.url}/api/coordination/agenda?day=2027-01-11")
                    assert got.status == 200, await got.text()
                    return {c["cabin_id"]: c["unavailable"] for c in (await got.json())["cabins"]}

                assert await columns() == {"cabin-allanche": False, "cabin-murat": False}
                cabin = await rig.cabin("cabin-murat")
                await acked(cabin, report("r-1", failed=wire.SelfTestCheck.CAMERA))
                assert await columns() == {"cabin-allanche": False, "cabin-murat": True}
                await cabin.close()
            finally:
                await rig.close()

    run(scenario())
