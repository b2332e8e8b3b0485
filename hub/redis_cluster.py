"""The `Cluster` of a fleet's replicas over Redis (Debian's redis-server 7, redis-py's asyncio
client): signals by pub/sub, presence kept by heartbeats, shared counters and values.

Keys and channels, all under the configured prefix ``P`` (two hubs may share one Redis)::

    P:signal:<replica>        channel: signals to that replica
    P:signal:*                channel (the name, not a pattern): signals to every replica
    P:replicas                sorted set: replica -> the Redis time (ms) its word expires at
    P:held:<kind>:<who>       sorted set: replica -> expiry, the replicas holding a socket of who
    P:hit:<window_ms>:<n>:<key>  counter of the n-th window of `hit`
    P:value:<key>             `put`/`claim` values, with their own expiry

Presence is written in Redis's own time (``TIME`` inside a script), so that the replicas'
clocks do not matter: `holders` is one script reading one sorted set, the members whose expiry
is still ahead. A replica re-writes its liveness and everything it holds every third of
`PRESENCE_TTL_S`; one killed stops doing so, and its entries fall behind Redis's clock.

One task per replica (the link) owns the subscription, the ordered outbox and the heartbeat.
When Redis cannot be reached it logs ``hub.cluster_down`` once, drops signals (logged once),
lets `holders`, `hit`... raise `ClusterDown`, and reconnects with a bounded backoff; once back
(``hub.cluster_up``) it re-subscribes, re-writes its presence and calls ``resync``. Every call
to Redis has a deadline: nothing waits on a dead link.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from hub.cluster import PRESENCE_TTL_S, Cluster, ClusterDown, HeldKind, LocalCluster, new_replica_id
from hub.config import HubConfig
from hub.errors import ConfigError
from keysource import read_secret

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S: Final = 2.0
"""The longest any call to Redis may take (connecting included): then it is `ClusterDown`.
Each call is wrapped in an `asyncio.timeout` of this (not redis-py's ``socket_timeout``)."""
BACKOFF_FIRST_S: Final = 0.1
BACKOFF_MAX_S: Final = 2.0
"""The link retries after 0.1 s, then twice as long each time, never more than 2 s apart."""
OUTBOX_SIZE: Final = 10_000
"""Signals waiting to be written; beyond, the oldest is dropped (and logged)."""
WRITE_BATCH: Final = 256
"""Signals written in one pipeline (one round trip)."""
BEAT_KEYS: Final = 200
"""Presence sets one heartbeat script writes (a replica holding more uses several)."""
READ_POLL_S: Final = 1.0
CANCEL_AGAIN_AFTER_S: Final = 0.5
POOL_SIZE: Final = 32
"""Connections to Redis for commands (the subscription has its own); a caller beyond waits for
one, within `COMMAND_TIMEOUT_S`."""
REPLICA_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SEPARATOR: Final = b"\n"
"""A signal on the wire: the sender's replica id, this byte, the payload."""
LINK_ERRORS: Final = (RedisError, OSError, TimeoutError)

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
BEAT_SCRIPT: Final = (
    _NOW_MS
    + """
-- KEYS: sorted sets to write this replica into; ARGV[1]: the replica, ARGV[2]: the TTL (ms)
local ttl = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
return #KEYS
"""
)
"""Write (or refresh) the replica's entry in each sorted set, expiring `ttl` after Redis's now;
prune the expired entries; the set itself outlives its last entry by no more than `ttl`."""
LIVE_SCRIPT: Final = (
    _NOW_MS
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now), '+inf')
"""
)
"""The members of a presence set whose expiry is still ahead of Redis's clock."""


