"""Behind the TLS proxy: the limits are kept per real client, never per proxy, and the
forwarding header is believed only from the configured proxies; the cookie stays Secure.

The proxy is played by the test: its requests come from 127.0.0.1 (trusted) and carry the
header a proxy adds. A client reaching the hub directly comes from 127.0.0.2 (not trusted).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from hub.storage import ActorKind
from tests.hub.hub_rig import PASSWORDS, TIMEOUT_S, FakeClock, Rig, run, running_hub

ATTACKER = "203.0.113.66"
DOCTOR = "198.51.100.7"
PHARMACY = "192.0.2.33"


async def _login(
    rig: Rig, username: str, password: str, headers: dict[str, str]
) -> aiohttp.ClientResponse:
    return await rig.client().post(
        f"{rig.url}/api/login",
        json={"username": username, "password": password},
        headers={"Origin": rig.url, **headers},
    )


def test_junk_logins_through_the_proxy_do_not_shut_out_a_doctor_elsewhere(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(), trusted_proxies=["127.0.0.1"]) as rig:
            for attempt in range(25):
                junk = await _login(
                    rig, f"dr.junk{attempt}", "wrong-password", {"X-Forwarded-For": ATTACKER}
                )
                assert junk.status in (401, 429)
            assert junk.status == 429
            doctor = await _login(rig, "dr.a", PASSWORDS["dr.a"], {"X-Forwarded-For": DOCTOR})
            assert doctor.status == 200, await doctor.text()
            logins = [
                entry
                for entry in await rig.hub.storage.audit_entries()
                if entry.action == "login" and entry.actor_kind is ActorKind.DOCTOR
            ]
            assert [entry.client_address for entry in logins] == [DOCTOR]

    run(scenario())


def test_junk_checks_through_the_proxy_do_not_block_a_pharmacy(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(), trusted_proxies=["127.0.0.0/8"]) as rig:
            http = rig.client()
            statuses = []
            for _ in range(31):
                async with http.get(
                    f"{rig.url}/rx/RX-1", headers={"X-Forwarded-For": ATTACKER}
                ) as response:
                    statuses.append(response.status)
            assert statuses[-1] == 429
            async with http.get(
                f"{rig.url}/rx/RX-1", headers={"X-Forwarded-For": PHARMACY}
            ) as response:
                assert response.status == 400  # malformed, not rate-limited

    run(scenario())


def test_spoofed_leftmost_hops_do_not_escape_the_limit(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(
            tmp_path,
            clock=FakeClock(),
            trusted_proxies=["127.0.0.1"],
            login_attempts_per_minute=5,
        ) as rig:
            # the attacker writes a new address each time; the proxy appends the real one
            statuses = []
            for attempt in range(6):
                forwarded = f"10.9.{attempt}.1, {ATTACKER}"
                response = await _login(
                    rig, f"dr.x{attempt}", "wrong-password", {"X-Forwarded-For": forwarded}
                )
                statuses.append(response.status)
            assert statuses == [401] * 5 + [429]
            assert (await response.json())["reason"] == "rate_limited"

    run(scenario())


def test_a_client_that_is_not_a_proxy_cannot_choose_its_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(
            tmp_path,
            clock=FakeClock(),
            trusted_proxies=["127.0.0.1"],
            login_attempts_per_minute=3,
        ) as rig:
            direct = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            )
            rig.clients.append(direct)
            statuses = []
            for attempt in range(4):
                response = await direct.post(
                    f"{rig.url}/api/login",
                    json={"username": f"dr.y{attempt}", "password": "wrong-password"},
                    headers={"Origin": rig.url, "X-Forwarded-For": f"10.8.{attempt}.1"},
                )
                statuses.append(response.status)
            assert statuses == [401, 401, 401, 429]
            # the proxy's clients are not the direct client's victims
            doctor = await _login(rig, "dr.a", PASSWORDS["dr.a"], {"X-Forwarded-For": DOCTOR})
            assert doctor.status == 200

    run(scenario())


HOSTILE = [
    "",
    "not-an-address",
    "unknown",
    "1.2.3.4.5",
    ", , ,",
    "[::1",
    "::ffff:127.0.0.1",
    "%00;<script>",
    ", ".join(f"10.0.{i // 256}.{i % 256}" for i in range(500)),
    "A" * 7000,
]


def test_hostile_forwarding_headers_break_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(
            tmp_path, clock=FakeClock(), trusted_proxies=["127.0.0.1", "::1"]
        ) as rig:
            for value in HOSTILE:
                response = await _login(
                    rig, "dr.nobody", "wrong-password", {"X-Forwarded-For": value}
                )
                assert response.status in (401, 429), value
            for value in ['for="[2001:db8::1]:4711"', "for=unknown", 'for="_hidden"', ";;,="]:
                response = await _login(rig, "dr.nobody", "wrong-password", {"Forwarded": value})
                assert response.status in (401, 429), value
            assert (await rig.client().get(f"{rig.url}/api/health")).status == 200

    run(scenario())


def test_the_rfc_7239_header_when_the_proxy_speaks_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(
            tmp_path,
            clock=FakeClock(),
            trusted_proxies=["127.0.0.1"],
            proxy_header="Forwarded",
            login_attempts_per_minute=2,
        ) as rig:
            attacker = {"Forwarded": f'for="{ATTACKER}:4711";proto=https'}
            statuses = [
                (await _login(rig, "dr.z", "wrong-password", attacker)).status for _ in range(3)
            ]
            assert statuses == [401, 401, 429]
            # an X-Forwarded-For the proxy does not write is not believed
            spoofed = {**attacker, "X-Forwarded-For": DOCTOR}
            assert (await _login(rig, "dr.a", PASSWORDS["dr.a"], spoofed)).status == 429
            doctor = {"Forwarded": f"for={DOCTOR}"}
            assert (await _login(rig, "dr.a", PASSWORDS["dr.a"], doctor)).status == 200

    run(scenario())


def test_the_cookie_is_secure_when_tls_ends_at_the_proxy(tmp_path: Path) -> None:
    async def scenario() -> None:
        origin = "https://hub.example.fr"
        async with running_hub(
            tmp_path, public_origin=origin, trusted_proxies=["127.0.0.1"]
        ) as rig:
            response = await rig.client().post(
                f"{rig.url}/api/login",
                json={"username": "dr.a", "password": PASSWORDS["dr.a"]},
                headers={"Origin": origin, "X-Forwarded-For": DOCTOR},
            )
            assert response.status == 200
            cookie = response.cookies["hub_session"]
            assert cookie["secure"]
            assert cookie["httponly"]
            assert cookie["samesite"] == "Strict"

    run(scenario())
