"""The prescription as the patient takes it to the pharmacy: one PDF, A5 or A4.

It carries what French rules ask of a prescription (the prescriber's name, specialty, RPPS
number, address, phone and e-mail, signature and date; the patient's name, sex, birth date and,
when known, weight; each drug with its dose, frequency, duration and renewals; the mention that
it was issued by teleconsultation), and the prescription's unique number with a QR code that a
pharmacy scans to check it on the hub's page. The signature is electronic: the hub signs the
prescription (Ed25519); the paper shows who signed, with which key, the key's fingerprint and
the date, beside the code that leads to the proof.

Each drug is kept whole on one page, and the closing block (the mention, the number, the
signature and the code) whole on the last one; every page says "page n/N" with the number, and
the pages after the first repeat the prescriber and the patient.

Rendering is pure (values in, bytes out) and takes milliseconds (bench/bench_printing.py): the
cabin runs it off the Qt thread all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import numpy as np
import numpy.typing as npt
from reportlab.graphics.barcode import qrencoder
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from printing.errors import DocumentError
from printing.layout import PageSize, PageWriter

__all__ = [
    "DrugLine",
    "ElectronicSignature",
    "PageSize",
    "PatientOnPrescription",
    "Prescriber",
    "PrescriptionDocument",
    "grouped_fingerprint",
    "render_prescription",
]

_SEX: Final = {"female": "F", "male": "M", "other": "Autre", "unknown": "Non renseigné"}
_BORN: Final = {"female": "Née", "male": "Né"}
_QR_SIDE_MM: Final = 28.0
_QR_QUIET_MODULES: Final = 4  # the blank border the standard asks for, part of the side
_FINGERPRINT_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class Prescriber:
    name: str
    specialty: str
    rpps: str
    address: str
    phone: str
    email: str


@dataclass(frozen=True, slots=True)
class PatientOnPrescription:
    family_name: str
    given_names: str
    sex: str  # "female" | "male" | "other" | "unknown"
    birth_date: date
    weight_kg: float | None = None


@dataclass(frozen=True, slots=True)
class DrugLine:
    drug: str
    dose: str
    frequency: str
    duration: str
    instructions: str = ""
    renewals: int = 0


@dataclass(frozen=True, slots=True)
class ElectronicSignature:
    """The hub's Ed25519 signature of the prescription, as the paper shows it."""

    key_id: str  # which of the hub's keys signed
    fingerprint: str  # a short digest of the signature: the check address carries it (?k=)
    signer: str  # who signed: the prescriber, as the hub knows them


@dataclass(frozen=True, slots=True)
class PrescriptionDocument:
    number: str
    issued_at: datetime
    prescriber: Prescriber
    patient: PatientOnPrescription
    lines: tuple[DrugLine, ...]
    check_url: str  # the hub's page for this number: what the QR code holds
    cabin_name: str
    signature: ElectronicSignature


def grouped_fingerprint(fingerprint: str) -> str:
    """The fingerprint in groups of four characters, to read aloud or compare by eye."""
    compact = "".join(fingerprint.split())
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def render_prescription(document: PrescriptionDocument, size: PageSize = "A5") -> bytes:
    """The prescription as PDF bytes."""
    _check(document)
    doctor, patient = document.prescriber, document.patient
    issued = document.issued_at.astimezone()
    patient_name = f"{patient.family_name.upper()} {patient.given_names}"
    born = f"{_BORN.get(patient.sex, 'Né(e)')} le {patient.birth_date.strftime('%d/%m/%Y')}"

    def continuation(w: PageWriter) -> None:
        w.text(f"Suite de l'ordonnance n° {document.number}", 10.5, bold=True)
        w.text(f"Prescripteur : {doctor.name} · RPPS {doctor.rpps}", 10)
        w.text(f"Patient : {patient_name} · {born}", 10)
        w.space(2)
        w.rule()
        w.space(4)

    w = PageWriter(
        size,
        footer=lambda n, count: f"Ordonnance n° {document.number} · page {n}/{count}",
        on_new_page=continuation,
    )
    w.text(doctor.name, 14, bold=True)
    w.text(doctor.specialty, 11)
    w.text(f"RPPS {doctor.rpps}", 10)
    w.text(doctor.address, 10)
    w.text(f"Tél. {doctor.phone} · {doctor.email}", 10)
    w.space(4)
    w.rule()
    w.space(2)
    baseline = w.y - w.pt(13)
    w.put(w.left, baseline, "ORDONNANCE", 13, bold=True)
    w.put(w.right, baseline, f"Le {issued.strftime('%d/%m/%Y')}", 11, align="right")
    w.y -= w.line_height(13)
    w.space(2)
    w.text(f"Patient : {patient_name}", 12, bold=True)
    weight = f" · Poids : {_decimal(patient.weight_kg)} kg" if patient.weight_kg is not None else ""
    w.text(f"Sexe : {_SEX.get(patient.sex, patient.sex)} · {born}{weight}", 11)
    w.space(10)

    indent = 6 * mm * w.scale
    for number, line in enumerate(document.lines, start=1):
        w.need(_drug_height(w, number, line, indent))
        w.text(f"{number}. {line.drug}", 12, bold=True, hang=indent)
        w.text(f"{line.dose}, {line.frequency}, pendant {line.duration}.", 11, indent=indent)
        if line.instructions:
            w.text(line.instructions, 11, indent=indent)
        w.text(_renewals(line), 10, indent=indent)
        w.space(7)

    _closing_block(w, document, issued)
    return w.render(title=f"Ordonnance {document.number}", author=doctor.name)


