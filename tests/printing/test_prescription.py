"""The prescription PDF: every field French rules ask for is in its text, it renders to a
legible page, and its QR code holds the check address."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from printing.errors import DocumentError
from printing.prescription import (
    DrugLine,
    PatientOnPrescription,
    Prescriber,
    PrescriptionDocument,
    render_prescription,
)

DOCUMENT = PrescriptionDocument(
    number="RX-2026-000123-K7QF",
    issued_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
    prescriber=Prescriber(
        name="Dr Claire Martin",
        specialty="Médecine générale",
        rpps="10101010101",
        address="12 rue de la Santé, 29200 Brest",
        phone="02 98 00 00 00",
        email="claire.martin@exemple.fr",
    ),
    patient=PatientOnPrescription(
        family_name="Quélennec",
        given_names="Yvonne",
        sex="female",
        birth_date=date(1938, 5, 2),
        weight_kg=58.5,
    ),
    lines=(
        DrugLine(
            drug="Paracétamol 500 mg, comprimé",
            dose="1 comprimé",
            frequency="3 fois par jour",
            duration="5 jours",
            instructions="Espacer les prises de 6 heures au moins",
        ),
        DrugLine(
            drug="Amoxicilline 1 g",
            dose="1 comprimé",
            frequency="matin et soir",
            duration="6 jours",
            renewals=1,
        ),
    ),
    check_url="https://hub.exemple.fr/rx/RX-2026-000123-K7QF",
    cabin_name="Cabine de la mairie de Plouguerneau",
)


def text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "rx.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("size", ["A5", "A4"])
def test_every_required_field_is_printed(size: str, tmp_path: Path, screens_dir: Path) -> None:
    pdf = render_prescription(DOCUMENT, size)  # type: ignore[arg-type]
    text = " ".join(text_of(pdf, tmp_path).split())
    for expected in (
        "Dr Claire Martin",
        "Médecine générale",
        "RPPS 10101010101",
        "12 rue de la Santé, 29200 Brest",
        "02 98 00 00 00",
        "claire.martin@exemple.fr",
        "23/11/2026",
        "QUÉLENNEC Yvonne",
        "Sexe : F",
        "02/05/1938",
        "58,5 kg",
        "1. Paracétamol 500 mg, comprimé",
        "1 comprimé, 3 fois par jour, pendant 5 jours.",
        "Espacer les prises de 6 heures au moins",
        "Non renouvelable.",
        "2. Amoxicilline 1 g",
        "À renouveler 1 fois.",
        "téléconsultation",
        "RX-2026-000123-K7QF",
    ):
        assert expected in text, expected
    png = screens_dir / f"prescription-{size}"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", str(tmp_path / "rx.pdf"), str(png)],
        check=True,
    )
    assert png.with_suffix(".png").stat().st_size > 10_000


def test_a_prescription_without_drugs_is_refused() -> None:
    with pytest.raises(DocumentError):
        render_prescription(replace(DOCUMENT, lines=()))


@pytest.fixture
def screens_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-out" / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path
