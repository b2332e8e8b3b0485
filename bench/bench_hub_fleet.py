"""Benchmark of the hub as a fleet: two replicas behind HAProxy, on PostgreSQL and Redis.

Run ``python -m bench.bench_hub_fleet`` (``--quick`` for a smoke run; ``--only``, ``--scales``
and ``--seconds`` to run a part). Everything is real and on loopback: `fleet.rig` starts
PostgreSQL, Redis, two ``python -m hub serve`` replicas and HAProxy with TLS (the deploy's own
configuration; the proxy's address is every replica's ``public_origin``). The bench's 1,001
cabins and 50 doctors are put in the database through the storage API (the command line starts
a process per account).

- **Readings at fleet scale.** N cabins (100, 500 then 1,000) are real WebSocket clients in a
  load generator process of their own: TLS through the proxy, ``CabinHello``, aiohttp's ping
  every 10 s as the cabin's link does (`kiosk.hub_link.HEARTBEAT_S`). 50 doctors' consoles are
  in two more processes. Each doctor is in a call with one cabin, whose patient sends one
  reading a second: the doctor's console gets the `ReadingMessage` directly (the targets'
  path). 10 more cabins' patients wait in the room, one reading a second each too: those
  readings reach the consoles in the waiting room's broadcast (at most 4 a second per
  replica), measured apart. The other cabins are idle. Beside it, in the same seconds, the
  floor: a bare aiohttp relay (one socket to another, nothing else) in a process of its own
  behind a second HAProxy run from the same configuration, carrying the same message bytes at
  the same pace between the same processes. Times are ``CLOCK_MONOTONIC``, shared by all
  processes; each process's CPU and Redis's commands are counted during the readings.
  **Targets (direct path): p95 <= 50 ms and <= 3x the floor; no message lost.**
- **Memory per idle cabin**: the replicas' RSS with K idle cabins connected minus with none,
  over K. **Target: <= 64 KiB.**
- **Failover**: the real `kiosk.hub_link.HubLink` (its own backoff) through the proxy; the
  replica that holds its socket (asked of Redis) is killed with SIGKILL; the time until the
  link is online again. Median of 10. **Target: <= 5 s.**
- **Record intake**: consultation records built as the cabin builds them
  (`wire.fhir_record.build_bundle`), sent through the hub's cabin websocket by 4 cabins at once,
  each waiting for its `RecordAck`, to one hub in this process (`tests/hub/hub_rig.py`) on the
  SQLCipher file, then on PostgreSQL: records per second.

Bounded in count (the rounds) and in time (each wait has its deadline). Nothing passes or fails
here: read the numbers against the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import queue
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis import Redis

import wire
from fleet.proxy import Backend, Proxy, haproxy
from fleet.rig import Fleet, fleet
from fleet.servers import free_port, postgres
from hub.accounts import create_doctor, provision_cabin
from hub.postgres_storage import PostgresStorage
from hub.sealing import DataKeyring, new_ring_text
from hub.storage_credentials import write_private
from kiosk.hub_link import HubLink, HubLinkState
from tests.hub.hub_rig import patient, record_upload, running_hub, vital

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 120.0
"""How long a step of the orchestration may take (a connect of 1,000 TLS sockets included)."""
SETTLE_S = 3.0
"""After the last reading sent, how long the consoles keep listening."""
BP_BASE = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HEARTBEAT_S = 10.0
"""As `kiosk.hub_link.HEARTBEAT_S` (the cabin's link pings this often)."""
CONNECTS_AT_ONCE = 32
CONSOLE_PROCESSES = 2
"""The consoles' load generator is split in two: a waiting room goes to every console."""
ROOM_READERS = 2
"""Consoles of each console process that decode the waiting rooms they get."""
TICKS = os.sysconf("SC_CLK_TCK")


def _vital(sequence: int) -> wire.Vital:
    """A blood pressure whose `measured_at` names the reading (microseconds since BP_BASE)."""
    return wire.Vital(
        kind=wire.VitalKind.BLOOD_PRESSURE,
        measured_at=BP_BASE + timedelta(microseconds=sequence),
        device_id="bp-1",
        systolic_mmhg=120 + sequence % 30,
        diastolic_mmhg=80,
    )


def _vital_key(consultation_id: str, measured_at: datetime) -> str:
    micros = (measured_at - BP_BASE) // timedelta(microseconds=1)
    return f"{consultation_id}|{micros}"


def _patient(index: int) -> wire.PatientSummary:
    return wire.PatientSummary(
        family_name=f"Banc{index}",
        given_names="Essai",
        birth_date=datetime(1950, 1, 1, tzinfo=UTC).date(),
        sex=wire.Sex.FEMALE,
    )


def _write_json(path: str, value: object) -> None:
    Path(path).write_text(json.dumps(value), encoding="utf-8")


def _say(event: str, **values: Any) -> None:
    """A line to the orchestrating process."""
    print(json.dumps({"event": event, **values}), flush=True)


async def _next_command(reader: asyncio.StreamReader) -> str:
    return (await reader.readline()).decode().strip()


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _client_session(certificate: str, *, cookies: bool = False) -> aiohttp.ClientSession:
    context = ssl.create_default_context(cafile=certificate)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context, limit=0),
        cookie_jar=aiohttp.CookieJar(unsafe=True) if cookies else None,
        timeout=aiohttp.ClientTimeout(total=WAIT_S),
    )


