"""The cabin's upkeep against the real hub (its fleet desk): a self-test report made while the hub
could not be reached is kept, sent once the cabin reaches the hub, acknowledged there, and the
operator's fleet view shows it beside the cabin's heartbeat."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import wire
from kiosk.bus import EventBus
from kiosk.cabin_status import CabinStatusSender
from kiosk.call_quality import MeteredCalls
from kiosk.hub_link import HubLink
from kiosk.selftest import checks, ice_servers_of
from kiosk.selftest.service import SelfTest
from kiosk.session import Session, SessionTimeouts, SystemClock
from kiosk.store import AsyncStore, DatabaseKey, Store
from tests.e2e.coturn import running_coturn
from tests.hub.hub_rig import running_hub
from tests.hub.test_fleet import QUIET, add_operator, cabin_of, fleet, signed_in
from tests.kiosk.selftest.test_service import link_to, parts, run, until
from tests.kiosk.selftest.ws_hub import WsHub, free_port


async def _ignore(_message: wire.Message) -> None:
    return None


def test_a_report_kept_while_the_hub_was_away_reaches_the_real_hub(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        key = DatabaseKey.generate()
        session = Session(EventBus(), SystemClock(), SessionTimeouts())
        port = free_port()
        # The hub cannot be reached: the report is made, stored, and waits.
        store = await AsyncStore.open(tmp_path / "cabin.db", key)
        away = link_to(f"http://127.0.0.1:{port}")
        await away.start()
        try:
            report = await SelfTest(parts(store, session, tmp_path, hub=away)).run(
                wire.SelfTestTrigger.NIGHTLY
            )
            hub_result = [r for r in report.results if r.check is wire.SelfTestCheck.HUB]
            assert [r.outcome for r in hub_result] == [wire.SelfTestOutcome.FAILED]
            assert len(await store.run(Store.unsent_selftest_reports)) == 1
        finally:
            await away.close()
        # The hub is up (its own port, as configured): the cabin gets there and sends it.
        (tmp_path / "hub").mkdir()
        async with running_hub(tmp_path / "hub", port=port, **QUIET) as rig:
            link = HubLink(
                rig.url,
                "cabin-1",
                rig.tokens["cabin-1"],
                software_version="0.6.0",
                handler=_ignore,
                backoff_s=(0.1, 0.2),
            )
            selftest = SelfTest(parts(store, session, tmp_path, hub=link))
            status = CabinStatusSender(
                link,
                EventBus(),
                {},
                software_version="0.6.0",
                data_dir=tmp_path,
                printer_problem=lambda: None,
                sheets_left=lambda: asyncio.sleep(0, result=None),
            )
            await link.start()
            selftest.start(at_start=False)
            status.start()
            try:
                for _ in range(400):
                    if not await store.run(Store.unsent_selftest_reports):
                        break
                    await asyncio.sleep(0.05)
                assert not await store.run(Store.unsent_selftest_reports)
                await until(lambda: status.sent >= 1)
                await add_operator(rig)
                http = await signed_in(rig, "ope.flotte", "password-of-the-operator")
                for _ in range(100):
                    cabin = cabin_of(await fleet(rig, http), "cabin-1")
                    if cabin.get("selftest") and cabin.get(
                        "software_version", cabin.get("version")
                    ):
                        break
                    await asyncio.sleep(0.05)
                cabin["expected_report"] = report.report_id
                return cabin
            finally:
                await status.stop()
                await selftest.stop()
                await link.close()
                await store.close()

    cabin = run(scenario())
    assert cabin["selftest"]["report_id"] == cabin["expected_report"], cabin


def test_the_turn_check_asks_the_real_hub_and_gathers_from_the_real_coturn(tmp_path: Path) -> None:
    if not Path("/usr/bin/turnserver").exists():
        pytest.skip("coturn is not installed here")

    async def scenario() -> tuple[list[wire.IceServer] | None, wire.SelfTestResult]:
        with running_coturn(tmp_path / "coturn") as coturn:
            async with running_hub(tmp_path, turn=coturn.hub_turn()) as rig:
                link = HubLink(
                    rig.url,
                    "cabin-1",
                    rig.tokens["cabin-1"],
                    software_version="0.6.0",
                    handler=_ignore,
                )
                await link.start()
                try:
                    await link.wait_online(20)
                    servers = await ice_servers_of(link, None, 10.0)
                    found = await checks.turn(servers, 10.0, loopback_only=True)
                    return servers, found
                finally:
                    await link.close()

    servers, found = run(scenario())
    assert servers and servers[0].username and servers[0].username.endswith(":cabin-1")
    assert found.outcome is wire.SelfTestOutcome.PASSED, found
    assert "relay candidate" in found.detail


def test_a_hub_that_does_not_know_the_question_leaves_the_last_calls_servers() -> None:
    async def scenario() -> list[wire.IceServer] | None:
        hub = WsHub()  # answers no IceServersAsk (an older hub): the question times out
        await hub.start()
        link = HubLink(hub.url, "cabin-1", "t" * 32, software_version="0.6.0", handler=_ignore)
        await link.start()
        try:
            await link.wait_online(20)
            calls = MeteredCalls(link.send, link.new_id)
            calls.ice_servers = [wire.IceServer(urls=["stun:127.0.0.1:3478"])]
            return await ice_servers_of(link, calls, 1.0)
        finally:
            await link.close()
            await hub.stop()

    assert run(scenario()) == [wire.IceServer(urls=["stun:127.0.0.1:3478"])]
