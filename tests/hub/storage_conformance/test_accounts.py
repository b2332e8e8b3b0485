"""Doctors and agents: their accounts, sign-in attempts, and what an operator decides of them."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from hub.errors import AccountError
from hub.storage import AccountRole, DoctorDetails, LoginAccount, LoginAttempt, Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import NOW, PASSWORD_HASH, agent, assert_utc, doctor

FREE, FIRST_S, MAX_S = 3, 60.0, 900.0


async def _attempt(
    storage: Storage, username: str, client: str, *, after_s: float = 0
) -> LoginAttempt:
    return await storage.begin_login(
        username,
        client,
        now=NOW + timedelta(seconds=after_s),
        free_failures=FREE,
        first_lock_s=FIRST_S,
        max_lock_s=MAX_S,
    )


def test_a_doctor_comes_back_as_stored(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        stored = doctor()
        await storage.add_doctor(stored)
        again = await storage.doctor("dr.é")
        assert again == stored
        assert again is not None
        assert_utc(again.created_at)
        assert_utc(again.locked_until)
        bare = dataclasses.replace(
            doctor("dr.b"), registration_number=None, photo=None, locked_until=None, address=""
        )
        await storage.add_doctor(bare)
        assert await storage.doctor("dr.b") == bare
        assert await storage.doctor("dr.nobody") is None
        empty = dataclasses.replace(doctor("dr.c"), registration_number="", photo=b"", phone="")
        await storage.add_doctor(empty)  # empty is not absent
        assert await storage.doctor("dr.c") == empty
        assert sorted(await storage.doctors(), key=lambda d: d.username) == [bare, empty, stored]

    storage.run(scenario)


def test_a_doctors_photo_and_details_are_replaced(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor())
        assert await storage.set_doctor_photo("dr.é", b"\x89PNG\r\n\x1a\n\x00\xff")
        stored = await storage.doctor("dr.é")
        assert stored is not None and stored.photo == b"\x89PNG\r\n\x1a\n\x00\xff"
        assert await storage.set_doctor_photo("dr.é", None)
        stored = await storage.doctor("dr.é")
        assert stored is not None and stored.photo is None
        assert not await storage.set_doctor_photo("dr.nobody", b"x")
        assert await storage.set_doctor_photo("dr.é", b"")
        stored = await storage.doctor("dr.é")
        assert stored is not None and stored.photo == b""

        details = DoctorDetails(None, "Maison de santé\nŁódź", "", "é@example.org")
        assert await storage.set_doctor_details("dr.é", details)
        stored = await storage.doctor("dr.é")
        assert stored is not None
        assert (stored.registration_number, stored.address, stored.phone, stored.email) == (
            None,
            "Maison de santé\nŁódź",
            "",
            "é@example.org",
        )
        assert (stored.display_name, stored.specialty) == ("Dr Łucja Weiß", "Médecine générale")
        assert not await storage.set_doctor_details("dr.nobody", details)

    storage.run(scenario)


def test_an_agent_comes_back_as_stored(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        some = agent()
        every = agent("agent.all", cabins=(), all_cabins=True)
        await storage.add_agent(some)
        await storage.add_agent(every)
        assert await storage.agent("agent.ß") == some
        assert await storage.agent("agent.all") == every
        assert await storage.agent("agent.nobody") is None
        assert sorted(await storage.agents(), key=lambda a: a.username) == [every, some]
        stored = await storage.agent("agent.ß")
        assert stored is not None and stored.cabins == ("cabin-2", "cabin-1")  # kept in order
        assert_utc(stored.created_at)

    storage.run(scenario)


def test_a_username_is_taken_once_across_doctors_and_agents(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor("dr.é"))
        await storage.add_agent(agent("agent.ß"))
        with pytest.raises(AccountError):
            await storage.add_doctor(doctor("dr.é"))
        with pytest.raises(AccountError):
            await storage.add_agent(agent("dr.é"))
        with pytest.raises(AccountError):
            await storage.add_doctor(doctor("agent.ß"))
        with pytest.raises(AccountError):
            await storage.add_agent(agent("agent.ß"))
        assert [d.username for d in await storage.doctors()] == ["dr.é"]
        assert [a.username for a in await storage.agents()] == ["agent.ß"]
        # at the same moment, a doctor and an agent of one name: one of them only
        for index in range(5):
            name = f"race-{index}"
            outcomes = await asyncio.gather(
                storage.add_doctor(doctor(name)),
                storage.add_agent(agent(name)),
                return_exceptions=True,
            )
            assert sorted(type(o).__name__ for o in outcomes) == ["AccountError", "NoneType"]
            account = await storage.login_account(name)
            assert account is not None

    storage.run(scenario)


def test_a_password_hash_is_replaced_for_a_doctor_or_an_agent(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor())
        await storage.add_agent(agent())
        await storage.set_password_hash("dr.é", "$argon2id$new-doctor")
        await storage.set_password_hash("agent.ß", "$argon2id$new-agent")
        await storage.set_password_hash("nobody", "$argon2id$nothing")  # changes nothing
        stored_doctor, stored_agent = await storage.doctor("dr.é"), await storage.agent("agent.ß")
        assert stored_doctor is not None and stored_doctor.password_hash == "$argon2id$new-doctor"
        assert stored_agent is not None and stored_agent.password_hash == "$argon2id$new-agent"
        assert await storage.login_account("nobody") is None

    storage.run(scenario)


def test_login_account_says_the_role_and_what_the_operator_decided(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor())
        await storage.add_agent(agent())
        assert await storage.login_account("dr.é") == LoginAccount(
            "dr.é", AccountRole.DOCTOR, PASSWORD_HASH
        )
        assert await storage.login_account("agent.ß") == LoginAccount(
            "agent.ß", AccountRole.AGENT, PASSWORD_HASH
        )
        assert await storage.login_account("nobody") is None

        assert await storage.set_account_disabled("agent.ß", True)
        assert await storage.set_totp_required("agent.ß", True)
        assert await storage.set_totp("agent.ß", secret=None, pending_secret="JBSWY3DPEHPK3PXP")
        assert await storage.login_account("agent.ß") == LoginAccount(
            "agent.ß",
            AccountRole.AGENT,
            PASSWORD_HASH,
            disabled=True,
            totp_required=True,
            totp_pending_secret="JBSWY3DPEHPK3PXP",
        )
        attempt = await _attempt(storage, "agent.ß", "10.0.0.1")  # reads the same account
        assert attempt.account == await storage.login_account("agent.ß")
        assert await storage.set_account_disabled("agent.ß", False)
        assert await storage.set_totp_required("agent.ß", False)
        account = await storage.login_account("agent.ß")
        assert account is not None and not account.disabled and not account.totp_required
        # the doctor's account is not touched by the agent's
        assert await storage.login_account("dr.é") == LoginAccount(
            "dr.é", AccountRole.DOCTOR, PASSWORD_HASH
        )
        assert not await storage.set_account_disabled("nobody", True)
        assert not await storage.set_totp_required("nobody", True)
        assert not await storage.set_totp("nobody", secret="A", pending_secret=None)
        assert await storage.login_account("nobody") is None

    storage.run(scenario)


def test_an_operators_decisions_made_at_once_all_land(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor())
        await storage.add_agent(agent())
        done = await asyncio.gather(
            *(storage.set_totp_required("dr.é", True) for _ in range(10)),
            *(storage.set_account_disabled("agent.ß", True) for _ in range(10)),
        )
        assert done == [True] * 20
        account = await storage.login_account("dr.é")
        assert account is not None and account.totp_required and not account.disabled
        account = await storage.login_account("agent.ß")
        assert account is not None and account.disabled and not account.totp_required

    storage.run(scenario)


def test_a_totp_step_is_used_once_and_never_an_earlier_one(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor())
        assert await storage.set_totp("dr.é", secret="JBSWY3DPEHPK3PXP", pending_secret=None)
        step = 59_000_000
        assert await storage.use_totp_step("dr.é", step)
        assert not await storage.use_totp_step("dr.é", step)
        assert not await storage.use_totp_step("dr.é", step - 1)
        assert await storage.use_totp_step("dr.é", step + 1)
        account = await storage.login_account("dr.é")
        assert account is not None
        assert (account.totp_secret, account.totp_last_step) == ("JBSWY3DPEHPK3PXP", step + 1)
        # a new secret: its codes start afresh
        assert await storage.set_totp("dr.é", secret="KRSXG5CTMVRXEZLU", pending_secret=None)
        account = await storage.login_account("dr.é")
        assert account is not None and account.totp_last_step is None
        assert await storage.use_totp_step("dr.é", step)
        # one code sent twenty times at once is good once
        used = await asyncio.gather(*(storage.use_totp_step("dr.é", step + 5) for _ in range(20)))
        assert sorted(used) == [False] * 19 + [True]

    storage.run(scenario)


def test_failures_lock_the_name_for_that_client_doubling_up_to_the_maximum(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor())
        first = [await _attempt(storage, "dr.é", "10.0.0.1") for _ in range(FREE)]
        assert [a.account is not None and a.account.username for a in first] == ["dr.é"] * FREE
        assert [a.blocked_until for a in first] == [None] * FREE
        assert [a.locks_until for a in first] == [None] * (FREE - 1) + [NOW + timedelta(minutes=1)]
        assert_utc(first[-1].locks_until)
        blocked = await _attempt(storage, "dr.é", "10.0.0.1", after_s=30)
        assert blocked.blocked_until == NOW + timedelta(minutes=1)
        assert blocked.locks_until is None and blocked.account is not None
        # the refused attempt counted nothing: the next after the lock doubles it once
        locks, after_s = [], 60.0
        for _ in range(5):
            attempt = await _attempt(storage, "dr.é", "10.0.0.1", after_s=after_s)
            assert attempt.blocked_until is None
            assert attempt.locks_until is not None
            locks.append((attempt.locks_until - NOW).total_seconds() - after_s)
            after_s += locks[-1]
        assert locks == [120.0, 240.0, 480.0, 900.0, 900.0]
        # another client, and another name from this client, are not locked
        elsewhere = await _attempt(storage, "dr.é", "10.0.0.2", after_s=after_s - 1)
        assert (elsewhere.blocked_until, elsewhere.locks_until) == (None, None)
        other_name = await _attempt(storage, "dr.other", "10.0.0.1", after_s=after_s - 1)
        assert (other_name.blocked_until, other_name.locks_until) == (None, None)
        assert other_name.account is None  # no such account: counted all the same
        # a success forgets this client's failures of this name only
        await storage.end_login("dr.é", "10.0.0.1")
        cleared = await _attempt(storage, "dr.é", "10.0.0.1")
        assert (cleared.blocked_until, cleared.locks_until) == (None, None)
        assert (await _attempt(storage, "dr.é", "10.0.0.2")).locks_until is None  # its 2nd
        third = await _attempt(storage, "dr.é", "10.0.0.2")
        assert third.locks_until == NOW + timedelta(minutes=1)

    storage.run(scenario)


def test_a_name_without_an_account_is_counted_and_locked_too(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        attempts = [await _attempt(storage, "ghost.ł", "::1") for _ in range(FREE + 1)]
        assert all(a.account is None for a in attempts)
        assert attempts[FREE - 1].locks_until == NOW + timedelta(minutes=1)
        assert attempts[FREE].blocked_until == NOW + timedelta(minutes=1)

    storage.run(scenario)


def test_concurrent_attempts_are_counted_one_after_the_other(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_doctor(doctor())
        attempts = await asyncio.gather(
            *(
                storage.begin_login(
                    "dr.é", "10.0.0.1", now=NOW, free_failures=20, first_lock_s=60, max_lock_s=900
                )
                for _ in range(20)
            )
        )
        assert all(a.blocked_until is None for a in attempts)
        assert [a.locks_until for a in attempts].count(None) == 19  # the 20th locks
        assert {a.locks_until for a in attempts} == {None, NOW + timedelta(minutes=1)}
        assert (await _attempt(storage, "dr.é", "10.0.0.1")).blocked_until is not None

    storage.run(scenario)


def test_two_replicas_count_the_attempts_of_one_name_together(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            await one.add_doctor(doctor())
            attempts = await asyncio.gather(
                *(
                    replica.begin_login(
                        "dr.é",
                        "10.0.0.1",
                        now=NOW,
                        free_failures=20,
                        first_lock_s=60,
                        max_lock_s=900,
                    )
                    for replica in [one, two] * 10
                )
            )
            assert [a.locks_until for a in attempts].count(None) == 19
            assert all(a.blocked_until is None for a in attempts)
            assert (await _attempt(two, "dr.é", "10.0.0.1")).blocked_until is not None

    asyncio.run(scenario())


def test_old_attempts_are_forgotten_unless_still_locked(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await _attempt(storage, "dr.old", "10.0.0.1")  # one failure, an hour ago
        for _ in range(FREE):  # locked for a minute, an hour ago
            await _attempt(storage, "dr.old", "10.0.0.2")
        for _ in range(FREE):  # locked for 900 s from 50 minutes on
            await storage.begin_login(
                "dr.locked",
                "10.0.0.3",
                now=NOW + timedelta(seconds=3000),
                free_failures=FREE,
                first_lock_s=900,
                max_lock_s=900,
            )
        await _attempt(storage, "dr.recent", "10.0.0.1", after_s=3500)
        forgotten = await storage.forget_login_attempts(before=NOW + timedelta(seconds=3200))
        assert forgotten == 2
        # forgotten: counted from one again
        for client in ("10.0.0.1", "10.0.0.2"):
            fresh = await _attempt(storage, "dr.old", client, after_s=3600)
            assert (fresh.blocked_until, fresh.locks_until) == (None, None)
        kept = await _attempt(storage, "dr.locked", "10.0.0.3", after_s=3600)
        assert kept.blocked_until is not None
        second = await _attempt(storage, "dr.recent", "10.0.0.1", after_s=3600)
        assert second.locks_until is None
        third = await _attempt(storage, "dr.recent", "10.0.0.1", after_s=3600)
        assert third.locks_until is not None  # its third: the count was kept
        assert await storage.forget_login_attempts(before=NOW) == 0

    storage.run(scenario)