# --- the cabins' load generator (a process of its own) ---------------------------------------


@dataclass
class SimCabin:
    cabin_id: str
    ws: aiohttp.ClientWebSocketResponse
    waiting: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    acks: int = 0
    closed: bool = False

    async def read(self) -> None:
        async for raw in self.ws:
            if raw.type is not aiohttp.WSMsgType.TEXT:
                continue
            message = wire.decode(raw.data, allowed=wire.HubToCabin)
            if isinstance(message, wire.Ack):
                self.acks += 1
                future = self.waiting.pop(message.ack_of, None)
                if future is not None and not future.done():
                    future.set_result(None)
            elif isinstance(message, wire.Welcome | wire.ErrorMessage):
                key = "welcome" if isinstance(message, wire.Welcome) else "error"
                future = self.waiting.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(None)
        self.closed = True

    async def send_and_wait(self, message: wire.Message, key: str | None = None) -> None:
        future = asyncio.get_running_loop().create_future()
        self.waiting[key or message.msg_id] = future
        await self.ws.send_str(wire.encode(message).decode())
        async with asyncio.timeout(WAIT_S):
            await future


async def _cabins_worker(plan: dict[str, Any]) -> None:
    commands = await _stdin_reader()
    session = _client_session(plan["certificate"])
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    cabins: dict[str, SimCabin] = {}
    readers: list[asyncio.Task[None]] = []

    async def connect(cabin_id: str, token: str) -> None:
        async with gate:
            ws = await session.ws_connect(
                f"{plan['ws_url']}/ws/cabin", heartbeat=HEARTBEAT_S, max_msg_size=4 << 20
            )
            cabin = SimCabin(cabin_id, ws)
            readers.append(asyncio.create_task(cabin.read()))
            hello = wire.CabinHello(
                msg_id=f"hello.{cabin_id}", cabin_id=cabin_id, token=token, software_version="0.1.0"
            )
            await cabin.send_and_wait(hello, "welcome")
            cabins[cabin_id] = cabin

    started = time.monotonic()
    await asyncio.gather(*(connect(cabin_id, token) for cabin_id, token in plan["cabins"]))
    connected_s = time.monotonic() - started
    consulting = {**plan["in_call"], **plan["waiting"]}  # cabin -> consultation
    for index, (cabin_id, consultation_id) in enumerate(consulting.items()):
        join = wire.QueueJoin(
            msg_id=f"join.{consultation_id}",
            consultation_id=consultation_id,
            language=wire.Language.FR,
            patient=_patient(index),
            reason="banc d'essai",
            age_years=70,
        )
        await cabins[cabin_id].send_and_wait(join)
    _say("joined", connect_s=connected_s)
    relays: list[aiohttp.ClientWebSocketResponse] = []
    relay_session = _client_session(plan["relay_certificate"])
    if await _next_command(commands) == "go":
        for pair in range(plan["floor_pairs"]):
            relays.append(await relay_session.ws_connect(f"{plan['relay_ws_url']}/send/{pair}"))
        sent: dict[str, float] = {}
        sent_vitals: dict[str, float] = {}
        acks_before = sum(c.acks for c in cabins.values())

        async def paced(index: int, cabin_id: str, consultation_id: str) -> None:
            await asyncio.sleep(random.random())  # spread over the second
            cabin = cabins[cabin_id]
            start = time.monotonic()
            for second in range(plan["seconds"]):
                sequence = index * 100_000 + second
                reading = wire.ReadingMessage(
                    msg_id=f"r.{consultation_id}.{second}",
                    consultation_id=consultation_id,
                    reading=_vital(sequence),
                )
                now = time.monotonic()
                if consultation_id in plan["waiting"].values():
                    sent_vitals[_vital_key(consultation_id, reading.reading.measured_at)] = now
                else:
                    sent[reading.msg_id] = now
                await cabin.ws.send_str(wire.encode(reading).decode())
                await asyncio.sleep(max(0.0, start + second + 1 - time.monotonic()))

        async def floor(pair: int) -> None:
            await asyncio.sleep(random.random())
            start = time.monotonic()
            for second in range(plan["seconds"]):
                reading = wire.ReadingMessage(
                    msg_id=f"f.{pair}.{second}", consultation_id=f"floor-{pair}", reading=_vital(0)
                )
                sent[reading.msg_id] = time.monotonic()
                await relays[pair].send_str(wire.encode(reading).decode())
                await asyncio.sleep(max(0.0, start + second + 1 - time.monotonic()))

        await asyncio.gather(
            *(
                paced(index, cabin_id, consultation_id)
                for index, (cabin_id, consultation_id) in enumerate(consulting.items())
            ),
            *(floor(pair) for pair in range(plan["floor_pairs"])),
        )
        await asyncio.sleep(SETTLE_S)
        acks = sum(c.acks for c in cabins.values()) - acks_before
        result = {"sent": sent, "sent_vitals": sent_vitals, "acks": acks}
        await asyncio.to_thread(_write_json, plan["out"], result)
        _say("sent")
        await _next_command(commands)
    # the calls and the waits end, as a cabin ends them
    for cabin_id, consultation_id in plan["in_call"].items():
        end = wire.CallEnd(
            msg_id=f"end.{consultation_id}",
            consultation_id=consultation_id,
            reason=wire.CallEndReason.COMPLETED,
        )
        with contextlib.suppress(ConnectionError):
            await cabins[cabin_id].ws.send_str(wire.encode(end).decode())
    for cabin_id, consultation_id in plan["waiting"].items():
        leave = wire.QueueLeave(
            msg_id=f"leave.{consultation_id}",
            consultation_id=consultation_id,
            reason=wire.LeaveReason.CANCELLED,
        )
        with contextlib.suppress(ConnectionError, TimeoutError):
            await cabins[cabin_id].send_and_wait(leave)
    await asyncio.sleep(1.0)
    closed_early = sum(c.closed for c in cabins.values())
    for ws in [*(c.ws for c in cabins.values()), *relays]:
        await ws.close()
    await session.close()
    await relay_session.close()
    for task in readers:
        task.cancel()
    _say("closed", closed_early=closed_early)


