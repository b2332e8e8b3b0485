"""The consultation summary the patient takes home: one PDF, A5 or A4, in the patient's language.

What happened (the date, the cabin, the doctor, the reason), the vitals measured (each value
with its unit and the normal adult range, a value out of range marked by a symbol AND a word,
never by colour alone), the doctor's advice as written in a frame, the numbers of the
prescriptions printed apart, and what to do in an emergency. Large plain type for an elderly
reader; no QR code (the prescription has one).

The words are here, per language: the kiosk's Qt translations do not reach reportlab. French
and English; any other language gets French. The normal ranges are the doctor's console's
(hub/console/vitals.js), so that the paper says what the doctor saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import wire
from printing.layout import PageSize, PageWriter, text_width, wrap
from printing.prescription import PatientOnPrescription

__all__ = ["SummaryDocument", "render_summary"]


@dataclass(frozen=True, slots=True)
class SummaryDocument:
    language: str  # "fr" or "en": the patient's language; the whole document in it
    cabin_name: str
    patient: PatientOnPrescription
    started_at: datetime
    doctor_name: str | None
    doctor_specialty: str | None
    reason: str  # already in the patient's language, "" if none
    vitals: tuple[wire.Vital, ...]
    advice: str  # the doctor's advice, as written ("" if none)
    prescription_numbers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Range:
    """A value's normal adult range and how it is written (hub/console/vitals.js)."""

    low: float
    high: float
    digits: int
    unit: str


_RANGES: Final = {
    "systolic_mmhg": _Range(90, 140, 0, "mmHg"),
    "diastolic_mmhg": _Range(60, 90, 0, "mmHg"),
    "pulse_bpm": _Range(50, 100, 0, "/min"),
    "temperature_c": _Range(36.1, 37.8, 1, "°C"),
    "spo2_percent": _Range(95, 100, 0, "%"),
}

# Which values of each kind of measurement are shown, in this order.
_SHOWN: Final = {
    wire.VitalKind.BLOOD_PRESSURE: ("systolic_mmhg", "diastolic_mmhg", "pulse_bpm"),
    wire.VitalKind.SPO2: ("spo2_percent", "pulse_bpm"),
    wire.VitalKind.TEMPERATURE: ("temperature_c",),
    wire.VitalKind.PULSE: ("pulse_bpm",),
}

