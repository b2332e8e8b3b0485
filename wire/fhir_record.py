"""The record of a finished consultation as an HL7 FHIR R4 (4.0.1) Bundle: built by the cabin,
read back by the hub.

`build_bundle` turns a `RecordInput` into the JSON bytes of a `collection` Bundle; the same input
always gives the same bytes (fullUrls are UUID 5 of the record id, keys are sorted), so a record
rebuilt after a crash is the same record. `parse_record` reads such a Bundle back into a
`RecordContent` and raises `RecordError` on anything it cannot read; it never raises anything
else. Both are pure: no I/O, no clock. `wire/FHIR_RECORD.md` describes the resources, codes and
identifiers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Final, Generic, TypeVar

import msgspec

from wire.errors import MalformedMessage
from wire.messages import (
    DoctorInfo,
    FreeText,
    Language,
    NotesText,
    PastPrescription,
    PatientSummary,
    PrescriptionMessage,
    Sex,
    Vital,
    VitalKind,
)

# --- systems, codes and our own URLs -------------------------------------------------------------

RECORD_SYSTEM: Final = "urn:cabin:record"
CONSULTATION_SYSTEM: Final = "urn:cabin:consultation"
CABIN_SYSTEM: Final = "urn:cabin:cabin"
PRESCRIPTION_SYSTEM: Final = "urn:cabin:prescription"
HUB_DOCTOR_SYSTEM: Final = "urn:cabin:hub:doctor"
APPOINTMENT_SYSTEM: Final = "urn:cabin:appointment"
APPOINTMENT_STATUSES: Final = ("arrived", "fulfilled")
"""An appointment in a record: the patient came (and, fulfilled, was seen by a doctor)."""
SIGNING_KEY_SYSTEM: Final = "urn:cabin:hub:signing-key"
RPPS_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.1"

STRUCTURE_DEFINITIONS: Final = "https://cabin.example/fhir/StructureDefinition/"
PRESCRIPTION_LINE_URL: Final = STRUCTURE_DEFINITIONS + "prescription-line"
"""Complex extension on `Dosage`: sub-extensions `dose`, `frequency`, `duration` (valueString)."""
END_REASON_URL: Final = STRUCTURE_DEFINITIONS + "encounter-end-reason"
"""Extension on `Encounter` (valueCode): why the cabin's session ended, as the cabin names it."""
CHECK_URL_URL: Final = STRUCTURE_DEFINITIONS + "prescription-check-url"
"""Extension on a prescription's `Provenance` (valueUrl): the hub's check page (the QR code)."""

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
BCP47: Final = "urn:ietf:bcp:47"
_OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PARTICIPATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_LOCATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/location-physical-type"
_PROVENANCE_AGENT: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_COMMUNICATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/communication-category"
_SIGNATURE_TYPE: Final = "urn:iso-astm:E1762-95:2013"

BLOOD_PRESSURE_PANEL: Final = "85354-9"
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"
MEAN_ARTERIAL: Final = "8478-0"
HEART_RATE: Final = "8867-4"
BODY_TEMPERATURE: Final = "8310-5"
SPO2_PULSE_OXIMETRY: Final = "59408-5"
SPO2_ARTERIAL: Final = "2708-6"
PRESCRIPTION_DOCUMENT: Final = "57833-6"
SUMMARY_DOCUMENT: Final = "34133-9"

MMHG: Final = "mm[Hg]"
PER_MINUTE: Final = "/min"
CELSIUS: Final = "Cel"
PERCENT: Final = "%"

_LOINC_DISPLAY: Final = {
    BLOOD_PRESSURE_PANEL: "Blood pressure panel with all children optional",
    SYSTOLIC: "Systolic blood pressure",
    DIASTOLIC: "Diastolic blood pressure",
    MEAN_ARTERIAL: "Mean blood pressure",
    HEART_RATE: "Heart rate",
    BODY_TEMPERATURE: "Body temperature",
    SPO2_PULSE_OXIMETRY: "Oxygen saturation in Arterial blood by Pulse oximetry",
    SPO2_ARTERIAL: "Oxygen saturation in Arterial blood",
    PRESCRIPTION_DOCUMENT: "Prescription for medication",
    SUMMARY_DOCUMENT: "Summary of episode note",
}
_UNIT_DISPLAY: Final = {MMHG: "mmHg", PER_MINUTE: "beats/minute", CELSIUS: "C", PERCENT: "%"}
_LANGUAGE_DISPLAY: Final = {Language.FR: "French", Language.EN: "English"}

_NAMESPACE: Final = uuid.UUID("6f0b7d2e-4c1a-5e83-9a57-1d2c3b4a5e6f")
"""Namespace of the record ids and fullUrls (UUID 5): fixed forever, or records change."""

_PRESCRIPTION_TITLE: Final = "Ordonnance {number}"
_SUMMARY_TITLE: Final = "Résumé de consultation"
_PDF: Final = "application/pdf"
_MAX_BYTES: Final = 4 * 1024 * 1024
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


# --- values --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordAppointment:
    """The appointment the patient checked in with (its code, then their birth date)."""

    appointment_id: str
    status: str
    """As of the record: `fulfilled` when a doctor saw the patient, else `arrived`."""
    starts_at: datetime
    ends_at: datetime
    doctor_id: str | None = None
    """The hub's username of the doctor it was booked with."""
    doctor_name: str | None = None


@dataclass(frozen=True, slots=True)
class RecordInput:
    """Everything the cabin knows of a finished consultation: health data, never logged."""

    record_id: str
    """Wire `Id` syntax; `record_id_for(consultation_id)`."""
    consultation_id: str
    cabin_id: str
    cabin_name: str
    patient_local_id: str
    """The cabin's own id of the patient."""
    patient: PatientSummary
    language: Language
    started_at: datetime
    ended_at: datetime
    end_reason: str
    """Why the session ended, as a code (`completed`, `patient_left`, `timeout`, `alert`...)."""
    reason: str
    """The visit reason, in French words; "" if none."""
    doctor: DoctorInfo | None
    doctor_id: str | None
    """The hub's username of the doctor."""
    vitals: tuple[Vital, ...]
    prescriptions: tuple[PrescriptionMessage, ...]
    """As signed by the hub."""
    prescription_pdfs: Mapping[str, bytes]
    """The printed PDF of each prescription, by `prescription_id`."""
    summary_pdf: bytes | None
    advice: str
    """The doctor's advice for the patient; "" if none."""
    appointment: RecordAppointment | None = None


