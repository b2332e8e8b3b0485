"""The prescription PDF: every field French rules ask for is in its text, it renders to a
legible page (no line over another, none over the QR code, each drug whole on one page), and
its QR code decodes to the check address."""

from __future__ import annotations

import random
import re
import string
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from reportlab.graphics.barcode import qrencoder

from printing.errors import DocumentError
from printing.prescription import (
    DrugLine,
    ElectronicSignature,
    PatientOnPrescription,
    Prescriber,
    PrescriptionDocument,
    _mask_penalty,
    _qr_modules,
    grouped_fingerprint,
    render_prescription,
)

CHECK_URL = "https://hub.exemple.fr/rx/RX-2026-000123-K7QF?k=ABCDEFGHJKMNPQRS"

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
    check_url=CHECK_URL,
    cabin_name="Cabine de la mairie de Plouguerneau",
    signature=ElectronicSignature(
        key_id="hub-2026-01", fingerprint="3f2a9c1b77d0e4a8c5b19e02", signer="Dr Claire Martin"
    ),
)

# Eight lines, long names and long instructions: several pages on A5 and on A4.
LONG = replace(
    DOCUMENT,
    lines=tuple(
        DrugLine(
            drug=(
                f"Amoxicilline/acide clavulanique {n}00 mg/62,5 mg, poudre pour suspension "
                "buvable en sachet-dose, boîte de 12"
            ),
            dose="1 sachet dissous dans un demi-verre d'eau",
            frequency="matin, midi et soir au début des repas",
            duration=f"{n + 4} jours",
            instructions=(
                "Prendre au début du repas pour limiter les troubles digestifs ; en cas de "
                "diarrhée persistante, d'éruption cutanée ou de gêne respiratoire, arrêter le "
                "traitement et appeler le médecin sans attendre."
            ),
            renewals=n % 3,
        )
        for n in range(1, 9)
    ),
)


@dataclass(frozen=True, slots=True)
class Word:
    page: int
    text: str
    x0: float
    y0: float  # from the top of the page, in points
    x1: float
    y1: float


