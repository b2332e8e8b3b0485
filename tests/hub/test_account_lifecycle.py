"""An account's life after its creation: the doctor changes their password; an operator resets
it, disables the account, closes its sessions, requires a second factor; sessions end when
idle, and an account has a bounded number of them. Everything is audited."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from hub.__main__ import main
from hub.storage import ActorKind, AuditEntry
from tests.hub.hub_rig import PASSWORDS, Doctor, FakeClock, Rig, run, running_hub, until

NEW_PASSWORD = "a-brand-new-password"


async def _me(doctor: Doctor) -> int:
    return (await doctor.http.get(f"{doctor.rig.url}/api/me")).status


async def _audit(rig: Rig, action: str) -> list[AuditEntry]:
    return [entry for entry in await rig.hub.storage.audit_entries() if entry.action == action]


def test_a_doctor_changes_their_password_and_their_other_sessions_end(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            here = await rig.login("dr.a")
            elsewhere = await rig.login("dr.a")
            console = await elsewhere.console()
            other_doctor = await rig.login("dr.b")

            wrong = await here.post(
                "/api/account/password",
                json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
            )
            assert wrong.status == 403
            short = await here.post(
                "/api/account/password",
                json={"current_password": PASSWORDS["dr.a"], "new_password": "short"},
            )
            assert short.status == 400
            # without the CSRF token, nothing
            forged = await here.http.post(
                f"{rig.url}/api/account/password",
                json={"current_password": PASSWORDS["dr.a"], "new_password": NEW_PASSWORD},
                headers={"Origin": rig.url},
            )
            assert forged.status == 403

            changed = await here.post(
                "/api/account/password",
                json={"current_password": PASSWORDS["dr.a"], "new_password": NEW_PASSWORD},
            )
            assert changed.status == 204
            assert await _me(here) == 200
            assert await _me(elsewhere) == 401
            assert await console.closed() == 4403
            assert await _me(other_doctor) == 200
            assert (await rig.login_response("dr.a", PASSWORDS["dr.a"])).status == 401
            assert (await rig.login_response("dr.a", NEW_PASSWORD)).status == 200
            assert [e.actor_id for e in await _audit(rig, "password.changed")] == ["dr.a"]
            assert [e.actor_id for e in await _audit(rig, "password.change_refused")] == ["dr.a"]

    run(scenario())


def test_guessing_the_current_password_through_the_change_is_locked_out(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            doctor = await rig.login("dr.a")
            statuses = []
            for guess in range(6):
                response = await doctor.post(
                    "/api/account/password",
                    json={"current_password": f"guess-{guess}", "new_password": NEW_PASSWORD},
                )
                statuses.append(response.status)
            assert statuses == [403, 403, 403, 403, 429, 429]

    run(scenario())


def test_an_idle_session_ends_and_a_used_one_does_not(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, session_idle_s=600) as rig:
            busy = await rig.login("dr.a")
            idle = await rig.login("dr.b")
            for _ in range(4):
                clock.advance(300)
                assert await _me(busy) == 200
            assert await _me(idle) == 401  # unused for 20 minutes
            clock.advance(601)
            assert await _me(busy) == 401

    run(scenario())


def test_a_session_whose_console_is_open_is_not_idle(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, session_idle_s=600) as rig:
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            clock.advance(3600)  # an hour of a call: only the socket is used
            assert await _me(doctor) == 200
            await console.close()
            await until(lambda: not rig.switchboard.has_console("dr.a"), what="the console's close")
            clock.advance(601)
            assert await _me(doctor) == 401

    run(scenario())


def test_one_sign_in_too_many_closes_the_oldest_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, sessions_per_account=2) as rig:
            oldest = await rig.login("dr.a")
            console = await oldest.console()
            clock.advance(1)
            middle = await rig.login("dr.a")
            clock.advance(1)
            newest = await rig.login("dr.a")
            assert await _me(oldest) == 401
            assert await console.closed() == 4403
            assert [await _me(middle), await _me(newest)] == [200, 200]
            assert len(await _audit(rig, "sessions.closed_oldest")) == 1

    run(scenario())


async def _cli(rig: Rig, *args: str, stdin: str = "") -> int:
    """`python -m hub ...` on the running hub's data folder (in a thread: it runs its own
    event loop), with the password, if any, on stdin."""
    data_dir = str(rig.database.parent)
    config = rig.database.parent.parent / "cli.toml"
    config.write_text('argon2_cost = "test"\n')

    def call() -> int:
        saved = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            return main([*args, "--config", str(config), "--data", data_dir])
        finally:
            sys.stdin = saved

    return await asyncio.to_thread(call)


def test_an_operator_resets_disables_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(), session_check_s=0.05) as rig:
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            assert await _cli(rig, "revoke-sessions", "dr.a") == 0
            assert await _me(doctor) == 401
            # the command line is another process: the hub notices, and closes the console
            assert await console.closed() == 4403

            doctor = await rig.login("dr.a")
            assert (
                await _cli(rig, "reset-password", "dr.a", "--password-stdin", stdin=NEW_PASSWORD)
                == 0
            )
            assert await _me(doctor) == 401
            assert (await rig.login_response("dr.a", PASSWORDS["dr.a"])).status == 401
            assert (await rig.login_response("dr.a", NEW_PASSWORD)).status == 200

            doctor = await rig.login("dr.b")
            console = await doctor.console()
            assert await _cli(rig, "disable-account", "dr.b") == 0
            assert await _me(doctor) == 401
            assert await console.closed() == 4403
            refused = await rig.login_response("dr.b", PASSWORDS["dr.b"])
            # the same answer as a wrong password: nothing tells the account is disabled
            assert refused.status == 401
            assert await refused.json() == {"error": "wrong username or password"}
            assert await _cli(rig, "enable-account", "dr.b") == 0
            assert (await rig.login_response("dr.b", PASSWORDS["dr.b"])).status == 200

            assert await _cli(rig, "require-totp", "dr.b") == 0
            capsys.readouterr()
            assert await _cli(rig, "list-doctors") == 0
            listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
            assert [(row[0], row[5]) for row in listed] == [
                ("dr.a", "-"),
                ("dr.b", "totp-required"),
            ]
            enrol = await rig.login_response("dr.b", PASSWORDS["dr.b"])
            assert (await enrol.json())["second_factor"] == "totp_enrol"
            assert await _cli(rig, "reset-totp", "dr.b") == 0
            assert await _cli(rig, "require-totp", "dr.b", "--off") == 0
            assert (await rig.login_response("dr.b", PASSWORDS["dr.b"])).status == 200

            assert await _cli(rig, "disable-account", "dr.nobody") == 1
            assert "there is no account named 'dr.nobody'" in capsys.readouterr().err
            # the agents' page does not ask for a code: not required of an agent
            await rig.add_agent("agent.murat", "cabin-1")
            assert await _cli(rig, "require-totp", "agent.murat") == 1
            assert "a second factor is for doctors" in capsys.readouterr().err

            operator_actions = [
                (entry.action, entry.subject)
                for entry in await rig.hub.storage.audit_entries()
                if entry.actor_kind is ActorKind.OPERATOR
            ]
            assert operator_actions == [
                ("account.sessions_revoked", "dr.a"),
                ("account.password_reset", "dr.a"),
                ("account.disabled", "dr.b"),
                ("account.enabled", "dr.b"),
                ("account.totp_required", "dr.b"),
                ("account.totp_reset", "dr.b"),
                ("account.totp_not_required", "dr.b"),
            ]

    run(scenario())
