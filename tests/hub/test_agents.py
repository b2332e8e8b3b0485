"""Agents' accounts: they sign in like doctors, open only the alert page, never a doctor's
console or a patient's history; doctors never open the agents' socket."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

import wire
from hub.accounts import create_agent, create_doctor
from hub.app import CONSOLE_DIR
from hub.demo import DEMO_CABIN_ID, seed_demo
from hub.errors import AccountError
from hub.passwords import PasswordHasher
from hub.sqlite_migrations import MIGRATIONS
from hub.sqlite_storage import SqliteStorage
from hub.storage import AccountRole, ActorKind
from tests.hub.hub_key import TEST_KEY, key_env
from tests.hub.hub_rig import (
    AGENT_PASSWORD,
    PASSWORDS,
    FakeClock,
    Peer,
    new_id,
    run,
    running_hub,
)

ROOT = Path(__file__).resolve().parents[2]


def test_an_agent_signs_in_and_is_told_apart_from_a_doctor(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.murat", "cabin-1", "cabin-2")
            http = rig.client()
            response = await rig.login_response("agent.murat", AGENT_PASSWORD, http=http)
            assert response.status == 200
            me = await response.json()
            assert me["role"] == "agent"
            assert me["doctor"] is None
            assert me["agent"] == {
                "display_name": "Agent agent.murat",
                "cabins": ["cabin-1", "cabin-2"],
                "all_cabins": False,
            }
            assert response.cookies["hub_session"]["httponly"]
            again = await (await http.get(f"{rig.url}/api/me")).json()
            assert again["role"] == "agent"
            doctor = await (await rig.login_response("dr.a", PASSWORDS["dr.a"])).json()
            assert doctor["role"] == "doctor" and doctor["agent"] is None
            entries = await rig.hub.storage.audit_entries()
            assert [(e.action, e.actor_kind) for e in entries][:1] == [("login", ActorKind.AGENT)]

    run(scenario())


def test_an_agent_never_reaches_a_console_nor_a_patients_history(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.murat", "cabin-1")
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            http = rig.client()
            me = await (await rig.login_response("agent.murat", AGENT_PASSWORD, http=http)).json()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(
                    f"{rig.url}/ws/console?csrf={me['csrf_token']}",
                    headers={"Origin": rig.url},
                )
            assert refused.value.status == 403
            history = await http.get(f"{rig.url}/api/consultations/c-1/history")
            assert history.status == 403
            denied = [e for e in await rig.hub.storage.audit_entries() if e.action.startswith("h")]
            assert [(e.action, e.actor_kind, e.actor_id) for e in denied] == [
                ("history.denied", ActorKind.AGENT, "agent.murat")
            ]
            # logging out still works, with the agent's CSRF token
            out = await http.post(
                f"{rig.url}/api/logout",
                headers={"Origin": rig.url, "X-CSRF-Token": me["csrf_token"]},
            )
            assert out.status == 204

    run(scenario())


def test_a_doctor_cannot_open_the_agents_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            doctor = await rig.login("dr.a")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await doctor.http.ws_connect(
                    f"{rig.url}/ws/agent?csrf={doctor.csrf}", headers={"Origin": rig.url}
                )
            assert refused.value.status == 403
            nobody = rig.client()
            with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
                await nobody.ws_connect(f"{rig.url}/ws/agent?csrf=x", headers={"Origin": rig.url})
            assert anonymous.value.status == 401

    run(scenario())


def test_the_agents_socket_needs_the_csrf_token_and_the_hubs_origin(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.murat", "cabin-1")
            http = rig.client()
            me = await (await rig.login_response("agent.murat", AGENT_PASSWORD, http=http)).json()
            for url, origin in (
                (f"{rig.url}/ws/agent?csrf=wrong-token", rig.url),
                (f"{rig.url}/ws/agent?csrf={me['csrf_token']}", "http://evil.example"),
            ):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(url, headers={"Origin": origin})
                assert refused.value.status == 403

    run(scenario())


def test_an_agent_page_sends_only_alert_acks(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.murat", "cabin-1")
            page = await rig.agent_page("agent.murat")
            take = wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1")
            await page.send(take)
            refused = await page.expect(wire.ErrorMessage)
            assert refused.code is wire.ErrorCode.UNKNOWN_MESSAGE
            assert refused.in_reply_to == take.msg_id

    run(scenario())


def test_logout_closes_the_agents_page(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.murat", "cabin-1")
            http = rig.client()
            me = await (await rig.login_response("agent.murat", AGENT_PASSWORD, http=http)).json()
            ws = await http.ws_connect(
                f"{rig.url}/ws/agent?csrf={me['csrf_token']}", headers={"Origin": rig.url}
            )
            page = Peer(ws, wire.HubToAgent)
            await page.expect(wire.Welcome)
            out = await http.post(
                f"{rig.url}/api/logout",
                headers={"Origin": rig.url, "X-CSRF-Token": me["csrf_token"]},
            )
            assert out.status == 204
            assert await page.closed() == 4403

    run(scenario())


def test_agents_are_locked_out_like_doctors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, login_max_failures=3) as rig:
            await rig.add_agent("agent.murat", "cabin-1")
            for _ in range(2):
                assert (await rig.login_response("agent.murat", "wrong-password")).status == 401
            locked = await rig.login_response("agent.murat", "wrong-password")
            assert locked.status == 429
            assert (await locked.json())["reason"] == "locked"
            right = await rig.login_response("agent.murat", AGENT_PASSWORD)
            assert right.status == 429

    run(scenario())


def test_a_username_is_a_doctors_or_an_agents_never_both(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            storage = rig.hub.storage
            with pytest.raises(AccountError):
                await create_agent(
                    storage,
                    username="dr.a",
                    password=AGENT_PASSWORD,
                    display_name="x",
                    cabins=("cabin-1",),
                    argon2_cost="test",
                )
            await rig.add_agent("agent.murat", "cabin-1")
            with pytest.raises(AccountError):
                await create_doctor(
                    storage,
                    username="agent.murat",
                    password=AGENT_PASSWORD,
                    display_name="Dr X",
                    specialty="x",
                    argon2_cost="test",
                )
            with pytest.raises(AccountError):  # no cabin at all
                await create_agent(
                    storage,
                    username="agent.none",
                    password=AGENT_PASSWORD,
                    display_name="x",
                    argon2_cost="test",
                )
            session = await rig.login_response("agent.murat", AGENT_PASSWORD)
            assert session.status == 200

    run(scenario())


def test_the_agents_page_is_served_under_the_hubs_security_headers(tmp_path: Path) -> None:
    # the staff pages' shared sign-in is served from the console's folder (the rig's stand-in)
    (tmp_path / "console").mkdir()
    for name in ("signin.js", "staff.css"):
        shutil.copy(CONSOLE_DIR / name, tmp_path / "console" / name)

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            http = rig.client()
            shared = ("/console/signin.js", "/console/staff.css")
            for path in ("/agent", "/agent/main.js", "/agent/agent.css", "/agent/i18n.js", *shared):
                response = await http.get(f"{rig.url}{path}")
                assert response.status == 200, path
                assert "default-src 'self'" in response.headers["Content-Security-Policy"]
                assert "unsafe" not in response.headers["Content-Security-Policy"]
            signin = await http.get(f"{rig.url}/console/signin.js")
            assert signin.headers["Content-Type"].startswith("text/javascript")
            assert (
                (await http.get(f"{rig.url}/console/staff.css"))
                .headers["Content-Type"]
                .startswith("text/css")
            )
            page = await (await http.get(f"{rig.url}/agent")).text()
            assert 'src="/agent/main.js"' in page
            assert 'href="/console/staff.css"' in page
            assert (
                'import { SignIn } from "/console/signin.js"'
                in await (await http.get(f"{rig.url}/agent/main.js")).text()
            )
            assert (await http.get(f"{rig.url}/agent/../app.py")).status == 404

    run(scenario())


def test_create_agent_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('argon2_cost = "test"\n')
    common = ["--config", str(config), "--data", str(tmp_path / "data")]
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "create-agent",
            "agent.cli",
            "--name",
            "Mairie de Murat",
            "--cabin",
            "demo-cabin",
            "--cabin",
            "cabin-2",
            "--password-stdin",
            *common,
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
    assert listed.stdout.split("\t")[:3] == ["agent.cli", "Mairie de Murat", "demo-cabin,cabin-2"]

    async def check() -> None:
        storage = await SqliteStorage.open(tmp_path / "data" / "hub.db", TEST_KEY)
        try:
            agent = await storage.agent("agent.cli")
            assert agent is not None
            assert await PasswordHasher("test").verify(
                agent.password_hash, "a-long-enough-password"
            )
        finally:
            await storage.close()

    run(check())


def test_the_demo_has_the_town_halls_agent(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await seed_demo(storage, argon2_cost="test")
            await seed_demo(storage, argon2_cost="test")  # idempotent
            agent = await storage.agent("agent.mairie")
            assert agent is not None
            assert agent.cabins == (DEMO_CABIN_ID,) and not agent.all_cabins
            assert await PasswordHasher("test").verify(agent.password_hash, "demo-agent-2468")
            assert not agent.coordinator
            # and the coordinator who takes the demo cabin's phone bookings (issue 17), once
            assert [a.username for a in await storage.agents()] == ["agent.mairie", "coord.cantal"]
            coordinator = await storage.agent("coord.cantal")
            assert coordinator is not None and coordinator.coordinator
            assert coordinator.cabins == (DEMO_CABIN_ID,)
        finally:
            await storage.close()

    run(scenario())


def test_sessions_made_before_agents_existed_are_doctors(tmp_path: Path) -> None:
    """Migration 8 rebuilt the sessions table: a doctor's session of before keeps working."""

    async def scenario() -> None:
        path = tmp_path / "old.db"
        db = sqlite3.connect(path)
        for number, statements in enumerate(MIGRATIONS[:7], start=1):
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        now = FakeClock().now()
        db.execute(
            "INSERT INTO doctors (username, password_hash, display_name, specialty, created_at)"
            " VALUES ('dr.old', 'x', 'Dr Old', 'x', '2026-01-01T00:00:00.000000Z')"
        )
        db.execute(
            "INSERT INTO sessions VALUES ('abc', 'dr.old', 'csrf', ?, ?)",
            (
                now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            ),
        )
        db.commit()
        db.close()
        storage = await SqliteStorage.open(path, TEST_KEY)
        try:
            session = await storage.session("abc", now=now)
            assert session is not None and session.role is AccountRole.DOCTOR
        finally:
            await storage.close()

    run(scenario())