# --- the consoles' load generator (a process of its own) -------------------------------------


@dataclass
class Watch:
    """What the consoles received, on `CLOCK_MONOTONIC`."""

    direct: dict[str, float] = field(default_factory=dict)
    vitals_first: dict[str, float] = field(default_factory=dict)
    rooms: int = 0
    room_bytes: int = 0
    calls: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    closed: int = 0


async def _console_reader(
    ws: aiohttp.ClientWebSocketResponse, watch: Watch, *, reads_rooms: bool
) -> None:
    """`reads_rooms`: decode each waiting room (a few consoles do; the others count them:
    decoding every console's rooms would make this process the bottleneck)."""
    async for raw in ws:
        now = time.monotonic()
        if raw.type is not aiohttp.WSMsgType.TEXT:
            continue
        data: str = raw.data
        if data.startswith('{"type":"reading"'):
            reading = wire.decode(data, allowed=wire.HubToConsole)
            assert isinstance(reading, wire.ReadingMessage)
            watch.direct.setdefault(reading.msg_id, now)
        elif data.startswith('{"type":"waiting_room"'):
            watch.rooms += 1
            watch.room_bytes += len(data)
            if not reads_rooms:
                continue
            room = wire.decode(data, allowed=wire.HubToConsole)
            assert isinstance(room, wire.WaitingRoom)
            for entry in room.entries:
                for vital in entry.vitals:
                    key = _vital_key(entry.consultation_id, vital.measured_at)
                    watch.vitals_first.setdefault(key, now)
        elif data.startswith('{"type":"call_accepted"'):
            accepted = wire.decode(data, allowed=wire.HubToConsole)
            assert isinstance(accepted, wire.CallAccepted)
            future = watch.calls.pop(accepted.consultation_id, None)
            if future is not None and not future.done():
                future.set_result(None)
    watch.closed += 1


async def _relay_reader(ws: aiohttp.ClientWebSocketResponse, watch: Watch) -> None:
    async for raw in ws:
        now = time.monotonic()
        if raw.type is aiohttp.WSMsgType.TEXT:
            reading = wire.decode(raw.data, allowed=wire.HubToConsole)
            assert isinstance(reading, wire.ReadingMessage)
            watch.direct.setdefault(reading.msg_id, now)


