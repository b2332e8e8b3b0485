"""Signals between two hub replicas over Redis (`hub.redis_cluster`), beside bare redis-py.

Run ``python -m bench.bench_cluster`` (``--quick`` for a smoke run). A real redis-server on
loopback (`fleet.servers.redis`, in a temporary folder). Two measures, each beside a floor
measured in the same run, interleaved round by round:

- **round trip**: replica A sends a signal to replica B, whose `receive` sends it straight back
  to A; the time until A's `receive` has it. The floor: the same ping-pong with bare redis-py,
  two clients each subscribed to its own channel (a reader task on ``get_message``), each
  answering with an awaited ``PUBLISH``.
- **burst**: A sends 1,000 signals to B at once (`send` never waits: the outbox's writer
  pipelines them); the time until B has the last. The floor: 1,000 ``PUBLISH`` in one
  redis-py pipeline, read by a bare subscriber.

Prints medians and 90th percentiles, and the ratio to the floor. Bounded in count (rounds) and
in time (a deadline for the whole run). Nothing passes or fails here: read the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from redis.asyncio import Redis

from fleet.servers import redis as redis_server
from hub.redis_cluster import RedisCluster

BURST = 1000
DEADLINE_S = 300.0
"""The whole run's bound; each wait for a signal has its own (WAIT_S)."""
WAIT_S = 10.0


class Pong:
    """Futures for the payloads a side waits for, resolved by its `receive`."""

    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[float]] = {}
        self.count = 0
        self.counted: asyncio.Future[float] | None = None
        self.expected = 0

    def expect(self, payload: bytes) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[payload] = future
        return future

    def expect_count(self, count: int) -> asyncio.Future[float]:
        self.count, self.expected = 0, count
        self.counted = asyncio.get_running_loop().create_future()
        return self.counted

    def got(self, payload: bytes) -> None:
        now = time.perf_counter()
        future = self.waiting.pop(payload, None)
        if future is not None and not future.done():
            future.set_result(now)
        self.count += 1
        if self.counted is not None and self.count >= self.expected and not self.counted.done():
            self.counted.set_result(now)


# --- the product: two RedisCluster replicas -----------------------------------------------------


@contextlib.asynccontextmanager
async def two_replicas(url: str) -> AsyncIterator[tuple[RedisCluster, Pong, Pong]]:
    a = RedisCluster(url, key_prefix="bench")
    b = RedisCluster(url, key_prefix="bench")
    at_a, at_b = Pong(), Pong()

    def b_receives(payload: bytes) -> None:
        at_b.got(payload)
        if payload.startswith(b"ping"):
            b.send(payload, to=a.replica_id)

    await a.start(at_a.got, lambda: None)
    await b.start(b_receives, lambda: None)
    try:
        yield a, at_a, at_b
    finally:
        await a.stop()
        await b.stop()


async def cluster_round_trip(a: RedisCluster, at_a: Pong, b_id: str, n: int) -> float:
    payload = f"ping {n}".encode()
    back = at_a.expect(payload)
    started = time.perf_counter()
    a.send(payload, to=b_id)
    async with asyncio.timeout(WAIT_S):
        return (await back - started) * 1000


async def cluster_burst(a: RedisCluster, at_b: Pong, b_id: str, n: int) -> float:
    done = at_b.expect_count(BURST)
    started = time.perf_counter()
    for index in range(BURST):
        a.send(f"burst {n} {index}".encode(), to=b_id)
    async with asyncio.timeout(WAIT_S):
        return (await done - started) * 1000


# --- the floor: bare redis-py ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bare_side(
    url: str, channel: str, on_message: Callable[[bytes], None]
) -> AsyncIterator[Redis]:
    client = Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    while (await pubsub.get_message(timeout=WAIT_S) or {}).get("type") != "subscribe":
        pass

    async def read() -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                on_message(message["data"])

    reader = asyncio.create_task(read())
    try:
        yield client
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await pubsub.aclose()
        await client.aclose()


