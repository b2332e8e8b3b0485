"""Sign-in under attack, at the real argon2id cost (``standard``): what a wrong password costs
for a real and for an unknown name (they must not differ), and how long a cabin's record waits
for its acknowledgement while 60 wrong logins arrive at once (hashing has its own threads).

    python -m bench.bench_login [--quick]

Prints medians; nothing passes or fails here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

import wire
from hub.accounts import create_doctor
from tests.hub.hub_rig import Peer, record_upload, running_hub

FLOOD = 60


async def _wrong(http: aiohttp.ClientSession, url: str, name: str, address: str) -> float:
    started = time.perf_counter()
    async with http.post(
        f"{url}/api/login",
        json={"username": name, "password": "wrong-password-for-bench"},
        headers={"Origin": url, "X-Forwarded-For": address},
    ) as response:
        await response.read()
    return (time.perf_counter() - started) * 1000


async def main_async(quick: bool) -> None:
    rounds, acks = (6, 3) if quick else (25, 10)
    overrides: dict[str, Any] = {
        "argon2_cost": "standard",
        "trusted_proxies": ["127.0.0.1"],
        "login_attempts_per_minute": 10_000,
        "login_max_failures": 100,
    }
    with tempfile.TemporaryDirectory(prefix="bench-login-") as work:
        async with running_hub(Path(work), **overrides) as rig:
            await create_doctor(  # the rig's doctors have test-cost hashes: not this one
                rig.hub.storage,
                username="dr.bench",
                password="password-of-the-bench",
                display_name="Dr Bench",
                specialty="Médecine générale",
                argon2_cost="standard",
            )
            http = rig.client()
            real: list[float] = []
            unknown: list[float] = []
            for n in range(rounds):  # interleaved, in turn first; each from its own address
                pair = [("dr.bench", real, "10.1"), ("dr.nobody", unknown, "10.2")]
                for name, samples, prefix in pair if n % 2 == 0 else reversed(pair):
                    address = f"{prefix}.{n // 250}.{n % 250}"
                    samples.append(await _wrong(http, rig.url, name, address))
            cabin = await rig.cabin()
            idle: list[float] = []
            flooded: list[float] = []
            statuses: dict[int, int] = {}
            for n in range(acks):
                idle.append(await _ack_ms(cabin, f"c-idle-{n}"))
                flood = [
                    asyncio.ensure_future(_status(http, rig.url, f"dr.flood{i}", f"10.3.{n}.{i}"))
                    for i in range(FLOOD)
                ]
                await asyncio.sleep(0.05)  # let the flood reach the hub first
                flooded.append(await _ack_ms(cabin, f"c-flood-{n}"))
                for status in await asyncio.gather(*flood):
                    statuses[status] = statuses.get(status, 0) + 1
    print(f"sign-in at argon2id 'standard', {rounds} wrong passwords each, interleaved")
    print(f"  wrong password, real name     median {statistics.median(real):8.1f} ms")
    print(f"  wrong password, unknown name  median {statistics.median(unknown):8.1f} ms")
    print(
        "  difference of medians         "
        f"{statistics.median(real) - statistics.median(unknown):+8.1f} ms"
    )
    print(f"record acknowledgement, {acks} records each")
    print(f"  idle hub                      median {statistics.median(idle):8.1f} ms")
    print(
        f"  during {FLOOD} wrong logins       median {statistics.median(flooded):8.1f} ms"
        f"  (max {max(flooded):.1f} ms)"
    )
    print(f"  the floods' answers: {dict(sorted(statuses.items()))} (503: beyond the queue)")


async def _status(http: aiohttp.ClientSession, url: str, name: str, address: str) -> int:
    async with http.post(
        f"{url}/api/login",
        json={"username": name, "password": "wrong-password-for-bench"},
        headers={"Origin": url, "X-Forwarded-For": address},
    ) as response:
        return response.status


async def _ack_ms(cabin: Peer, consultation_id: str) -> float:
    upload = record_upload(consultation_id)
    started = time.perf_counter()
    await cabin.send(upload)
    await cabin.expect(wire.RecordAck)
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_login", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