async def _consoles_worker(plan: dict[str, Any]) -> None:
    commands = await _stdin_reader()
    watch = Watch()
    sessions: list[aiohttp.ClientSession] = []
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    readers: list[asyncio.Task[None]] = []
    origin = plan["https_url"]

    async def open_console(username: str, password: str) -> aiohttp.ClientWebSocketResponse:
        session = _client_session(plan["certificate"], cookies=True)
        sessions.append(session)
        async with session.post(
            f"{origin}/api/login",
            json={"username": username, "password": password},
            headers={"Origin": origin},
        ) as response:
            if response.status != 200:
                raise RuntimeError(
                    f"login of {username}: {response.status} {await response.text()}"
                )
            me = await response.json()
        ws = await session.ws_connect(
            f"{plan['ws_url']}/ws/console?csrf={me['csrf_token']}",
            headers={"Origin": origin},
            max_msg_size=16 << 20,
        )
        sockets.append(ws)
        reads_rooms = len(readers) < ROOM_READERS
        readers.append(asyncio.create_task(_console_reader(ws, watch, reads_rooms=reads_rooms)))
        return ws

    consoles = []
    for username, password, _consultation_id in plan["takes"]:
        consoles.append(await open_console(username, password))
    relay_session = _client_session(plan["relay_certificate"])
    for pair in plan["floor_pairs_here"]:
        ws = await relay_session.ws_connect(f"{plan['relay_ws_url']}/recv/{pair}")
        sockets.append(ws)
        readers.append(asyncio.create_task(_relay_reader(ws, watch)))
    for console, (_username, _password, consultation_id) in zip(
        consoles, plan["takes"], strict=True
    ):
        accepted = asyncio.get_running_loop().create_future()
        watch.calls[consultation_id] = accepted
        take = wire.TakeConsultation(
            msg_id=f"take.{consultation_id}", consultation_id=consultation_id
        )
        await console.send_str(wire.encode(take).decode())
        async with asyncio.timeout(WAIT_S):
            await accepted
    _say("taken")
    await _next_command(commands)  # "stop"
    result = {
        "direct": watch.direct,
        "vitals_first": watch.vitals_first,
        "rooms": watch.rooms,
        "room_bytes": watch.room_bytes,
        "closed": watch.closed,
    }
    await asyncio.to_thread(_write_json, plan["out"], result)
    for ws in sockets:
        await ws.close()
    for session in [*sessions, relay_session]:
        await session.close()
    for task in readers:
        task.cancel()
    _say("done")


# --- the floor: a bare relay (a process of its own) ------------------------------------------


