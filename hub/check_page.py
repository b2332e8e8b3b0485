"""The page a pharmacist reaches by scanning a prescription's QR code: is this prescription
genuine, and what does it say?

``GET /rx/<number>?k=<code>`` (no login) finds the prescription, checks the code (made from its
signature: the number alone, printed in clear, opens nothing), checks the Ed25519 signature of
what is stored with the hub's public key, and shows in large type "Ordonnance authentique" with
the number, the date, the prescriber, the patient's name and birth date (as printed, for the
pharmacist to compare) and every line. French first, English below. ``Accept:
application/json`` gives the same as JSON. Refusals never tell whether a number exists: an
unknown number and a wrong code get the same 404.

``GET /rx/public-key.pem`` gives the signing key, for checkers that work offline.

Each client address may check a few dozen prescriptions a minute (429 beyond). Log lines name
the prescription number and the address, never the patient.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import html
import logging
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web
from cryptography.hazmat.primitives import serialization

import wire
from hub.auth import client_address
from hub.errors import CorruptRecord, InvalidPrescription, StorageError
from hub.log_safe import log_safe
from hub.prescriptions import (
    check_code,
    normalise_check_code,
    prescription_from_record,
    verify_prescription,
)
from hub.services import SERVICES, HubServices
from hub.storage import ActorKind, ConsultationRecord, PrescriptionRecord

log = logging.getLogger(__name__)

NUMBER = re.compile(r"^RX-[0-9]{4}-[0-9]{6}-[0-9A-HJKMNP-TV-Z]{4}$")
DISPLAY_ZONE = "Europe/Paris"
"""Dates and times are shown as a French pharmacy reads them."""
PUBLIC_KEY_PATH = "/rx/public-key.pem"
CHECK_ACTOR = "check-page"
_DECOY_CODE = "0" * 16


class Refusal(enum.StrEnum):
    """Why a check does not say "genuine"; the value is the JSON answer's `reason`."""

    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    ALTERED = "altered"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


_STATUS = {
    Refusal.MALFORMED: 400,
    Refusal.NOT_FOUND: 404,
    Refusal.ALTERED: 409,
    Refusal.RATE_LIMITED: 429,
    Refusal.UNAVAILABLE: 503,
}


class CheckedPatient(msgspec.Struct, frozen=True, kw_only=True):
    family_name: str
    given_names: str
    birth_date: date


class CheckedPrescription(msgspec.Struct, frozen=True, kw_only=True):
    """What the page shows of a genuine prescription."""

    prescription_id: str
    issued_at: datetime
    prescriber: wire.DoctorInfo
    patient: CheckedPatient
    lines: list[wire.PrescriptionLine]
    key_id: str