def text_of(pdf: bytes, tmp_path: Path, *, page: int | None = None) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(
        ["pdftotext", "-layout", *pages, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def flat(text: str) -> str:
    return " ".join(text.split())


def page_count(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "count.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    match = re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    assert match
    return int(match.group(1))


def words_of(pdf: bytes, tmp_path: Path) -> list[Word]:
    """Every word with its box, as poppler lays the text out."""
    path = tmp_path / "words.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    words: list[Word] = []
    for number, page in enumerate(html.split("<page ")[1:], start=1):
        for match in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
            page,
        ):
            x0, y0, x1, y1 = (float(v) for v in match.groups()[:4])
            words.append(Word(number, match.group(5), x0, y0, x1, y1))
    return words


def overlapping(words: list[Word], slack: float = 0.3) -> list[tuple[Word, Word]]:
    """Pairs of words on one page whose boxes overlap."""
    pairs = []
    for i, a in enumerate(words):
        for b in words[i + 1 :]:
            if a.page == b.page and (
                a.x0 + slack < b.x1
                and b.x0 + slack < a.x1
                and a.y0 + slack < b.y1
                and b.y0 + slack < a.y1
            ):
                pairs.append((a, b))
    return pairs


def pngs(pdf: bytes, tmp_path: Path, dpi: int, prefix: str = "page") -> list[Path]:
    path = tmp_path / f"{prefix}.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), str(path), str(tmp_path / prefix)], check=True
    )
    return sorted(tmp_path.glob(f"{prefix}-*.png"))


def decode_qr(png: Path) -> tuple[str, np.ndarray | None]:
    image = cv2.imread(str(png))
    assert image is not None, png
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text, points


@pytest.mark.parametrize("size", ["A5", "A4"])
def test_every_required_field_is_printed(size: str, tmp_path: Path, screens_dir: Path) -> None:
    pdf = render_prescription(DOCUMENT, size)  # type: ignore[arg-type]
    text = flat(text_of(pdf, tmp_path))
    for expected in (
        "Dr Claire Martin",
        "Médecine générale",
        "RPPS 10101010101",
        "12 rue de la Santé, 29200 Brest",
        "02 98 00 00 00",
        "claire.martin@exemple.fr",
        "Le 23/11/2026",
        "QUÉLENNEC Yvonne",
        "Sexe : F",
        "Née le 02/05/1938",
        "Poids : 58,5 kg",
        "1. Paracétamol 500 mg, comprimé",
        "1 comprimé, 3 fois par jour, pendant 5 jours.",
        "Espacer les prises de 6 heures au moins",
        "Non renouvelable.",
        "2. Amoxicilline 1 g",
        "1 comprimé, matin et soir, pendant 6 jours.",
        "À renouveler 1 fois.",
        "Ordonnance établie par téléconsultation (Cabine de la mairie de Plouguerneau).",
        "N° RX-2026-000123-K7QF",
        # the signature block
        "Signature électronique",
        "Signataire : Dr Claire Martin",
        "Algorithme : Ed25519 · clé hub-2026-01",
        "Empreinte : 3f2a 9c1b 77d0 e4a8 c5b1 9e02",
        "Signée le 23/11/2026",
        CHECK_URL,
        "Ordonnance n° RX-2026-000123-K7QF · page 1/1",
    ):
        assert expected in text, expected
    assert not overlapping(words_of(pdf, tmp_path))
    (png,) = pngs(pdf, tmp_path, 100)
    png.replace(screens_dir / f"prescription-{size}.png")


def test_the_weight_is_absent_when_unknown(tmp_path: Path) -> None:
    unweighed = replace(DOCUMENT, patient=replace(DOCUMENT.patient, weight_kg=None))
    text = flat(text_of(render_prescription(unweighed), tmp_path))
    assert "Née le 02/05/1938" in text
    assert "Poids" not in text and " kg" not in text


@pytest.mark.parametrize("size", ["A5", "A4"])
def test_the_qr_code_decodes_to_the_check_address(size: str, tmp_path: Path) -> None:
    (png,) = pngs(render_prescription(DOCUMENT, size), tmp_path, 150)  # type: ignore[arg-type]
    assert decode_qr(png)[0] == CHECK_URL


@pytest.mark.parametrize("size", ["A5", "A4"])
def test_a_long_prescription_keeps_its_pages_legible(
    size: str, tmp_path: Path, screens_dir: Path
) -> None:
    pdf = render_prescription(LONG, size)  # type: ignore[arg-type]
    pages = page_count(pdf, tmp_path)
    assert pages > 1
    words = words_of(pdf, tmp_path)
    assert not overlapping(words)
    for page in range(1, pages + 1):
        text = flat(text_of(pdf, tmp_path, page=page))
        assert f"Ordonnance n° RX-2026-000123-K7QF · page {page}/{pages}" in text
        if page > 1:  # who and for whom, on every page
            assert "Suite de l'ordonnance n° RX-2026-000123-K7QF" in text
            assert "Dr Claire Martin" in text and "QUÉLENNEC Yvonne" in text
    # each drug whole on one page: its name, its dose and its instructions
    texts = [flat(text_of(pdf, tmp_path, page=page)) for page in range(1, pages + 1)]
    for number, line in enumerate(LONG.lines, start=1):
        (page_text,) = [t for t in texts if f"{number}. Amoxicilline" in t]
        assert f"pendant {line.duration}." in page_text
        assert "appeler le médecin sans attendre." in page_text
    # the closing block on the last page only, after the last drug
    assert [("Signature électronique" in t) for t in texts] == [False] * (pages - 1) + [True]
    last = texts[-1]
    assert "N° RX-2026-000123-K7QF" in last
    assert "8. Amoxicilline" not in last or (
        last.index("8. Amoxicilline") < last.index("Signature électronique")
    )
    # the code beside the signature, over no word
    files = pngs(pdf, tmp_path, 150)
    for png in files[:-1]:
        assert decode_qr(png)[0] == ""
    text, points = decode_qr(files[-1])
    assert text == CHECK_URL
    assert points is not None
    to_points = 72 / 150
    xs, ys = points[0][:, 0] * to_points, points[0][:, 1] * to_points
    code = (xs.min(), ys.min(), xs.max(), ys.max())
    for word in words:
        if word.page == pages:
            assert not (
                word.x0 < code[2] and code[0] < word.x1 and word.y0 < code[3] and code[1] < word.y1
            ), word
    for number, png in enumerate(files, start=1):
        png.replace(screens_dir / f"prescription-long-{size}-{number}.png")


def test_the_fingerprint_is_grouped_by_four() -> None:
    assert grouped_fingerprint("3f2a9c1b77d0e4a8c5") == "3f2a 9c1b 77d0 e4a8 c5"
    assert grouped_fingerprint(" 3f2a 9c1b\n77d0 ") == "3f2a 9c1b 77d0"


def test_a_prescription_without_drugs_is_refused() -> None:
    with pytest.raises(DocumentError):
        render_prescription(replace(DOCUMENT, lines=()))


@pytest.mark.parametrize(
    "signature",
    [
        ElectronicSignature(key_id="", fingerprint="3f2a", signer="Dr Claire Martin"),
        ElectronicSignature(key_id="hub-1", fingerprint=" ", signer="Dr Claire Martin"),
        ElectronicSignature(key_id="hub-1", fingerprint="3f2a", signer=""),
        ElectronicSignature(key_id="hub-1", fingerprint="ab" * 40, signer="Dr Claire Martin"),
    ],
)
def test_an_incomplete_signature_is_refused(signature: ElectronicSignature) -> None:
    with pytest.raises(DocumentError):
        render_prescription(replace(DOCUMENT, signature=signature))


def test_a_prescription_without_its_check_address_is_refused() -> None:
    with pytest.raises(DocumentError):
        render_prescription(replace(DOCUMENT, check_url=""))


def test_the_mask_is_the_one_reportlab_chooses() -> None:
    """The numpy scoring of the eight masks gives reportlab's scores, hence its code."""
    rng = random.Random(7)
    for n in range(30):
        key = "".join(rng.choices("ABCDEFGHJKMNPQRSTUVWXYZ234567", k=16))
        url = f"https://hub.exemple.fr/rx/RX-2026-{rng.randrange(10**6):06d}-K7QF?k={key}"
        url += "".join(rng.choices(string.ascii_letters, k=rng.randrange(0, 200))) if n % 3 else ""
        code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
        code.addData(url)
        code.version = code.calculate_version()  # type: ignore[no-untyped-call]
        for mask in range(8):
            code.makeImpl(True, mask)
            expected = qrencoder.QRUtil.getLostPoint(code)  # type: ignore[no-untyped-call]
            assert _mask_penalty(np.array(code.modules, dtype=np.bool_)) == expected
        reference = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
        reference.addData(url)
        reference.make()
        assert (np.array(reference.modules, dtype=np.bool_) == _qr_modules(url)).all()


@pytest.fixture
def screens_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-out" / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path