async def _relay_worker(plan: dict[str, Any]) -> None:
    receivers: dict[str, web.WebSocketResponse] = {}

    async def ready(_request: web.Request) -> web.Response:
        return web.Response(text="ready")

    async def receive(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        receivers[request.match_info["pair"]] = ws
        async for _raw in ws:
            pass
        return ws

    async def send(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        pair = request.match_info["pair"]
        async for raw in ws:
            if raw.type is aiohttp.WSMsgType.TEXT and pair in receivers:
                await receivers[pair].send_str(raw.data)
        return ws

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_get("/healthz", ready)
    app.router.add_get("/recv/{pair}", receive)
    app.router.add_get("/send/{pair}", send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", plan["port"]).start()
    _say("serving")
    await asyncio.Event().wait()


# --- the cabin's own link, for the failover (a process of its own) ----------------------------


async def _link_worker(plan: dict[str, Any]) -> None:
    # SSL_CERT_FILE (set by the orchestrator) makes the link trust the proxy's certificate, as
    # a cabin trusts its hub's: the link is the product's, untouched.
    async def ignore(_message: wire.Message) -> None:
        return None

    def on_state(state: HubLinkState) -> None:
        _say("state", state=state.value, t=time.monotonic())

    link = HubLink(
        plan["https_url"],
        plan["cabin_id"],
        plan["token"],
        software_version="0.1.0",
        handler=ignore,
        on_state=on_state,
    )
    await link.start()
    commands = await _stdin_reader()
    await _next_command(commands)
    await link.close()


WORKERS = {
    "cabins": _cabins_worker,
    "consoles": _consoles_worker,
    "relay": _relay_worker,
    "link": _link_worker,
}


# --- the orchestrator --------------------------------------------------------------------------


class Worker:
    """A load generator process: JSON lines out, commands in."""

    def __init__(
        self, role: str, plan: dict[str, Any], folder: Path, env: dict[str, str] | None = None
    ) -> None:
        plan_path = folder / f"{role}-{time.monotonic_ns()}.json"
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        self.role = role
        self.log = folder / f"{role}.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.bench_hub_fleet", "--worker", role, str(plan_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=REPO,
                env={**os.environ, **(env or {})},
                text=True,
            )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def expect(self, event: str, within_s: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self.role}: no {event} in {within_s:.0f} s") from None
            if line is None:
                text = self.log.read_text(errors="replace")
                first = text.find("Traceback")  # the first error, before the teardown's noise
                raise RuntimeError(f"{self.role} ended before {event}:\n{text[first:][:4000]}")
            if line.get("event") == event:
                return line

    def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def redis_commands(fleet: BenchFleet) -> dict[str, int]:
    """Calls of each Redis command since the server started (``INFO commandstats``)."""
    client = Redis.from_url(fleet.fleet.redis.url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {
        name.removeprefix("cmdstat_"): int(values["calls"])
        for name, values in stats.items()
        if isinstance(values, dict)
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class BenchFleet:
    """The rig's fleet (`fleet.rig`), the bench's accounts, and the floor's relay behind its
    own HAProxy."""

    fleet: Fleet
    relay_proxy: Proxy
    relay: Worker
    cabins: list[tuple[str, str]]
    doctors: list[tuple[str, str]]

    @property
    def certificate(self) -> Path:
        return self.fleet.certificate

    @property
    def relay_certificate(self) -> Path:
        return self.relay_proxy.tls.certificate

    @property
    def https_url(self) -> str:
        return self.fleet.url

    @property
    def ws_url(self) -> str:
        return self.fleet.proxy.ws_url

    @property
    def relay_ws_url(self) -> str:
        return self.relay_proxy.ws_url

    def replica_pids(self) -> list[int]:
        return [r.process.pid for r in self.fleet.replicas if r.process is not None]

    def processes(self) -> dict[str, list[int]]:
        """Name -> process ids whose CPU is counted."""
        named = {
            f"replica {r.name}": [r.process.pid]
            for r in self.fleet.replicas
            if r.process is not None
        }
        for name, proxy in (("haproxy", self.fleet.proxy), ("haproxy (floor)", self.relay_proxy)):
            if proxy.process is not None:
                named[name] = [proxy.process.pid]
        named["relay (floor)"] = [self.relay.process.pid]
        if self.fleet.redis.process is not None:
            named["redis"] = [self.fleet.redis.process.pid]
        pid_file = self.fleet.postgres.folder / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int(pid_file.read_text().splitlines()[0])
            named["postgresql"] = [postmaster, *children_of(postmaster)]
        return named


async def _accounts(dsn: str, keys: Path, cabins: int, doctors: int) -> BenchAccounts:
    """Cabins and doctors put in the database through the storage API (the command line
    starts a process per account: a minute of CPU for a thousand cabins)."""
    text = await asyncio.to_thread(keys.read_text, encoding="utf-8")
    keyring = DataKeyring.parse(text, str(keys))
    storage = await PostgresStorage.open(dsn, keyring)
    made = BenchAccounts()
    try:
        for index in range(1, cabins + 1):
            cabin_id = f"bench-{index:04d}"
            token = await provision_cabin(storage, cabin_id=cabin_id, name=f"Banc {index}")
            made.cabins.append((cabin_id, token))
        for index in range(1, doctors + 1):
            username, password = f"dr.bench{index:02d}", f"password-of-bench-doctor-{index}"
            await create_doctor(
                storage,
                username=username,
                password=password,
                display_name=f"Dr Banc {index}",
                specialty="Médecine générale",
                registration_number="10101010101",
                argon2_cost="test",
            )
            made.doctors.append((username, password))
    finally:
        await storage.close()
    return made


@dataclass
class BenchAccounts:
    cabins: list[tuple[str, str]] = field(default_factory=list)
    doctors: list[tuple[str, str]] = field(default_factory=list)


BENCH_CONFIG = "login_attempts_per_minute = 10000\n"
"""The 50 doctors sign in from one address (the load generator's) within seconds."""


@contextlib.contextmanager
def bench_fleet(folder: Path, *, cabins: int, doctors: int) -> Iterator[BenchFleet]:
    with contextlib.ExitStack() as stack:
        running = stack.enter_context(fleet(folder, replicas=2, config_extra=BENCH_CONFIG))
        made = asyncio.run(
            _accounts(running.dsn, folder / "secrets" / "hub-data.keys", cabins, doctors)
        )
        relay = Worker("relay", {"port": (relay_port := free_port())}, folder)
        stack.callback(relay.stop)
        relay.expect("serving")
        relay_proxy = stack.enter_context(
            haproxy(folder / "relay-proxy", [Backend("relay", "127.0.0.1", relay_port)])
        )
        yield BenchFleet(running, relay_proxy, relay, made.cabins, made.doctors)


@dataclass
class ScaleResult:
    cabins: int
    direct: list[float]
    direct_lost: int
    direct_sent: int
    floor: list[float]
    floor_lost: int
    waiting: list[float]
    waiting_sent: int
    waiting_never_shown: int
    acks: int
    rooms: int
    room_kib: float
    cpu: dict[str, float]
    connect_s: float
    closed: int
    redis_commands: dict[str, int]


def readings_at(fleet: BenchFleet, cabins: int, plan: Plan, folder: Path) -> ScaleResult:
    accounts = fleet.cabins[:cabins]
    in_call = {
        cabin_id: f"c{cabins}-{index}"
        for index, (cabin_id, _token) in enumerate(accounts[: plan.in_call])
    }
    waiting = {
        cabin_id: f"w{cabins}-{index}"
        for index, (cabin_id, _token) in enumerate(
            accounts[plan.in_call : plan.in_call + plan.waiting]
        )
    }
    common = {
        "certificate": str(fleet.certificate),
        "relay_certificate": str(fleet.relay_certificate),
        "ws_url": fleet.ws_url,
        "https_url": fleet.https_url,
        "relay_ws_url": fleet.relay_ws_url,
        "in_call": in_call,
        "waiting": waiting,
        "floor_pairs": plan.in_call,
        "seconds": plan.seconds,
    }
    cabins_out = folder / f"cabins-{cabins}.json"
    consoles_out = [folder / f"consoles-{cabins}-{n}.json" for n in range(CONSOLE_PROCESSES)]
    takes = [
        (username, password, consultation_id)
        for (username, password), consultation_id in zip(
            fleet.doctors, in_call.values(), strict=False
        )
    ]
    load = Worker("cabins", {**common, "cabins": accounts, "out": str(cabins_out)}, folder)
    consoles: list[Worker] = []
    try:
        connect_s = load.expect("joined")["connect_s"]
        for n, out in enumerate(consoles_out):
            consoles.append(
                Worker(
                    "consoles",
                    {
                        **common,
                        "takes": takes[n::CONSOLE_PROCESSES],
                        "floor_pairs_here": list(range(plan.in_call))[n::CONSOLE_PROCESSES],
                        "out": str(out),
                    },
                    folder,
                )
            )
        for worker in consoles:
            worker.expect("taken")
        processes = {
            "cabins (load)": [load.process.pid],
            "consoles (load)": [worker.process.pid for worker in consoles],
            **fleet.processes(),
        }
        before = {name: sum(cpu_ticks(p) for p in pids) for name, pids in processes.items()}
        commands_before = redis_commands(fleet)
        started = time.monotonic()
        load.tell("go")
        load.expect("sent", within_s=plan.seconds + WAIT_S)
        elapsed = time.monotonic() - started
        commands = {
            name: count - commands_before.get(name, 0)
            for name, count in redis_commands(fleet).items()
        }
        cpu = {
            name: 100 * (sum(cpu_ticks(p) for p in pids) - before[name]) / TICKS / elapsed
            for name, pids in processes.items()
        }
        for worker in consoles:
            worker.tell("stop")
        for worker in consoles:
            worker.expect("done")
        load.tell("end")
        closed = load.expect("closed")["closed_early"]
    finally:
        load.stop()
        for worker in consoles:
            worker.stop()
    sent = json.loads(cabins_out.read_text())
    got: dict[str, Any] = {"direct": {}, "vitals_first": {}, "rooms": 0, "room_bytes": 0}
    got["closed"] = 0
    for out in consoles_out:
        part = json.loads(out.read_text())
        got["direct"].update(part["direct"])
        for key, at in part["vitals_first"].items():
            got["vitals_first"][key] = min(at, got["vitals_first"].get(key, at))
        for counted in ("rooms", "room_bytes", "closed"):
            got[counted] += part[counted]
    direct: list[float] = []
    floor: list[float] = []
    direct_lost = floor_lost = direct_sent = 0
    for msg_id, at in sent["sent"].items():
        arrived = got["direct"].get(msg_id)
        is_floor = msg_id.startswith("f.")
        direct_sent += not is_floor
        if arrived is None:
            floor_lost += is_floor
            direct_lost += not is_floor
        else:
            (floor if is_floor else direct).append((arrived - at) * 1000)
    waiting_ms = [
        (got["vitals_first"][key] - at) * 1000
        for key, at in sent["sent_vitals"].items()
        if key in got["vitals_first"]
    ]
    return ScaleResult(
        cabins=cabins,
        direct=direct,
        direct_lost=direct_lost,
        direct_sent=direct_sent,
        floor=floor,
        floor_lost=floor_lost,
        waiting=waiting_ms,
        waiting_sent=len(sent["sent_vitals"]),
        waiting_never_shown=len(sent["sent_vitals"]) - len(waiting_ms),
        acks=sent["acks"],
        rooms=got["rooms"],
        room_kib=got["room_bytes"] / max(1, got["rooms"]) / 1024,
        cpu=cpu,
        connect_s=connect_s,
        closed=closed + got["closed"],
        redis_commands=commands,
    )


@dataclass(frozen=True)
class Plan:
    scales: tuple[int, ...]
    in_call: int
    waiting: int
    seconds: int
    idle_cabins: int
    failovers: int
    records: int


FULL = Plan(
    scales=(100, 500, 1000),
    in_call=50,
    waiting=10,
    seconds=30,
    idle_cabins=500,
    failovers=10,
    records=200,
)
QUICK = Plan(
    scales=(30,), in_call=10, waiting=4, seconds=5, idle_cabins=30, failovers=2, records=20
)


def stats_row(label: str, values: list[float], floor: list[float] | None = None) -> str:
    if not values:
        return f"  {label:<44} (nothing arrived)"
    p50, p95, p99 = (percentile(values, f) for f in (0.5, 0.95, 0.99))
    ratio = f"   x{p95 / percentile(floor, 0.95):.2f} floor p95" if floor else ""
    return f"  {label:<44} p50 {p50:7.2f}   p95 {p95:7.2f}   p99 {p99:7.2f} ms{ratio}"


def print_scale(result: ScaleResult, plan: Plan) -> None:
    print(
        f"readings with {result.cabins} cabins connected ({plan.in_call} in a call, each with its"
        f" doctor's console; {plan.waiting} waiting; the rest idle): {plan.seconds} s, one"
        f" reading a second each; {result.cabins} cabins connected in {result.connect_s:.1f} s"
    )
    print(stats_row("floor  bare relay through HAProxy", result.floor))
    print(
        stats_row("direct reading -> doctor's console", result.direct, result.floor)
        + "   target p95 <= 50 ms and <= x3"
    )
    print(
        f"  {'':<44} sent {result.direct_sent}, lost {result.direct_lost}"
        f" (floor lost {result.floor_lost}); acknowledged by the hub {result.acks}"
        f" of {result.direct_sent + result.waiting_sent}; sockets closed early {result.closed}"
    )
    print(
        stats_row("waiting reading -> first console's room", result.waiting)
        + "   (the room's broadcast: 4/s per replica at most)"
    )
    print(
        f"  {'':<44} {result.waiting_sent} sent, {result.waiting_never_shown} never shown;"
        f" {result.rooms} rooms received ({result.room_kib:.1f} KiB each)"
    )
    readings = result.direct_sent + result.waiting_sent
    total = sum(result.redis_commands.values())
    top = sorted(result.redis_commands.items(), key=lambda item: -item[1])[:4]
    scripts = result.redis_commands.get("eval", 0) + result.redis_commands.get("evalsha", 0)
    print(
        f"  Redis: {total} commands during the readings, {total / readings:.1f} per reading"
        f" ({', '.join(f'{name} {count}' for name, count in top)}; scripts run {scripts},"
        f" publish {result.redis_commands.get('publish', 0)})"
    )
    cpu = ", ".join(f"{name} {share:.0f} %" for name, share in result.cpu.items())
    print(f"  CPU (% of one core, during the readings): {cpu}")


def memory_per_cabin(fleet: BenchFleet, count: int, folder: Path) -> tuple[float, list[int]]:
    """KiB of replica RSS per idle cabin connection."""
    time.sleep(2.0)
    before = [rss_kib(pid) for pid in fleet.replica_pids()]
    load = Worker(
        "cabins",
        {
            "certificate": str(fleet.certificate),
            "relay_certificate": str(fleet.relay_certificate),
            "ws_url": fleet.ws_url,
            "relay_ws_url": fleet.relay_ws_url,
            "cabins": fleet.cabins[:count],
            "in_call": {},
            "waiting": {},
            "floor_pairs": 0,
            "seconds": 0,
            "out": str(folder / "memory.json"),
        },
        folder,
    )
    try:
        load.expect("joined")
        time.sleep(5.0)
        after = [rss_kib(pid) for pid in fleet.replica_pids()]
        load.tell("end")
        load.expect("closed")
    finally:
        load.stop()
    deltas = [a - b for a, b in zip(after, before, strict=True)]
    return sum(deltas) / count, deltas


def failovers(fleet: BenchFleet, rounds: int, folder: Path) -> list[float]:
    """Seconds from SIGKILL of the replica holding the cabin to its link online again."""
    cabin_id, token = fleet.cabins[-1]
    link = Worker(
        "link",
        {"https_url": fleet.https_url, "cabin_id": cabin_id, "token": token},
        folder,
        env={"SSL_CERT_FILE": str(fleet.certificate)},
    )
    times = []
    try:
        while link.expect("state")["state"] != "online":
            pass
        for _ in range(rounds):
            holder = fleet.fleet.wait_cabin_on(cabin_id)
            killed_at = time.monotonic()
            holder.kill()
            while True:
                state = link.expect("state", within_s=60)
                if state["state"] == "online" and state["t"] > killed_at:
                    times.append(state["t"] - killed_at)
                    break
            fleet.fleet.restart(holder)
        link.tell("stop")
    finally:
        link.stop()
    return times


async def record_intake(
    records: int, folder: Path, dsn: str | None
) -> tuple[float, list[float], int]:
    """Records per second through the cabin socket of an in-process hub, each one's ms, and
    the size of one."""
    overrides: dict[str, Any] = {
        "records_per_cabin_per_hour": 100_000,
        "record_bytes_per_cabin_per_day": 1 << 40,
    }
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    if dsn is not None:
        overrides["storage"] = {"backend": "postgresql", "dsn": dsn}
        (folder / "hub-data").mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(folder / "hub-data" / "hub-data.keys", new_ring_text())
    senders = 4
    latencies: list[float] = []
    sizes: list[int] = []
    async with running_hub(folder, **overrides) as rig:
        for index in range(3, senders + 1):
            rig.tokens[f"cabin-{index}"] = await provision_cabin(
                rig.hub.storage, cabin_id=f"cabin-{index}", name=f"Cabine {index}"
            )
        peers = [await rig.cabin(f"cabin-{index}") for index in range(1, senders + 1)]

        async def send(peer_index: int) -> None:
            peer = peers[peer_index]
            for number in range(peer_index, records, senders):
                upload = record_upload(
                    f"rec-{peer_index}-{number}",
                    cabin_id=f"cabin-{peer_index + 1}",
                    who=patient(given=f"Essai{number}"),
                    vitals=tuple(vital(120 + k) for k in range(5)),
                )
                sizes.append(len(upload.bundle))
                started = time.perf_counter()
                await peer.send(upload)
                while True:
                    answer = await peer.receive()
                    if isinstance(answer, wire.RecordAck) and answer.record_id == upload.record_id:
                        break
                    if isinstance(answer, wire.ErrorMessage):
                        raise RuntimeError(f"record refused: {answer}")
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(send(i) for i in range(senders)))
        seconds = time.perf_counter() - started
    return records / seconds, latencies, sizes[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_hub_fleet", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few cabins, short: a smoke run")
    parser.add_argument(
        "--only",
        choices=("readings", "memory", "failover", "intake"),
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument(
        "--scales", help="cabins connected, comma-separated (default: 100,500,1000)"
    )
    parser.add_argument("--seconds", type=int, help="seconds of readings at each scale")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        role, plan_path = args.worker
        asyncio.run(WORKERS[role](json.loads(Path(plan_path).read_text())))
        return 0
    plan = QUICK if args.quick else FULL
    if args.scales:
        plan = dataclasses.replace(plan, scales=tuple(int(n) for n in args.scales.split(",")))
    if args.seconds:
        plan = dataclasses.replace(plan, seconds=args.seconds)
    parts = set(args.only or ("readings", "memory", "failover", "intake"))
    started = time.monotonic()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench-hub-fleet-") as work:
        folder = Path(work)
        if parts & {"readings", "memory", "failover"}:
            needed = max(plan.scales) + 1
            with bench_fleet(folder / "fleet", cabins=needed, doctors=plan.in_call) as fleet:
                if "memory" in parts:
                    per_cabin, deltas = memory_per_cabin(fleet, plan.idle_cabins, folder)
                    print(
                        f"memory per idle cabin connection: {per_cabin:.1f} KiB"
                        f" ({plan.idle_cabins} cabins; replicas' RSS grew by"
                        f" {', '.join(f'{d / 1024:.1f}' for d in deltas)} MiB)"
                        "   target <= 64 KiB"
                    )
                if "readings" in parts:
                    results = []
                    for cabins in plan.scales:
                        result = readings_at(fleet, cabins, plan, folder)
                        print_scale(result, plan)
                        results.append(result)
                    growth = ", ".join(
                        f"{r.cabins} cabins {percentile(r.direct, 0.95):.1f} ms"
                        f" (floor {percentile(r.floor, 0.95):.1f})"
                        for r in results
                        if r.direct and r.floor
                    )
                    print(f"direct reading p95 as the fleet grows: {growth}")
                if "failover" in parts:
                    times = failovers(fleet, plan.failovers, folder)
                    print(
                        f"failover, SIGKILL of the cabin's replica -> its HubLink online again:"
                        f" median {statistics.median(times):.2f} s over {len(times)}"
                        f" (each: {', '.join(f'{t:.2f}' for t in times)})   target <= 5 s"
                    )
        if "intake" in parts:
            for name, dsn_of in (("SQLCipher file", None), ("PostgreSQL", "pg")):
                if dsn_of is None:
                    rate, latencies, size = asyncio.run(
                        record_intake(plan.records, folder / "intake-sqlite", None)
                    )
                else:
                    with postgres() as server:
                        dsn = server.create_database("intake")
                        rate, latencies, size = asyncio.run(
                            record_intake(plan.records, folder / "intake-pg", dsn)
                        )
                print(
                    f"record intake, {name}: {rate:.0f} records/s ({plan.records} records"
                    f" of {size / 1024:.1f} KiB, 4 cabins at once, through the cabin websocket"
                    " to a hub in this process);"
                    f" each: median {statistics.median(latencies):.1f} ms,"
                    f" p95 {percentile(latencies, 0.95):.1f} ms"
                )
    print(f"machine load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
