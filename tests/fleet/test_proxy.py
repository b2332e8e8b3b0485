"""The hub behind the real proxy of its deploy: Debian's HAProxy, configured from
deploy/hub/haproxy.cfg, TLS with a self-signed certificate, on loopback.

Two replicas over one database (the embedded file, opened by both: what they share here is
only what this test needs, the accounts and sessions). A doctor signs in and opens the console
over wss, a cabin connects over wss; the hub takes the client's address from X-Forwarded-For
only because the proxy's address is trusted; a replica whose storage fails `/readyz` gets no
new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

import wire
from fleet.proxy import Backend, Proxy, check_config, haproxy, render_config
from fleet.servers import free_port
from fleet.tls import self_signed
from hub.accounts import create_doctor, provision_cabin
from hub.app import RunningHub, start_hub
from hub.config import load_hub_config
from hub.services import SERVICES
from hub.storage import ActorKind
from tests.hub.hub_key import TEST_KEY, write_key_file
from tests.hub.hub_rig import TIMEOUT_S, Peer, new_id

PASSWORD = "password-of-doctor-a"
FORGED = "203.0.113.66"
DOCTOR_ADDRESS = "127.0.0.5"
CABIN_ADDRESS = "127.0.0.6"
DIRECT_ADDRESS = "127.0.0.2"


@dataclass
class Fleet:
    proxy: Proxy
    hubs: list[RunningHub]
    token: str
    clients: list[aiohttp.ClientSession]

    def client(self, address: str, *, tls: bool = True) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                ssl=self.proxy.tls.client_context() if tls else False, local_addr=(address, 0)
            ),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
        )
        self.clients.append(session)
        return session


@contextlib.asynccontextmanager
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    proxy_port = free_port()
    public = f"https://127.0.0.1:{proxy_port}"
    data = tmp_path / "hub-data"
    write_key_file(data)
    console = tmp_path / "console"
    console.mkdir()
    (console / "index.html").write_text("<!doctype html><title>console</title>")
    config = load_hub_config(
        None,
        data_dir=data,
        overrides={
            "port": 0,
            "argon2_cost": "test",
            "trusted_proxies": ["127.0.0.1"],
            "public_origin": public,
            "public_url": public,
        },
    )
    hubs: list[RunningHub] = []
    clients: list[aiohttp.ClientSession] = []
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            hub = await start_hub(config, key=TEST_KEY, console_dir=console)
            stack.push_async_callback(hub.stop)
            hubs.append(hub)
        await create_doctor(
            hubs[0].storage,
            username="dr.a",
            password=PASSWORD,
            display_name="Dr A",
            specialty="Médecine générale",
            registration_number="10101010101",
            argon2_cost="test",
        )
        token = await provision_cabin(hubs[0].storage, cabin_id="cabin-1", name="Cabine 1")
        backends = [
            Backend(f"hub-{index}", "127.0.0.1", int(hub.url.rsplit(":", 1)[1]))
            for index, hub in enumerate(hubs, 1)
        ]
        # started on a thread: the hubs on this loop must answer its health checks meanwhile
        proxy = await asyncio.to_thread(
            stack.enter_context, haproxy(tmp_path / "proxy", backends, port=proxy_port)
        )
        running = Fleet(proxy, hubs, token, clients)
        try:
            await _until_state(proxy, {"hub-1": "UP", "hub-2": "UP"})
            yield running
        finally:
            for session in clients:
                await session.close()
            await asyncio.to_thread(proxy.stop)


async def _until_state(proxy: Proxy, wanted: dict[str, str]) -> None:
    """Wait until the proxy's health checks have put each replica in the `wanted` state."""
    states: dict[str, str] = {}
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                states = await asyncio.to_thread(proxy.server_states)
                if all(states.get(name) == state for name, state in wanted.items()):
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"the proxy's replicas stayed {states}, not {wanted}") from None


async def _sign_in(fleet: Fleet, http: aiohttp.ClientSession, base: str) -> str:
    async with http.post(
        f"{base}/api/login",
        json={"username": "dr.a", "password": PASSWORD},
        headers={"Origin": fleet.proxy.url, "X-Forwarded-For": FORGED},
    ) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["csrf_token"])