@dataclass(frozen=True, slots=True)
class RecordContent:
    """What the hub reads of a record; documents are named, their data left in the Bundle."""

    record_id: str
    consultation_id: str
    cabin_id: str
    patient: PatientSummary
    language: Language
    started_at: datetime
    ended_at: datetime | None
    reason: str
    doctor: DoctorInfo | None
    doctor_id: str | None
    vitals: tuple[Vital, ...]
    prescriptions: tuple[PastPrescription, ...]
    advice: str
    documents: tuple[tuple[str, str], ...]
    """(title, content type) of each document, in the Bundle's order."""
    patient_local_id: str = ""
    cabin_name: str = ""
    end_reason: str = ""
    appointment: RecordAppointment | None = None


class RecordError(MalformedMessage):
    """A record cannot be read: not JSON, not a Bundle, or not the Bundle `build_bundle` makes.

    Like every wire error, its text names the problem and where it is, never a value."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        super().__init__(reason, path=path)
        where = f" at `{path}`" if path else ""
        self.args = (f"malformed record{where}: {reason}",)


def record_id_for(consultation_id: str) -> str:
    """The id of the record of `consultation_id`: always the same one (`rec-` and a UUID 5)."""
    if not _ID.fullmatch(consultation_id):
        raise ValueError("the consultation id is not a wire id")
    return f"rec-{uuid.uuid5(_NAMESPACE, 'consultation/' + consultation_id)}"


# --- building ------------------------------------------------------------------------------------

_Json = dict[str, object]


def build_bundle(record: RecordInput) -> bytes:
    """The record as the JSON bytes of a FHIR R4 `collection` Bundle; the same for the same input.

    Raises `ValueError` if the input breaks the wire's rules (a bad id, a naive datetime, a value
    out of range, a PDF for a prescription the record does not hold...): the hub would refuse
    such a record, so it is refused here, where the bug is.
    """
    _check_input(record)
    return _BundleBuilder(record).build()


def _check_input(record: RecordInput) -> None:
    for name in ("record_id", "consultation_id", "cabin_id", "patient_local_id"):
        if not _ID.fullmatch(getattr(record, name)):
            raise ValueError(f"`{name}` is not a wire id")
    if record.doctor_id is not None and not _ID.fullmatch(record.doctor_id):
        raise ValueError("`doctor_id` is not a wire id")
    if record.end_reason and not _ID.fullmatch(record.end_reason):
        raise ValueError("`end_reason` is not a code")
    for name in ("started_at", "ended_at"):
        if getattr(record, name).utcoffset() is None:
            raise ValueError(f"`{name}` has no time zone")
    _check_wire(record.patient, PatientSummary, "patient")
    _check_wire(record.language, Language, "language")
    _check_wire(record.reason, FreeText, "reason")
    _check_wire(record.advice, NotesText, "advice")
    if record.doctor is not None:
        _check_wire(record.doctor, DoctorInfo, "doctor")
    for index, vital in enumerate(record.vitals):
        _check_wire(vital, Vital, f"vitals[{index}]")
    numbers = [prescription.prescription_id for prescription in record.prescriptions]
    if len(set(numbers)) != len(numbers):
        raise ValueError("two prescriptions have the same number")
    for index, prescription in enumerate(record.prescriptions):
        _check_wire(prescription, PrescriptionMessage, f"prescriptions[{index}]")
    if not set(record.prescription_pdfs) <= set(numbers):
        raise ValueError("a prescription PDF names a prescription the record does not hold")
    pdfs = [*record.prescription_pdfs.values(), record.summary_pdf]
    if any(pdf is not None and not pdf for pdf in pdfs):
        raise ValueError("a PDF is empty")
    booked = record.appointment
    if booked is not None:
        if not _ID.fullmatch(booked.appointment_id):
            raise ValueError("`appointment.appointment_id` is not a wire id")
        if booked.doctor_id is not None and not _ID.fullmatch(booked.doctor_id):
            raise ValueError("`appointment.doctor_id` is not a wire id")
        if booked.status not in APPOINTMENT_STATUSES:
            raise ValueError("`appointment.status` is not arrived or fulfilled")
        if booked.starts_at.utcoffset() is None or booked.ends_at.utcoffset() is None:
            raise ValueError("the appointment's times have no time zone")
        if booked.ends_at < booked.starts_at:
            raise ValueError("the appointment ends before it starts")


def _check_wire(value: object, kind: object, name: str) -> None:
    """Refuse `value` unless the wire's decoder would accept it as a `kind`."""
    try:
        decoded = msgspec.json.decode(msgspec.json.encode(value), type=kind)
    except msgspec.ValidationError as exc:
        raise ValueError(f"`{name}` breaks the wire's rules: {_without_values(str(exc))}") from None
    if decoded != value:  # NaN and infinities become null in JSON
        raise ValueError(f"`{name}` does not survive JSON (a NaN or an infinity?)")


