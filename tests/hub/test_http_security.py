"""Who may do what over HTTP: sessions, CSRF, Origin, the two kinds of credential, headers."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

import wire
from hub.app import CONSOLE_DIR, start_hub
from hub.config import load_hub_config
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import PASSWORDS, Peer, new_id, run, running_hub

API_GETS = ["/api/me", "/api/consultations/c-1/history"]
API_POSTS = ["/api/logout"]


def test_nothing_of_the_api_nor_the_console_socket_without_signing_in(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            http = rig.client()
            for path in API_GETS:
                response = await http.get(f"{rig.url}{path}")
                assert response.status == 401, path
                assert await response.json() == {"error": "not signed in"}
            for path in API_POSTS:
                response = await http.post(
                    f"{rig.url}{path}", headers={"Origin": rig.url, "X-CSRF-Token": "x" * 43}
                )
                assert response.status == 401, path
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(
                    f"{rig.url}/ws/console?csrf=whatever", headers={"Origin": rig.url}
                )
            assert refused.value.status == 401
            # what needs no session
            assert (await http.get(f"{rig.url}/api/health")).status == 200
            assert (await http.get(f"{rig.url}/")).status == 200

    run(scenario())


def test_a_state_change_needs_the_csrf_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            doctor = await rig.login("dr.a")
            missing = await doctor.http.post(f"{rig.url}/api/logout", headers={"Origin": rig.url})
            assert missing.status == 403
            wrong = await doctor.post("/api/logout", headers={"X-CSRF-Token": "x" * 43})
            assert wrong.status == 403
            assert (await doctor.http.get(f"{rig.url}/api/me")).status == 200  # still signed in

    run(scenario())


def test_a_foreign_origin_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            http = rig.client()
            login = await http.post(
                f"{rig.url}/api/login",
                json={"username": "dr.a", "password": PASSWORDS["dr.a"]},
                headers={"Origin": "https://evil.example"},
            )
            assert login.status == 403
            no_origin = await http.post(
                f"{rig.url}/api/login", json={"username": "dr.a", "password": PASSWORDS["dr.a"]}
            )
            assert no_origin.status == 403

            doctor = await rig.login("dr.a")
            logout = await doctor.post("/api/logout", headers={"Origin": "https://evil.example"})
            assert logout.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await doctor.http.ws_connect(
                    f"{rig.url}/ws/console?csrf={doctor.csrf}",
                    headers={"Origin": "https://evil.example"},
                )
            assert refused.value.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as no_csrf:
                await doctor.http.ws_connect(f"{rig.url}/ws/console", headers={"Origin": rig.url})
            assert no_csrf.value.status == 403
            # localhost is the same loopback hub
            local = rig.url.replace("127.0.0.1", "localhost")
            again = await rig.client().post(
                f"{rig.url}/api/login",
                json={"username": "dr.a", "password": PASSWORDS["dr.a"]},
                headers={"Origin": local},
            )
            assert again.status == 200

    run(scenario())


def test_a_cabin_token_is_not_a_doctor_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            token = rig.tokens["cabin-1"]
            http = rig.client()
            as_bearer = await http.get(
                f"{rig.url}/api/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert as_bearer.status == 401
            as_cookie = await http.get(
                f"{rig.url}/api/me", headers={"Cookie": f"hub_session={token}"}
            )
            assert as_cookie.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(
                    f"{rig.url}/ws/console?csrf={token}",
                    headers={"Origin": rig.url, "Cookie": f"hub_session={token}"},
                )
            assert refused.value.status == 401

    run(scenario())


def test_a_doctor_session_cannot_open_the_cabin_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            doctor = await rig.login("dr.a")
            # from a browser (with an Origin): refused before the upgrade
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await doctor.http.ws_connect(f"{rig.url}/ws/cabin", headers={"Origin": rig.url})
            assert refused.value.status == 403
            # without an Origin, the cookie is worth nothing: the hello is still required
            ws = await doctor.http.ws_connect(f"{rig.url}/ws/cabin")
            peer = Peer(ws, wire.HubToCabin)
            await peer.send(
                wire.QueueLeave(
                    msg_id=new_id(), consultation_id="c-1", reason=wire.LeaveReason.CANCELLED
                )
            )
            error = await peer.expect(wire.ErrorMessage)
            assert error.code is wire.ErrorCode.UNAUTHORIZED
            assert await peer.closed() == 4401

    run(scenario())


def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            http = rig.client()
            for path in ["/", "/console/app.js", "/api/health", "/api/me", "/console/missing"]:
                response = await http.get(f"{rig.url}{path}")
                headers = response.headers
                assert headers["Content-Security-Policy"] == (
                    "default-src 'self'; media-src 'self' blob:; img-src 'self' data: blob:;"
                    " connect-src 'self'"
                ), path
                assert headers["X-Content-Type-Options"] == "nosniff"
                assert headers["Referrer-Policy"] == "no-referrer"
                assert headers["X-Frame-Options"] == "DENY"

    run(scenario())


def test_the_console_is_served_and_nothing_outside_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            (tmp_path / "secret.txt").write_text("not for the web")
            http = rig.client()
            index = await http.get(f"{rig.url}/")
            assert index.status == 200
            assert index.content_type == "text/html"
            script = await http.get(f"{rig.url}/console/app.js")
            assert script.status == 200
            assert script.content_type == "text/javascript"
            for path in ["/console/../secret.txt", "/console/%2e%2e/secret.txt"]:
                response = await http.get(f"{rig.url}{path}")
                assert response.status == 404, path
                assert "not for the web" not in await response.text()

    run(scenario())


def test_an_unknown_api_path_is_not_found_once_signed_in(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            doctor = await rig.login("dr.a")
            response = await doctor.http.get(f"{rig.url}/api/nothing-here")
            assert response.status == 404

    run(scenario())


def test_the_real_console_is_served_with_types_a_browser_accepts(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = load_hub_config(
            None, data_dir=tmp_path / "data", overrides={"port": 0, "argon2_cost": "test"}
        )
        hub = await start_hub(config, key=TEST_KEY)  # the console shipped in hub/console/
        try:
            async with aiohttp.ClientSession() as http:
                index = await http.get(f"{hub.url}/")
                assert index.status == 200
                assert index.content_type == "text/html"
                for path in sorted(CONSOLE_DIR.iterdir()):
                    response = await http.get(f"{hub.url}/console/{path.name}")
                    assert response.status == 200, path.name
                    assert response.content_type != "application/octet-stream", path.name
                    if path.suffix == ".js":
                        assert response.content_type == "text/javascript", path.name
        finally:
            await hub.stop()

    run(scenario())