class GenuineAnswer(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    prescription: CheckedPrescription


class RefusedAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    valid: bool
    reason: str
    retry_after_s: int | None = None


# --- checking --------------------------------------------------------------------------------


class _Refused(Exception):
    """A check that ends in a refusal (a control-flow signal, not an error of the hub)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


async def _genuine(
    services: HubServices, number: str, given_code: str
) -> tuple[PrescriptionRecord, ConsultationRecord]:
    """The prescription `number` if `given_code` opens it and its signature holds; else raises
    `_Refused`. The code is compared before anything else is read, in constant time, against a
    decoy when there is no such number."""
    signature = None
    if services.signer.is_well_formed(number):
        signature = await services.storage.prescription_signature(number)
    expected = None
    if signature is not None:
        try:
            expected = check_code(signature)
        except InvalidPrescription:
            expected = None  # a signature that is not even base64: nothing matches it
    matches = hmac.compare_digest(given_code.encode(), (expected or _DECOY_CODE).encode())
    if not matches or expected is None:
        raise _Refused(Refusal.NOT_FOUND)
    try:
        record = await services.storage.prescription(number)
        consultation = None
        if record is not None:
            consultation = await services.storage.consultation(record.consultation_id)
        if record is None or consultation is None:
            raise _Refused(Refusal.ALTERED)
        verify_prescription(prescription_from_record(record), services.signer.public_keys)
    except (CorruptRecord, InvalidPrescription):
        raise _Refused(Refusal.ALTERED) from None
    return record, consultation


async def check(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    address = client_address(request)
    as_json = _wants_json(request)
    retry_after = await services.check_limit.attempt(address)
    if retry_after is not None:
        log.warning("hub.rx_check result=rate_limited address=%s", log_safe(address))
        return _refusal(Refusal.RATE_LIMITED, as_json, retry_after_s=int(retry_after))
    number = request.match_info["number"].upper()
    if not NUMBER.fullmatch(number):
        log.info("hub.rx_check result=malformed address=%s", log_safe(address))
        return _refusal(Refusal.MALFORMED, as_json)
    try:
        record, consultation = await _genuine(
            services, number, normalise_check_code(request.query.get("k", ""))
        )
    except _Refused as refused:
        level = logging.WARNING if refused.refusal is Refusal.ALTERED else logging.INFO
        log.log(
            level,
            "hub.rx_check result=%s prescription=%s address=%s",
            refused.refusal.value,
            number,
            log_safe(address),
        )
        return _refusal(refused.refusal, as_json, number=number)
    except StorageError as exc:
        log.error("hub.rx_check result=unavailable prescription=%s error=%s", number, log_safe(exc))
        return _refusal(Refusal.UNAVAILABLE, as_json)
    try:  # the patient's name is about to be shown: not without a trace of it
        await services.audit.record(
            "prescription.checked",
            actor_kind=ActorKind.PUBLIC,
            actor_id=CHECK_ACTOR,
            consultation_id=consultation.consultation_id,
            client_address=address,
        )
    except StorageError as exc:
        log.error("hub.rx_check result=unavailable prescription=%s error=%s", number, log_safe(exc))
        return _refusal(Refusal.UNAVAILABLE, as_json)
    log.info("hub.rx_check result=valid prescription=%s address=%s", number, log_safe(address))
    patient = record.patient or consultation.patient
    checked = CheckedPrescription(
        prescription_id=record.prescription_id,
        issued_at=record.issued_at,
        prescriber=record.prescriber,
        patient=CheckedPatient(  # as signed with it (older ones: as the hub knew them)
            family_name=patient.family_name,
            given_names=patient.given_names,
            birth_date=patient.birth_date,
        ),
        lines=list(record.lines),
        key_id=record.key_id,
    )
    if as_json:
        return _json(GenuineAnswer(valid=True, prescription=checked), 200)
    page = _genuine_page(checked, patient.sex, services.clock.now())
    return _html(page, 200)


async def public_key(request: web.Request) -> web.StreamResponse:
    signer = request.app[SERVICES].signer
    pem = signer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return web.Response(
        body=pem,
        headers={
            "Content-Type": "application/x-pem-file",
            "Content-Disposition": 'inline; filename="prescription-signing.pub"',
            "X-Key-Id": signer.key_id,
            "Cache-Control": "public, max-age=3600",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get(PUBLIC_KEY_PATH, public_key)
    app.router.add_get("/rx/{number}", check)


# --- answers ---------------------------------------------------------------------------------


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _json(answer: GenuineAnswer | RefusedAnswer, status: int) -> web.Response:
    response = web.Response(
        body=msgspec.json.encode(answer), status=status, content_type="application/json"
    )
    _private(response)
    return response


def _html(page: str, status: int) -> web.Response:
    response = web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    _private(response)
    return response


def _private(response: web.Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Vary"] = "Accept"


def _refusal(
    refusal: Refusal, as_json: bool, *, number: str | None = None, retry_after_s: int | None = None
) -> web.Response:
    status = _STATUS[refusal]
    if as_json:
        response = _json(
            RefusedAnswer(valid=False, reason=refusal.value, retry_after_s=retry_after_s), status
        )
    else:
        response = _html(_refused_page(refusal, number, retry_after_s), status)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


# --- the pages -------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; --ink: #1a1a1a; --muted: #555; --line: #d0d0d0; }
* { box-sizing: border-box; }
body { margin: 0; font: 18px/1.45 system-ui, "DejaVu Sans", sans-serif; color: var(--ink);
  background: #f4f4f1; }
main { max-width: 46rem; margin: 0 auto; padding: 1rem 1rem 3rem; }
.verdict { border-radius: 0.6rem; padding: 1.2rem 1.4rem; color: #fff; margin: 0.5rem 0 1.2rem; }
.verdict.valid { background: #0d6b2f; }
.verdict.refused { background: #a3121b; }
.verdict.notice { background: #6b4a00; }
.verdict h1 { margin: 0; font-size: 2.4rem; line-height: 1.15; }
.verdict .mark { font-size: 2.6rem; line-height: 1; margin: 0 0 0.3rem; font-weight: 700; }
.verdict .en { margin: 0.3rem 0 0; font-size: 1.3rem; opacity: 0.92; }
.lead { font-size: 1.1rem; margin: 0 0 0.4rem; }
.lead.en { color: var(--muted); margin-bottom: 1.2rem; }
.facts { display: grid; grid-template-columns: 1fr; gap: 0.6rem; margin: 0 0 1.4rem; }
.facts div { background: #fff; border: 1px solid var(--line); border-radius: 0.5rem;
  padding: 0.7rem 1rem; }
dt { font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
dt span, h2 span, .label span { text-transform: none; letter-spacing: 0; font-style: italic; }
dd { margin: 0.15rem 0 0; font-size: 1.25rem; }
dd small { display: block; font-size: 1rem; color: var(--muted); }
.number { font-family: "DejaVu Sans Mono", monospace; font-size: 1.5rem; font-weight: 700; }
.patient { font-size: 1.5rem; font-weight: 700; }
h2 { font-size: 1.3rem; margin: 1.4rem 0 0.6rem; }
h2 span { font-weight: 400; color: var(--muted); font-size: 1.05rem; }
ol.lines { list-style: none; padding: 0; margin: 0; counter-reset: line; }
ol.lines > li { background: #fff; border: 1px solid var(--line); border-left: 0.45rem solid #0d6b2f;
  border-radius: 0.5rem; padding: 0.8rem 1rem; margin: 0 0 0.7rem; }
.drug { font-size: 1.4rem; font-weight: 700; margin: 0 0 0.4rem; }
.line-facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr));
  gap: 0.3rem 1rem; margin: 0; }
.line-facts dd { font-size: 1.1rem; }
.instructions { margin: 0.5rem 0 0; }
.english { margin-top: 2rem; padding-top: 1rem; border-top: 2px solid var(--line); }
.english p { color: #333; }
footer { margin-top: 2rem; font-size: 0.9rem; color: var(--muted); }
code { font-family: "DejaVu Sans Mono", monospace; }
"""
PAGE_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Nothing but the page's own style sheet: no script, no image, no frame, no form."""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _local(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(DISPLAY_ZONE))


def _born(sex: wire.Sex) -> str:
    return {wire.Sex.FEMALE: "née le", wire.Sex.MALE: "né le"}.get(sex, "né(e) le")


def _renewals(count: int) -> tuple[str, str]:
    if count == 0:
        return "Non renouvelable", "No renewal"
    return f"À renouveler {count} fois", f"Renew {count} time{'s' if count > 1 else ''}"


def _fact(label_fr: str, label_en: str, value: str, *, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return (
        f'<div><dt>{_e(label_fr)} <span lang="en">· {_e(label_en)}</span></dt>'
        f"<dd{klass}>{value}</dd></div>"
    )


def _genuine_page(checked: CheckedPrescription, sex: wire.Sex, now: datetime) -> str:
    issued = _local(checked.issued_at)
    doctor, patient = checked.prescriber, checked.patient
    born = patient.birth_date.strftime("%d/%m/%Y")
    prescriber = _e(doctor.display_name) + f"<small>{_e(doctor.specialty)}</small>"
    prescriber += f"<small>RPPS {_e(doctor.registration_number or '—')}</small>"
    if doctor.address:
        prescriber += f"<small>{_e(doctor.address).replace(chr(10), ', ')}</small>"
    contact = " · ".join(_e(part) for part in (doctor.phone, doctor.email) if part)
    if contact:
        prescriber += f"<small>{contact}</small>"
    lines = []
    for line in checked.lines:
        renew_fr, renew_en = _renewals(line.renewals)
        facts = "".join(
            (
                _fact("Dose", "Dose", _e(line.dose)),
                _fact("Fréquence", "Frequency", _e(line.frequency)),
                _fact("Durée", "Duration", _e(line.duration)),
                _fact(
                    "Renouvellements",
                    "Renewals",
                    f'{_e(renew_fr)} <small lang="en">{_e(renew_en)}</small>',
                ),
            )
        )
        instructions = ""
        if line.instructions:
            instructions = f'<p class="instructions">{_e(line.instructions)}</p>'
        lines.append(
            f'<li><p class="drug">{_e(line.drug)}</p>'
            f'<dl class="line-facts">{facts}</dl>{instructions}</li>'
        )
    patient_fact = _fact(
        "Patient",
        "Patient",
        f"{_e(patient.family_name.upper())} {_e(patient.given_names)}"
        f'<small>{_e(_born(sex))} {_e(born)} <span lang="en">(born {_e(born)})</span></small>',
        css="patient",
    )
    checked_at = _local(now)
    body = f"""<header class="verdict valid" role="status">
<p class="mark" aria-hidden="true">✓</p>
<h1>Ordonnance authentique</h1>
<p class="en" lang="en">Genuine prescription</p>
</header>
<p class="lead">La signature électronique du serveur de téléconsultation correspond à cette
ordonnance. Vérifiez que le patient et les médicaments ci-dessous sont ceux du papier.</p>
<p class="lead en" lang="en">The teleconsultation hub's electronic signature matches this
prescription. Check that the patient and the drugs below are those on the paper.</p>
<dl class="facts">
{_fact("N° d'ordonnance", "Number", _e(checked.prescription_id), css="number")}
{_fact("Date", "Date", _e(issued.strftime("%d/%m/%Y à %H:%M")))}
{_fact("Prescripteur", "Prescriber", prescriber)}
{patient_fact}
</dl>
<h2>Traitement <span lang="en">· Treatment</span></h2>
<ol class="lines">
{"".join(lines)}
</ol>
<section class="english" lang="en">
<h2>In English</h2>
<p>This page confirms that the prescription {_e(checked.prescription_id)} was issued and
signed by the teleconsultation hub, and that its content has not changed since. Compare the
patient's name and birth date, and every line, with the paper before dispensing.</p>
</section>
<footer>Vérifié le {_e(checked_at.strftime("%d/%m/%Y à %H:%M"))} (heure de Paris) · clé de
signature <code>{_e(checked.key_id)}</code> · <span lang="en">checked with signing key
<code>{_e(checked.key_id)}</code></span></footer>"""
    return _page(f"Ordonnance authentique {checked.prescription_id} — Genuine prescription", body)


_REFUSALS: dict[Refusal, tuple[str, str, str, str, str]] = {
    # refusal: (css, French title, English title, French text, English text)
    Refusal.NOT_FOUND: (
        "refused",
        "Ordonnance introuvable ou non authentique",
        "Prescription not found or not genuine",
        "Aucune ordonnance signée ne correspond à ce numéro et à ce code. Scannez de nouveau le"
        " QR code imprimé sur l'ordonnance. S'il ne mène pas ici, ne délivrez pas sur la foi de"
        " ce papier : contactez le prescripteur.",
        "No signed prescription matches this number and code. Scan the QR code printed on the"
        " prescription again. If it does not lead here, do not dispense on the strength of this"
        " paper: contact the prescriber.",
    ),
    Refusal.ALTERED: (
        "refused",
        "Ordonnance altérée : ne pas délivrer",
        "Altered prescription: do not dispense",
        "Ce qui est enregistré pour cette ordonnance ne correspond plus à sa signature"
        " électronique : elle a été modifiée après avoir été signée. Ne délivrez pas, et"
        " contactez le prescripteur.",
        "What is stored for this prescription no longer matches its electronic signature: it"
        " was changed after it was signed. Do not dispense, and contact the prescriber.",
    ),
    Refusal.MALFORMED: (
        "notice",
        "Numéro d'ordonnance mal formé",
        "Malformed prescription number",
        "Un numéro d'ordonnance s'écrit RX-AAAA-NNNNNN-XXXX (par exemple RX-2026-000123-7KQ4)."
        " Scannez le QR code imprimé sur l'ordonnance plutôt que de saisir l'adresse.",
        "A prescription number reads RX-YYYY-NNNNNN-XXXX (for instance RX-2026-000123-7KQ4)."
        " Scan the QR code printed on the prescription rather than typing the address.",
    ),
    Refusal.RATE_LIMITED: (
        "notice",
        "Trop de vérifications depuis ce poste",
        "Too many checks from this computer",
        "Réessayez dans {retry} secondes.",
        "Try again in {retry} seconds.",
    ),
    Refusal.UNAVAILABLE: (
        "notice",
        "Vérification momentanément impossible",
        "Checking is unavailable right now",
        "Le serveur ne peut pas lire ses données pour l'instant. Réessayez dans quelques"
        " minutes ; d'ici là, ne considérez pas l'ordonnance comme vérifiée.",
        "The hub cannot read its data right now. Try again in a few minutes; until then, do"
        " not take the prescription as checked.",
    ),
}


def _refused_page(refusal: Refusal, number: str | None, retry_after_s: int | None) -> str:
    css, title_fr, title_en, text_fr, text_en = _REFUSALS[refusal]
    retry = str(retry_after_s or 60)
    mark = "✗" if css == "refused" else "!"
    shown = ""
    if number is not None:
        asked = _fact("N° demandé", "Number asked", _e(number), css="number")
        shown = f'<dl class="facts">{asked}</dl>'
    body = f"""<header class="verdict {css}" role="alert">
<p class="mark" aria-hidden="true">{mark}</p>
<h1>{_e(title_fr)}</h1>
<p class="en" lang="en">{_e(title_en)}</p>
</header>
<p class="lead">{_e(text_fr.format(retry=retry))}</p>
{shown}
<section class="english" lang="en">
<h2>In English</h2>
<p>{_e(text_en.format(retry=retry))}</p>
</section>"""
    return _page(f"{title_fr} — {title_en}", body)
