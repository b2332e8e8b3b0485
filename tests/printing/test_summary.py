"""The consultation summary PDF: all of it in the patient's language, each vital with its unit,
its normal range and, out of range, a word beside the symbol; the advice framed, even over two
pages; what to do in an emergency; no QR code."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import wire
from printing.prescription import PatientOnPrescription
from printing.summary import SummaryDocument, render_summary
from tests.printing.test_prescription import (
    decode_qr,
    flat,
    overlapping,
    page_count,
    pngs,
    text_of,
    words_of,
)

DASH = "\N{EN DASH}"  # between the ends of a range
STARTED = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
VITALS = (
    wire.Vital(
        kind=wire.VitalKind.BLOOD_PRESSURE,
        measured_at=STARTED + timedelta(minutes=2),
        device_id="bp-1",
        systolic_mmhg=152,
        diastolic_mmhg=88,
        mean_arterial_mmhg=109,
        pulse_bpm=72,
    ),
    wire.Vital(
        kind=wire.VitalKind.SPO2,
        measured_at=STARTED + timedelta(minutes=4),
        device_id="ox-1",
        spo2_percent=93,
        pulse_bpm=48,
    ),
    wire.Vital(
        kind=wire.VitalKind.TEMPERATURE,
        measured_at=STARTED + timedelta(minutes=5),
        device_id="th-1",
        temperature_c=37.9,
    ),
)
ADVICE_FR = (
    "Buvez au moins 1,5 litre d'eau par jour.\n"
    "Reprenez la tension chez votre pharmacien dans une semaine et notez les chiffres."
)
FRENCH = SummaryDocument(
    language="fr",
    cabin_name="Cabine de la mairie de Plouguerneau",
    patient=PatientOnPrescription("Quélennec", "Yvonne", "female", date(1938, 5, 2), 58.5),
    started_at=STARTED,
    doctor_name="Dr Claire Martin",
    doctor_specialty="Médecine générale",
    reason="Fièvre et toux depuis trois jours",
    vitals=VITALS,
    advice=ADVICE_FR,
    prescription_numbers=("RX-2026-000123-K7QF",),
)
ENGLISH = replace(
    FRENCH,
    language="en",
    doctor_specialty="General practice",
    reason="Fever and cough for three days",
    advice="Drink at least 1.5 litres of water a day.\nHave your blood pressure checked in a week.",
    prescription_numbers=("RX-2026-000123-K7QF", "RX-2026-000124-P2ZD"),
)


def render_text(document: SummaryDocument, tmp_path: Path, size: str = "A5") -> str:
    return flat(text_of(render_summary(document, size), tmp_path))  # type: ignore[arg-type]


@pytest.mark.parametrize("size", ["A5", "A4"])
def test_the_french_summary_says_everything_in_french(
    size: str, tmp_path: Path, screens_dir: Path
) -> None:
    pdf = render_summary(FRENCH, size)  # type: ignore[arg-type]
    text = flat(text_of(pdf, tmp_path))
    for expected in (
        "Compte rendu de votre téléconsultation",
        "Le lundi 23 novembre 2026 à",
        "Patient : QUÉLENNEC Yvonne, née le 02/05/1938",
        "Cabine : Cabine de la mairie de Plouguerneau",
        "Médecin : Dr Claire Martin (Médecine générale)",
        "Motif de la consultation : Fièvre et toux depuis trois jours",
        "Vos mesures",
        "Mesure Votre",  # the header row
        "Tension artérielle, à",
        # each row: the value, the range, the mark and its word (a label may wrap in its cell)
        "Chiffre du haut",
        f"152 mmHg 90{DASH}140 mmHg ▲ élevé",
        "Chiffre du bas",
        f"88 mmHg 60{DASH}90 mmHg ✓ normal",
        f"Pouls 72 /min 50{DASH}100 /min ✓ normal",
        f"Oxygène (SpO2) 93 % 95{DASH}100 % ▼ bas",
        f"Pouls 48 /min 50{DASH}100 /min ▼ bas",
        f"Température 37,9 °C 36,1{DASH}37,8 °C ▲ élevé",
        "Les conseils de votre médecin",
        "Buvez au moins 1,5 litre d'eau par jour.",
        "notez les chiffres.",
        "Votre ordonnance n° RX-2026-000123-K7QF est imprimée à part.",
        "En cas d'urgence, appelez le 15 ou le 112",
        "114",
        "Compte rendu de téléconsultation · page 1/",
    ):
        assert expected in text, expected
    assert "mmHg" in text and "Summary" not in text and "normal range" not in text
    assert not overlapping(words_of(pdf, tmp_path))
    files = pngs(pdf, tmp_path, 150)
    assert all(decode_qr(png)[0] == "" for png in files)  # no QR code on a summary
    for number, png in enumerate(files, start=1):
        png.replace(screens_dir / f"summary-fr-{size}-{number}.png")


@pytest.mark.parametrize("size", ["A5", "A4"])
def test_the_english_summary_says_everything_in_english(
    size: str, tmp_path: Path, screens_dir: Path
) -> None:
    pdf = render_summary(ENGLISH, size)  # type: ignore[arg-type]
    text = flat(text_of(pdf, tmp_path))
    for expected in (
        "Summary of your teleconsultation",
        "Monday 23 November 2026 at",
        "Patient: QUÉLENNEC Yvonne, born 2 May 1938",
        "Cabin: Cabine de la mairie de Plouguerneau",
        "Doctor: Dr Claire Martin (General practice)",
        "Reason for the consultation: Fever and cough for three days",
        "Your measurements",
        "Blood pressure, at",
        "Top number",
        f"152 mmHg 90{DASH}140 mmHg ▲ high",
        "Bottom number",
        f"88 mmHg 60{DASH}90 mmHg ✓ normal",
        f"Pulse 72 /min 50{DASH}100 /min ✓ normal",
        f"Oxygen (SpO2) 93% 95{DASH}100% ▼ low",
        f"Pulse 48 /min 50{DASH}100 /min ▼ low",
        f"Temperature 37.9 °C 36.1{DASH}37.8 °C ▲ high",
        "Your doctor's advice",
        "Drink at least 1.5 litres of water a day.",
        "Your prescriptions no. RX-2026-000123-K7QF and no. RX-2026-000124-P2ZD are printed",
        "In an emergency, call 15 or 112",
        "Teleconsultation summary · page 1/",
    ):
        assert expected in text, expected
    for french in ("Compte rendu", "Médecin", "élevé", "Vos mesures", "ordonnance"):
        assert french not in text, french
    assert not overlapping(words_of(pdf, tmp_path))
    for number, png in enumerate(pngs(pdf, tmp_path, 100), start=1):
        png.replace(screens_dir / f"summary-en-{size}-{number}.png")


@pytest.mark.parametrize("language", ["de", "", "xx-YY"])
def test_an_unknown_language_gets_french(language: str, tmp_path: Path) -> None:
    text = render_text(replace(FRENCH, language=language), tmp_path)
    assert "Compte rendu de votre téléconsultation" in text


def test_a_regional_english_is_english(tmp_path: Path) -> None:
    assert "Summary of your teleconsultation" in render_text(
        replace(ENGLISH, language="en-GB"), tmp_path
    )


@pytest.mark.parametrize(("document", "none"), [(FRENCH, "Aucune mesure"), (ENGLISH, "No measure")])
def test_without_vitals_advice_doctor_or_prescription(
    document: SummaryDocument, none: str, tmp_path: Path, screens_dir: Path
) -> None:
    bare = replace(
        document,
        vitals=(),
        advice=" ",
        prescription_numbers=(),
        doctor_name=None,
        doctor_specialty=None,
        reason="",
    )
    pdf = render_summary(bare)
    text = flat(text_of(pdf, tmp_path))
    assert none in text
    for absent in ("mmHg", "Médecin", "Doctor", "conseils", "advice", "Motif", "Reason", "RX-"):
        assert absent not in text, absent
    assert "15" in text and "112" in text  # the emergency numbers always
    assert page_count(pdf, tmp_path) == 1
    (png,) = pngs(pdf, tmp_path, 100)
    png.replace(screens_dir / f"summary-bare-{document.language}.png")


def test_a_doctor_without_a_specialty_is_named_alone(tmp_path: Path) -> None:
    text = render_text(replace(FRENCH, doctor_specialty=None), tmp_path)
    assert "Médecin : Dr Claire Martin Vos mesures" in text or (
        "Médecin : Dr Claire Martin Motif" in text
    )


def test_values_on_the_limits_are_normal(tmp_path: Path) -> None:
    limits = (
        wire.Vital(
            kind=wire.VitalKind.BLOOD_PRESSURE,
            measured_at=STARTED,
            device_id="bp-1",
            systolic_mmhg=140,
            diastolic_mmhg=60,
        ),
        wire.Vital(
            kind=wire.VitalKind.TEMPERATURE,
            measured_at=STARTED,
            device_id="th-1",
            temperature_c=36.1,
        ),
        wire.Vital(kind=wire.VitalKind.PULSE, measured_at=STARTED, device_id="p", pulse_bpm=101),
    )
    text = render_text(replace(FRENCH, vitals=limits), tmp_path)
    assert f"140 mmHg 90{DASH}140 mmHg ✓ normal" in text
    assert f"60 mmHg 60{DASH}90 mmHg ✓ normal" in text
    assert f"36,1 °C 36,1{DASH}37,8 °C ✓ normal" in text
    assert f"101 /min 50{DASH}100 /min ▲ élevé" in text


def test_a_long_advice_goes_on_to_a_second_page(tmp_path: Path, screens_dir: Path) -> None:
    paragraphs = [
        f"Point {n} : reprenez la tension chez votre pharmacien chaque semaine pendant un mois et "
        "notez les chiffres dans votre carnet, avec l'heure de la mesure."
        for n in range(1, 16)
    ]
    pdf = render_summary(replace(FRENCH, advice="\n".join(paragraphs)))
    pages = page_count(pdf, tmp_path)
    texts = [flat(text_of(pdf, tmp_path, page=p)) for p in range(1, pages + 1)]
    (starts,) = [n for n, t in enumerate(texts) if "Point 1 :" in t]
    (ends,) = [n for n, t in enumerate(texts) if "Point 15 :" in t]
    assert ends > starts  # the frame goes on over the page break
    assert "Les conseils de votre médecin" in texts[starts]
    whole = re.sub(r"Compte rendu de téléconsultation · page \d+/\d+ ?", "", " ".join(texts))
    for paragraph in paragraphs:  # every word, in order, nothing lost at the break
        assert paragraph in whole, paragraph
    assert whole.index("Point 15 :") < whole.index("En cas d'urgence")
    for number, text in enumerate(texts, start=1):
        assert f"page {number}/{pages}" in text
    assert not overlapping(words_of(pdf, tmp_path))
    for number, png in enumerate(pngs(pdf, tmp_path, 100), start=1):
        png.replace(screens_dir / f"summary-long-advice-{number}.png")


@pytest.fixture
def screens_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-out" / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path
