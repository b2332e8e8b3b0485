"""The second factor: RFC 6238's own vectors, enrolment at the first sign-in an operator
requires it for, then a code at every sign-in, good once, never instead of the password."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hub import totp
from hub.accounts import require_totp, reset_totp
from hub.storage import ActorKind
from tests.hub.hub_rig import PASSWORDS, FakeClock, Rig, run, running_hub

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


def test_the_codes_are_rfc_6238s() -> None:
    # RFC 6238, appendix B (SHA-1, 8 digits)
    vectors = {
        59: "94287082",
        1111111109: "07081804",
        1111111111: "14050471",
        1234567890: "89005924",
        2000000000: "69279037",
        20000000000: "65353130",
    }
    key = b"12345678901234567890"
    for seconds, code in vectors.items():
        assert totp.hotp(key, seconds // 30, digits=8) == code
    moment = datetime.fromtimestamp(1111111109, UTC)
    assert totp.code_at(RFC_SECRET, moment) == "081804"
    assert totp.matching_step(RFC_SECRET, "081804", moment) == 1111111109 // 30
    # a phone's clock a step off is fine; two steps off is not
    assert totp.matching_step(RFC_SECRET, "081804", moment + timedelta(seconds=30)) is not None
    assert totp.matching_step(RFC_SECRET, "081804", moment + timedelta(seconds=61)) is None
    for garbage in ("", "08180", "0818045", "08180a", "٠٨١٨٠٤"):
        assert totp.matching_step(RFC_SECRET, garbage, moment) is None


def test_the_otpauth_uri_is_what_apps_take() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == totp.SECRET_BYTES
    uri = urlsplit(totp.otpauth_uri(secret, "dr.a"))
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Cabine:dr.a")
    assert parse_qs(uri.query) == {
        "secret": [secret],
        "issuer": ["Cabine"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }


async def _login(rig: Rig, password: str, code: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, str] = {"username": "dr.a", "password": password}
    if code is not None:
        body["totp_code"] = code
    response = await rig.client().post(
        f"{rig.url}/api/login", json=body, headers={"Origin": rig.url}
    )
    return response.status, await response.json()


def test_a_required_second_factor_is_enrolled_then_asked_at_every_sign_in(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, login_max_failures=10) as rig:
            await require_totp(rig.hub.storage, username="dr.a", required=True)
            # the right password: a secret to enrol, no session yet
            status, body = await _login(rig, PASSWORDS["dr.a"])
            assert (status, body["second_factor"]) == (401, "totp_enrol")
            secret = body["totp_secret"]
            assert body["otpauth_uri"] == totp.otpauth_uri(secret, "dr.a")
            # the same secret until it is confirmed
            assert (await _login(rig, PASSWORDS["dr.a"]))[1]["totp_secret"] == secret
            # a wrong password gets nothing of it
            status, body = await _login(rig, "wrong-password")
            assert (status, body) == (401, {"error": "wrong username or password"})
            status, body = await _login(rig, PASSWORDS["dr.a"], "000000")
            assert body["second_factor"] == "totp_enrol"
            status, body = await _login(rig, PASSWORDS["dr.a"], totp.code_at(secret, clock.now()))
            assert status == 200
            assert body["username"] == "dr.a"

            # from now on: the code of the app, after the password
            clock.advance(30)
            status, body = await _login(rig, PASSWORDS["dr.a"])
            assert (status, body["second_factor"]) == (401, "totp")
            assert "totp_secret" not in body
            code = totp.code_at(secret, clock.now())
            assert (await _login(rig, "wrong-password", code))[0] == 401
            assert (await _login(rig, PASSWORDS["dr.a"], code))[0] == 200
            # a code is good once
            status, body = await _login(rig, PASSWORDS["dr.a"], code)
            assert (status, body) == (401, {"error": "wrong username or password"})
            clock.advance(30)
            assert (await _login(rig, PASSWORDS["dr.a"], totp.code_at(secret, clock.now())))[
                0
            ] == 200

            actions = [
                (entry.action, entry.actor_kind)
                for entry in await rig.hub.storage.audit_entries()
                if entry.actor_id == "dr.a"
            ]
            assert actions[:2] == [
                ("totp.enrolled", ActorKind.DOCTOR),
                ("login", ActorKind.DOCTOR),
            ]

    run(scenario())


def test_guessing_codes_with_a_stolen_password_is_locked_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await require_totp(rig.hub.storage, username="dr.a", required=True)
            secret = (await _login(rig, PASSWORDS["dr.a"]))[1]["totp_secret"]
            assert (await _login(rig, PASSWORDS["dr.a"], totp.code_at(secret, clock.now())))[
                0
            ] == 200
            statuses = [
                (await _login(rig, PASSWORDS["dr.a"], f"{guess:06d}"))[0] for guess in range(6)
            ]
            assert statuses == [401, 401, 401, 401, 429, 429]
            # locked: even the right code does not tell
            clock.advance(30)
            right = totp.code_at(secret, clock.now())
            assert (await _login(rig, PASSWORDS["dr.a"], right))[0] == 429

    run(scenario())


def test_a_reset_second_factor_is_enrolled_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await require_totp(rig.hub.storage, username="dr.a", required=True)
            first = (await _login(rig, PASSWORDS["dr.a"]))[1]["totp_secret"]
            assert (await _login(rig, PASSWORDS["dr.a"], totp.code_at(first, clock.now())))[
                0
            ] == 200
            await reset_totp(rig.hub.storage, username="dr.a")
            body = (await _login(rig, PASSWORDS["dr.a"]))[1]
            assert body["second_factor"] == "totp_enrol"
            assert body["totp_secret"] != first
            # no longer required: the password alone
            await require_totp(rig.hub.storage, username="dr.a", required=False)
            await reset_totp(rig.hub.storage, username="dr.a")
            assert (await _login(rig, PASSWORDS["dr.a"]))[0] == 200

    run(scenario())
