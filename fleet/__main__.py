"""``python -m fleet [--out DIR]`` (``./cabin fleet``): a fleet on one machine, a replica lost
in the middle of a call.

It starts, on loopback, PostgreSQL, Redis, two hub replicas and HAProxy (`fleet.rig`), the real
cabin and the doctor in Chromium, plays the scripted consultation through the proxy and kills
the replica holding the cabin's socket mid-call (`fleet.scenario`). It prints what it saw, leaves
its screenshots, the printed PDFs, the parts' logs and ``fleet-report.json`` in ``DIR`` (default
``fleet-out/``), and exits 0 only when every guarantee held; otherwise 1, with the first reason
on the last line. Everything it started is stopped at the end, after a failure or Ctrl-C too,
and the whole run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from devices.cancellation import within
from fleet.scenario import Clock, FleetReport, Scenario, ScenarioFailed
from fleet.servers import ServerError

RUN_LIMIT_S = 420.0
"""The whole consultation, from the fleet up to the last check: about two minutes here, far
more on a loaded machine; past this, the run fails instead of hanging."""
REPORT = "fleet-report.json"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fleet", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("fleet-out"), help="screenshots, PDFs, logs, report"
    )
    parser.add_argument(
        "--limit",
        type=float,
        default=RUN_LIMIT_S,
        help="seconds the consultation may take once the fleet is up, before the run fails",
    )
    return parser.parse_args(argv)


def _clear(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in (*out.glob("*.png"), *out.glob("*.pdf"), out / REPORT):
        old.unlink(missing_ok=True)
    shutil.rmtree(out / "logs", ignore_errors=True)


def _keep_logs(folder: Path, out: Path) -> None:
    """The replicas', the proxy's and the cabin's logs (no secret, no patient data in them)."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name, path in (
        ("hub-1.log", folder / "hub-1" / "hub.log"),
        ("hub-2.log", folder / "hub-2" / "hub.log"),
        ("haproxy.log", folder / "proxy" / "haproxy.log"),
        ("cabin.log", folder / "work" / "cabin" / "cabin.log"),
    ):
        if path.exists():
            shutil.copyfile(path, logs / name)


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: everything started is stopped on the way out."""

    def handler(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


async def _bounded(scenario: Scenario, limit_s: float) -> None:
    await within(scenario.play(), limit_s)


def run(out: Path, limit_s: float) -> FleetReport:
    from fleet.rig import fleet  # noqa: PLC0415 - the parts' modules after the arguments

    clock = Clock()
    report = FleetReport()
    folder = Path(tempfile.mkdtemp(prefix="cabin-fleet-"))
    report.folder = str(folder)
    try:
        print("[fleet] starting PostgreSQL, Redis, two hub replicas and HAProxy", flush=True)
        with fleet(folder) as running:
            scenario = Scenario(running, out, folder / "work", clock)
            scenario.report.folder = report.folder
            report = scenario.report
            try:
                asyncio.run(_bounded(scenario, limit_s))
            except TimeoutError:
                report.reason = f"the run did not end within {limit_s:.0f} s"
            except ScenarioFailed as exc:
                report.reason = str(exc)
            except (KeyboardInterrupt, ServerError):
                raise
            except Exception as exc:  # noqa: BLE001 - the browser's, the cabin's: one line
                report.reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    except KeyboardInterrupt:
        report.reason = "interrupted"
    except ServerError as exc:
        report.reason = f"the fleet did not start: {str(exc).splitlines()[0]}"
    finally:
        _keep_logs(folder, out)
        shutil.rmtree(folder, ignore_errors=True)
    report.seconds = clock.since()
    failed = [name for name, held in report.guarantees.items() if not held]
    if not report.reason and failed:
        report.reason = f"a guarantee did not hold: {failed[0]}"
    if not report.reason and not report.guarantees:
        report.reason = "no guarantee was checked"
    report.ok = not report.reason
    report.screenshots = sorted(p.name for p in out.glob("*.png"))
    return report


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    _stop_on_sigterm()
    _clear(args.out)
    report = run(args.out, args.limit)
    text = json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n"
    (args.out / REPORT).write_text(text, encoding="utf-8")
    print(f"[fleet] numbers: {json.dumps(report.numbers)}", flush=True)
    print(f"[fleet] report, screenshots and logs in {args.out}/", flush=True)
    if report.ok:
        print(f"[fleet] passed: every guarantee held ({report.seconds:.0f} s)", flush=True)
        return 0
    print(f"[fleet] FAILED: {report.reason}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
