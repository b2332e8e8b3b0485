"""Benchmark of the hub under slow clients (slowloris): how long they hold a connection, and what
a genuine request waits meanwhile.

Run ``python -m bench.bench_slow_clients`` (``--quick`` for a smoke run). A real hub on loopback
(``tests/hub/hub_rig.py``), its ``request_read_timeout_s`` as configured by default (10 s; 2 s
with ``--quick``). ``CLIENTS`` connections each send a request line and then one byte of a header
that never ends every half second, as the reviewer's attack did; the time from each connection to
the hub closing it is printed (median and largest), beside the configured timeout. Meanwhile a
genuine ``GET /api/health`` is sent again and again on fresh connections: its median time is
printed beside the same request's on the idle hub (the floor), and the ratio. No pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.hub.hub_rig import running_hub
from tests.hub.raw_client import host_port, http_request, raw_request

CLIENTS = 200
TRICKLE_EVERY_S = 0.5
GENUINE_REQUESTS = 40


async def _held_for(url: str) -> float:
    """Seconds from connecting to the hub's close, trickling all the while."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(*host_port(url))
    writer.write(b"GET /api/health HTTP/1.1\r\nHost: hub\r\nX-Slow: ")

    async def keep_sending() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(TRICKLE_EVERY_S)
                writer.write(b"a")
                await writer.drain()

    sender = asyncio.create_task(keep_sending())
    try:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        return time.monotonic() - started
    finally:
        sender.cancel()
        writer.close()


async def _genuine_ms(url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = await raw_request(url, http_request("GET", b"/api/health"))
        times.append((time.perf_counter() - started) * 1000)
        assert response.status == 200
    return times


async def main_async(quick: bool) -> None:
    timeout_s = 2.0 if quick else 10.0
    clients = CLIENTS // 4 if quick else CLIENTS
    with tempfile.TemporaryDirectory() as folder:
        async with running_hub(Path(folder), request_read_timeout_s=timeout_s) as rig:
            floor = await _genuine_ms(rig.url, GENUINE_REQUESTS)
            attack = [asyncio.create_task(_held_for(rig.url)) for _ in range(clients)]
            under_attack = await _genuine_ms(rig.url, GENUINE_REQUESTS)
            held = await asyncio.gather(*attack)
    print(f"slow clients: {clients} trickling a header, request_read_timeout_s = {timeout_s:g}")
    print(
        f"  held by the hub                median {statistics.median(held):6.2f} s"
        f"   largest {max(held):6.2f} s   (timeout {timeout_s:g} s)"
    )
    median_floor, median_attack = statistics.median(floor), statistics.median(under_attack)
    print(f"  GET /api/health, idle hub      median {median_floor:6.2f} ms")
    print(
        f"  GET /api/health, under attack  median {median_attack:6.2f} ms"
        f"   x{median_attack / median_floor:.2f} floor"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_slow_clients")
    parser.add_argument("--quick", action="store_true", help="fewer clients, a 2 s timeout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
