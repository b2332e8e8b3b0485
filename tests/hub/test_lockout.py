"""The lockout holds against concurrent attempts, cannot be turned into a denial of service
against a doctor, and never tells whether a name exists (not even after a restart, nor by the
path a wrong password takes); the password hasher's threads are its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

import wire
from hub.accounts import LockoutPolicy, LoginResult, PasswordChecker
from hub.app import start_hub
from hub.passwords import PasswordHasher
from hub.services import SERVICES
from hub.sqlite_storage import SqliteStorage
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import (
    PASSWORDS,
    TIMEOUT_S,
    FakeClock,
    Rig,
    record_upload,
    run,
    running_hub,
)

ATTACKER = "203.0.113.66"
DOCTOR = "198.51.100.7"


@contextmanager
def hashing_held(rig: Rig) -> Iterator[None]:
    """Every thread of the hub's password hasher busy until the block ends (as if each were
    hashing a slow password): what waits for them waits, what does not goes on."""
    executor = rig.hub.app[SERVICES].passwords.hasher.executor
    assert executor is not None
    gate = threading.Event()
    started = threading.Semaphore(0)

    def hold() -> None:
        started.release()
        gate.wait(TIMEOUT_S)

    workers = rig.hub.app[SERVICES].config.password_hash_workers
    for _ in range(workers):
        executor.submit(hold)
    for _ in range(workers):
        assert started.acquire(timeout=TIMEOUT_S)
    try:
        yield
    finally:
        gate.set()


async def _login(
    rig: Rig, username: str, password: str, address: str | None = None
) -> aiohttp.ClientResponse:
    headers = {"Origin": rig.url}
    if address is not None:
        headers["X-Forwarded-For"] = address
    return await rig.client().post(
        f"{rig.url}/api/login",
        json={"username": username, "password": password},
        headers=headers,
    )


def test_concurrent_wrong_passwords_cannot_pass_the_lock(tmp_path: Path) -> None:
    async def scenario() -> None:
        overrides: dict[str, Any] = {
            "login_attempts_per_minute": 1000,
            "password_hash_queue": 100,
        }
        async with running_hub(tmp_path, clock=FakeClock(), **overrides) as rig:
            with hashing_held(rig):
                # 30 guesses at once: while the first hashes are slow, the others must not
                # all be let through to the hash
                guesses = [
                    asyncio.ensure_future(_login(rig, "dr.a", f"guess-{n:02d}-xxxx"))
                    for n in range(30)
                ]
                done: list[aiohttp.ClientResponse] = []
                for finished in asyncio.as_completed(guesses, timeout=TIMEOUT_S):
                    done.append(await finished)
                    if len(done) == 25:
                        break
                assert [r.status for r in done] == [429] * 25
                # the name is locked: the right password, now, is refused unhashed
                right = await _login(rig, "dr.a", PASSWORDS["dr.a"])
                assert right.status == 429
                assert (await right.json())["reason"] == "locked"
            statuses = sorted([(await guess).status for guess in guesses])
            assert statuses == [401] * 4 + [429] * 26

    run(scenario())


def test_wrong_passwords_from_elsewhere_do_not_lock_a_doctor_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, trusted_proxies=["127.0.0.1"]) as rig:
            # five wrong passwords every quarter of an hour, for six hours
            for _ in range(24):
                for _ in range(5):
                    await _login(rig, "dr.a", "wrong-password", ATTACKER)
                attacker = await _login(rig, "dr.a", "wrong-password", ATTACKER)
                assert attacker.status == 429
                doctor = await _login(rig, "dr.a", PASSWORDS["dr.a"], DOCTOR)
                assert doctor.status == 200
                clock.advance(15 * 60)

    run(scenario())


def test_a_locked_name_answers_the_same_whether_it_exists_even_after_a_restart(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            for name in ("dr.a", "dr.ghost"):
                for _ in range(5):
                    await _login(rig, name, "wrong-password")
            config = rig.hub.app[SERVICES].config
            await rig.hub.stop()
            hub = await start_hub(
                config, key=TEST_KEY, clock=clock, console_dir=tmp_path / "console"
            )
            try:
                async with aiohttp.ClientSession() as http:
                    answers = []
                    for name in ("dr.a", "dr.ghost"):
                        response = await http.post(
                            f"{hub.url}/api/login",
                            json={"username": name, "password": "wrong-password"},
                            headers={"Origin": hub.url},
                        )
                        answers.append((response.status, await response.json()))
                assert answers[0] == answers[1]
                assert answers[0][0] == 429
            finally:
                await hub.stop()

    run(scenario())


class _CountingStorage(SqliteStorage):
    """The real storage, noting which of its methods are called."""

    calls: list[str]

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if not name.startswith("_") and callable(value) and name != "calls":
            super().__getattribute__("calls").append(name)
        return value


class _CountingHasher(PasswordHasher):
    """The real hasher, counting its verifications."""

    verified = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return await super().verify(password_hash, password)


def test_a_wrong_password_takes_the_same_path_for_a_real_and_an_unknown_name(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path):
            pass  # a database with dr.a in it
        opened = await SqliteStorage.open(tmp_path / "hub-data" / "hub.db", TEST_KEY)
        storage = _CountingStorage(opened._database, opened._executor)
        storage.calls = []
        hasher = _CountingHasher("test")
        checker = PasswordChecker(storage, hasher, LockoutPolicy(5, 60, 900), FakeClock())
        try:
            await checker.start()
            paths = []
            for name in ("dr.a", "dr.nobody"):
                storage.calls.clear()
                hasher.verified = 0
                outcome = await checker.check(name, "wrong-password", "10.0.0.1")
                assert outcome.result is LoginResult.REFUSED
                paths.append((list(storage.calls), hasher.verified))
            assert paths[0] == paths[1] == (["begin_login"], 1)
        finally:
            await storage.close()
            hasher.close()

    run(scenario())


def test_a_flood_of_logins_neither_delays_records_nor_queues_forever(tmp_path: Path) -> None:
    async def scenario() -> None:
        overrides: dict[str, Any] = {
            "login_attempts_per_minute": 1000,
            "password_hash_workers": 2,
            "password_hash_queue": 3,
        }
        async with running_hub(tmp_path, clock=FakeClock(), **overrides) as rig:
            cabin = await rig.cabin()
            with hashing_held(rig):
                logins = [
                    asyncio.ensure_future(_login(rig, f"dr.flood{n}", "wrong-password"))
                    for n in range(60)
                ]
                answered = []
                for finished in asyncio.as_completed(logins, timeout=TIMEOUT_S):
                    answered.append(await finished)
                    if len(answered) == 55:
                        break
                # beyond the hasher's five places, refused at once, not queued
                assert {r.status for r in answered} == {503}
                assert {r.headers["Retry-After"] for r in answered} == {"1"}
                # and a cabin's record is taken while every hashing thread is busy
                upload = record_upload("c-flood")
                await cabin.send(upload)
                ack = await cabin.expect(wire.RecordAck)
                assert ack.record_id == upload.record_id
                assert sum(not login.done() for login in logins) == 5
            assert sorted({(await login).status for login in logins}) == [401, 503]

    run(scenario())