_TEXT: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "title": "Compte rendu de votre téléconsultation",
        "when": "Le {weekday} {day} {month} {year} à {hour} h {minute:02d}",
        "patient": "Patient : {name}, {born}",
        "born.female": "née le {date}",
        "born.male": "né le {date}",
        "born.other": "né(e) le {date}",
        "cabin": "Cabine : {cabin}",
        "doctor": "Médecin : {doctor}",
        "reason": "Motif de la consultation : {reason}",
        "vitals.heading": "Vos mesures",
        "vitals.none": "Aucune mesure n'a été prise pendant cette consultation.",
        "vitals.note": (
            "Valeurs normales pour un adulte au repos. Seul votre médecin peut interpréter "
            "vos résultats."
        ),
        "column.measure": "Mesure",
        "column.value": "Votre valeur",
        "column.normal": "Normale (adulte)",
        "column.result": "Résultat",
        "group.time": "{group}, à {hour} h {minute:02d}",
        "group.blood_pressure": "Tension artérielle",
        "group.spo2": "Oxygène dans le sang",
        "group.temperature": "Température",
        "group.pulse": "Pouls",
        "value.systolic_mmhg": "Chiffre du haut (systolique)",
        "value.diastolic_mmhg": "Chiffre du bas (diastolique)",
        "value.pulse_bpm": "Pouls",
        "value.spo2_percent": "Oxygène (SpO2)",
        "value.temperature_c": "Température",
        "flag.high": "▲ élevé",
        "flag.low": "▼ bas",
        "flag.ok": "✓ normal",
        "advice.heading": "Les conseils de votre médecin",
        "prescription.one": "Votre ordonnance {numbers} est imprimée à part.",
        "prescription.many": "Vos ordonnances {numbers} sont imprimées à part.",
        "prescription.number": "n° {number}",
        "and": " et ",
        "emergency.heading": "En cas d'urgence, appelez le 15 ou le 112",
        "emergency.text": (
            "Douleur dans la poitrine, difficulté à respirer, malaise, paralysie ou difficulté "
            "soudaine à parler, ou si votre état s'aggrave : appelez sans attendre. 15 : SAMU, "
            "urgences médicales ; 112 : numéro d'urgence européen ; 114 : par SMS, pour les "
            "personnes sourdes ou malentendantes."
        ),
        "footer": "Compte rendu de téléconsultation · page {page}/{pages}",
    },
    "en": {
        "title": "Summary of your teleconsultation",
        "when": "{weekday} {day} {month} {year} at {hour}:{minute:02d}",
        "patient": "Patient: {name}, {born}",
        "born.female": "born {date}",
        "born.male": "born {date}",
        "born.other": "born {date}",
        "cabin": "Cabin: {cabin}",
        "doctor": "Doctor: {doctor}",
        "reason": "Reason for the consultation: {reason}",
        "vitals.heading": "Your measurements",
        "vitals.none": "No measurements were taken during this consultation.",
        "vitals.note": (
            "Normal ranges for an adult at rest. Only your doctor can interpret your results."
        ),
        "column.measure": "Measurement",
        "column.value": "Your value",
        "column.normal": "Normal (adult)",
        "column.result": "Result",
        "group.time": "{group}, at {hour}:{minute:02d}",
        "group.blood_pressure": "Blood pressure",
        "group.spo2": "Oxygen in the blood",
        "group.temperature": "Temperature",
        "group.pulse": "Pulse",
        "value.systolic_mmhg": "Top number (systolic)",
        "value.diastolic_mmhg": "Bottom number (diastolic)",
        "value.pulse_bpm": "Pulse",
        "value.spo2_percent": "Oxygen (SpO2)",
        "value.temperature_c": "Temperature",
        "flag.high": "▲ high",
        "flag.low": "▼ low",
        "flag.ok": "✓ normal",
        "advice.heading": "Your doctor's advice",
        "prescription.one": "Your prescription {numbers} is printed separately.",
        "prescription.many": "Your prescriptions {numbers} are printed separately.",
        "prescription.number": "no. {number}",
        "and": " and ",
        "emergency.heading": "In an emergency, call 15 or 112",
        "emergency.text": (
            "Chest pain, difficulty breathing, fainting, paralysis or sudden difficulty "
            "speaking, or if you get worse: call at once. 15: SAMU, medical emergencies; "
            "112: European emergency number; 114: by text message, for deaf or hard of "
            "hearing people."
        ),
        "footer": "Teleconsultation summary · page {page}/{pages}",
    },
}
_MONTHS: Final = {
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip
_WEEKDAYS: Final = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_DASH: Final = "\N{EN DASH}"  # between the ends of a range

_BODY: Final = 12.0  # A5 points: large, for an elderly reader
_HEADING: Final = 13.5
_TABLE: Final = 11.5
_CELL_GAP: Final = 1.25


@dataclass(frozen=True, slots=True)
class _Row:
    """One value of one measurement, as the table shows it."""

    label: str
    value: str
    normal: str
    result: str
    out_of_range: bool


@dataclass(frozen=True, slots=True)
class _Group:
    """One measurement: a title row (what, when), then its values."""

    title: str
    rows: tuple[_Row, ...]


def render_summary(document: SummaryDocument, size: PageSize = "A5") -> bytes:
    """The consultation summary as PDF bytes, in the document's language."""
    language = _language(document.language)
    text = _TEXT[language]
    w = PageWriter(size, footer=lambda page, pages: text["footer"].format(page=page, pages=pages))
    w.text(text["title"], 16, bold=True)
    w.space(2)
    w.text(_when(document.started_at, language), _BODY)
    patient = document.patient
    w.text(
        text["patient"].format(
            name=f"{patient.family_name.upper()} {patient.given_names}",
            born=_born(patient, language),
        ),
        _BODY,
    )
    w.text(text["cabin"].format(cabin=document.cabin_name), _BODY)
    if document.doctor_name:
        doctor = document.doctor_name
        if document.doctor_specialty:
            doctor = f"{doctor} ({document.doctor_specialty})"
        w.text(text["doctor"].format(doctor=doctor), _BODY)
    if document.reason.strip():
        w.text(text["reason"].format(reason=document.reason.strip()), _BODY)
    w.space(6)

    w.need(w.line_height(_HEADING) + 3 * w.line_height(_TABLE, _CELL_GAP) * 2)
    w.text(text["vitals.heading"], _HEADING, bold=True)
    if document.vitals:
        _table(w, text, _groups(document.vitals, language))
        w.space(3)
        w.text(text["vitals.note"], 11)
    else:
        w.text(text["vitals.none"], _BODY)
    w.space(8)

    if document.advice.strip():
        advice = [(document.advice.strip(), _BODY, False)]
        heading = w.line_height(_HEADING) + w.pt(2)
        whole = heading + w.framed_height(advice)
        # the heading stays with its frame: with all of it if it fits on a page, else with
        # its first lines
        w.need(whole if whole <= w.page_height else heading + 4 * w.line_height(_BODY))
        w.text(text["advice.heading"], _HEADING, bold=True)
        w.space(2)
        w.framed(advice, line=1.2)
        w.space(8)

    if document.prescription_numbers:
        numbers = [
            text["prescription.number"].format(number=number)
            for number in document.prescription_numbers
        ]
        key = "prescription.one" if len(numbers) == 1 else "prescription.many"
        joined = text["and"].join(
            [", ".join(numbers[:-1]), numbers[-1]] if numbers[:-1] else numbers
        )
        w.text(text[key].format(numbers=joined), _BODY, bold=True)
        w.space(8)

    w.framed(
        [(text["emergency.heading"], _HEADING, True), (text["emergency.text"], _BODY, False)],
        line=2,
    )
    return w.render(title=text["title"], author=document.cabin_name)


def _language(code: str) -> str:
    """ "fr", "en" (also "en-GB", "EN"...); anything else: French."""
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base in _TEXT else "fr"


def _when(moment: datetime, language: str) -> str:
    local = moment.astimezone()
    return _TEXT[language]["when"].format(
        weekday=_WEEKDAYS[language][local.weekday()],
        day=local.day,
        month=_MONTHS[language][local.month - 1],
        year=local.year,
        hour=local.hour,
        minute=local.minute,
    )


def _born(patient: PatientOnPrescription, language: str) -> str:
    sex = patient.sex if patient.sex in ("female", "male") else "other"
    return _TEXT[language][f"born.{sex}"].format(date=_date(patient.birth_date, language))


def _date(day: date, language: str) -> str:
    """French: 02/05/1938; English: 2 May 1938 (no day/month order to guess)."""
    if language == "fr":
        return day.strftime("%d/%m/%Y")
    return f"{day.day} {_MONTHS[language][day.month - 1]} {day.year}"


def _number(value: float, digits: int, language: str) -> str:
    written = f"{value:.{digits}f}"
    return written.replace(".", ",") if language == "fr" else written


def _groups(vitals: tuple[wire.Vital, ...], language: str) -> list[_Group]:
    text = _TEXT[language]
    groups = []
    for vital in sorted(vitals, key=lambda v: v.measured_at):
        rows = []
        for field in _SHOWN[vital.kind]:
            value = getattr(vital, field)
            if value is None:
                continue
            normal = _RANGES[field]
            flag = "low" if value < normal.low else "high" if value > normal.high else "ok"
            unit_gap = "" if normal.unit == "%" and language == "en" else " "
            rows.append(
                _Row(
                    label=text[f"value.{field}"],
                    value=f"{_number(value, normal.digits, language)}{unit_gap}{normal.unit}",
                    normal=(
                        f"{_number(normal.low, normal.digits, language)}{_DASH}"
                        f"{_number(normal.high, normal.digits, language)}{unit_gap}{normal.unit}"
                    ),
                    result=text[f"flag.{flag}"],
                    out_of_range=flag != "ok",
                )
            )
        local = vital.measured_at.astimezone()
        title = text["group.time"].format(
            group=text[f"group.{vital.kind.value}"], hour=local.hour, minute=local.minute
        )
        groups.append(_Group(title, tuple(rows)))
    return groups


def _table(w: PageWriter, text: dict[str, str], groups: list[_Group]) -> None:
    """The vitals as a table: a header row, then for each measurement a title row and a row
    per value. A measurement is kept whole on a page; the header row is repeated on the next
    page when the table goes on there."""
    size = w.pt(_TABLE)
    pad = w.pt(4)
    header = (
        text["column.measure"],
        text["column.value"],
        text["column.normal"],
        text["column.result"],
    )
    rows = [row for group in groups for row in group.rows]

    def widest(cells: list[str], *, bold: bool = False) -> float:
        return max(text_width(cell, size, bold=bold) for cell in cells) + 2 * pad

    value = widest([r.value for r in rows], bold=True)
    normal = widest([r.normal for r in rows])
    result = widest([r.result for r in rows], bold=True)
    columns = [w.content_width - value - normal - result, value, normal, result]

    def cells_height(cells: tuple[str, ...], bold: tuple[bool, ...]) -> float:
        lines = max(
            len(wrap(cell, size, width - 2 * pad, bold=b))
            for cell, width, b in zip(cells, columns, bold, strict=True)
        )
        return lines * size * _CELL_GAP + 2 * pad * 0.6

    def draw_row(cells: tuple[str, ...], bold: tuple[bool, ...], grey: float) -> None:
        height = cells_height(cells, bold)
        x, top = w.left, w.y
        for cell, width, b in zip(cells, columns, bold, strict=True):
            w.rect(x, top - height, width, height, line=0.5, grey=grey)
            baseline = top - pad * 0.6 - size
            for line in wrap(cell, size, width - 2 * pad, bold=b):
                w.put(x + pad, baseline, line, _TABLE, bold=b)
                baseline -= size * _CELL_GAP
            x += width
        w.y -= height

    def draw_title(title: str) -> None:
        lines = wrap(title, size, w.content_width - 2 * pad, bold=True)
        height = len(lines) * size * _CELL_GAP + 2 * pad * 0.6
        w.rect(w.left, w.y - height, w.content_width, height, line=0.5, grey=0.93)
        baseline = w.y - pad * 0.6 - size
        for line in lines:
            w.put(w.left + pad, baseline, line, _TABLE, bold=True)
            baseline -= size * _CELL_GAP
        w.y -= height

    header_bold = (True, True, True, True)
    draw_row(header, header_bold, 0.82)
    for group in groups:
        title_height = (
            len(wrap(group.title, size, w.content_width - 2 * pad, bold=True)) * size * _CELL_GAP
            + 2 * pad * 0.6
        )
        group_height = title_height + sum(
            cells_height(_cells(row), _bold(row)) for row in group.rows
        )
        if group_height > w.room:
            w.new_page()
            draw_row(header, header_bold, 0.82)
        draw_title(group.title)
        for row in group.rows:
            draw_row(_cells(row), _bold(row), 1)


def _cells(row: _Row) -> tuple[str, str, str, str]:
    return (row.label, row.value, row.normal, row.result)


def _bold(row: _Row) -> tuple[bool, bool, bool, bool]:
    """A value out of range stands out in bold, beside its words."""
    return (False, row.out_of_range, False, row.out_of_range)