class _BundleBuilder:
    """Builds the entries of one record, each with its fullUrl, in a fixed order."""

    def __init__(self, record: RecordInput) -> None:
        self._record = record
        self._entries: list[_Json] = []
        self._practitioners: dict[DoctorInfo, str] = {}
        self.patient = self._url("patient")
        self.encounter = self._url("encounter")
        self.appointment = None if record.appointment is None else self._url("appointment")

    def build(self) -> bytes:
        record = self._record
        self._add(self.patient, self._patient())
        location = self._url("location")
        self._add(location, self._location())
        doctor = None if record.doctor is None else self._practitioner(record.doctor, doctor=True)
        for prescription in record.prescriptions:
            self._practitioner(prescription.prescriber, doctor=False)
        self._add(self.encounter, self._encounter(doctor, location))
        for index, vital in enumerate(record.vitals):
            self._vital(index, vital)
        lines_of: dict[str, list[str]] = {}
        for index, prescription in enumerate(record.prescriptions):
            lines_of[prescription.prescription_id] = self._prescription(index, prescription)
        for prescription in record.prescriptions:
            pdf = record.prescription_pdfs.get(prescription.prescription_id)
            if pdf is not None:
                self._prescription_document(prescription, pdf, lines_of)
        if record.summary_pdf is not None:
            summary = self._summary_document(record.summary_pdf, doctor)
            self._add(self._url("document/summary"), summary)
        if record.advice:
            self._add(self._url("communication/advice"), self._advice(doctor))
        if self.appointment is not None:
            self._add(self.appointment, self._appointment(location, doctor))
        bundle: _Json = {
            "resourceType": "Bundle",
            "type": "collection",
            "identifier": {"system": RECORD_SYSTEM, "value": record.record_id},
            "timestamp": _instant(record.ended_at),
            "entry": self._entries,
        }
        return msgspec.json.encode(bundle, order="sorted")

    def _url(self, name: str) -> str:
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{self._record.record_id}/{name}')}"

    def _add(self, url: str, resource: _Json) -> None:
        self._entries.append({"fullUrl": url, "resource": resource})

    # who and where

    def _patient(self) -> _Json:
        record = self._record
        patient = record.patient
        return {
            "resourceType": "Patient",
            "identifier": [
                {"system": _patient_system(record.cabin_id), "value": record.patient_local_id}
            ],
            "name": [
                {
                    "use": "official",
                    "family": patient.family_name,
                    "given": patient.given_names.split() or [patient.given_names],
                }
            ],
            "gender": patient.sex.value,
            "birthDate": patient.birth_date.isoformat(),
            "communication": [
                {
                    "language": {
                        "coding": [
                            {
                                "system": BCP47,
                                "code": record.language.value,
                                "display": _LANGUAGE_DISPLAY[record.language],
                            }
                        ]
                    },
                    "preferred": True,
                }
            ],
        }

    def _location(self) -> _Json:
        location: _Json = {
            "resourceType": "Location",
            "identifier": [{"system": CABIN_SYSTEM, "value": self._record.cabin_id}],
            "status": "active",
            "mode": "instance",
            "physicalType": {
                "coding": [{"system": _LOCATION_TYPE, "code": "ro", "display": "Room"}]
            },
        }
        if self._record.cabin_name:
            location["name"] = self._record.cabin_name
        return location

    def _practitioner(self, info: DoctorInfo, *, doctor: bool) -> str:
        """The fullUrl of the Practitioner of `info`, added with its role the first time."""
        key = msgspec.structs.replace(info, photo=None)
        known = self._practitioners.get(key)
        if known is not None:
            return known
        index = len(self._practitioners)
        url = self._url(f"practitioner/{index}")
        self._practitioners[key] = url
        identifiers: list[_Json] = []
        if info.registration_number is not None:
            identifiers.append({"system": RPPS_SYSTEM, "value": info.registration_number})
        if doctor and self._record.doctor_id is not None:
            identifiers.append({"system": HUB_DOCTOR_SYSTEM, "value": self._record.doctor_id})
        practitioner: _Json = {
            "resourceType": "Practitioner",
            "name": [{"text": info.display_name}],
        }
        if identifiers:
            practitioner["identifier"] = identifiers
        telecom = [
            {"system": system, "value": value, "use": "work"}
            for system, value in (("phone", info.phone), ("email", info.email))
            if value
        ]
        if telecom:
            practitioner["telecom"] = telecom
        if info.address:
            practitioner["address"] = [{"use": "work", "text": info.address}]
        self._add(url, practitioner)
        role: _Json = {
            "resourceType": "PractitionerRole",
            "practitioner": _ref(url),
            "specialty": [{"text": info.specialty}],
        }
        self._add(self._url(f"practitioner-role/{index}"), role)
        return url

    def _encounter(self, doctor: str | None, location: str) -> _Json:
        record = self._record
        encounter: _Json = {
            "resourceType": "Encounter",
            "identifier": [{"system": CONSULTATION_SYSTEM, "value": record.consultation_id}],
            "status": "finished",
            "class": {"system": _ACT_CODE, "code": "VR", "display": "virtual"},
            "subject": _ref(self.patient),
            "period": {"start": _instant(record.started_at), "end": _instant(record.ended_at)},
            "location": [{"location": _ref(location), "status": "completed"}],
        }
        if doctor is not None:
            encounter["participant"] = [
                {
                    "type": [
                        {
                            "coding": [
                                {
                                    "system": _PARTICIPATION_TYPE,
                                    "code": "PPRF",
                                    "display": "primary performer",
                                }
                            ]
                        }
                    ],
                    "individual": _ref(doctor),
                }
            ]
        if record.reason:
            encounter["reasonCode"] = [{"text": record.reason}]
        if record.end_reason:
            encounter["extension"] = [{"url": END_REASON_URL, "valueCode": record.end_reason}]
        if self.appointment is not None:
            encounter["appointment"] = [_ref(self.appointment)]
        return encounter

    def _appointment(self, location: str, doctor: str | None) -> _Json:
        """The appointment: the patient, the cabin, and the doctor it was booked with (the
        record's Practitioner when that doctor saw them, else by their hub username)."""
        booked = self._record.appointment
        assert booked is not None
        participants: list[_Json] = [
            {"actor": _ref(self.patient), "status": "accepted"},
            {"actor": _ref(location), "status": "accepted"},
        ]
        if booked.doctor_id is not None:
            if doctor is not None and booked.doctor_id == self._record.doctor_id:
                actor = _ref(doctor)
            else:
                actor = {"identifier": {"system": HUB_DOCTOR_SYSTEM, "value": booked.doctor_id}}
                if booked.doctor_name:
                    actor["display"] = booked.doctor_name
            participants.append({"actor": actor, "status": "accepted"})
        return {
            "resourceType": "Appointment",
            "identifier": [{"system": APPOINTMENT_SYSTEM, "value": booked.appointment_id}],
            "status": booked.status,
            "start": _instant(booked.starts_at),
            "end": _instant(booked.ends_at),
            "participant": participants,
        }

    # vitals

    def _vital(self, index: int, vital: Vital) -> None:
        url = self._url(f"observation/{index}")
        observation = self._observation(vital)
        pulse_url = None
        match vital.kind:
            case VitalKind.BLOOD_PRESSURE:
                observation["code"] = _loinc(BLOOD_PRESSURE_PANEL)
                parts = [(SYSTOLIC, vital.systolic_mmhg), (DIASTOLIC, vital.diastolic_mmhg)]
                parts.append((MEAN_ARTERIAL, vital.mean_arterial_mmhg))
                observation["component"] = [
                    {"code": _loinc(code), "valueQuantity": _quantity(value, MMHG)}
                    for code, value in parts
                    if value is not None
                ]
            case VitalKind.TEMPERATURE:
                observation["code"] = _loinc(BODY_TEMPERATURE)
                observation["valueQuantity"] = _quantity(vital.temperature_c, CELSIUS)
            case VitalKind.SPO2:
                observation["code"] = _loinc(SPO2_PULSE_OXIMETRY, SPO2_ARTERIAL)
                observation["valueQuantity"] = _quantity(vital.spo2_percent, PERCENT)
            case VitalKind.PULSE:
                observation["code"] = _loinc(HEART_RATE)
                observation["valueQuantity"] = _quantity(vital.pulse_bpm, PER_MINUTE)
        if vital.kind is not VitalKind.PULSE and vital.pulse_bpm is not None:
            pulse_url = self._url(f"observation/{index}/pulse")
            observation["hasMember"] = [_ref(pulse_url)]
        self._add(url, observation)
        if pulse_url is not None:
            pulse = self._observation(vital)
            pulse["code"] = _loinc(HEART_RATE)
            pulse["valueQuantity"] = _quantity(vital.pulse_bpm, PER_MINUTE)
            self._add(pulse_url, pulse)

    def _observation(self, vital: Vital) -> _Json:
        return {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": _OBSERVATION_CATEGORY,
                            "code": "vital-signs",
                            "display": "Vital Signs",
                        }
                    ]
                }
            ],
            "subject": _ref(self.patient),
            "encounter": _ref(self.encounter),
            "effectiveDateTime": _instant(vital.measured_at),
            "device": {
                "identifier": {
                    "system": _device_system(self._record.cabin_id),
                    "value": vital.device_id,
                },
                "display": vital.device_id,
            },
        }

    # prescriptions

    def _prescription(self, index: int, prescription: PrescriptionMessage) -> list[str]:
        """Adds a MedicationRequest per line and the hub's signature; the lines' fullUrls."""
        prescriber = self._practitioners[
            msgspec.structs.replace(prescription.prescriber, photo=None)
        ]
        issued_at = _instant(prescription.issued_at)
        urls = []
        for number, line in enumerate(prescription.lines, start=1):
            url = self._url(f"prescription/{index}/line/{number}")
            urls.append(url)
            dosage: _Json = {
                "sequence": 1,
                "text": f"{line.dose}, {line.frequency}, {line.duration}",
                "extension": [
                    {
                        "url": PRESCRIPTION_LINE_URL,
                        "extension": [
                            {"url": "dose", "valueString": line.dose},
                            {"url": "frequency", "valueString": line.frequency},
                            {"url": "duration", "valueString": line.duration},
                        ],
                    }
                ],
            }
            if line.instructions:
                dosage["patientInstruction"] = line.instructions
            request: _Json = {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "groupIdentifier": {
                    "system": PRESCRIPTION_SYSTEM,
                    "value": prescription.prescription_id,
                },
                "medicationCodeableConcept": {"text": line.drug},
                "subject": _ref(self.patient),
                "encounter": _ref(self.encounter),
                "authoredOn": issued_at,
                "requester": _ref(prescriber),
                "dosageInstruction": [dosage],
                "dispenseRequest": {"numberOfRepeatsAllowed": line.renewals},
            }
            self._add(url, request)
        provenance: _Json = {
            "resourceType": "Provenance",
            "target": [_ref(url) for url in urls],
            "recorded": issued_at,
            "agent": [
                {
                    "type": {
                        "coding": [
                            {"system": _PROVENANCE_AGENT, "code": "author", "display": "Author"}
                        ]
                    },
                    "who": _ref(prescriber),
                }
            ],
            "signature": [
                {
                    "type": [
                        {
                            "system": _SIGNATURE_TYPE,
                            "code": "1.2.840.10065.1.12.1.1",
                            "display": "Author's Signature",
                        }
                    ],
                    "when": issued_at,
                    "who": {
                        "type": "Device",
                        "identifier": {"system": SIGNING_KEY_SYSTEM, "value": prescription.key_id},
                    },
                    "onBehalfOf": _ref(prescriber),
                    "targetFormat": "application/json",
                    "data": prescription.signature,
                }
            ],
        }
        if prescription.check_url is not None:
            provenance["extension"] = [{"url": CHECK_URL_URL, "valueUrl": prescription.check_url}]
        self._add(self._url(f"prescription/{index}/provenance"), provenance)
        return urls

    # documents and advice

    def _prescription_document(
        self, prescription: PrescriptionMessage, pdf: bytes, lines_of: Mapping[str, list[str]]
    ) -> None:
        number = prescription.prescription_id
        prescriber = self._practitioners[
            msgspec.structs.replace(prescription.prescriber, photo=None)
        ]
        document = self._document(
            PRESCRIPTION_DOCUMENT,
            pdf,
            title=_PRESCRIPTION_TITLE.format(number=number),
            language=Language.FR,
            at=prescription.issued_at,
            author=prescriber,
        )
        document["identifier"] = [{"system": PRESCRIPTION_SYSTEM, "value": number}]
        document["context"] = {
            "encounter": [_ref(self.encounter)],
            "related": [_ref(url) for url in lines_of[number]],
        }
        self._add(self._url(f"document/prescription/{number}"), document)

    def _summary_document(self, pdf: bytes, doctor: str | None) -> _Json:
        record = self._record
        document = self._document(
            SUMMARY_DOCUMENT,
            pdf,
            title=_SUMMARY_TITLE,
            language=record.language,
            at=record.ended_at,
            author=doctor,
        )
        document["context"] = {"encounter": [_ref(self.encounter)]}
        return document

    def _document(
        self,
        code: str,
        pdf: bytes,
        *,
        title: str,
        language: Language,
        at: datetime,
        author: str | None,
    ) -> _Json:
        sha1 = hashlib.sha1(pdf, usedforsecurity=False).digest()
        document: _Json = {
            "resourceType": "DocumentReference",
            "status": "current",
            "docStatus": "final",
            "type": _loinc(code),
            "subject": _ref(self.patient),
            "date": _instant(at),
            "description": title,
            "content": [
                {
                    "attachment": {
                        "contentType": _PDF,
                        "language": language.value,
                        "data": base64.b64encode(pdf).decode("ascii"),
                        "size": len(pdf),
                        "hash": base64.b64encode(sha1).decode("ascii"),
                        "title": title,
                        "creation": _instant(at),
                    }
                }
            ],
        }
        if author is not None:
            document["author"] = [_ref(author)]
        return document

    def _advice(self, doctor: str | None) -> _Json:
        record = self._record
        communication: _Json = {
            "resourceType": "Communication",
            "language": record.language.value,
            "status": "completed",
            "category": [
                {
                    "coding": [
                        {
                            "system": _COMMUNICATION_CATEGORY,
                            "code": "instruction",
                            "display": "Instruction",
                        }
                    ]
                }
            ],
            "subject": _ref(self.patient),
            "encounter": _ref(self.encounter),
            "sent": _instant(record.ended_at),
            "recipient": [_ref(self.patient)],
            "payload": [{"contentString": record.advice}],
        }
        if doctor is not None:
            communication["sender"] = _ref(doctor)
        return communication


