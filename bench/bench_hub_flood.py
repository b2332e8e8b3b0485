"""Benchmark of the hub under a hostile cabin: a doctor's reading latency while another cabin
floods alerts and queue joins.

Run ``python -m bench.bench_hub_flood`` (``--quick`` for a smoke run). A real hub in this
process (``tests/hub/hub_rig.py``: aiohttp on 127.0.0.1, SQLite in a temporary folder, real
websockets). Cabin 1 has its patient in a call with a doctor, whose console is open, and an
agent's page (every cabin) is open too. The sample: cabin 1 sends a blood pressure reading,
the time until the doctor's console receives it. Windows of readings alternate: with nothing
else going on (the floor), and while cabin 2 sends, as fast as the hub answers each, alerts of
every kind and severity (so new ones up to its rate limit, repeats merged, the rest refused
``rate_limited``) and queue joins of new consultations (the first is its patient, every other
one refused). Prints the medians and the 90th percentiles beside the floor's, how much the
flood sent and what the hub did with it, and whether the console and the agent's page stayed
connected (issue 15: a flood used to close them "too slow").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import wire
from tests.hub.hub_rig import Peer, Rig, new_id, patient, running_hub, vital

COMBINATIONS = list(itertools.product(wire.AlertKind, wire.AlertSeverity))


@dataclass
class Flood:
    sent: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


@dataclass
class Listener:
    """Reads a page's socket all along: what it got, and whether it was closed."""

    peer: Peer
    got: Counter[str] = field(default_factory=Counter)
    closed: int | None = None
    readings: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    async def run(self) -> None:
        try:
            while True:
                message = await self.peer.receive(within_s=3600)
                self.got[type(message).__name__] += 1
                if isinstance(message, wire.ReadingMessage):
                    waiter = self.readings.pop(message.msg_id, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(time.perf_counter())
        except ConnectionError:
            self.closed = self.peer.ws.close_code or -1


async def answered(cabin: Peer, message: wire.Message) -> str:
    """Send and wait for the hub's answer to it: "ack" or the error's code."""
    await cabin.send(message)
    while True:
        reply = await cabin.receive()
        if isinstance(reply, wire.Ack) and reply.ack_of == message.msg_id:
            return "ack"
        if isinstance(reply, wire.ErrorMessage) and reply.in_reply_to == message.msg_id:
            return reply.code.value


async def flood(cabin: Peer, stop: asyncio.Event, into: Flood, gap_s: float) -> None:
    """Alerts of every kind and severity and queue joins, each sent once the last is answered
    (and `gap_s` more)."""
    started = time.perf_counter()
    combos = itertools.cycle(COMBINATIONS)
    for index in itertools.count():
        if stop.is_set():
            break
        if index % 4 == 3:
            message: wire.Message = wire.QueueJoin(
                msg_id=new_id("join"),
                consultation_id=new_id("flood-c"),
                language=wire.Language.FR,
                patient=patient(given=f"Flood{index}"),
                vitals=[vital()] * 32,
            )
            what = "join"
        else:
            kind, severity = next(combos)
            message = wire.AlertMessage(
                msg_id=new_id("alert"),
                alert_id=new_id("flood-al"),
                cabin_id="cabin-2",
                kind=kind,
                severity=severity,
                raised_at=datetime.now(UTC),
                detail="flood",
            )
            what = "alert"
        into.sent[what] += 1
        into.answers[f"{what} {await answered(cabin, message)}"] += 1
        if gap_s:
            await asyncio.sleep(gap_s)
    into.seconds += time.perf_counter() - started


async def readings(cabin: Peer, console: Listener, count: int, gap_s: float) -> list[float]:
    """`count` readings of cabin 1's consultation: ms from sending to the console's receipt."""
    samples = []
    loop = asyncio.get_running_loop()
    for _ in range(count):
        message = wire.ReadingMessage(msg_id=new_id("r"), consultation_id="c-1", reading=vital())
        arrived: asyncio.Future[float] = loop.create_future()
        console.readings[message.msg_id] = arrived
        sent = time.perf_counter()
        await cabin.send(message)
        async with asyncio.timeout(30):
            samples.append((await arrived - sent) * 1000)
        await asyncio.sleep(gap_s)
    return samples


async def drain_acks(cabin: Peer) -> None:
    with contextlib.suppress(ConnectionError):
        while True:
            await cabin.receive(within_s=3600)


def row(label: str, values: list[float], floor: list[float] | None) -> str:
    median = statistics.median(values)
    p90 = statistics.quantiles(values, n=10)[-1]
    ratio = ""
    if floor:
        ratio = (
            f"   x{median / statistics.median(floor):.2f} floor"
            f"  (p90 x{p90 / statistics.quantiles(floor, n=10)[-1]:.2f})"
        )
    return f"  {label:<34} median {median:6.2f} ms   p90 {p90:6.2f} ms{ratio}"


async def setup(rig: Rig) -> tuple[Peer, Listener, Listener, Peer]:
    await rig.add_agent("agent.all")
    agent = Listener(await rig.agent_page("agent.all"))
    console = await (await rig.login("dr.a")).console()
    cabin = await rig.cabin("cabin-1")
    await rig.join(cabin, "c-1")
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
    await console.expect(wire.CallAccepted)
    flooder = await rig.cabin("cabin-2")
    return cabin, Listener(console), agent, flooder


PACED_GAP_S = 0.02
"""The paced flood: a message every 20 ms or so (~40/s, far beyond 12 alerts a minute)."""


async def main_async(quick: bool) -> None:
    rounds, per_window, gap_s = (2, 40, 0.01) if quick else (5, 200, 0.01)
    floor: list[float] = []
    paced: list[float] = []
    flooded: list[float] = []
    paced_totals, totals = Flood(), Flood()
    with tempfile.TemporaryDirectory(prefix="bench-hub-flood-") as work:
        async with running_hub(Path(work), alert_update_s=0.5) as rig:
            cabin, console, agent, flooder = await setup(rig)
            listeners = [
                asyncio.create_task(console.run()),
                asyncio.create_task(agent.run()),
                asyncio.create_task(drain_acks(cabin)),
            ]
            try:
                for _ in range(rounds):  # interleaved
                    floor += await readings(cabin, console, per_window, gap_s)
                    for into_samples, into, flood_gap_s in (
                        (paced, paced_totals, PACED_GAP_S),
                        (flooded, totals, 0.0),
                    ):
                        stop = asyncio.Event()
                        flooding = asyncio.create_task(flood(flooder, stop, into, flood_gap_s))
                        try:
                            into_samples.extend(await readings(cabin, console, per_window, gap_s))
                        finally:
                            stop.set()
                            await flooding
                await asyncio.sleep(1.0)  # the repeats' counts are stored every 0.5 s
                stored = [
                    a for a in rig.switchboard.alerts.open_alerts() if a.cabin_id == "cabin-2"
                ]
                waiting = len(rig.switchboard.room.of_cabin("cabin-2"))
            finally:
                for task in listeners:
                    task.cancel()
                for task in listeners:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
    print(
        f"hub under a flooding cabin: {rounds} rounds of {per_window} readings with nothing else"
        " (floor), as many while cabin 2 floods paced (a message every 20 ms), and as many while it"
        " floods as fast as the hub answers (alerts of every kind and severity, and queue joins);"
        " the doctor's console in a call with cabin 1"
    )
    print(row("floor  reading -> console", floor, None))
    print(row("paced  reading -> console", paced, floor))
    print(row("flood  reading -> console", flooded, floor))
    for name, each in (("paced", paced_totals), ("flood", totals)):
        sent = sum(each.sent.values())
        print(
            f"  {name}: {sent} messages in {each.seconds:.1f} s ({sent / each.seconds:.0f}/s):"
            f" {each.sent['alert']} alerts ({each.answers['alert ack']} acknowledged,"
            f" {each.answers['alert rate_limited']} rate_limited), {each.sent['join']} joins"
            f" ({each.answers['join ack']} acknowledged, {each.answers['join conflict']}"
            " refused)"
        )
    print(
        f"  hub after it: {len(stored)} open alerts of cabin 2 (one per kind and severity at"
        f" most), {sum(a.repeat_count for a in stored)} alerts counted in them,"
        f" {waiting} patient of cabin 2 in the room"
    )
    for name, listener in (("console", console), ("agent page", agent)):
        state = "stayed connected" if listener.closed is None else f"CLOSED ({listener.closed})"
        got = ", ".join(f"{n} {kind}" for kind, n in listener.got.most_common())
        print(f"  {name}: {state}; received {sum(listener.got.values())} messages ({got})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_hub_flood", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two short rounds: a smoke run")
    args = parser.parse_args(argv)
    logging.getLogger("hub").setLevel(logging.ERROR)  # the flood's own warnings
    started = time.monotonic()
    asyncio.run(main_async(args.quick))
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
