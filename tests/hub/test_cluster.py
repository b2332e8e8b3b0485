"""The hub's `Cluster`: the same behaviours of the in-process `LocalCluster` and of
`RedisCluster` over a real redis-server (`fleet.servers.redis`), then what only several
replicas on one Redis can show: signals between them, presence seen by the others and
forgotten when a replica dies, shared counters and claims, and Redis restarted under them.

Waits are bounded (`until`, `TIMEOUT_S`); nothing here measures time (bench/bench_cluster.py
does)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from fleet import servers
from hub import cluster as cluster_module
from hub.cluster import Cluster, ClusterDown, HeldKind, LocalCluster
from hub.config import load_hub_config
from hub.errors import ConfigError
from hub.redis_cluster import RedisCluster, cluster_from_config, redis_password
from tests.hub import hub_rig
from tests.hub.hub_rig import TIMEOUT_S, until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RedisServer]:
    with servers.redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[servers.RedisServer]:
    """A server of this test's own: it is killed, or given a password."""
    with servers.redis(tmp_path / "redis") as server:
        yield server


SCENARIO_TIMEOUT_S = 4 * TIMEOUT_S
"""A whole test's bound: a hang fails that test, not the run."""


def run(scenario: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(SCENARIO_TIMEOUT_S):
            await scenario

    hub_rig.run(bounded())


def new_prefix() -> str:
    """Each test's keys and channels apart from the others' on the shared server."""
    return f"test-{uuid.uuid4().hex[:8]}"


@dataclass
class Replica:
    """A started cluster, with what it received and how often it was told to resync."""

    cluster: Cluster
    received: list[bytes] = field(default_factory=list)
    resyncs: int = 0

    @property
    def id(self) -> str:
        return self.cluster.replica_id

    def on_resync(self) -> None:
        self.resyncs += 1

    async def start(self) -> Replica:
        await self.cluster.start(self.received.append, self.on_resync)
        return self


@contextlib.asynccontextmanager
async def redis_replicas(
    server: servers.RedisServer, count: int, *, prefix: str | None = None, **options: object
) -> AsyncIterator[list[Replica]]:
    prefix = prefix or new_prefix()
    replicas = [
        Replica(RedisCluster(server.url, key_prefix=prefix, **options))  # type: ignore[arg-type]
        for _ in range(count)
    ]
    try:
        for replica in replicas:
            await replica.start()
        yield replicas
    finally:
        for replica in replicas:
            await replica.cluster.stop()


# --- the same behaviours, in one process and over Redis ------------------------------------------


@pytest.fixture(params=["local", "redis"])
def one_cluster(request: pytest.FixtureRequest) -> Callable[[], Cluster]:
    if request.param == "local":
        return LocalCluster
    server = request.getfixturevalue("redis_server")
    prefix = new_prefix()
    return lambda: RedisCluster(server.url, key_prefix=prefix)


@contextlib.asynccontextmanager
async def started(make: Callable[[], Cluster]) -> AsyncIterator[Replica]:
    replica = await Replica(make()).start()
    try:
        yield replica
    finally:
        await replica.cluster.stop()


def test_start_resyncs_once_and_the_replica_is_alive(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        async with started(one_cluster) as replica:
            assert replica.resyncs == 1
            assert replica.id in await replica.cluster.replicas()
            await replica.cluster.check()

    run(scenario())


def test_hold_and_release(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        async with started(one_cluster) as replica:
            cluster = replica.cluster
            cluster.hold(HeldKind.CABIN, "cabin-1")
            cluster.hold(HeldKind.CABIN, "cabin-1")  # idempotent
            cluster.hold(HeldKind.CONSOLE, "dr.a")
            await until_holders(cluster, HeldKind.CABIN, "cabin-1", {replica.id})
            await until_holders(cluster, HeldKind.CONSOLE, "dr.a", {replica.id})
            assert await cluster.holders(HeldKind.AGENT, "cabin-1") == frozenset()
            assert await cluster.holders(HeldKind.CONSOLE, "cabin-1") == frozenset()
            cluster.release(HeldKind.CABIN, "cabin-1")
            cluster.release(HeldKind.CABIN, "cabin-never-held")
            await until_holders(cluster, HeldKind.CABIN, "cabin-1", set())
            await until_holders(cluster, HeldKind.CONSOLE, "dr.a", {replica.id})

    run(scenario())


def test_hold_then_release_at_once_ends_released(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        async with started(one_cluster) as replica:
            cluster = replica.cluster
            for _ in range(3):
                cluster.hold(HeldKind.AGENT, "agent.a")
                cluster.release(HeldKind.AGENT, "agent.a")
            cluster.hold(HeldKind.AGENT, "agent.b")
            await until_holders(cluster, HeldKind.AGENT, "agent.b", {replica.id})
            assert await cluster.holders(HeldKind.AGENT, "agent.a") == frozenset()

    run(scenario())


def test_counters_count_in_their_window(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        async with started(one_cluster) as replica:
            cluster = replica.cluster
            counts = [await cluster.hit("login:10.0.0.1", window_s=3600) for _ in range(3)]
            # A window may end between two hits (once an hour): then the count starts again.
            assert counts in ([1, 2, 3], [1, 1, 2], [1, 2, 1])
            assert await cluster.hit("login:10.0.0.2", window_s=3600, cost=5) in (5,)
            assert await cluster.hit("login:10.0.0.2", window_s=60, cost=2) == 2  # other window
            first = await cluster.hit("short", window_s=0.05)
            assert first == 1

            async def restarted() -> bool:
                return await cluster.hit("short", window_s=0.05) == 1

            await until_async(restarted, "a new window of 50 ms")

    run(scenario())


def test_values_expire_and_are_deleted(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        async with started(one_cluster) as replica:
            cluster = replica.cluster
            assert await cluster.get("missing") is None
            await cluster.put("grace:cabin-1", b"\x00deadline\xff", ttl_s=60)
            assert await cluster.get("grace:cabin-1") == b"\x00deadline\xff"
            await cluster.put("grace:cabin-1", b"later", ttl_s=60)
            assert await cluster.get("grace:cabin-1") == b"later"
            await cluster.delete("grace:cabin-1")
            await cluster.delete("grace:cabin-1")
            assert await cluster.get("grace:cabin-1") is None
            await cluster.put("brief", b"x", ttl_s=0.05)

            async def gone() -> bool:
                return await cluster.get("brief") is None

            await until_async(gone, "the value's expiry")

    run(scenario())


def test_a_claim_is_won_once_until_it_expires(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        async with started(one_cluster) as replica:
            cluster = replica.cluster
            assert await cluster.claim("escalate:alert-1", ttl_s=60)
            assert not await cluster.claim("escalate:alert-1", ttl_s=60)
            assert await cluster.claim("escalate:alert-2", ttl_s=60)
            assert await cluster.claim("remind:c-1", ttl_s=0.05)

            async def again() -> bool:
                return await cluster.claim("remind:c-1", ttl_s=60)

            await until_async(again, "the claim's expiry")

    run(scenario())


def test_stop_forgets_what_the_replica_held(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        make = one_cluster
        async with started(make) as replica:
            replica.cluster.hold(HeldKind.CABIN, "cabin-9")
            await until_holders(replica.cluster, HeldKind.CABIN, "cabin-9", {replica.id})
            await replica.cluster.stop()
        async with started(make) as other:
            assert await other.cluster.holders(HeldKind.CABIN, "cabin-9") == frozenset()
            assert replica.id not in await other.cluster.replicas()

    run(scenario())


def test_send_never_raises_not_even_before_start(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        cluster = one_cluster()
        cluster.send(b"before start")
        cluster.send(b"before start", to="nobody")
        async with started(lambda: cluster) as replica:
            replica.cluster.send(b"to nobody", to="no-such-replica")
            replica.cluster.send(b"to everyone else")
            await replica.cluster.check()
            assert replica.received == []

    run(scenario())


def test_bad_durations_are_refused(one_cluster: Callable[[], Cluster]) -> None:
    async def scenario() -> None:
        async with started(one_cluster) as replica:
            with pytest.raises(ValueError, match="positive"):
                await replica.cluster.hit("k", window_s=0)
            with pytest.raises(ValueError, match="positive"):
                await replica.cluster.put("k", b"v", ttl_s=-1)

    run(scenario())


def test_local_cluster_forgets_past_windows_and_expired_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        cluster = LocalCluster()
        for n in range(100):
            await cluster.hit(f"address-{n}", window_s=0.01)
            await cluster.put(f"value-{n}", b"v", ttl_s=0.01)
        await asyncio.sleep(0.05)
        monkeypatch.setattr(cluster_module, "SWEEP_EVERY_S", 0.0)
        assert await cluster.hit("address-new", window_s=60) == 1
        assert list(cluster._counters) == [("address-new", 60_000)]
        assert cluster._values == {}

    run(scenario())


async def until_holders(cluster: Cluster, kind: HeldKind, who: str, expected: set[str]) -> None:
    async def seen() -> bool:
        return await cluster.holders(kind, who) == expected

    await until_async(seen, f"holders of {kind.value} {who} to be {sorted(expected)}")


async def until_async(
    predicate: Callable[[], Awaitable[bool]], what: str, within_s: float = TIMEOUT_S
) -> None:
    """`until` for a predicate that awaits (it asks Redis). `ClusterDown` is "not yet": a
    replica reconnecting, or a call slower than its deadline on a loaded machine."""
    # Polling: Redis's state is read from outside, with no event to wait on.
    try:
        async with asyncio.timeout(within_s):
            while True:
                with contextlib.suppress(ClusterDown):
                    if await predicate():
                        return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {within_s} s waiting for {what}") from None


# --- several replicas on one Redis --------------------------------------------------------------


def test_a_signal_reaches_its_replica_only_and_a_broadcast_every_other(
    redis_server: servers.RedisServer,
) -> None:
    async def scenario() -> None:
        async with redis_replicas(redis_server, 3) as (a, b, c):
            a.cluster.send(b"for b", to=b.id)
            await until(lambda: b.received == [b"for b"], what="b's signal")
            a.cluster.send(b"for all")
            await until(lambda: b.received == [b"for b", b"for all"], what="b's broadcast")
            await until(lambda: c.received == [b"for all"], what="c's broadcast")
            # a never gets its own broadcast: b's answer, sent after it, comes alone
            b.cluster.send(b"back to a", to=a.id)
            await until(lambda: bool(a.received), what="b's answer")
            assert a.received == [b"back to a"]
            assert c.received == [b"for all"]

    run(scenario())


def test_two_hubs_on_one_redis_do_not_hear_each_other(
    redis_server: servers.RedisServer,
) -> None:
    async def scenario() -> None:
        async with (
            redis_replicas(redis_server, 2) as (a, b),
            redis_replicas(redis_server, 1) as (other,),
        ):
            other.cluster.hold(HeldKind.CABIN, "cabin-1")
            await until_holders(other.cluster, HeldKind.CABIN, "cabin-1", {other.id})
            other.cluster.send(b"other hub")
            a.cluster.send(b"same hub")
            await until(lambda: b.received == [b"same hub"], what="the broadcast")
            assert await a.cluster.holders(HeldKind.CABIN, "cabin-1") == frozenset()
            assert await a.cluster.replicas() == {a.id, b.id}
            assert a.received == []

    run(scenario())


def test_a_thousand_signals_arrive_in_order(redis_server: servers.RedisServer) -> None:
    async def scenario() -> None:
        async with redis_replicas(redis_server, 2) as (a, b):
            sent = [f"signal {n}".encode() for n in range(1000)]
            for payload in sent:
                a.cluster.send(payload, to=b.id)
            await until(lambda: len(b.received) >= 1000, what="1000 signals")
            assert b.received == sent

    run(scenario())


def test_a_full_outbox_drops_the_oldest_and_says_so_once(
    redis_server: servers.RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with redis_replicas(redis_server, 2, outbox_size=10) as (a, b):
            with caplog.at_level(logging.WARNING, logger="hub.redis_cluster"):
                for n in range(50):  # all at once: the writer cannot run in between
                    a.cluster.send(f"{n}".encode(), to=b.id)
            await until(lambda: len(b.received) >= 10, what="the last ten signals")
            assert b.received == [f"{n}".encode() for n in range(40, 50)]
            dropped = [r for r in caplog.records if "hub.cluster_signal_dropped" in r.message]
            assert len(dropped) == 1
            assert "reason=full" in dropped[0].message

    run(scenario())


def test_presence_is_seen_by_the_other_replicas(redis_server: servers.RedisServer) -> None:
    async def scenario() -> None:
        async with redis_replicas(redis_server, 3) as (a, b, c):
            assert await c.cluster.replicas() == {a.id, b.id, c.id}
            a.cluster.hold(HeldKind.CABIN, "cabin-1")
            b.cluster.hold(HeldKind.CABIN, "cabin-1")  # a cabin reconnecting through b
            b.cluster.hold(HeldKind.CONSOLE, "dr.a")
            await until_holders(c.cluster, HeldKind.CABIN, "cabin-1", {a.id, b.id})
            await until_holders(a.cluster, HeldKind.CONSOLE, "dr.a", {b.id})
            a.cluster.release(HeldKind.CABIN, "cabin-1")
            await until_holders(c.cluster, HeldKind.CABIN, "cabin-1", {b.id})

    run(scenario())


def test_a_replica_holding_many_sockets(redis_server: servers.RedisServer) -> None:
    """More than one heartbeat script's worth (`BEAT_KEYS`): held before the start (written by
    the first heartbeat) and after it (written as changes)."""

    async def scenario() -> None:
        prefix = new_prefix()
        many = Replica(RedisCluster(redis_server.url, key_prefix=prefix))
        for n in range(450):
            many.cluster.hold(HeldKind.CABIN, f"cabin-{n}")
        async with redis_replicas(redis_server, 1, prefix=prefix) as (other,):
            await many.start()
            try:
                for n in range(450):
                    many.cluster.hold(HeldKind.CONSOLE, f"dr.{n}")
                for n in range(450):
                    await until_holders(other.cluster, HeldKind.CABIN, f"cabin-{n}", {many.id})
                    await until_holders(other.cluster, HeldKind.CONSOLE, f"dr.{n}", {many.id})
            finally:
                await many.cluster.stop()
            assert await other.cluster.holders(HeldKind.CABIN, "cabin-449") == frozenset()

    run(scenario())


def test_presence_written_before_a_signal_is_seen_by_its_receiver(
    redis_server: servers.RedisServer,
) -> None:
    """What the switchboard relies on: hold, then tell the others; they find the holder."""

    async def scenario() -> None:
        prefix = new_prefix()
        a = RedisCluster(redis_server.url, key_prefix=prefix)
        b = RedisCluster(redis_server.url, key_prefix=prefix)
        found: list[frozenset[str]] = []
        looks: list[asyncio.Task[None]] = []

        async def look() -> None:
            found.append(await b.holders(HeldKind.CABIN, "cabin-7"))

        await a.start(lambda _: None, lambda: None)
        await b.start(lambda _: looks.append(asyncio.create_task(look())), lambda: None)
        try:
            a.hold(HeldKind.CABIN, "cabin-7")
            a.send(b"cabin-7 is here")
            await until(lambda: bool(looks), what="the signal")
            await asyncio.gather(*looks)
            assert found == [frozenset({a.replica_id})]
        finally:
            await a.stop()
            await b.stop()

    run(scenario())


def test_stop_removes_a_replica_at_once(redis_server: servers.RedisServer) -> None:
    async def scenario() -> None:
        async with redis_replicas(redis_server, 2) as (a, b):
            b.cluster.hold(HeldKind.AGENT, "agent.x")
            await until_holders(a.cluster, HeldKind.AGENT, "agent.x", {b.id})
            await b.cluster.stop()
            assert await a.cluster.holders(HeldKind.AGENT, "agent.x") == frozenset()
            assert await a.cluster.replicas() == {a.id}

    run(scenario())


KILLED_REPLICA = """
import asyncio, sys
from hub.cluster import HeldKind
from hub.redis_cluster import RedisCluster

async def main(url, prefix):
    cluster = RedisCluster(url, key_prefix=prefix)
    await cluster.start(lambda payload: None, lambda: None)
    cluster.hold(HeldKind.CABIN, "cabin-k")
    while cluster.replica_id not in await cluster.holders(HeldKind.CABIN, "cabin-k"):
        await asyncio.sleep(0.01)
    print(cluster.replica_id, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_a_killed_replica_is_forgotten_within_its_ttl(redis_server: servers.RedisServer) -> None:
    async def scenario() -> None:
        prefix = new_prefix()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            KILLED_REPLICA,
            redis_server.url,
            prefix,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            async with asyncio.timeout(TIMEOUT_S):
                killed_id = (await child.stdout.readline()).decode().strip()
            assert killed_id, "the replica ended before holding its cabin"
            async with redis_replicas(redis_server, 1, prefix=prefix) as (survivor,):
                await until_holders(survivor.cluster, HeldKind.CABIN, "cabin-k", {killed_id})
                assert await survivor.cluster.replicas() == {killed_id, survivor.id}
                child.send_signal(signal.SIGKILL)
                await child.wait()
                # gone by itself, within PRESENCE_TTL_S (5 s) and a heartbeat: no clean-up
                await until_holders(survivor.cluster, HeldKind.CABIN, "cabin-k", set())

                async def forgotten() -> bool:
                    return await survivor.cluster.replicas() == {survivor.id}

                await until_async(forgotten, "the killed replica to be forgotten")
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()

    run(scenario())


def test_counters_are_shared(redis_server: servers.RedisServer) -> None:
    async def scenario() -> None:
        async with redis_replicas(redis_server, 2) as (a, b):
            counts = await asyncio.gather(
                *((a, b)[n % 2].cluster.hit("check:10.1.2.3", window_s=3600) for n in range(20))
            )
            # a window may end during the test (once an hour): then counts restart at 1
            assert sorted(counts) == list(range(1, 21)) or 1 in counts[1:]

    run(scenario())


def test_fifty_concurrent_claims_from_three_replicas_make_one_winner(
    redis_server: servers.RedisServer,
) -> None:
    async def scenario() -> None:
        async with redis_replicas(redis_server, 3) as replicas:
            for round_ in range(5):
                key = f"escalate:alert-{round_}"
                won = await asyncio.gather(
                    *(replicas[n % 3].cluster.claim(key, ttl_s=60) for n in range(50))
                )
                assert won.count(True) == 1

    run(scenario())


def test_redis_restarted_under_the_replicas(
    own_redis: servers.RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with redis_replicas(own_redis, 3) as (a, b, c):
            a.cluster.hold(HeldKind.CABIN, "cabin-1")
            await until_holders(b.cluster, HeldKind.CABIN, "cabin-1", {a.id})
            assert [r.resyncs for r in (a, b, c)] == [1, 1, 1]

            own_redis.stop()  # SIGKILL: everything it held is gone
            await until(lambda: not any(r.cluster.up for r in (a, b, c)), what="all down")  # type: ignore[attr-defined]
            for replica in (a, b, c):
                with pytest.raises(ClusterDown, match="unreachable"):
                    await replica.cluster.check()
                with pytest.raises(ClusterDown):
                    await replica.cluster.holders(HeldKind.CABIN, "cabin-1")
                with pytest.raises(ClusterDown):
                    await replica.cluster.hit("k", window_s=60)
                with pytest.raises(ClusterDown):
                    await replica.cluster.claim("k", ttl_s=60)
            a.cluster.send(b"lost", to=b.id)  # dropped, never raises
            a.cluster.send(b"lost too")
            a.cluster.hold(HeldKind.CONSOLE, "dr.a")  # while down: written once back
            await asyncio.sleep(0.5)  # a few reconnection attempts, each refused

            await asyncio.to_thread(own_redis.start)
            await until(lambda: all(r.resyncs == 2 for r in (a, b, c)), what="every resync")
            for replica in (a, b, c):
                await replica.cluster.check()
            await until_holders(c.cluster, HeldKind.CABIN, "cabin-1", {a.id})
            await until_holders(c.cluster, HeldKind.CONSOLE, "dr.a", {a.id})
            assert await c.cluster.replicas() == {a.id, b.id, c.id}
            a.cluster.send(b"flows again", to=b.id)
            c.cluster.send(b"for all again")
            await until(lambda: b.received == [b"flows again", b"for all again"], what="b's")
            await until(lambda: a.received == [b"for all again"], what="a's broadcast")

        messages = [r.getMessage() for r in caplog.records if r.name == "hub.redis_cluster"]
        for replica in (a, b, c):
            mine = [m for m in messages if f"replica={replica.id}" in m]
            assert len([m for m in mine if m.startswith("hub.cluster_down")]) == 1
            assert len([m for m in mine if m.startswith("hub.cluster_up")]) == 1
        dropped = [m for m in messages if m.startswith("hub.cluster_signal_dropped")]
        assert dropped == [f"hub.cluster_signal_dropped replica={a.id} reason=down"]
        down = next(m for m in messages if m.startswith("hub.cluster_down"))
        assert f"redis://127.0.0.1:{own_redis.port}/0" in down
        assert "error=" in down

    with caplog.at_level(logging.INFO, logger="hub.redis_cluster"):
        run(scenario())


def test_a_frozen_redis_hangs_nothing(own_redis: servers.RedisServer) -> None:
    """Redis stopped (SIGSTOP: it accepts nothing and answers nothing, like a lost network):
    every call gives up within its deadline, the link says it is down, then comes back."""

    async def scenario() -> None:
        async with redis_replicas(own_redis, 2, timeout_s=1.0) as (a, b):
            a.cluster.hold(HeldKind.CABIN, "cabin-1")
            await until_holders(b.cluster, HeldKind.CABIN, "cabin-1", {a.id})
            assert own_redis.process is not None
            own_redis.process.send_signal(signal.SIGSTOP)
            try:
                with pytest.raises(ClusterDown):
                    await b.cluster.holders(HeldKind.CABIN, "cabin-1")
                with pytest.raises(ClusterDown):
                    await b.cluster.claim("k", ttl_s=60)
                a.cluster.send(b"into the void", to=b.id)
                # the heartbeat (every third of the TTL) times out: the link is down
                await until(lambda: not a.cluster.up, what="a's link down")  # type: ignore[attr-defined]
                with pytest.raises(ClusterDown, match="unreachable"):
                    await a.cluster.check()
            finally:
                own_redis.process.send_signal(signal.SIGCONT)
            await until(lambda: a.resyncs >= 2, what="a's resync")
            await until(lambda: a.cluster.up, what="a's link up")  # type: ignore[attr-defined]
            await until_holders(b.cluster, HeldKind.CABIN, "cabin-1", {a.id})
            a.cluster.send(b"back", to=b.id)
            await until(lambda: b"back" in b.received, what="the signal after")

    run(scenario())


def test_stop_gives_up_on_a_frozen_redis(own_redis: servers.RedisServer) -> None:
    async def scenario() -> None:
        replica = Replica(RedisCluster(own_redis.url, key_prefix=new_prefix(), timeout_s=0.5))
        await replica.start()
        replica.cluster.hold(HeldKind.CABIN, "cabin-3")
        assert own_redis.process is not None
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            await replica.cluster.stop()  # its entries expire by themselves
        finally:
            own_redis.process.send_signal(signal.SIGCONT)

    run(scenario())


def test_a_replica_started_while_redis_is_down_comes_up_with_it(
    own_redis: servers.RedisServer,
) -> None:
    async def scenario() -> None:
        own_redis.stop()
        replica = Replica(RedisCluster(own_redis.url, key_prefix=new_prefix()))
        await replica.start()  # does not wait for Redis
        try:
            assert replica.resyncs == 0
            with pytest.raises(ClusterDown, match="unreachable"):
                await replica.cluster.check()
            replica.cluster.hold(HeldKind.CABIN, "cabin-2")
            await asyncio.to_thread(own_redis.start)
            await until(lambda: replica.resyncs == 1, what="the first resync")
            await replica.cluster.check()
            await until_holders(replica.cluster, HeldKind.CABIN, "cabin-2", {replica.id})
        finally:
            await replica.cluster.stop()

    run(scenario())


def test_a_password_is_given_and_a_wrong_one_refused(own_redis: servers.RedisServer) -> None:
    async def scenario() -> None:
        admin = Redis.from_url(own_redis.url)
        await admin.config_set("requirepass", "a-long-redis-password")
        await admin.aclose()
        prefix = new_prefix()
        async with redis_replicas(
            own_redis, 2, prefix=prefix, password="a-long-redis-password"
        ) as (a, b):
            a.cluster.send(b"authenticated", to=b.id)
            await until(lambda: b.received == [b"authenticated"], what="the signal")
        for password in (None, "a-wrong-password"):
            refused = RedisCluster(own_redis.url, key_prefix=prefix, password=password)
            with pytest.raises(ClusterDown, match="refused this hub") as error:
                await refused.start(lambda _: None, lambda: None)
            assert "a-wrong-password" not in str(error.value)

    run(scenario())


def test_the_deploys_redis_user_may_do_all_the_cluster_does(
    own_redis: servers.RedisServer,
) -> None:
    """deploy/hub/redis-hub.conf's ACL: the user `hub` without @admin nor @dangerous, nobody
    else. Every command of the cluster is allowed to it (EVAL and TIME in its scripts too)."""

    async def scenario() -> None:
        admin = Redis.from_url(own_redis.url)
        await admin.acl_setuser(
            "hub",
            enabled=True,
            passwords=["+hub-pass"],
            keys=["*"],
            channels=["*"],
            commands=["+@all", "-@admin", "-@dangerous"],
        )
        await admin.acl_setuser("default", enabled=False)
        await admin.aclose()
        url = f"redis://hub@127.0.0.1:{own_redis.port}/0"
        prefix = new_prefix()
        a, b = (Replica(RedisCluster(url, key_prefix=prefix, password="hub-pass")) for _ in "ab")
        await a.start()
        await b.start()
        try:
            a.cluster.hold(HeldKind.CABIN, "cabin-1")
            await until_holders(b.cluster, HeldKind.CABIN, "cabin-1", {a.id})
            assert await b.cluster.replicas() == {a.id, b.id}
            a.cluster.send(b"to b", to=b.id)
            b.cluster.send(b"to all")
            await until(lambda: a.received == [b"to all"], what="the broadcast")
            await until(lambda: b.received == [b"to b"], what="the signal")
            assert await a.cluster.hit("k", window_s=60) == 1
            assert await b.cluster.hit("k", window_s=60) == 2
            await a.cluster.put("v", b"value", ttl_s=60)
            assert await b.cluster.get("v") == b"value"
            await b.cluster.delete("v")
            assert await a.cluster.claim("c", ttl_s=60)
            assert not await b.cluster.claim("c", ttl_s=60)
            await a.cluster.check()
            a.cluster.release(HeldKind.CABIN, "cabin-1")
            await until_holders(b.cluster, HeldKind.CABIN, "cabin-1", set())
        finally:
            await a.cluster.stop()
            await b.cluster.stop()
        assert a.resyncs == b.resyncs == 1  # no reconnection: nothing was refused

    run(scenario())


# --- configuration ------------------------------------------------------------------------------


def test_the_default_cluster_is_local(tmp_path: Path) -> None:
    config = load_hub_config(None, data_dir=tmp_path)
    assert config.cluster.backend == "local"
    assert isinstance(cluster_from_config(config, {}), LocalCluster)


def test_a_redis_cluster_from_the_configuration(tmp_path: Path) -> None:
    config = load_hub_config(
        None,
        data_dir=tmp_path,
        overrides={
            "cluster": {
                "backend": "redis",
                "redis_url": "redis://hub@127.0.0.1:6390/2",
                "key_prefix": "hub-a",
            }
        },
    )
    env = {"HUB_REDIS_PASSWORD": "from-the-environment\n"}
    cluster = cluster_from_config(config, env)
    assert isinstance(cluster, RedisCluster)
    assert env == {}  # read once, then removed
    assert "6390" in repr(cluster)
    assert "from-the-environment" not in repr(cluster)


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"backend": "redis"}, "needs `redis_url`"),
        ({"backend": "memcached"}, "cluster.backend: Invalid enum value 'memcached'"),
        ({"redis_url": "http://127.0.0.1:6379"}, "must start with redis://"),
        ({"redis_url": "redis://:hunter2-secret@127.0.0.1:6379/0"}, "must not hold the password"),
        ({"redis_url": "redis://127.0.0.1:6379/db"}, "the database number"),
        ({"redis_url": "redis://127.0.0.1:99999/0"}, "not an address"),
        ({"redis_url": "unix://relative.sock"}, "absolute path"),
        ({"key_prefix": "with space"}, "key_prefix"),
        ({"redis_pasword_env": "X"}, "unknown field `redis_pasword_env`"),
    ],
)
def test_bad_cluster_tables_are_refused_clearly(
    tmp_path: Path, cluster: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_hub_config(None, data_dir=tmp_path, overrides={"cluster": cluster})
    assert message in str(error.value)
    assert "hunter2" not in str(error.value)


def test_the_redis_password_comes_from_a_credential_or_a_private_file(tmp_path: Path) -> None:
    config = load_hub_config(None, data_dir=tmp_path)
    assert redis_password(config, {}) is None  # none of the sources: no AUTH
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hub-redis-password").write_text("from-a-credential\n")
    assert redis_password(config, {"CREDENTIALS_DIRECTORY": str(credentials)}) == (
        "from-a-credential"
    )
    file = tmp_path / "hub-redis.password"
    file.write_text("from-a-file\n")
    file.chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by others"):
        redis_password(config, {})
    file.chmod(0o600)
    assert redis_password(config, {}) == "from-a-file"
    file.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        redis_password(config, {})