def _renewals(line: DrugLine) -> str:
    return f"À renouveler {line.renewals} fois." if line.renewals else "Non renouvelable."


def _drug_height(w: PageWriter, number: int, line: DrugLine, indent: float) -> float:
    """The height of one drug's block: it is kept whole on one page."""
    return (
        w.height_of(f"{number}. {line.drug}", 12, bold=True, indent=indent)
        + w.height_of(f"{line.dose}, {line.frequency}, pendant {line.duration}.", 11, indent=indent)
        + (w.height_of(line.instructions, 11, indent=indent) if line.instructions else 0)
        + w.height_of(_renewals(line), 10, indent=indent)
    )


def _check(document: PrescriptionDocument) -> None:
    if not document.lines:
        raise DocumentError("a prescription needs at least one drug")
    if not document.check_url:
        raise DocumentError("a prescription needs its check address (the QR code)")
    signature = document.signature
    compact = "".join(signature.fingerprint.split())
    if not signature.key_id.strip() or not signature.signer.strip() or not compact:
        raise DocumentError("the signature needs its key id, fingerprint and signer")
    if len(compact) > _FINGERPRINT_MAX:
        raise DocumentError(f"a fingerprint is a short digest (at most {_FINGERPRINT_MAX} chars)")


def _closing_block(w: PageWriter, document: PrescriptionDocument, issued: datetime) -> None:
    """The mention, the number, then the signature block beside the QR code: together, after
    the last drug, on the last page."""
    side = _QR_SIDE_MM * mm * w.scale
    gap = 4 * mm * w.scale
    pad = 2.5 * mm * w.scale
    box_width = w.content_width - side - gap
    signature = document.signature
    box = [
        ("Signature électronique", 10.5, True),
        (f"Signataire : {signature.signer}", 9.5, False),
        (f"Algorithme : Ed25519 · clé {signature.key_id}", 9.5, False),
        (f"Empreinte : {grouped_fingerprint(signature.fingerprint)}", 9.5, False),
        (
            f"Signée le {issued.strftime('%d/%m/%Y')} à {issued.hour} h {issued.minute:02d}",
            9.5,
            False,
        ),
    ]
    box_lines = [
        (text, points, bold)
        for paragraph, points, bold in box
        for text in w.lines(
            paragraph, points, bold=bold, indent=w.content_width - box_width + pad * 2
        )
    ]
    box_height = sum(w.line_height(points) for _, points, _ in box_lines) + 2 * pad
    mention = f"Ordonnance établie par téléconsultation ({document.cabin_name})."
    check = "Vérifiable en scannant le code ci-contre, ou à l'adresse :"
    above = (
        w.height_of(mention, 9.5) + w.line_height(12) + w.pt(6) + w.pt(6)  # rule, number, space
    )
    below = w.pt(4) + w.height_of(check, 8.5) + w.height_of(document.check_url, 8.5)
    w.need(above + max(box_height, side) + below)

    if not w.at_page_start:  # else the continuation header's rule is enough
        w.rule()
    w.text(mention, 9.5)
    w.text(f"N° {document.number}", 12, bold=True)
    w.space(6)
    top = w.y
    w.rect(w.left, top - box_height, box_width, box_height, line=1)
    y = top - pad
    for text, points, bold in box_lines:
        w.put(w.left + pad, y - w.pt(points), text, points, bold=bold)
        y -= w.line_height(points)
    modules = _qr_modules(document.check_url)
    x, bottom = w.right - side, top - side
    w.draw(lambda page: _draw_code(page, modules, x, bottom, side))
    w.y = top - max(box_height, side) - w.pt(4)
    w.text(check, 8.5)
    w.text(document.check_url, 8.5)


