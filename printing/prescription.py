"""The prescription as the patient takes it to the pharmacy: one PDF, A5 or A4.

It carries what French rules ask of a prescription (the prescriber's name, specialty, RPPS
number, address, phone and e-mail, signature and date; the patient's name, sex, birth date and,
when known, weight; each drug with its dose, frequency, duration and renewals; the mention that
it was issued by teleconsultation), and the prescription's unique number with a QR code that a
pharmacy scans to check it on the hub's page. Only the signature image is missing here: the hub
signs the prescription itself (Ed25519), and the code leads to that proof.

Rendering is pure (values in, bytes out) and takes tens of milliseconds: the cabin runs it off
the Qt thread. Fonts are DejaVu (Debian's fonts-dejavu-core): every French accent, large and
plain.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final, Literal

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4, A5
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from printing.errors import DocumentError

FONT_DIR: Final = Path("/usr/share/fonts/truetype/dejavu")
REGULAR: Final = "DejaVuSans"
BOLD: Final = "DejaVuSans-Bold"
PageSize = Literal["A5", "A4"]
_SEX: Final = {"female": "F", "male": "M", "other": "Autre", "unknown": "Non renseigné"}


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
class PrescriptionDocument:
    number: str
    issued_at: datetime
    prescriber: Prescriber
    patient: PatientOnPrescription
    lines: tuple[DrugLine, ...]
    check_url: str  # the hub's page for this number: what the QR code holds
    cabin_name: str


def _register_fonts() -> None:
    if REGULAR in pdfmetrics.getRegisteredFontNames():
        return
    for name, file in ((REGULAR, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf")):
        path = FONT_DIR / file
        if not path.exists():
            raise DocumentError(f"{path} is missing: install fonts-dejavu-core")
        pdfmetrics.registerFont(TTFont(name, str(path)))


class _Writer:
    """Lines top-down on a page, wrapped to its width, a new page when it is full."""

    def __init__(self, page: canvas.Canvas, width: float, height: float, scale: float) -> None:
        self.page = page
        self.width = width
        self.height = height
        self.scale = scale
        self.margin = 12 * mm * scale
        self.y = height - self.margin

    def text(self, text: str, size: float, *, bold: bool = False, gap: float = 1.35) -> None:
        font = BOLD if bold else REGULAR
        size *= self.scale
        for line in self._wrap(text, font, size, self.width - 2 * self.margin):
            if self.y - size < self.margin + 18 * mm * self.scale:
                self.new_page()
            self.page.setFont(font, size)
            self.page.drawString(self.margin, self.y - size, line)
            self.y -= size * gap

    def space(self, points: float) -> None:
        self.y -= points * self.scale

    def rule(self) -> None:
        self.page.setLineWidth(0.6)
        self.page.line(self.margin, self.y, self.width - self.margin, self.y)
        self.space(6)

    def new_page(self) -> None:
        self.page.showPage()
        self.y = self.height - self.margin

    @staticmethod
    def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
        lines: list[str] = []
        for paragraph in text.split("\n"):
            words, current = paragraph.split(), ""
            for word in words:
                candidate = f"{current} {word}".strip()
                if pdfmetrics.stringWidth(candidate, font, size) <= width or not current:
                    current = candidate
                else:
                    lines.append(current)
                    current = word
            lines.append(current)
        return lines


def render_prescription(document: PrescriptionDocument, size: PageSize = "A5") -> bytes:
    """The prescription as PDF bytes."""
    if not document.lines:
        raise DocumentError("a prescription needs at least one drug")
    _register_fonts()
    pagesize = A5 if size == "A5" else A4
    width, height = pagesize
    scale = 1.0 if size == "A5" else 1.25
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=pagesize, pageCompression=1)
    page.setTitle(f"Ordonnance {document.number}")
    page.setAuthor(document.prescriber.name)
    w = _Writer(page, width, height, scale)
    doctor, patient = document.prescriber, document.patient
    w.text(doctor.name, 13, bold=True)
    w.text(doctor.specialty, 10)
    w.text(f"RPPS {doctor.rpps}", 9)
    w.text(doctor.address, 9)
    w.text(f"Tél. {doctor.phone} · {doctor.email}", 9)
    w.space(6)
    w.rule()
    issued = document.issued_at.astimezone()
    w.text(f"Le {issued.strftime('%d/%m/%Y')}", 10)
    w.text(
        f"Patient : {patient.family_name.upper()} {patient.given_names}"
        f" · Sexe : {_SEX.get(patient.sex, patient.sex)}"
        f" · Né(e) le {patient.birth_date.strftime('%d/%m/%Y')}"
        + (f" · Poids : {_decimal(patient.weight_kg)} kg" if patient.weight_kg is not None else ""),
        10,
        bold=True,
    )
    w.space(8)
    for number, line in enumerate(document.lines, start=1):
        w.text(f"{number}. {line.drug}", 11, bold=True)
        w.text(f"{line.dose}, {line.frequency}, pendant {line.duration}.", 10)
        if line.instructions:
            w.text(line.instructions, 10)
        renewals = f"À renouveler {line.renewals} fois." if line.renewals else "Non renouvelable."
        w.text(renewals, 9)
        w.space(6)
    w.rule()
    w.text("Ordonnance établie par téléconsultation (" + document.cabin_name + ").", 9)
    w.text(f"N° {document.number}", 10, bold=True)
    w.text("Signée électroniquement par le prescripteur ; vérifiable en scannant ce code.", 8)
    _draw_code(page, document.check_url, width, w.margin, 26 * mm * scale)
    page.showPage()
    page.save()
    return out.getvalue()


def _draw_code(page: canvas.Canvas, payload: str, width: float, margin: float, side: float) -> None:
    """The QR code, bottom right."""
    widget = QrCodeWidget(payload, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0), 0, 0])
    drawing.add(widget)
    drawing.drawOn(page, width - margin - side, margin)


def _decimal(value: float) -> str:
    """A number as French writes it: a decimal comma."""
    return f"{value:g}".replace(".", ",")