def _ref(url: str) -> _Json:
    return {"reference": url}


def _loinc(*codes: str) -> _Json:
    return {
        "coding": [
            {"system": LOINC, "code": code, "display": _LOINC_DISPLAY[code]} for code in codes
        ]
    }


def _quantity(value: float | None, unit: str) -> _Json:
    assert value is not None  # the wire's rules for the vital's kind
    return {"value": value, "unit": _UNIT_DISPLAY[unit], "system": UCUM, "code": unit}


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _patient_system(cabin_id: str) -> str:
    return f"urn:cabin:{cabin_id}:patient"


def _device_system(cabin_id: str) -> str:
    return f"urn:cabin:{cabin_id}:device"


# --- reading: the parts of FHIR that the hub reads ------------------------------------------------
# Fields not named here are ignored, as are resources of other types.

_UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _Element(msgspec.Struct, frozen=True, rename="camel"):
    """Base of the FHIR elements read here."""


class _Coding(_Element, frozen=True):
    system: str | None = None
    code: str | None = None


class _Concept(_Element, frozen=True):
    coding: list[_Coding] = []
    text: str | None = None


class _Identifier(_Element, frozen=True):
    system: str | None = None
    value: str | None = None


class _Reference(_Element, frozen=True):
    reference: str | None = None
    identifier: _Identifier | None = None
    display: str | None = None