class RedisCluster:
    """One replica's view of the cluster. `start` before use, `stop` at the end."""

    def __init__(
        self,
        redis_url: str,
        *,
        password: str | None = None,
        key_prefix: str = "cabin-hub",
        replica_id: str | None = None,
        presence_ttl_s: float = PRESENCE_TTL_S,
        outbox_size: int = OUTBOX_SIZE,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self._replica_id = replica_id or new_replica_id()
        if not REPLICA_ID.match(self._replica_id):
            raise ValueError(f"replica id {self._replica_id!r}: letters, digits, . _ - only")
        self._where = printable_url(redis_url)
        self._prefix = key_prefix
        self._ttl_ms = _ms(presence_ttl_s)
        self._beat_s = presence_ttl_s / 3
        self._timeout_s = timeout_s
        self._pool = BlockingConnectionPool.from_url(
            redis_url,
            password=password,
            max_connections=POOL_SIZE,
            timeout=timeout_s,
            socket_timeout=None,  # with one, redis-py sends through asyncio.wait_for: see _cancel
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # the link reconnects, and says so
        )
        self._redis = Redis(connection_pool=self._pool)
        self._broadcast_channel = self._channel("*")
        self._replicas_key = f"{key_prefix}:replicas"
        self._held: dict[tuple[HeldKind, str], None] = {}
        self._changes: dict[tuple[HeldKind, str], bool] = {}
        """Holds (True) and releases (False) not yet written to Redis, the latest of each."""
        self._outbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self._outbox_size = outbox_size
        self._wake = asyncio.Event()
        self._up = False
        self._started = False
        self._down_reason = "not started"
        self._dropping = False
        self._down_since = time.monotonic()
        self._link: asyncio.Task[None] | None = None
        self._receive: Callable[[bytes], None] = _nowhere
        self._resync: Callable[[], None] = _nothing

    def __repr__(self) -> str:
        return f"RedisCluster({self._where}, replica={self._replica_id})"

    @property
    def replica_id(self) -> str:
        return self._replica_id

    @property
    def up(self) -> bool:
        """The link works now: subscribed, presence written."""
        return self._up

    # --- the link ----------------------------------------------------------------------------

    async def start(self, receive: Callable[[bytes], None], resync: Callable[[], None]) -> None:
        """Start the link and wait for its first attempt. Redis down: the hub starts anyway
        (`check` says so, and the link keeps trying); Redis refusing this hub (a wrong
        password): `ClusterDown`, which the hub should not start with."""
        if self._link is not None:
            raise RuntimeError("the cluster is already started")
        self._receive, self._resync = receive, resync
        first: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        link = asyncio.create_task(self._run_link(first), name=f"cluster-{self._replica_id}")
        self._link = link
        waiting: set[asyncio.Future[Any]] = {first, link}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not first.done():  # stopped meanwhile
            raise ClusterDown(f"the cluster of replica {self._replica_id} was stopped")
        error = first.result()
        if isinstance(error, AuthenticationError | ResponseError):
            await self.stop()
            raise ClusterDown(f"Redis at {self._where} refused this hub: {describe(error)}")

    async def stop(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await _cancel(link)
        was_up, self._up = self._up, False
        self._down_reason = "the cluster is stopped"
        self._outbox.clear()
        if was_up:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._forget_presence()
            except LINK_ERRORS as exc:
                log.warning(
                    "hub.cluster_presence_left replica=%s error=%s (it expires by itself)",
                    self._replica_id,
                    describe(exc),
                )
        self._held.clear()
        self._changes.clear()
        log.info("hub.cluster_stopped replica=%s", self._replica_id)
        with contextlib.suppress(*LINK_ERRORS):
            async with asyncio.timeout(self._timeout_s):
                await self._redis.aclose(close_connection_pool=True)

    async def _forget_presence(self) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._replicas_key, self._replica_id)
            for kind, who in self._held:
                pipe.zrem(self._held_key(kind, who), self._replica_id)
            await pipe.execute()

    async def _run_link(self, first: asyncio.Future[BaseException | None]) -> None:
        delay_s = BACKOFF_FIRST_S
        while True:
            pubsub = self._redis.pubsub()
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._pool.disconnect()  # connections of before are dead: new ones
                    await self._subscribe(pubsub)
                    await self._beat()
                _not_cancelled()
                self._link_up()
                delay_s = BACKOFF_FIRST_S
                if not first.done():
                    first.set_result(None)
                self._call(self._resync)
                await self._serve(pubsub)
            except LINK_ERRORS as exc:
                self._link_down(exc)
                if not first.done():
                    first.set_result(exc)
            except Exception as exc:  # a bug here must not end the link for good
                log.exception("hub.cluster_link_failed replica=%s", self._replica_id)
                self._link_down(exc)
                if not first.done():
                    first.set_result(exc)
            finally:
                await _close_abruptly(pubsub)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, BACKOFF_MAX_S)

    async def _subscribe(self, pubsub: PubSub) -> None:
        """Subscribe, and wait until Redis confirms both channels: signals sent from then on
        reach this replica (those before were lost: `resync` comes next)."""
        await pubsub.subscribe(self._channel(self._replica_id), self._broadcast_channel)
        confirmed = 0
        while confirmed < 2:
            message = await pubsub.get_message(timeout=self._timeout_s)
            if message is None:
                raise TimeoutError("Redis did not confirm the subscription")
            if message["type"] == "subscribe":
                confirmed += 1
            elif message["type"] == "message":
                self._deliver(message["data"])

    async def _serve(self, pubsub: PubSub) -> None:
        """Read, and write (and beat), until one of them fails (its error is raised here)."""
        tasks = [
            asyncio.create_task(self._read(pubsub)),
            asyncio.create_task(self._write()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise ConnectionError("the link to Redis ended")
        finally:
            await _cancel(*tasks)

    def _link_up(self) -> None:
        if not self._up and self._started:
            log.info(
                "hub.cluster_up redis=%s replica=%s down_s=%.1f",
                self._where,
                self._replica_id,
                time.monotonic() - self._down_since,
            )
        elif not self._up:
            log.info("hub.cluster_started redis=%s replica=%s", self._where, self._replica_id)
        self._up = self._started = True
        self._dropping = False
        self._wake.set()  # presence changes made while down

    def _link_down(self, error: BaseException) -> None:
        dropped = len(self._outbox)
        self._outbox.clear()
        if self._up or not self._started:
            self._down_since = time.monotonic()
            log.error(
                "hub.cluster_down redis=%s replica=%s error=%s signals_dropped=%d",
                self._where,
                self._replica_id,
                describe(error),
                dropped,
            )
        self._up = False
        self._started = True
        self._down_reason = describe(error)

    def _call(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("hub.cluster_callback_failed replica=%s", self._replica_id)

    # --- signals -----------------------------------------------------------------------------

    def send(self, payload: bytes, *, to: str | None = None) -> None:
        if not self._up:
            self._note_dropped("down")
            return
        if len(self._outbox) >= self._outbox_size:
            self._outbox.popleft()
            self._note_dropped("full")
        channel = self._broadcast_channel if to is None else self._channel(to)
        self._outbox.append((channel, self._replica_id.encode() + SEPARATOR + payload))
        self._wake.set()

    def _note_dropped(self, reason: str) -> None:
        """Log the first signal dropped of a burst (the outbox full, or the link down)."""
        if not self._dropping:
            self._dropping = True
            log.warning("hub.cluster_signal_dropped replica=%s reason=%s", self._replica_id, reason)

    async def _write(self) -> None:
        """Everything this replica writes on the link, in one task so that it lands in order:
        the heartbeat when it is due, then presence changes and signals, a batch per round
        trip (a release is never overtaken by a heartbeat that still held it)."""
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self._beat_s
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_beat):
                    await self._wake.wait()
            self._wake.clear()
            while True:
                if loop.time() >= next_beat:
                    async with asyncio.timeout(self._timeout_s):
                        await self._beat()
                    _not_cancelled()
                    next_beat = loop.time() + self._beat_s
                if not (self._outbox or self._changes):
                    break
                await self._write_batch()
            self._dropping = False

    async def _write_batch(self) -> None:
        count = min(WRITE_BATCH, len(self._outbox))
        batch = [self._outbox.popleft() for _ in range(count)]
        changes, self._changes = self._changes, {}
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._redis.pipeline(transaction=False) as pipe:
                    self._queue_changes(pipe, changes)
                    for channel, frame in batch:
                        pipe.publish(channel, frame)
                    await pipe.execute()
            _not_cancelled()
        except BaseException:
            for held, value in changes.items():  # the signals are lost; not these
                self._changes.setdefault(held, value)
            raise

    def _queue_changes(self, pipe: Any, changes: dict[tuple[HeldKind, str], bool]) -> None:
        holds = [self._held_key(kind, who) for (kind, who), held in changes.items() if held]
        for start in range(0, len(holds), BEAT_KEYS):
            chunk = holds[start : start + BEAT_KEYS]
            pipe.eval(BEAT_SCRIPT, len(chunk), *chunk, self._replica_id, self._ttl_ms)
        for (kind, who), held in changes.items():
            if not held:
                pipe.zrem(self._held_key(kind, who), self._replica_id)

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=READ_POLL_S)
            _not_cancelled()
            if message is not None and message["type"] == "message":
                self._deliver(message["data"])

    def _deliver(self, frame: bytes) -> None:
        sender, separator, payload = frame.partition(SEPARATOR)
        if not separator:
            log.warning("hub.cluster_signal_malformed replica=%s", self._replica_id)
            return
        if sender == self._replica_id.encode():
            return
        try:
            self._receive(payload)
        except Exception:
            log.exception("hub.cluster_receive_failed replica=%s", self._replica_id)

    def _channel(self, replica: str) -> str:
        return f"{self._prefix}:signal:{replica}"

    # --- presence ----------------------------------------------------------------------------

    def hold(self, kind: HeldKind, who: str) -> None:
        self._held[(kind, who)] = None
        self._changes[(kind, who)] = True
        self._wake.set()

    def release(self, kind: HeldKind, who: str) -> None:
        if (kind, who) not in self._held:
            return
        del self._held[(kind, who)]
        self._changes[(kind, who)] = False
        self._wake.set()

    async def holders(self, kind: HeldKind, who: str) -> frozenset[str]:
        async with self._deadline():
            members = await self._redis.eval(LIVE_SCRIPT, 1, self._held_key(kind, who))
        holders = {_text(member) for member in members}
        # this replica's own word, written or not yet (read your own writes)
        if (kind, who) in self._held:
            holders.add(self._replica_id)
        else:
            holders.discard(self._replica_id)
        return frozenset(holders)

    async def replicas(self) -> frozenset[str]:
        async with self._deadline():
            members = await self._redis.eval(LIVE_SCRIPT, 1, self._replicas_key)
        return frozenset(_text(member) for member in members)

    async def _beat(self) -> None:
        """Write this replica's liveness and everything it holds, for one more TTL: one round
        trip, a script per `BEAT_KEYS` keys (Redis runs one script at a time: keep each short)."""
        keys = [self._replicas_key, *(self._held_key(kind, who) for kind, who in self._held)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(keys), BEAT_KEYS):
                chunk = keys[start : start + BEAT_KEYS]
                pipe.eval(BEAT_SCRIPT, len(chunk), *chunk, self._replica_id, self._ttl_ms)
            await pipe.execute()

    def _held_key(self, kind: HeldKind, who: str) -> str:
        return f"{self._prefix}:held:{kind.value}:{who}"

    # --- shared counters and values ------------------------------------------------------------

    async def hit(self, key: str, *, window_s: float, cost: int = 1) -> int:
        window_ms = _ms(window_s)
        window = time.time_ns() // 1_000_000 // window_ms
        counter = f"{self._prefix}:hit:{window_ms}:{window}:{key}"
        async with self._deadline(), self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(counter, cost)
            pipe.pexpire(counter, window_ms + 1000, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def put(self, key: str, value: bytes, *, ttl_s: float) -> None:
        async with self._deadline():
            await self._redis.set(self._value_key(key), value, px=_ms(ttl_s))

    async def get(self, key: str) -> bytes | None:
        async with self._deadline():
            value = await self._redis.get(self._value_key(key))
        return None if value is None else _bytes(value)

    async def delete(self, key: str) -> None:
        async with self._deadline():
            await self._redis.delete(self._value_key(key))

    async def claim(self, key: str, *, ttl_s: float) -> bool:
        async with self._deadline():
            won = await self._redis.set(self._value_key(key), b"1", nx=True, px=_ms(ttl_s))
        return bool(won)

    async def check(self) -> None:
        async with self._deadline():
            await self._redis.ping()

    def _value_key(self, key: str) -> str:
        return f"{self._prefix}:value:{key}"

    @contextlib.asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        """One call to Redis, within the deadline: `ClusterDown` at once when the link is
        down, or when the call fails for want of Redis."""
        if not self._up:
            raise ClusterDown(f"Redis at {self._where} is unreachable: {self._down_reason}")
        try:
            async with asyncio.timeout(self._timeout_s):
                yield
        except LINK_ERRORS as exc:
            raise ClusterDown(f"Redis at {self._where} failed: {describe(exc)}") from exc


def cluster_from_config(config: HubConfig, env: MutableMapping[str, str] | None = None) -> Cluster:
    """The cluster the configuration's ``[cluster]`` table asks for (not started). The Redis
    password, if any, comes from the environment (the variable is then removed), a systemd
    credential or a private file, like the database key: none of them, no AUTH."""
    section = config.cluster
    if section.backend == "local":
        return LocalCluster()
    return RedisCluster(
        section.redis_url,
        password=redis_password(config, os.environ if env is None else env),
        key_prefix=section.key_prefix,
    )


def redis_password(config: HubConfig, env: MutableMapping[str, str]) -> str | None:
    """The Redis password from its sources, or None when none of them is there."""
    section = config.cluster
    file = config.resolve(section.redis_password_file)
    credentials = env.get("CREDENTIALS_DIRECTORY")
    in_credential = (
        bool(credentials) and (Path(credentials or "") / section.redis_password_credential).exists()
    )
    if section.redis_password_env not in env and not in_credential and not file.exists():
        log.info("hub.cluster_password source=none")
        return None
    text, source = read_secret(
        env=env,
        env_name=section.redis_password_env,
        credential=section.redis_password_credential,
        file=file,
        what="Redis password",
        error=ConfigError,
    )
    password = text.strip()
    if not password:
        raise ConfigError(f"{source}: the Redis password is empty")
    return password


def _nowhere(payload: bytes) -> None:
    return


def _nothing() -> None:
    return


def _ms(seconds: float) -> int:
    if seconds <= 0:
        raise ValueError(f"a duration must be positive (given {seconds} s)")
    return max(1, round(seconds * 1000))


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def describe(error: BaseException) -> str:
    """The error on one line, for a log line: its type and message (never a password:
    redis-py's messages name the address, not the credentials)."""
    text = " ".join(str(error).split()) or "no detail"
    return f"{type(error).__name__}({text[:200]})"


def printable_url(url: str) -> str:
    """The address of Redis without credentials, for logs and errors."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}{parts.path}"


async def _cancel(*tasks: asyncio.Task[Any]) -> None:
    """Cancel the tasks and wait for them to end; a cancellation of the caller still raises,
    and a task's own error (it failed first) is left to whoever read it.

    redis-py 8.2 sends each command through ``asyncio.wait_for`` when the connection has a
    ``socket_timeout``, and on Python 3.11 that loses a cancellation arriving as the send
    completes (gh-86296, see `devices.cancellation`): the link's writer, cancelled by `stop`,
    went on waiting for work (in 40 % of cancellations in a loop). So there is no
    ``socket_timeout`` here (every call has an `asyncio.timeout` of ours instead), the link's
    tasks check for a swallowed cancellation (`_not_cancelled`), and a task still running is
    cancelled again."""
    for attempt in itertools.count():
        running = [task for task in tasks if not task.done()]
        if not running:
            break
        for task in running:
            task.cancel()
        await asyncio.wait(running, timeout=CANCEL_AGAIN_AFTER_S)
        if attempt == 0 and not all(task.done() for task in running):
            names = ",".join(task.get_name() for task in running if not task.done())
            log.warning("hub.cluster_cancel_lost tasks=%s (cancelled again)", names)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # read: no "never retrieved" warning


def _not_cancelled() -> None:
    """Raise the cancellation of this task that a library swallowed (see `_cancel`)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _close_abruptly(pubsub: PubSub) -> None:
    with contextlib.suppress(*LINK_ERRORS):
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            await pubsub.aclose()
