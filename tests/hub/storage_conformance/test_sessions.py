"""Signed-in browsers: expiry, idleness, and how many an account keeps."""

from __future__ import annotations

from datetime import timedelta

from hub.storage import AccountRole, SessionRecord, Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import NOW, assert_utc

HOUR = timedelta(hours=1)


def _session(
    token: str, username: str = "dr.é", *, after: timedelta = timedelta(0)
) -> SessionRecord:
    return SessionRecord(
        token_sha256=token * 64 if len(token) == 1 else token,
        username=username,
        csrf_token=f"csrf-{token}-Ł",
        created_at=NOW + after,
        expires_at=NOW + after + 8 * HOUR,
    )


def test_a_session_lives_until_it_expires(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        doctors = _session("a")
        agents = SessionRecord("b" * 64, "agent.ß", "csrf", NOW, NOW + HOUR, AccountRole.AGENT)
        await storage.add_session(doctors)
        await storage.add_session(agents)
        assert await storage.session("a" * 64, now=NOW) == doctors
        assert await storage.session("b" * 64, now=NOW) == agents
        stored = await storage.session("a" * 64, now=NOW)
        assert stored is not None
        assert_utc(stored.created_at)
        assert_utc(stored.expires_at)
        assert await storage.session("c" * 64, now=NOW) is None
        # expired at its `expires_at`
        assert await storage.session("b" * 64, now=NOW + HOUR - timedelta(microseconds=1))
        assert await storage.session("b" * 64, now=NOW + HOUR) is None
        assert await storage.live_session_hashes(
            {"a" * 64, "b" * 64, "c" * 64}, now=NOW + HOUR
        ) == {"a" * 64}
        assert await storage.live_session_hashes(set(), now=NOW) == set()
        assert await storage.delete_expired_sessions(now=NOW + HOUR) == 1
        assert await storage.delete_expired_sessions(now=NOW + HOUR) == 0
        assert await storage.live_session_hashes({"a" * 64, "b" * 64}, now=NOW) == {"a" * 64}
        await storage.delete_session("a" * 64)
        await storage.delete_session("a" * 64)  # twice is harmless
        assert await storage.session("a" * 64, now=NOW) is None

    storage.run(scenario)


def test_an_idle_session_ends_and_a_used_one_is_marked_now_and_then(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_session(_session("a"))
        await storage.add_session(_session("b"))
        token_a, token_b = "a" * 64, "b" * 64
        # a: used 10 minutes in, marked (last marked before `touch_before`)
        used = await storage.live_session(
            token_a,
            now=NOW + timedelta(minutes=10),
            idle_since=NOW - timedelta(minutes=30),
            touch_before=NOW + timedelta(minutes=5),
        )
        assert used == _session("a")
        # b: used 10 minutes in, not marked (it was marked recently enough)
        assert await storage.live_session(
            token_b,
            now=NOW + timedelta(minutes=10),
            idle_since=None,
            touch_before=NOW - timedelta(minutes=1),
        ) == _session("b")
        # 35 minutes in, idle since 5 minutes in: a was used at 10, b not since 0
        later = NOW + timedelta(minutes=35)
        idle_since = NOW + timedelta(minutes=5)
        assert await storage.live_session(
            token_a, now=later, idle_since=idle_since, touch_before=later
        ) == _session("a")
        assert (
            await storage.live_session(
                token_b, now=later, idle_since=idle_since, touch_before=later
            )
            is None
        )
        assert await storage.session(token_b, now=later) is None  # deleted
        # no idleness limit: alive whenever last used, until it expires
        assert await storage.live_session(
            token_a, now=NOW + 7 * HOUR, idle_since=None, touch_before=NOW
        ) == _session("a")
        assert (
            await storage.live_session(
                token_a, now=NOW + 8 * HOUR, idle_since=None, touch_before=NOW
            )
            is None
        )
        assert (
            await storage.live_session("c" * 64, now=NOW, idle_since=None, touch_before=NOW) is None
        )

    storage.run(scenario)


def test_an_account_keeps_its_newest_sessions(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        for index, token in enumerate("abcde"):
            await storage.add_session(_session(token, after=timedelta(minutes=index)))
        await storage.add_session(_session("f", "agent.ß"))
        trimmed = await storage.trim_sessions("dr.é", keep=2)
        assert sorted(trimmed) == ["a" * 64, "b" * 64, "c" * 64]
        assert await storage.live_session_hashes(set(t * 64 for t in "abcdef"), now=NOW) == {
            "d" * 64,
            "e" * 64,
            "f" * 64,
        }
        assert await storage.trim_sessions("dr.é", keep=2) == []
        assert await storage.trim_sessions("nobody", keep=0) == []

    storage.run(scenario)


def test_an_accounts_sessions_are_deleted_but_the_one_it_keeps(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        for token in "abc":
            await storage.add_session(_session(token))
        await storage.add_session(_session("d", "agent.ß"))
        deleted = await storage.delete_sessions_of("dr.é", keep="b" * 64)
        assert sorted(deleted) == ["a" * 64, "c" * 64]
        assert await storage.live_session_hashes(set(t * 64 for t in "abcd"), now=NOW) == {
            "b" * 64,
            "d" * 64,
        }
        assert await storage.delete_sessions_of("dr.é") == ["b" * 64]
        assert await storage.delete_sessions_of("dr.é") == []
        assert await storage.session("d" * 64, now=NOW) is not None

    storage.run(scenario)