class _Extension(_Element, frozen=True):
    url: str
    value_string: str | None = None
    value_code: str | None = None
    extension: list[_Extension] = []


class _Quantity(_Element, frozen=True):
    value: float | None = None
    system: str | None = None
    code: str | None = None


class _HumanName(_Element, frozen=True):
    text: str | None = None
    family: str | None = None
    given: list[str] = []


class _ContactPoint(_Element, frozen=True):
    system: str | None = None
    value: str | None = None


class _Address(_Element, frozen=True):
    text: str | None = None


class _PatientCommunication(_Element, frozen=True):
    language: _Concept
    preferred: bool = False


class _Period(_Element, frozen=True):
    start: _UtcDatetime | None = None
    end: _UtcDatetime | None = None


class _Participant(_Element, frozen=True):
    individual: _Reference | None = None


class _EncounterLocation(_Element, frozen=True):
    location: _Reference


class _Component(_Element, frozen=True):
    code: _Concept
    value_quantity: _Quantity | None = None


class _Dosage(_Element, frozen=True):
    extension: list[_Extension] = []
    patient_instruction: str | None = None


class _DispenseRequest(_Element, frozen=True):
    number_of_repeats_allowed: int | None = None


class _Attachment(_Element, frozen=True):
    content_type: str | None = None
    title: str | None = None
    data: str | None = None
    size: int | None = None
    hash: str | None = None


class _Content(_Element, frozen=True):
    attachment: _Attachment


class _Payload(_Element, frozen=True):
    content_string: str | None = None


class _Head(_Element, frozen=True):
    resource_type: str


class _Resource(_Element, frozen=True):
    """Base of the resources read here."""


class _Patient(_Resource, frozen=True):
    identifier: list[_Identifier] = []
    name: list[_HumanName] = []
    gender: str | None = None
    birth_date: date | None = None
    communication: list[_PatientCommunication] = []


class _Practitioner(_Resource, frozen=True):
    identifier: list[_Identifier] = []
    name: list[_HumanName] = []
    telecom: list[_ContactPoint] = []
    address: list[_Address] = []


class _PractitionerRole(_Resource, frozen=True):
    practitioner: _Reference | None = None
    specialty: list[_Concept] = []


class _Location(_Resource, frozen=True):
    identifier: list[_Identifier] = []
    name: str | None = None


class _Encounter(_Resource, frozen=True):
    identifier: list[_Identifier] = []
    period: _Period | None = None
    participant: list[_Participant] = []
    reason_code: list[_Concept] = []
    location: list[_EncounterLocation] = []
    extension: list[_Extension] = []


class _Observation(_Resource, frozen=True):
    code: _Concept
    effective_date_time: datetime | None = None
    device: _Reference | None = None
    value_quantity: _Quantity | None = None
    component: list[_Component] = []
    has_member: list[_Reference] = []


class _MedicationRequest(_Resource, frozen=True):
    group_identifier: _Identifier | None = None
    medication_codeable_concept: _Concept | None = None
    authored_on: datetime | None = None
    dosage_instruction: list[_Dosage] = []
    dispense_request: _DispenseRequest | None = None


class _DocumentReference(_Resource, frozen=True):
    content: list[_Content] = []


class _Communication(_Resource, frozen=True):
    category: list[_Concept] = []
    payload: list[_Payload] = []


class _AppointmentParticipant(_Element, frozen=True):
    actor: _Reference | None = None


class _Appointment(_Resource, frozen=True):
    identifier: list[_Identifier] = []
    status: str | None = None
    start: _UtcDatetime | None = None
    end: _UtcDatetime | None = None
    participant: list[_AppointmentParticipant] = []


_RESOURCE_TYPES: Final[dict[str, type[_Resource]]] = {
    "Patient": _Patient,
    "Practitioner": _Practitioner,
    "PractitionerRole": _PractitionerRole,
    "Location": _Location,
    "Encounter": _Encounter,
    "Observation": _Observation,
    "MedicationRequest": _MedicationRequest,
    "DocumentReference": _DocumentReference,
    "Communication": _Communication,
    "Appointment": _Appointment,
}


class _BundleEntry(_Element, frozen=True):
    resource: msgspec.Raw
    full_url: str | None = None


class _Bundle(_Element, frozen=True):
    resource_type: str
    type: str | None = None
    identifier: _Identifier | None = None
    entry: list[_BundleEntry] = []


R = TypeVar("R", bound=_Resource)


@dataclass(frozen=True, slots=True)
class _Entry(Generic[R]):
    path: str
    url: str | None
    resource: R


# --- reading -------------------------------------------------------------------------------------