def _qr_modules(payload: str) -> npt.NDArray[np.bool_]:
    """The QR code's modules (True: dark), row by row from the top; error correction M (15 %).

    reportlab's encoder, with its choice of mask made here: its own choice scores the eight
    masks in pure Python (5 of the 8 ms a code took); `_mask_penalty` scores them as it does,
    with numpy (tests/printing/test_prescription.py checks that both choose the same mask)."""
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(payload)
    code.version = code.calculate_version()  # type: ignore[no-untyped-call]  # (no stub)
    penalties = []
    for mask in range(8):
        code.makeImpl(True, mask)
        penalties.append(_mask_penalty(np.array(code.modules, dtype=np.bool_)))
    code.makeImpl(False, penalties.index(min(penalties)))
    return np.array(code.modules, dtype=np.bool_)


_FINDER_LIKE: Final = np.array([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], dtype=np.bool_)


def _mask_penalty(modules: npt.NDArray[np.bool_]) -> int:
    """reportlab's `QRUtil.getLostPoint`, rule for rule: ISO/IEC 18004's four penalties as
    reportlab counts them (the lower, the easier the code is to scan)."""
    n = int(modules.shape[0])
    score = 0
    for lines in (modules, modules.T):
        # 1. a run of 5 or more modules of one colour in a row or a column: its length - 2
        edges = np.ones((n, n + 1), dtype=np.bool_)
        edges[:, 1:-1] = lines[:, 1:] != lines[:, :-1]
        rows, cols = np.nonzero(edges)
        runs = np.diff(cols)[rows[1:] == rows[:-1]]
        score += int((runs[runs >= 5] - 2).sum())
    # 3. in a row, dark-light-dark-dark-dark-light-dark then 4 light (starting before the last
    # possible start): 40. reportlab's column check compares tuples with a list: never true.
    windows = np.lib.stride_tricks.sliding_window_view(modules, _FINDER_LIKE.size, axis=1)
    score += 40 * int((windows[:, : n - _FINDER_LIKE.size] == _FINDER_LIKE).all(axis=2).sum())
    # 2. each 2x2 block of one colour: 3
    block = modules[:-1, :-1]
    same = (block == modules[1:, :-1]) & (block == modules[:-1, 1:]) & (block == modules[1:, 1:])
    score += 3 * int(same.sum())
    # 4. the share of dark modules away from 50 %: 10 per 5 % step
    dark = int(modules.sum())
    score += 10 * (abs(100 * dark // (n * n) - 50) // 5)
    return score


def _draw_code(
    page: canvas.Canvas, modules: npt.NDArray[np.bool_], x: float, y: float, side: float
) -> None:
    """The code as one filled path, in module units: a rectangle per run of dark modules in a
    row. One fill leaves no seams between modules when a printer or a viewer rasterises it;
    whole numbers keep the content stream short (and its writing fast)."""
    count = modules.shape[0]
    total = count + 2 * _QR_QUIET_MODULES
    module = side / total
    parts = [f"q 0 g {module:.4f} 0 0 {module:.4f} {x:.2f} {y:.2f} cm"]
    for r, row in enumerate(modules.tolist()):
        baseline = total - _QR_QUIET_MODULES - r - 1
        c = 0
        while c < count:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < count and row[c]:
                c += 1
            parts.append(f"{start + _QR_QUIET_MODULES} {baseline} {c - start} 1 re")
    parts.append("f Q")
    page.addLiteral("\n".join(parts))


def _decimal(value: float) -> str:
    """A number as French writes it: a decimal comma."""
    return f"{value:g}".replace(".", ",")
