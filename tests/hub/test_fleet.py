"""The hub's side of the fleet (issue 18): a real cabin link sends its heartbeat, self-test
reports and call quality; the operator's API shows them; a cabin silent too long, or failing a
self-test, alerts its agents exactly once (with two replicas on PostgreSQL and Redis too), and
the hub resolves the alert when the cabin is back; booking sees it "temporarily unavailable"."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import wire
from fleet.servers import PostgresServer, RedisServer
from hub.accounts import create_operator
from hub.fleet import offline_alert_id
from hub.storage import AckRole
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
from tests.hub.test_replicas import redis_server, two_replicas

__all__ = ["postgres_server", "redis_server"]  # fixtures

OPERATOR = "ope.flotte"
OPERATOR_PASSWORD = "password-of-the-operator"
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
            assert alert.severity is wire.AlertSeverity.CRITICAL  # a camera stops consultations
            assert "camera" in alert.detail and "noires" in alert.detail
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
            assert minor.severity is wire.AlertSeverity.WARNING
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
