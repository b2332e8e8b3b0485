"""Signing in and out: the cookie, the generic refusals, the lockout and the rate limit."""

from __future__ import annotations

from pathlib import Path

from tests.hub.hub_rig import PASSWORDS, FakeClock, run, running_hub


def test_login_sets_a_strict_http_only_cookie_and_me_answers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            http = rig.client()
            response = await rig.login_response("dr.a", PASSWORDS["dr.a"], http=http)
            assert response.status == 200
            me = await response.json()
            assert me["username"] == "dr.a"
            assert me["doctor"]["display_name"] == "Dr A"
            assert me["doctor"]["photo"] is None
            assert len(me["csrf_token"]) >= 32
            cookie = response.cookies["hub_session"]
            assert cookie["httponly"]
            assert cookie["samesite"] == "Strict"
            assert cookie["path"] == "/"
            assert not cookie["secure"]  # no TLS here
            assert response.headers["Cache-Control"] == "no-store"

            again = await http.get(f"{rig.url}/api/me")
            assert again.status == 200
            assert (await again.json())["csrf_token"] == me["csrf_token"]

    run(scenario())


def test_the_database_keeps_only_the_hash_of_the_cookie(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            response = await rig.login_response("dr.a", PASSWORDS["dr.a"])
            value = response.cookies["hub_session"].value
            await rig.hub.stop()
            assert value.encode() not in rig.database.read_bytes()
            wal = rig.database.with_name("hub.db-wal")
            assert not wal.exists() or value.encode() not in wal.read_bytes()

    run(scenario())


def test_logout_ends_the_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            doctor = await rig.login("dr.a")
            response = await doctor.post("/api/logout")
            assert response.status == 204
            assert response.cookies["hub_session"]["max-age"] == "0"
            assert (await doctor.http.get(f"{rig.url}/api/me")).status == 401

    run(scenario())


def test_logout_closes_the_consoles_of_that_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            assert (await doctor.post("/api/logout")).status == 204
            assert await console.closed() == 4403

    run(scenario())


def test_wrong_password_and_unknown_user_get_the_same_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            wrong = await rig.login_response("dr.a", "not-the-password")
            unknown = await rig.login_response("dr.nobody", "not-the-password")
            assert wrong.status == unknown.status == 401
            assert (
                await wrong.json()
                == await unknown.json()
                == {"error": "wrong username or password"}
            )
            assert "hub_session" not in wrong.cookies

    run(scenario())


def test_login_takes_json_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            http = rig.client()
            form = await http.post(
                f"{rig.url}/api/login",
                data={"username": "dr.a", "password": PASSWORDS["dr.a"]},
                headers={"Origin": rig.url},
            )
            assert form.status == 415
            garbage = await http.post(
                f"{rig.url}/api/login",
                data=b"{not json",
                headers={"Origin": rig.url, "Content-Type": "application/json"},
            )
            assert garbage.status == 400

    run(scenario())


def test_five_wrong_passwords_lock_the_name_with_a_doubling_backoff(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            for _ in range(4):
                assert (await rig.login_response("dr.a", "wrong-password")).status == 401
            locked = await rig.login_response("dr.a", "wrong-password")
            assert locked.status == 429
            body = await locked.json()
            assert body["retry_after_s"] == 60
            assert body["reason"] == "locked"
            assert locked.headers["Retry-After"] == "60"

            # the right password is refused while the name is locked...
            right = await rig.login_response("dr.a", PASSWORDS["dr.a"])
            assert right.status == 429
            clock.advance(59)
            nearly_over = await rig.login_response("dr.a", PASSWORDS["dr.a"])
            # a short wait left, still a lockout: the console must not guess from the seconds
            assert await nearly_over.json() == {
                "error": "too many attempts; try again later",
                "reason": "locked",
                "retry_after_s": 1,
            }
            # ...each further wrong password doubles the lock, up to fifteen minutes...
            waits: list[int] = []
            for _ in range(6):
                clock.advance(waits[-1] if waits else 1)
                again = await rig.login_response("dr.a", "wrong-password")
                assert again.status == 429
                waits.append((await again.json())["retry_after_s"])
            assert waits == [120, 240, 480, 900, 900, 900]
            # ...and the right password is accepted once the lock has expired
            clock.advance(900)
            assert (await rig.login_response("dr.a", PASSWORDS["dr.a"])).status == 200
            # which starts the count again
            for _ in range(4):
                assert (await rig.login_response("dr.a", "wrong-password")).status == 401
            # the other doctor was never locked
            assert (await rig.login_response("dr.b", PASSWORDS["dr.b"])).status == 200

    run(scenario())


def test_an_unknown_username_locks_the_same_way(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            answers = [await rig.login_response("dr.ghost", "wrong-password") for _ in range(6)]
            assert [a.status for a in answers] == [401, 401, 401, 401, 429, 429]
            assert (await answers[-1].json())["reason"] == "locked"

    run(scenario())


def test_one_address_may_try_twenty_times_a_minute(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, login_max_failures=100) as rig:
            for attempt in range(20):
                response = await rig.login_response(f"dr.user{attempt}", "wrong-password")
                assert response.status == 401
            limited = await rig.login_response("dr.a", PASSWORDS["dr.a"])
            assert limited.status == 429
            body = await limited.json()
            assert body["reason"] == "rate_limited"
            assert 1 <= body["retry_after_s"] <= 60
            assert limited.headers["Retry-After"] == str(body["retry_after_s"])
            clock.advance(61)
            assert (await rig.login_response("dr.a", PASSWORDS["dr.a"])).status == 200

    run(scenario())


def test_a_session_expires(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, session_ttl_s=3600) as rig:
            doctor = await rig.login("dr.a")
            assert (await doctor.http.get(f"{rig.url}/api/me")).status == 200
            clock.advance(3601)
            assert (await doctor.http.get(f"{rig.url}/api/me")).status == 401

    run(scenario())