@contextlib.asynccontextmanager
async def bare_pair(url: str) -> AsyncIterator[tuple[Redis, Pong, Pong]]:
    at_a, at_b = Pong(), Pong()
    answers: set[asyncio.Task[int]] = set()
    async with bare_side(url, "bare:a", at_a.got) as client_a:
        b_client: list[Redis] = []

        async def answer(payload: bytes) -> int:
            return int(await b_client[0].publish("bare:a", payload))

        def b_receives(payload: bytes) -> None:
            at_b.got(payload)
            if payload.startswith(b"ping"):
                task = asyncio.create_task(answer(payload))
                answers.add(task)
                task.add_done_callback(answers.discard)

        async with bare_side(url, "bare:b", b_receives) as client_b:
            b_client.append(client_b)
            yield client_a, at_a, at_b


async def bare_round_trip(client: Redis, at_a: Pong, n: int) -> float:
    payload = f"ping {n}".encode()
    back = at_a.expect(payload)
    started = time.perf_counter()
    await client.publish("bare:b", payload)
    async with asyncio.timeout(WAIT_S):
        return (await back - started) * 1000


async def bare_burst(client: Redis, at_b: Pong, n: int) -> float:
    done = at_b.expect_count(BURST)
    started = time.perf_counter()
    async with client.pipeline(transaction=False) as pipe:
        for index in range(BURST):
            pipe.publish("bare:b", f"burst {n} {index}".encode())
        await pipe.execute()
    async with asyncio.timeout(WAIT_S):
        return (await done - started) * 1000


# --- the run --------------------------------------------------------------------------------------


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1] if len(samples) >= 2 else samples[0]


def line(what: str, samples: list[float], floor: list[float] | None = None) -> str:
    text = f"  {what:<34} median {statistics.median(samples):7.2f} ms  p90 {p90(samples):7.2f} ms"
    if floor is not None:
        text += f"   x{statistics.median(samples) / statistics.median(floor):.2f} floor"
    return text


async def main_async(url: str, rounds: int, bursts: int) -> None:
    trips: list[float] = []
    bare_trips: list[float] = []
    burst_ms: list[float] = []
    bare_burst_ms: list[float] = []
    async with asyncio.timeout(DEADLINE_S), two_replicas(url) as (a, at_a, at_b):
        b_id = next(iter(await a.replicas() - {a.replica_id}))
        async with bare_pair(url) as (client, bare_a, bare_b):
            for n in range(10):  # warm-up: connections made, scripts cached
                await cluster_round_trip(a, at_a, b_id, -n - 1)
                await bare_round_trip(client, bare_a, -n - 1)
            for n in range(rounds):
                if n % 2 == 0:
                    trips.append(await cluster_round_trip(a, at_a, b_id, n))
                    bare_trips.append(await bare_round_trip(client, bare_a, n))
                else:
                    bare_trips.append(await bare_round_trip(client, bare_a, n))
                    trips.append(await cluster_round_trip(a, at_a, b_id, n))
            for n in range(bursts):
                burst_ms.append(await cluster_burst(a, at_b, b_id, n))
                bare_burst_ms.append(await bare_burst(client, bare_b, n))
    print(f"signals over Redis on loopback: {rounds} round trips, {bursts} bursts of {BURST}")
    print(line("floor  bare redis-py A -> B -> A", bare_trips))
    print(line("cluster  replica A -> B -> A", trips, bare_trips))
    print(line(f"floor  bare pipeline of {BURST}", bare_burst_ms))
    print(line(f"cluster  {BURST} sends, last received", burst_ms, bare_burst_ms))
    per_s = BURST / (statistics.median(burst_ms) / 1000)
    print(f"  cluster signals per second (burst median): {per_s:,.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    args = parser.parse_args(argv)
    rounds, bursts = (40, 3) if args.quick else (400, 15)
    with (
        tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder,
        redis_server(Path(folder)) as server,
    ):
        asyncio.run(main_async(server.url, rounds, bursts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
