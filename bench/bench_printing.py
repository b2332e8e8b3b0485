"""Benchmarks of the printed documents: PDF render time, and the event loop while they render.

Run ``python -m bench.bench_printing`` (``--quick`` for a smoke run). Prints medians and p95
beside a floor measured in the same run, on the same machine, and the ratio; no pass/fail (see
bench/README.md).

- Render: the prescription (A5, three drugs, the QR code and the signature block) and the
  summary (A5, three vitals, advice, a prescription number), each from values to PDF bytes,
  interleaved with the floor: a bare reportlab A5 page (a canvas, one line of Helvetica, save).
  Beside them, for reading only: the bare page with the two DejaVu fonts embedded, and the
  QR code's encoding alone.
- Event loop: an asyncio loop on the main thread runs a 1 ms ticker while the documents are
  rendered in a worker thread (``asyncio.to_thread``, as the cabin does); a stall is a gap minus
  the interval. Floor: the same ticker on the idle loop for as long. For contrast, the same
  renders called on the loop itself.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from reportlab.lib.pagesizes import A5
from reportlab.pdfgen import canvas

import wire
from printing.layout import BOLD, REGULAR
from printing.prescription import (
    DrugLine,
    ElectronicSignature,
    PatientOnPrescription,
    Prescriber,
    PrescriptionDocument,
    _qr_modules,
    render_prescription,
)
from printing.summary import SummaryDocument, render_summary

RENDER_TARGET_S = 0.100
RATIO_TARGET = 2.0
STALL_TARGET_S = 0.016  # one frame of the patient's screen
TICK_S = 0.001

ISSUED = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
PATIENT = PatientOnPrescription("Quélennec", "Yvonne", "female", date(1938, 5, 2), 58.5)
PRESCRIPTION = PrescriptionDocument(
    number="RX-2026-000123-K7QF",
    issued_at=ISSUED,
    prescriber=Prescriber(
        name="Dr Claire Martin",
        specialty="Médecine générale",
        rpps="10101010101",
        address="12 rue de la Santé, 29200 Brest",
        phone="02 98 00 00 00",
        email="claire.martin@exemple.fr",
    ),
    patient=PATIENT,
    lines=(
        DrugLine(
            "Paracétamol 1 g, comprimé",
            "1 comprimé",
            "3 fois par jour si douleur ou fièvre",
            "5 jours",
            "Espacer les prises de 6 heures au moins",
        ),
        DrugLine(
            "Amoxicilline 1 g, comprimé dispersible", "1 comprimé", "matin et soir", "6 jours"
        ),
        DrugLine(
            "Ibuprofène 200 mg, comprimé",
            "1 comprimé",
            "au plus 3 fois par jour, pendant le repas",
            "3 jours",
            "Ne pas associer à l'aspirine",
            renewals=1,
        ),
    ),
    check_url="https://hub.exemple.fr/rx/RX-2026-000123-K7QF?k=ABCDEFGHJKMNPQRS",
    cabin_name="Cabine de la mairie de Plouguerneau",
    signature=ElectronicSignature("hub-2026-01", "3f2a9c1b77d0e4a8c5b19e02", "Dr Claire Martin"),
)
SUMMARY = SummaryDocument(
    language="fr",
    cabin_name="Cabine de la mairie de Plouguerneau",
    patient=PATIENT,
    started_at=ISSUED,
    doctor_name="Dr Claire Martin",
    doctor_specialty="Médecine générale",
    reason="Fièvre et toux depuis trois jours",
    vitals=(
        wire.Vital(
            kind=wire.VitalKind.BLOOD_PRESSURE,
            measured_at=ISSUED + timedelta(minutes=2),
            device_id="bp-1",
            systolic_mmhg=152,
            diastolic_mmhg=88,
            pulse_bpm=72,
        ),
        wire.Vital(
            kind=wire.VitalKind.SPO2,
            measured_at=ISSUED + timedelta(minutes=4),
            device_id="ox-1",
            spo2_percent=96,
            pulse_bpm=74,
        ),
        wire.Vital(
            kind=wire.VitalKind.TEMPERATURE,
            measured_at=ISSUED + timedelta(minutes=5),
            device_id="th-1",
            temperature_c=37.9,
        ),
    ),
    advice=(
        "Buvez au moins 1,5 litre d'eau par jour.\n"
        "Reprenez la tension chez votre pharmacien dans une semaine et notez les chiffres."
    ),
    prescription_numbers=("RX-2026-000123-K7QF",),
)


def bare_page() -> bytes:
    """The floor: a reportlab A5 page with one line of a standard font (nothing embedded)."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A5, pageCompression=1)
    page.setFont("Helvetica", 12)
    page.drawString(34, 500, "Ordonnance RX-2026-000123-K7QF")
    page.showPage()
    page.save()
    return out.getvalue()