_KIND_OF_CODE: Final = {
    BLOOD_PRESSURE_PANEL: VitalKind.BLOOD_PRESSURE,
    BODY_TEMPERATURE: VitalKind.TEMPERATURE,
    SPO2_PULSE_OXIMETRY: VitalKind.SPO2,
    SPO2_ARTERIAL: VitalKind.SPO2,
    HEART_RATE: VitalKind.PULSE,
}
_SEX_OF_GENDER: Final = {sex.value: sex for sex in Sex}
_COMPONENT_FIELDS: Final = {
    SYSTOLIC: "systolic_mmhg",
    DIASTOLIC: "diastolic_mmhg",
    MEAN_ARTERIAL: "mean_arterial_mmhg",
}
_ERROR_AT: Final = re.compile(r"(?s)(?P<reason>.*) - at `\$(?P<path>[^`]*)`")


def parse_record(bundle: bytes, *, max_bytes: int = _MAX_BYTES) -> RecordContent:
    """Read a record made by `build_bundle`; raises `RecordError`, and only that, if it cannot.

    Resources of other types, Observations of codes it does not know, and fields it does not
    read are ignored; anything it does read must be as `build_bundle` writes it.
    """
    if len(bundle) > max_bytes:
        raise RecordError(f"the record is larger than {max_bytes} bytes")
    return _Reader(_decode(bundle, _Bundle, "$")).content()


def _decode(data: bytes, kind: type[_Element], path: str) -> _Element:
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        match = _ERROR_AT.fullmatch(str(exc))
        reason, where = (match["reason"], path + match["path"]) if match else (str(exc), path)
        raise RecordError(_without_values(reason), path=where) from None
    except msgspec.DecodeError as exc:
        raise RecordError("not JSON: " + _without_values(str(exc)), path=path) from None
    except UnicodeDecodeError:  # msgspec checks UTF-8 only as it decodes a string
        raise RecordError("not JSON: a string is not UTF-8", path=path) from None
    except RecursionError:
        raise RecordError("nested too deeply", path=path) from None


def _without_values(reason: str) -> str:
    """A decoder's reason cut before its first quoted value, and bounded in length."""
    return re.split(r"\s*['\"]", reason, maxsplit=1)[0][:200]