async def _console(fleet: Fleet, http: aiohttp.ClientSession, csrf: str) -> Peer:
    ws = await http.ws_connect(
        f"{fleet.proxy.ws_url}/ws/console?csrf={csrf}",
        headers={"Origin": fleet.proxy.url},
        timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT_S),
    )
    peer = Peer(ws, wire.HubToConsole)
    await peer.expect(wire.Welcome)
    await peer.expect(wire.WaitingRoom)
    return peer


async def _login_addresses(hub: RunningHub) -> list[str | None]:
    return [
        entry.client_address
        for entry in await hub.storage.audit_entries()
        if entry.action == "login" and entry.actor_kind is ActorKind.DOCTOR
    ]


def test_a_doctor_and_a_cabin_through_haproxy_with_tls(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet(tmp_path) as running:
            doctor = running.client(DOCTOR_ADDRESS)
            csrf = await _sign_in(running, doctor, running.proxy.url)
            console = await _console(running, doctor, csrf)

            ws = await running.client(CABIN_ADDRESS).ws_connect(
                f"{running.proxy.ws_url}/ws/cabin",
                timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT_S),
            )
            cabin = Peer(ws, wire.HubToCabin)
            await cabin.send(
                wire.CabinHello(
                    msg_id=new_id("hello"),
                    cabin_id="cabin-1",
                    token=running.token,
                    software_version="0.1.0",
                )
            )
            await cabin.expect(wire.Welcome)
            assert any(
                hub.app[SERVICES].switchboard.is_cabin_online("cabin-1") for hub in running.hubs
            )
            await cabin.close()
            await console.close()

            # The proxy's word is taken for the client's address (the address the doctor's
            # connection came from, not what the client wrote in X-Forwarded-For: the proxy
            # replaces that header); a client reaching a replica directly is not believed.
            direct = running.client(DIRECT_ADDRESS, tls=False)
            await _sign_in(running, direct, running.hubs[0].url)
            assert await _login_addresses(running.hubs[0]) == [DOCTOR_ADDRESS, DIRECT_ADDRESS]

    asyncio.run(scenario())


def test_a_replica_whose_storage_fails_gets_no_new_connections(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fleet(tmp_path) as running:
            failing, healthy = running.hubs
            await failing.storage.close()  # as a database that went away: /readyz says 503
            async with running.client(DIRECT_ADDRESS, tls=False).get(
                f"{failing.url}/readyz"
            ) as ready:
                assert (ready.status, await ready.text()) == (503, "storage unreachable\n")
            await _until_state(running.proxy, {"hub-1": "DOWN", "hub-2": "UP"})
            # every new doctor signs in and gets a console: on the healthy replica
            for _ in range(4):
                http = running.client(DOCTOR_ADDRESS)
                csrf = await _sign_in(running, http, running.proxy.url)
                console = await _console(running, http, csrf)
                await console.close()
            assert len(await _login_addresses(healthy)) == 4
            # the health endpoints are the proxy's business only
            async with running.client(DOCTOR_ADDRESS).get(f"{running.proxy.url}/readyz") as r:
                assert r.status == 404
        # the proxy logged every request to the healthy replica, and no CSRF token
        log = (tmp_path / "proxy" / "haproxy.log").read_text()
        assert log.count("hub_replicas/hub-2") >= 8
        assert "/ws/console" in log and "csrf" not in log

    asyncio.run(scenario())


def test_the_deploy_configuration_passes_haproxy_check(tmp_path: Path) -> None:
    tls = self_signed(tmp_path / "tls")
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        render_config(
            bind="127.0.0.1:8443",
            certificate=tls.bundle,
            stats_socket=tmp_path / "admin.sock",
            backends=[
                Backend("hub-8001", "127.0.0.1", 8001),
                Backend("hub-8002", "10.0.0.12", 8001),
            ],
        )
    )
    check_config(config)
    text = config.read_text()
    for needed in (
        "timeout tunnel 1h",
        "option httpchk GET /readyz",
        "inter 500ms fall 2 rise 2",
        "option redispatch 1",
        "retry-on conn-failure",
        "option forwardfor",
        "server hub-8002 10.0.0.12:8001",
    ):
        assert needed in text
    config.write_text(text.replace("timeout tunnel 1h", "timeout tunnel forever"))
    with pytest.raises(Exception, match="haproxy -c refused"):
        check_config(config)