def bare_page_dejavu() -> bytes:
    """For reading, not a floor: the bare page with one line in each of the two DejaVu fonts,
    so with the two font subsets every document embeds."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A5, pageCompression=1)
    page.setFont(REGULAR, 12)
    page.drawString(34, 500, "Ordonnance RX-2026-000123-K7QF")
    page.setFont(BOLD, 12)
    page.drawString(34, 480, "Ordonnance RX-2026-000123-K7QF")
    page.showPage()
    page.save()
    return out.getvalue()


def render_a5_prescription() -> bytes:
    return render_prescription(PRESCRIPTION, "A5")


def render_a5_summary() -> bytes:
    return render_summary(SUMMARY, "A5")


def encode_qr() -> object:
    return _qr_modules(PRESCRIPTION.check_url)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


# --- render time --------------------------------------------------------------------------------
def bench_render(renders: int) -> None:
    started = time.perf_counter()
    render_a5_prescription()  # the first in this process: parses the two TTF files
    first_s = time.perf_counter() - started
    jobs: dict[str, Callable[[], object]] = {
        "floor": bare_page,
        "dejavu": bare_page_dejavu,
        "rx": render_a5_prescription,
        "summary": render_a5_summary,
        "qr": encode_qr,
    }
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for job in jobs.values():  # warm-up
        job()
    for _ in range(renders):  # interleaved, so a slow moment of the machine hits all
        for name, job in jobs.items():
            started = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - started)
    floor = statistics.median(times["floor"])
    sizes = {"rx": len(render_a5_prescription()), "summary": len(render_a5_summary())}

    def row(label: str, name: str, tail: str = "") -> None:
        median, high = statistics.median(times[name]), p95(times[name])
        print(f"  {label:<47} median {median * 1e3:7.2f} ms   p95 {high * 1e3:7.2f} ms{tail}")

    def targets(name: str) -> str:
        median = statistics.median(times[name])
        ratio = median / floor
        return (
            f"   x{ratio:.0f} floor   target median <= {RENDER_TARGET_S * 1e3:.0f} ms: "
            f"{verdict(median <= RENDER_TARGET_S)}, <= x{RATIO_TARGET:.0f} floor: "
            f"{verdict(ratio <= RATIO_TARGET)}"
        )

    print(f"render A5 to PDF bytes: {renders} renders each, interleaved, after one warm-up")
    row("floor  bare reportlab page, 1 line of Helvetica", "floor")
    row("rx     prescription: 3 drugs, QR code, signature", "rx", targets("rx"))
    row("sum    summary: 3 vitals, advice, 1 rx number", "summary", targets("summary"))
    print("  where the time goes (for reading, not floors):")
    dejavu = statistics.median(times["dejavu"])
    row(
        "ref    bare page + DejaVu regular and bold",
        "dejavu",
        f"   x{dejavu / floor:.0f} floor: the two embedded font subsets",
    )
    row("ref    the QR code's encoding alone", "qr")
    print(
        f"  first prescription in this process (parses the two TTF files once) "
        f"{first_s * 1e3:7.1f} ms; PDF sizes: prescription {sizes['rx'] / 1024:.0f} KiB, "
        f"summary {sizes['summary'] / 1024:.0f} KiB"
    )


# --- the event loop while rendering --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Probe:
    gaps: list[float]
    seconds: float
    render_s: list[float]

    @property
    def max_stall(self) -> float:
        return max(self.gaps) - TICK_S if self.gaps else 0.0


async def probe(work: Callable[[list[float]], Awaitable[None]]) -> Probe:
    """Runs `work` while a 1 ms ticker on this loop notes every gap between its wake-ups."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)  # the ticker running
    gaps.clear()
    render_s: list[float] = []
    started = time.perf_counter()
    await work(render_s)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    return Probe(gaps, seconds, render_s)


async def stalls(label: str, render: Callable[[], bytes], renders: int) -> None:
    async def in_thread(render_s: list[float]) -> None:
        for _ in range(renders):
            started = time.perf_counter()
            await asyncio.to_thread(render)
            render_s.append(time.perf_counter() - started)

    async def on_loop(render_s: list[float]) -> None:
        for _ in range(renders):
            started = time.perf_counter()
            render()
            render_s.append(time.perf_counter() - started)
            await asyncio.sleep(2 * TICK_S)  # the ticker wakes between two renders

    await asyncio.to_thread(render)  # the executor's thread started
    off = await probe(in_thread)

    async def idle(_render_s: list[float]) -> None:
        await asyncio.sleep(off.seconds)

    floor = await probe(idle)
    on = await probe(on_loop)
    print(
        f"  floor  idle loop, {floor.seconds:4.2f} s{'':<26} max stall {floor.max_stall * 1e3:6.1f}"
        f" ms   p99 gap {p99(floor.gaps) * 1e3:6.1f} ms"
    )
    print(
        f"  {label:<6} asyncio.to_thread, {renders} renders{'':<13} max stall "
        f"{off.max_stall * 1e3:6.1f} ms   p99 gap {p99(off.gaps) * 1e3:6.1f} ms   "
        f"target <= {STALL_TARGET_S * 1e3:.0f} ms: {verdict(off.max_stall <= STALL_TARGET_S)}"
        f"   (render median {statistics.median(off.render_s) * 1e3:.1f} ms in the thread)"
    )
    print(
        f"  {label:<6} the same renders ON the loop (contrast)  max stall "
        f"{on.max_stall * 1e3:6.1f} ms   p99 gap {p99(on.gaps) * 1e3:6.1f} ms"
    )


async def bench_stalls(renders: int) -> None:
    print(
        f"event-loop stall while rendering: asyncio loop on the main thread, {TICK_S * 1e3:.0f} ms"
        f" ticker, stall = gap - interval; switch interval {sys.getswitchinterval() * 1e3:.0f} ms"
    )
    await stalls("rx", render_a5_prescription, renders)
    await stalls("sum", render_a5_summary, renders)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few renders: a smoke test")
    args = parser.parse_args(argv)
    renders, threaded = (30, 10) if args.quick else (200, 50)
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, {sys.executable}")
    bench_render(renders)
    asyncio.run(bench_stalls(threaded))
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