def _convert(value: object, kind: object, path: str) -> object:
    """`value` as the wire's `kind`, checked by the wire's rules."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        match = _ERROR_AT.fullmatch(str(exc))
        reason = _without_values(match["reason"] if match else str(exc))
        if match and match["path"]:
            reason += f" (wire field `{match['path'].lstrip('.')}`)"
        raise RecordError(reason, path=path) from None


def _wire_id(value: str | None, path: str) -> str:
    if value is None or not _ID.fullmatch(value):
        raise RecordError("not a wire id", path=path)
    return value


def _system_value(identifiers: list[_Identifier], system: str) -> str | None:
    for identifier in identifiers:
        if identifier.system == system:
            return identifier.value
    return None


class _Reader:
    def __init__(self, bundle: _Element) -> None:
        assert isinstance(bundle, _Bundle)
        if bundle.resource_type != "Bundle":
            raise RecordError("not a FHIR Bundle", path="$.resourceType")
        if bundle.type != "collection":
            raise RecordError("not a `collection` Bundle", path="$.type")
        if bundle.identifier is None or bundle.identifier.system != RECORD_SYSTEM:
            raise RecordError("the Bundle has no record identifier", path="$.identifier")
        self.record_id = _wire_id(bundle.identifier.value, "$.identifier.value")
        self.by_url: dict[str, _Entry[_Resource]] = {}
        self.entries: list[_Entry[_Resource]] = []
        urls: set[str] = set()
        for index, raw in enumerate(bundle.entry):
            path = f"$.entry[{index}]"
            if raw.full_url is not None:
                if raw.full_url in urls:
                    raise RecordError("two entries have the same fullUrl", path=f"{path}.fullUrl")
                urls.add(raw.full_url)
            head = _decode(raw.resource, _Head, f"{path}.resource")
            assert isinstance(head, _Head)
            kind = _RESOURCE_TYPES.get(head.resource_type)
            if kind is None:
                continue
            resource = _decode(raw.resource, kind, f"{path}.resource")
            assert isinstance(resource, _Resource)
            entry = _Entry(f"{path}.resource", raw.full_url, resource)
            self.entries.append(entry)
            if raw.full_url is not None:
                self.by_url[raw.full_url] = entry

    def all(self, kind: type[R]) -> list[_Entry[R]]:
        return [
            _Entry(entry.path, entry.url, entry.resource)
            for entry in self.entries
            if isinstance(entry.resource, kind)
        ]

    def one(self, kind: type[R]) -> _Entry[R]:
        found = self.all(kind)
        if len(found) != 1:
            raise RecordError(f"the Bundle has {len(found)} {kind.__name__[1:]}, not one", path="$")
        return found[0]

    def resolve(self, reference: _Reference | None, kind: type[R], path: str) -> _Entry[R]:
        entry = None if reference is None else self.by_url.get(reference.reference or "")
        if entry is None or not isinstance(entry.resource, kind):
            raise RecordError(f"does not name a {kind.__name__[1:]} of the Bundle", path=path)
        return _Entry(entry.path, entry.url, entry.resource)

    def content(self) -> RecordContent:
        encounter = self.one(_Encounter)
        path = encounter.path
        consultation_id = _wire_id(
            _system_value(encounter.resource.identifier, CONSULTATION_SYSTEM),
            f"{path}.identifier",
        )
        period = encounter.resource.period
        if period is None or period.start is None:
            raise RecordError("the Encounter has no start", path=f"{path}.period")
        cabin_id, cabin_name = self.cabin(encounter)
        patient = self.one(_Patient)
        doctor, doctor_id = self.doctor(encounter)
        reasons = encounter.resource.reason_code
        reason = _convert(
            (reasons[0].text or "") if reasons else "", FreeText, f"{path}.reasonCode"
        )
        end_reasons = [e for e in encounter.resource.extension if e.url == END_REASON_URL]
        end_reason = (end_reasons[0].value_code or "") if end_reasons else ""
        assert isinstance(reason, str)
        return RecordContent(
            record_id=self.record_id,
            consultation_id=consultation_id,
            cabin_id=cabin_id,
            patient=self.patient(patient),
            language=self.language(patient),
            started_at=period.start,
            ended_at=period.end,
            reason=reason,
            doctor=doctor,
            doctor_id=doctor_id,
            vitals=self.vitals(),
            prescriptions=self.prescriptions(),
            advice=self.advice(),
            documents=self.documents(),
            patient_local_id=self.patient_local_id(patient, cabin_id),
            cabin_name=cabin_name,
            end_reason=end_reason,
            appointment=self.appointment(),
        )

    def appointment(self) -> RecordAppointment | None:
        found = self.all(_Appointment)
        if not found:
            return None
        if len(found) > 1:
            raise RecordError("the Bundle has more than one Appointment", path="$")
        entry = found[0]
        resource, path = entry.resource, entry.path
        appointment_id = _wire_id(
            _system_value(resource.identifier, APPOINTMENT_SYSTEM), f"{path}.identifier"
        )
        if resource.status not in APPOINTMENT_STATUSES:
            raise RecordError("not an arrived or fulfilled Appointment", path=f"{path}.status")
        if resource.start is None or resource.end is None:
            raise RecordError("the Appointment has no start or end", path=path)
        doctor_id = doctor_name = None
        for index, participant in enumerate(resource.participant):
            actor = participant.actor
            if actor is None:
                continue
            where = f"{path}.participant[{index}].actor"
            if actor.identifier is not None and actor.identifier.system == HUB_DOCTOR_SYSTEM:
                doctor_id = _wire_id(actor.identifier.value, where)
                doctor_name = actor.display
            elif actor.reference is not None:
                target = self.by_url.get(actor.reference)
                if target is not None and isinstance(target.resource, _Practitioner):
                    value = _system_value(target.resource.identifier, HUB_DOCTOR_SYSTEM)
                    doctor_id = None if value is None else _wire_id(value, where)
                    names = target.resource.name
                    doctor_name = names[0].text if names else None
        return RecordAppointment(
            appointment_id=appointment_id,
            status=resource.status,
            starts_at=resource.start,
            ends_at=resource.end,
            doctor_id=doctor_id,
            doctor_name=doctor_name,
        )

    # who and where

    def cabin(self, encounter: _Entry[_Encounter]) -> tuple[str, str]:
        for index, place in enumerate(encounter.resource.location):
            path = f"{encounter.path}.location[{index}].location"
            location = self.resolve(place.location, _Location, path).resource
            cabin_id = _system_value(location.identifier, CABIN_SYSTEM)
            if cabin_id is not None:
                return _wire_id(cabin_id, path), location.name or ""
        raise RecordError("the Encounter names no cabin", path=f"{encounter.path}.location")

    def patient(self, patient: _Entry[_Patient]) -> PatientSummary:
        resource = patient.resource
        if not resource.name:
            raise RecordError("the Patient has no name", path=f"{patient.path}.name")
        name = resource.name[0]
        sex = _SEX_OF_GENDER.get(resource.gender or Sex.UNKNOWN.value)
        if sex is None:
            raise RecordError("unknown gender", path=f"{patient.path}.gender")
        fields = {
            "family_name": name.family,
            "given_names": " ".join(name.given),
            "birth_date": resource.birth_date,
            "sex": sex,
        }
        summary = _convert(fields, PatientSummary, patient.path)
        assert isinstance(summary, PatientSummary)
        return summary

    def patient_local_id(self, patient: _Entry[_Patient], cabin_id: str) -> str:
        value = _system_value(patient.resource.identifier, _patient_system(cabin_id))
        return _wire_id(value, f"{patient.path}.identifier")

    def language(self, patient: _Entry[_Patient]) -> Language:
        for index, spoken in enumerate(patient.resource.communication):
            if not spoken.preferred:
                continue
            for coding in spoken.language.coding:
                if coding.system == BCP47:
                    language = _convert(
                        coding.code, Language, f"{patient.path}.communication[{index}]"
                    )
                    assert isinstance(language, Language)
                    return language
        raise RecordError("the Patient has no preferred language", path=patient.path)

    def doctor(self, encounter: _Entry[_Encounter]) -> tuple[DoctorInfo | None, str | None]:
        for index, participant in enumerate(encounter.resource.participant):
            if participant.individual is None:
                continue
            path = f"{encounter.path}.participant[{index}].individual"
            practitioner = self.resolve(participant.individual, _Practitioner, path)
            return self.doctor_info(practitioner), self.doctor_id(practitioner)
        return None, None

    def doctor_info(self, practitioner: _Entry[_Practitioner]) -> DoctorInfo:
        resource = practitioner.resource
        roles = [
            role.resource.specialty[0].text
            for role in self.all(_PractitionerRole)
            if role.resource.practitioner is not None
            and role.resource.practitioner.reference == practitioner.url
            and role.resource.specialty
        ]
        telecom = {point.system: point.value for point in reversed(resource.telecom)}
        fields = {
            "display_name": resource.name[0].text if resource.name else None,
            "specialty": roles[0] if roles else None,
            "registration_number": _system_value(resource.identifier, RPPS_SYSTEM),
            "address": (resource.address[0].text or "") if resource.address else "",
            "phone": telecom.get("phone") or "",
            "email": telecom.get("email") or "",
        }
        info = _convert(fields, DoctorInfo, practitioner.path)
        assert isinstance(info, DoctorInfo)
        return info

    def doctor_id(self, practitioner: _Entry[_Practitioner]) -> str | None:
        value = _system_value(practitioner.resource.identifier, HUB_DOCTOR_SYSTEM)
        return None if value is None else _wire_id(value, f"{practitioner.path}.identifier")

    # vitals

    def vitals(self) -> tuple[Vital, ...]:
        observations = [(entry, _kind_of(entry)) for entry in self.all(_Observation)]
        pulses: dict[str, float] = {}
        members: set[str] = set()
        for entry, kind in observations:
            if kind is None or not entry.resource.has_member:
                continue
            path = f"{entry.path}.hasMember"
            if kind not in (VitalKind.BLOOD_PRESSURE, VitalKind.SPO2):
                raise RecordError("only a blood pressure or SpO2 reading has members", path=path)
            if len(entry.resource.has_member) != 1:
                raise RecordError("more than one member", path=path)
            member = self.resolve(entry.resource.has_member[0], _Observation, f"{path}[0]")
            if _kind_of(member) is not VitalKind.PULSE or member.path in members:
                raise RecordError("the member is not a heart rate of its own", path=f"{path}[0]")
            members.add(member.path)
            pulses[entry.path] = _value(member, PER_MINUTE)
        vitals = []
        for entry, kind in observations:
            if kind is None or entry.path in members:
                continue
            fields = self.vital_fields(entry, kind)
            if entry.path in pulses:
                fields["pulse_bpm"] = pulses[entry.path]
            vital = _convert(fields, Vital, entry.path)
            assert isinstance(vital, Vital)
            vitals.append(vital)
        return tuple(vitals)

    def vital_fields(self, entry: _Entry[_Observation], kind: VitalKind) -> dict[str, object]:
        device = entry.resource.device
        fields: dict[str, object] = {
            "kind": kind,
            "measured_at": entry.resource.effective_date_time,
            "device_id": None
            if device is None or device.identifier is None
            else device.identifier.value,
        }
        match kind:
            case VitalKind.BLOOD_PRESSURE:
                for index, component in enumerate(entry.resource.component):
                    codes = {c.code for c in component.code.coding if c.system == LOINC}
                    known = [_COMPONENT_FIELDS[code] for code in codes if code in _COMPONENT_FIELDS]
                    if len(known) > 1 or (known and known[0] in fields):
                        raise RecordError(
                            "an ambiguous or repeated component", path=f"{entry.path}.component"
                        )
                    if known:
                        quantity = component.value_quantity
                        where = f"{entry.path}.component[{index}].valueQuantity"
                        fields[known[0]] = _quantity_value(quantity, MMHG, where)
            case VitalKind.TEMPERATURE:
                fields["temperature_c"] = _value(entry, CELSIUS)
            case VitalKind.SPO2:
                fields["spo2_percent"] = _value(entry, PERCENT)
            case VitalKind.PULSE:
                fields["pulse_bpm"] = _value(entry, PER_MINUTE)
        return fields

    # prescriptions, documents, advice

    def prescriptions(self) -> tuple[PastPrescription, ...]:
        grouped: dict[str, list[_Entry[_MedicationRequest]]] = {}
        for entry in self.all(_MedicationRequest):
            group = entry.resource.group_identifier
            if group is None or group.system != PRESCRIPTION_SYSTEM or group.value is None:
                raise RecordError("no prescription number", path=f"{entry.path}.groupIdentifier")
            grouped.setdefault(group.value, []).append(entry)
        prescriptions = []
        for number, entries in grouped.items():
            issued = {entry.resource.authored_on for entry in entries}
            if len(issued) != 1:
                raise RecordError("the lines disagree on the date", path=f"{entries[0].path}")
            fields = {
                "prescription_id": number,
                "issued_at": issued.pop(),
                "lines": [_line(entry) for entry in entries],
            }
            prescription = _convert(fields, PastPrescription, entries[0].path)
            assert isinstance(prescription, PastPrescription)
            prescriptions.append(prescription)
        return tuple(prescriptions)

    def documents(self) -> tuple[tuple[str, str], ...]:
        documents = []
        for entry in self.all(_DocumentReference):
            for index, content in enumerate(entry.resource.content):
                attachment = content.attachment
                _check_attachment(attachment, f"{entry.path}.content[{index}].attachment")
                documents.append((attachment.title or "", attachment.content_type or ""))
        return tuple(documents)

    def advice(self) -> str:
        found = [
            entry
            for entry in self.all(_Communication)
            if any(
                coding.system == _COMMUNICATION_CATEGORY and coding.code == "instruction"
                for concept in entry.resource.category
                for coding in concept.coding
            )
        ]
        if not found:
            return ""
        if len(found) > 1 or len(found[0].resource.payload) != 1:
            raise RecordError("the advice is not one Communication of one payload", path="$")
        advice = _convert(
            found[0].resource.payload[0].content_string or "",
            NotesText,
            f"{found[0].path}.payload[0]",
        )
        assert isinstance(advice, str)
        return advice


def _kind_of(entry: _Entry[_Observation]) -> VitalKind | None:
    """The wire kind of an Observation's LOINC code; None for a code this module does not read."""
    codes = {c.code for c in entry.resource.code.coding if c.system == LOINC}
    kinds = {_KIND_OF_CODE[code] for code in codes if code in _KIND_OF_CODE}
    if len(kinds) > 1:
        raise RecordError("the codes name more than one vital sign", path=f"{entry.path}.code")
    return kinds.pop() if kinds else None


