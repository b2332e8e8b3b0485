"""Benchmarks of the cabin's printer against a real cupsd: how soon a silent cupsd is given up.

Run ``python -m bench.bench_cups`` (``--quick`` for a smoke run); it needs root and cupsd, as the
printing tests do (it runs the tests' cupsd, ``tests/printing/cups_rig.py``, and says why not when
it cannot). Prints medians and p95 beside a floor measured in the same run, and the ratios; no
pass/fail. What ``tests/printing/test_cups.py`` checks happens (our timeout fires, not libcups's
60 s; the next call sends nothing) is timed here.

- floor: ``CupsPrinter.status()`` on a cupsd that answers (a thread of its own, a new connection,
  one IPP request), interleaved with the rest.
- frozen cupsd (SIGSTOP), ``connect_timeout_s`` 0.5 s: ``status()`` until it says unreachable,
  beside the setting; then, while that exchange still hangs, ``print_document`` until it refuses
  (it sends nothing: "did not answer an earlier request"), beside the floor.
- stopped cupsd (its socket refuses): ``status()`` until it says unreachable, beside the floor.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from datetime import UTC, datetime

from printing.cups import CupsPrinter
from printing.printer import PrinterStatus, PrintJobFailed
from printing.test_page import render_test_page
from tests.printing.cups_rig import PDF_QUEUE, CupsRig, running_cupsd, why_not

CONNECT_TIMEOUT_S = 0.5
DOCUMENT = render_test_page("bench", "Cabine du banc d'essai", datetime(2026, 11, 23, tzinfo=UTC))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(label: str, values: list[float], floor: list[float] | None, beside: str = "") -> str:
    median = statistics.median(values)
    ratio = f"   x{median / statistics.median(floor):.1f} floor" if floor else ""
    return (
        f"  {label:<46} median {median * 1e3:8.2f} ms   p95 {p95(values) * 1e3:8.2f} ms"
        f"{ratio}{beside}"
    )


def timed_status(printer: CupsPrinter) -> tuple[float, PrinterStatus]:
    started = time.perf_counter()
    status = printer.status()
    return time.perf_counter() - started, status


def until_ready(printer: CupsPrinter, timeout_s: float = 120.0) -> None:
    """Once thawed, cupsd answers the abandoned request and the printer's next call goes out."""
    deadline = time.monotonic() + timeout_s
    while not printer.status().ready:
        if time.monotonic() > deadline:
            raise TimeoutError("cupsd did not come back")
        time.sleep(0.05)


def frozen(rig: CupsRig) -> tuple[float, float]:
    """Seconds until ``status()`` gives up on a frozen cupsd, and until the next call refuses."""
    printer = CupsPrinter(PDF_QUEUE, str(rig.socket), connect_timeout_s=CONNECT_TIMEOUT_S)
    rig.freeze()
    try:
        given_up, status = timed_status(printer)
        assert status == PrinterStatus.unreachable(), status
        started = time.perf_counter()
        try:
            printer.print_document("bench", DOCUMENT)
        except PrintJobFailed as failed:
            assert "did not answer an earlier request" in failed.detail, failed.detail
        else:
            raise AssertionError("a frozen cupsd took a job")
        refused = time.perf_counter() - started
    finally:
        rig.thaw()
    until_ready(printer)
    return given_up, refused


def stopped(rig: CupsRig) -> float:
    printer = CupsPrinter(PDF_QUEUE, str(rig.socket), connect_timeout_s=CONNECT_TIMEOUT_S)
    rig.stop()
    try:
        seconds, status = timed_status(printer)
        assert status == PrinterStatus.unreachable(), status
    finally:
        rig.start()
    until_ready(printer)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_cups", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke run")
    args = parser.parse_args(argv)
    logging.getLogger("printing").setLevel(logging.ERROR)  # the expected "unreachable" warnings
    reason = why_not()
    if reason is not None:
        print(f"bench_cups: skipped ({reason})")
        return 0
    runs = 3 if args.quick else 15
    started = time.monotonic()
    floor: list[float] = []
    given_up: list[float] = []
    refused: list[float] = []
    refused_at_once: list[float] = []
    with running_cupsd() as rig:
        healthy = CupsPrinter(PDF_QUEUE, str(rig.socket))
        until_ready(healthy)  # warm: the first connection pays for cupsd's own start
        for _ in range(runs):  # interleaved
            for _ in range(5):
                seconds, status = timed_status(healthy)
                assert status.ready, status
                floor.append(seconds)
            gave_up, next_call = frozen(rig)
            given_up.append(gave_up)
            refused.append(next_call)
            refused_at_once.append(stopped(rig))
    setting = CONNECT_TIMEOUT_S
    over = statistics.median(given_up) - setting
    print(f"cupsd that does not answer: {runs} runs, connect_timeout_s {setting} s")
    print(line("floor  status() on a cupsd that answers", floor, None))
    print(
        line(
            "frozen status() -> unreachable",
            given_up,
            None,
            f"   setting {setting * 1e3:.0f} ms, +{over * 1e3:.1f} ms (libcups alone: 60 s)",
        )
    )
    print(line("frozen then print_document -> refused, unsent", refused, floor))
    print(line("stopped status() -> unreachable (refused)", refused_at_once, floor))
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
