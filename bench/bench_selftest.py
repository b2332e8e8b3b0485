"""Benchmark of the cabin's self-test (issue 18's "self-test duration"): the whole run on the
demo cabin (simulated instruments on ptys and the virtual radio, the synthetic camera, the
spoken microphone, the null speaker, the PDF folder, no hub), and each check's share.

Run ``python -m bench.bench_selftest`` (``--runs N``, ``--quick`` for one run). Prints medians;
no pass/fail (see bench/README.md). The floor is the database check alone: the cheapest check,
a SQLCipher page walk on a fresh file.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import wire
from demo.root import start_core
from kiosk.config import load_config
from kiosk.store import DatabaseKey

KEY_ENV = "CABIN_DB_KEY"


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - the core's state, looked at
        await asyncio.sleep(0.05)


async def measure(runs: int) -> tuple[list[float], dict[str, list[int]]]:
    totals: list[float] = []
    per_check: dict[str, list[int]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder:
        core = await start_core(
            load_config(None), Path(folder), env={KEY_ENV: DatabaseKey.generate().hex()}
        )
        try:
            await until(lambda: core.upkeep is not None and core.upkeep.selftest is not None)
            assert core.upkeep is not None and core.upkeep.selftest is not None
            selftest = core.upkeep.selftest
            await until(lambda: selftest.last is not None)  # the run at start, not measured
            for _ in range(runs):
                started = time.monotonic()
                report = await selftest.run(wire.SelfTestTrigger.AGENT)
                totals.append(time.monotonic() - started)
                for result in report.results:
                    name = result.check.value + (f"/{result.subject}" if result.subject else "")
                    per_check[f"{name} ({result.outcome.value})"].append(result.duration_ms)
        finally:
            await core.aclose()
    return totals, per_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_selftest")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one run")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else max(1, args.runs)
    totals, per_check = asyncio.run(measure(runs))
    median_s = statistics.median(totals)
    floor_ms = statistics.median(per_check.get("database (passed)", [1])) or 1
    print(f"self-test, demo cabin, {runs} run(s): median {median_s:.2f} s"
          f" (min {min(totals):.2f}, max {max(totals):.2f}); x{median_s * 1000 / floor_ms:.0f}"
          " the database check alone")  # fmt: skip
    for name, durations in sorted(per_check.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {name:<40} median {statistics.median(durations):6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