def _value(entry: _Entry[_Observation], unit: str) -> float:
    return _quantity_value(entry.resource.value_quantity, unit, f"{entry.path}.valueQuantity")


def _quantity_value(quantity: _Quantity | None, unit: str, path: str) -> float:
    if quantity is None or quantity.value is None:
        raise RecordError("no value", path=path)
    if quantity.system != UCUM or quantity.code != unit:
        raise RecordError(f"the unit is not UCUM `{unit}`", path=path)
    return quantity.value


def _line(entry: _Entry[_MedicationRequest]) -> dict[str, object]:
    request = entry.resource
    if len(request.dosage_instruction) != 1:
        raise RecordError("not one dosage", path=f"{entry.path}.dosageInstruction")
    dosage = request.dosage_instruction[0]
    path = f"{entry.path}.dosageInstruction[0].extension"
    structured = [ext for ext in dosage.extension if ext.url == PRESCRIPTION_LINE_URL]
    if len(structured) != 1:
        raise RecordError("not one prescription-line extension", path=path)
    parts: dict[str, str | None] = {"dose": None, "frequency": None, "duration": None}
    for part in structured[0].extension:
        if part.url in parts:
            if parts[part.url] is not None:
                raise RecordError(f"`{part.url}` is repeated", path=path)
            parts[part.url] = part.value_string
    dispense = request.dispense_request
    drug = request.medication_codeable_concept
    return {
        "drug": None if drug is None else drug.text,
        **parts,
        "instructions": dosage.patient_instruction or "",
        "renewals": 0 if dispense is None else dispense.number_of_repeats_allowed or 0,
    }


def _check_attachment(attachment: _Attachment, path: str) -> None:
    """An attachment's data, when there, must match its size and SHA-1 hash when they are."""
    if attachment.data is None:
        return
    try:
        data = base64.b64decode(attachment.data, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError("the data is not base64", path=f"{path}.data") from None
    if attachment.size is not None and attachment.size != len(data):
        raise RecordError("the size does not match the data", path=f"{path}.size")
    if attachment.hash is not None:
        sha1 = hashlib.sha1(data, usedforsecurity=False).digest()
        if base64.b64encode(sha1).decode("ascii") != attachment.hash:
            raise RecordError("the hash does not match the data", path=f"{path}.hash")
