"""The consultation record as a FHIR R4 Bundle: validity (fhir.resources 6.1, FHIR 4.0.1), codes,
round trips, determinism, refusals and fuzzing of `wire.fhir_record`."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fhir.resources import get_fhir_model_class
from fhir.resources.bundle import Bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire import (
    DoctorInfo,
    Language,
    MalformedMessage,
    PastPrescription,
    PatientSummary,
    PrescriptionLine,
    PrescriptionMessage,
    Sex,
    Vital,
    VitalKind,
    WireError,
)
from wire.fhir_record import (
    RecordAppointment,
    RecordContent,
    RecordError,
    RecordInput,
    build_bundle,
    parse_record,
    record_id_for,
)

START = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)
END = START + timedelta(minutes=17, seconds=3)
ISSUED = datetime(2025, 3, 14, 9, 40, 2, tzinfo=UTC)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PDF_1 = b"%PDF-1.7\n first prescription \n%%EOF"
PDF_2 = b"%PDF-1.7\n second prescription \n%%EOF"
SUMMARY = b"%PDF-1.7\n summary \n%%EOF"

DOCTOR = DoctorInfo(
    display_name="Dr Anne Le Gall-Éon",
    specialty="Médecine générale",
    registration_number="10101234567",
    photo="iVBORw0KGgo=",
    address="12 rue des Lilas\n29200 Brest",
    phone="+33 2 98 00 00 00",
    email="anne.legall@example.fr",
)
PRESCRIBER = msgspec.structs.replace(DOCTOR, photo=None)  # the hub signs without the photo
SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def canonical_bytes(prescription: PrescriptionMessage) -> bytes:
    """What the hub signs (hub/prescriptions.py): every field but msg_id and signature, sorted."""
    fields = msgspec.to_builtins(prescription)
    fields.pop("msg_id")
    fields.pop("signature")
    return msgspec.json.encode(fields, order="sorted")


def signed(prescription: PrescriptionMessage) -> PrescriptionMessage:
    signature = SIGNING_KEY.sign(canonical_bytes(prescription))
    return msgspec.structs.replace(prescription, signature=base64.b64encode(signature).decode())


RX_1 = signed(
    PrescriptionMessage(
        msg_id="m-rx-1",
        prescription_id="RX-2025-000123-7KQ4",
        consultation_id="c-42",
        issued_at=ISSUED,
        prescriber=PRESCRIBER,
        lines=[
            PrescriptionLine(
                drug="Paracétamol 1 g",
                dose="1 comprimé",
                frequency="3 fois par jour",
                duration="5 jours",
                instructions="Au cours des repas, pas plus de 3 g par jour.",
                renewals=0,
            ),
            PrescriptionLine(
                drug="Amoxicilline 500 mg",
                dose="2 gélules",
                frequency="matin et soir",
                duration="7 jours",
                renewals=2,
            ),
        ],
        key_id="0123456789abcdef",
        signature="AAAA",
        check_url="https://hub.example.fr/check/RX-2025-000123-7KQ4",
    )
)
RX_2 = signed(
    PrescriptionMessage(
        msg_id="m-rx-2",
        prescription_id="RX-2025-000124-M2ZD",
        consultation_id="c-42",
        issued_at=ISSUED + timedelta(minutes=1),
        prescriber=PRESCRIBER,
        lines=[
            PrescriptionLine(
                drug="Sérum physiologique",
                dose="1 dosette",
                frequency="dans chaque narine 4 fois par jour",
                duration="10 jours",
                instructions="Se moucher avant.",
                renewals=12,
            )
        ],
        key_id="0123456789abcdef",
        signature="AAAA",
    )
)

BP = Vital(
    kind=VitalKind.BLOOD_PRESSURE,
    measured_at=START + timedelta(minutes=2),
    device_id="omron-bp-01",
    systolic_mmhg=132.0,
    diastolic_mmhg=84.5,
    mean_arterial_mmhg=100.3,
    pulse_bpm=72.0,
)
SPO2 = Vital(
    kind=VitalKind.SPO2,
    measured_at=START + timedelta(minutes=3),
    device_id="nonin-3230",
    spo2_percent=97.0,
    pulse_bpm=74.5,
)
TEMPERATURE = Vital(
    kind=VitalKind.TEMPERATURE,
    measured_at=START + timedelta(minutes=4, microseconds=1),
    device_id="thermo:1",
    temperature_c=37.8,
)
PULSE = Vital(
    kind=VitalKind.PULSE,
    measured_at=START + timedelta(minutes=5),
    device_id="nonin-3230",
    pulse_bpm=80.0,
)
BP_ALONE = Vital(
    kind=VitalKind.BLOOD_PRESSURE,
    measured_at=START + timedelta(minutes=6),
    device_id="omron-bp-01",
    systolic_mmhg=128.0,
    diastolic_mmhg=82.0,
)
SPO2_ALONE = Vital(
    kind=VitalKind.SPO2,
    measured_at=START + timedelta(minutes=7),
    device_id="nonin-3230",
    spo2_percent=96.0,
)

BOOKED = RecordAppointment(
    appointment_id="ap-42",
    status="fulfilled",
    starts_at=START - timedelta(minutes=11, seconds=53, microseconds=589000),
    ends_at=START + timedelta(minutes=3, seconds=6, microseconds=411000),
    doctor_id="a.legall",
    doctor_name="Dr Anne Le Gall-Éon",  # the Practitioner's name, when they saw the patient
)
FULL = RecordInput(
    record_id=record_id_for("c-42"),
    consultation_id="c-42",
    cabin_id="cabin-brest-01",
    cabin_name="Cabine de la mairie",
    patient_local_id="pat-0007",
    patient=PatientSummary(
        family_name="Le Gall-Éon",
        given_names="Anne Marie",
        birth_date=date(1950, 2, 3),
        sex=Sex.FEMALE,
    ),
    language=Language.FR,
    started_at=START,
    ended_at=END,
    end_reason="completed",
    reason="Fièvre et toux depuis trois jours",
    doctor=DOCTOR,
    doctor_id="a.legall",
    vitals=(BP, SPO2, TEMPERATURE, PULSE, BP_ALONE, SPO2_ALONE),
    prescriptions=(RX_1, RX_2),
    prescription_pdfs={RX_1.prescription_id: PDF_1, RX_2.prescription_id: PDF_2},
    summary_pdf=SUMMARY,
    advice="Buvez beaucoup d'eau.\nRevenez si la fièvre dure plus de 3 jours.",
)
MINIMAL = RecordInput(
    record_id=record_id_for("c-43"),
    consultation_id="c-43",
    cabin_id="cabin-brest-01",
    cabin_name="",
    patient_local_id="pat-0008",
    patient=PatientSummary(family_name="Smith", given_names="John", birth_date=date(1980, 12, 31)),
    language=Language.EN,
    started_at=START,
    ended_at=START + timedelta(minutes=4),
    end_reason="patient_left",
    reason="",
    doctor=None,
    doctor_id=None,
    vitals=(),
    prescriptions=(),
    prescription_pdfs={},
    summary_pdf=None,
    advice="",
)
OTHER_PRESCRIBER = msgspec.structs.replace(
    PRESCRIBER, display_name="Dr Paul Remplaçant", registration_number="10109999999", email=""
)
RX_OTHER = signed(msgspec.structs.replace(RX_2, prescriber=OTHER_PRESCRIBER))
VARIANTS = {
    "full": FULL,
    "minimal": MINIMAL,
    "doctor without prescription": dataclasses.replace(
        MINIMAL,
        doctor=DoctorInfo(display_name="Dr B", specialty="Pédiatrie"),
        doctor_id=None,
        vitals=(TEMPERATURE,),
        advice="Repos.",
    ),
    "two prescribers": dataclasses.replace(
        FULL, prescriptions=(RX_1, RX_OTHER), prescription_pdfs={RX_1.prescription_id: PDF_1}
    ),
    "summary only": dataclasses.replace(MINIMAL, summary_pdf=SUMMARY, end_reason=""),
    "booked and seen by their doctor": dataclasses.replace(FULL, appointment=BOOKED),
    "booked, seen by another doctor": dataclasses.replace(
        FULL,
        appointment=dataclasses.replace(BOOKED, doctor_id="b.remplacant", doctor_name="Dr B R"),
    ),
    "booked, left before a doctor": dataclasses.replace(
        MINIMAL,
        appointment=dataclasses.replace(BOOKED, status="arrived", appointment_id="ap-43"),
    ),
    "booked without a doctor on the rota": dataclasses.replace(
        MINIMAL,
        appointment=dataclasses.replace(BOOKED, status="arrived", doctor_id=None, doctor_name=None),
    ),
}


def resources(bundle: bytes, resource_type: str | None = None) -> list[dict[str, Any]]:
    entries = json.loads(bundle)["entry"]
    found = [entry["resource"] for entry in entries]
    return [r for r in found if resource_type is None or r["resourceType"] == resource_type]


def by_url(bundle: bytes) -> dict[str, dict[str, Any]]:
    return {entry["fullUrl"]: entry["resource"] for entry in json.loads(bundle)["entry"]}


def codes(resource: dict[str, Any]) -> list[str]:
    return [coding["code"] for coding in resource["code"]["coding"] if coding["system"] == LOINC]


def observation(bundle: bytes, device_id: str, code: str, minute: int) -> dict[str, Any]:
    at = START + timedelta(minutes=minute)
    found = [
        r
        for r in resources(bundle, "Observation")
        if r["device"]["identifier"]["value"] == device_id
        and code in codes(r)
        and abs(datetime.fromisoformat(r["effectiveDateTime"]) - at) < timedelta(seconds=1)
    ]
    assert len(found) == 1
    return found[0]


def mutate_json(bundle: bytes, mutate: Any) -> bytes:
    data = json.loads(bundle)
    mutate(data)
    return json.dumps(data).encode()


# --- validity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", VARIANTS.values(), ids=VARIANTS.keys())
def test_the_bundle_is_valid_fhir_r4(record: RecordInput) -> None:
    bundle = build_bundle(record)
    parsed = Bundle.parse_raw(bundle)
    assert parsed.type == "collection"
    entries: list[Any] = parsed.entry
    for entry, raw in zip(entries, json.loads(bundle)["entry"], strict=True):
        model = get_fhir_model_class(raw["resource"]["resourceType"])
        assert type(entry.resource) is model
        model.parse_obj(raw["resource"])  # each resource again, on its own


def test_the_validator_looks_inside_the_entries() -> None:
    """Guard of the test above: fhir.resources 6.1 validates an entry's resource with its class."""
    bad = mutate_json(build_bundle(MINIMAL), lambda data: data["entry"][0]["resource"].pop("name"))
    Bundle.parse_raw(bad)  # a Patient without a name is valid FHIR...
    for broken in ({"birthDate": "1950-13-01"}, {"nonsense": 1}):
        bad = mutate_json(
            build_bundle(MINIMAL), lambda data, b=broken: data["entry"][0]["resource"].update(b)
        )
        with pytest.raises(ValueError, match="entry -> 0 -> resource"):
            Bundle.parse_raw(bad)


@pytest.mark.parametrize("record", VARIANTS.values(), ids=VARIANTS.keys())
def test_full_urls_are_unique_uuids_and_every_reference_resolves(record: RecordInput) -> None:
    bundle = build_bundle(record)
    entries = json.loads(bundle)["entry"]
    urls = [entry["fullUrl"] for entry in entries]
    assert len(set(urls)) == len(urls)
    assert all(url.startswith("urn:uuid:") and len(url) == 45 for url in urls)

    def references(value: Any) -> list[str]:
        if isinstance(value, dict):
            own = [value["reference"]] if isinstance(value.get("reference"), str) else []
            return own + [ref for item in value.values() for ref in references(item)]
        if isinstance(value, list):
            return [ref for item in value for ref in references(item)]
        return []

    found = references(entries)
    assert found
    assert set(found) <= set(urls)


# --- content and codes ---------------------------------------------------------------------------


def test_bundle_identifier_and_timestamp() -> None:
    data = json.loads(build_bundle(FULL))
    assert data["resourceType"] == "Bundle"
    assert data["type"] == "collection"
    assert data["identifier"] == {"system": "urn:cabin:record", "value": FULL.record_id}
    assert datetime.fromisoformat(data["timestamp"]) == END


def test_patient() -> None:
    [patient] = resources(build_bundle(FULL), "Patient")
    assert patient["identifier"] == [
        {"system": "urn:cabin:cabin-brest-01:patient", "value": "pat-0007"}
    ]
    assert patient["name"] == [
        {"use": "official", "family": "Le Gall-Éon", "given": ["Anne", "Marie"]}
    ]
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1950-02-03"
    [language] = patient["communication"]
    assert language["preferred"] is True
    assert language["language"]["coding"][0]["system"] == "urn:ietf:bcp:47"
    assert language["language"]["coding"][0]["code"] == "fr"


@pytest.mark.parametrize("sex", list(Sex))
def test_every_sex_is_a_fhir_gender(sex: Sex) -> None:
    record = dataclasses.replace(MINIMAL, patient=msgspec.structs.replace(MINIMAL.patient, sex=sex))
    [patient] = resources(build_bundle(record), "Patient")
    assert patient["gender"] in {"male", "female", "other", "unknown"}
    assert parse_record(build_bundle(record)).patient.sex is sex


def test_practitioner_and_role() -> None:
    bundle = build_bundle(FULL)
    [practitioner] = resources(bundle, "Practitioner")
    assert practitioner["identifier"] == [
        {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "10101234567"},
        {"system": "urn:cabin:hub:doctor", "value": "a.legall"},
    ]
    assert practitioner["name"] == [{"text": "Dr Anne Le Gall-Éon"}]
    assert {(t["system"], t["value"]) for t in practitioner["telecom"]} == {
        ("phone", "+33 2 98 00 00 00"),
        ("email", "anne.legall@example.fr"),
    }
    assert practitioner["address"][0]["text"] == "12 rue des Lilas\n29200 Brest"
    assert "photo" not in practitioner
    [role] = resources(bundle, "PractitionerRole")
    assert role["specialty"] == [{"text": "Médecine générale"}]
    assert by_url(bundle)[role["practitioner"]["reference"]] == practitioner


def test_encounter() -> None:
    bundle = build_bundle(FULL)
    urls = by_url(bundle)
    [encounter] = resources(bundle, "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert encounter["class"]["code"] == "VR"
    assert encounter["identifier"] == [{"system": "urn:cabin:consultation", "value": "c-42"}]
    assert urls[encounter["subject"]["reference"]]["resourceType"] == "Patient"
    doctor = urls[encounter["participant"][0]["individual"]["reference"]]
    assert doctor["resourceType"] == "Practitioner"
    assert datetime.fromisoformat(encounter["period"]["start"]) == START
    assert datetime.fromisoformat(encounter["period"]["end"]) == END
    assert encounter["reasonCode"] == [{"text": "Fièvre et toux depuis trois jours"}]
    cabin = urls[encounter["location"][0]["location"]["reference"]]
    assert cabin["resourceType"] == "Location"
    assert cabin["identifier"] == [{"system": "urn:cabin:cabin", "value": "cabin-brest-01"}]
    assert cabin["name"] == "Cabine de la mairie"
    [end_reason] = encounter["extension"]
    assert end_reason["url"].startswith("https://")
    assert end_reason["valueCode"] == "completed"


@pytest.mark.parametrize("end_reason", ["completed", "patient_left", "timeout", "alert", "absence"])
def test_every_end_reason_is_a_finished_encounter(end_reason: str) -> None:
    record = dataclasses.replace(MINIMAL, end_reason=end_reason)
    [encounter] = resources(build_bundle(record), "Encounter")
    assert encounter["status"] == "finished"
    assert parse_record(build_bundle(record)).end_reason == end_reason


def test_observation_codes_and_units() -> None:
    bundle = build_bundle(FULL)
    urls = by_url(bundle)
    observations = resources(bundle, "Observation")
    assert len(observations) == 6 + 2  # one per vital, and the pulses of BP and SpO2
    for obs in observations:
        assert obs["status"] == "final"
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
        assert obs["category"][0]["coding"][0]["system"] == (
            "http://terminology.hl7.org/CodeSystem/observation-category"
        )
        assert urls[obs["subject"]["reference"]]["resourceType"] == "Patient"
        assert urls[obs["encounter"]["reference"]]["resourceType"] == "Encounter"
        assert obs["device"]["display"] == obs["device"]["identifier"]["value"]

    bp = observation(bundle, "omron-bp-01", "85354-9", 2)
    assert codes(bp) == ["85354-9"]
    assert datetime.fromisoformat(bp["effectiveDateTime"]) == BP.measured_at
    components = {codes(c)[0]: c["valueQuantity"] for c in bp["component"]}
    assert components == {
        "8480-6": {"value": 132.0, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        "8462-4": {"value": 84.5, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        "8478-0": {"value": 100.3, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
    }
    [member] = bp["hasMember"]
    bp_pulse = urls[member["reference"]]
    assert codes(bp_pulse) == ["8867-4"]
    assert bp_pulse["valueQuantity"] == {
        "value": 72.0,
        "unit": "beats/minute",
        "system": UCUM,
        "code": "/min",
    }
    assert bp_pulse["device"] == bp["device"]
    assert bp_pulse["effectiveDateTime"] == bp["effectiveDateTime"]

    spo2 = observation(bundle, "nonin-3230", "59408-5", 3)
    assert codes(spo2) == ["59408-5", "2708-6"]
    assert spo2["valueQuantity"]["value"] == 97.0
    assert (spo2["valueQuantity"]["system"], spo2["valueQuantity"]["code"]) == (UCUM, "%")
    spo2_pulse = urls[spo2["hasMember"][0]["reference"]]
    assert codes(spo2_pulse) == ["8867-4"]
    assert spo2_pulse["valueQuantity"]["value"] == 74.5
    assert spo2_pulse["valueQuantity"]["code"] == "/min"

    temperature = observation(bundle, "thermo:1", "8310-5", 4)
    assert temperature["valueQuantity"]["value"] == 37.8
    assert temperature["valueQuantity"]["code"] == "Cel"
    assert temperature["valueQuantity"]["system"] == UCUM

    pulse = observation(bundle, "nonin-3230", "8867-4", 5)
    assert "hasMember" not in pulse
    assert (pulse["valueQuantity"]["value"], pulse["valueQuantity"]["code"]) == (80.0, "/min")

    alone = observation(bundle, "omron-bp-01", "85354-9", 6)
    assert "hasMember" not in alone
    assert sorted(codes(c)[0] for c in alone["component"]) == ["8462-4", "8480-6"]
    assert "hasMember" not in observation(bundle, "nonin-3230", "59408-5", 7)


def test_medication_requests() -> None:
    bundle = build_bundle(FULL)
    urls = by_url(bundle)
    requests = resources(bundle, "MedicationRequest")
    assert len(requests) == 3
    first = requests[0]
    assert first["status"] == "active"
    assert first["intent"] == "order"
    assert first["groupIdentifier"] == {
        "system": "urn:cabin:prescription",
        "value": "RX-2025-000123-7KQ4",
    }
    assert first["medicationCodeableConcept"] == {"text": "Paracétamol 1 g"}
    assert datetime.fromisoformat(first["authoredOn"]) == ISSUED
    assert urls[first["requester"]["reference"]]["resourceType"] == "Practitioner"
    [dosage] = first["dosageInstruction"]
    assert dosage["text"] == "1 comprimé, 3 fois par jour, 5 jours"
    assert dosage["patientInstruction"] == "Au cours des repas, pas plus de 3 g par jour."
    [line] = dosage["extension"]
    assert line["url"] == "https://cabin.example/fhir/StructureDefinition/prescription-line"
    assert {(e["url"], e["valueString"]) for e in line["extension"]} == {
        ("dose", "1 comprimé"),
        ("frequency", "3 fois par jour"),
        ("duration", "5 jours"),
    }
    assert first["dispenseRequest"] == {"numberOfRepeatsAllowed": 0}
    assert "patientInstruction" not in requests[1]["dosageInstruction"][0]
    assert requests[2]["dispenseRequest"] == {"numberOfRepeatsAllowed": 12}


def test_the_record_holds_what_the_signature_covers() -> None:
    """From the Bundle alone, each printed prescription is rebuilt and its signature checked."""
    bundle = build_bundle(FULL)
    content = parse_record(bundle)
    urls = by_url(bundle)
    assert content.doctor is not None
    provenances = resources(bundle, "Provenance")
    assert len(provenances) == 2
    for provenance, past in zip(provenances, content.prescriptions, strict=True):
        targets = [urls[target["reference"]] for target in provenance["target"]]
        assert {t["groupIdentifier"]["value"] for t in targets} == {past.prescription_id}
        assert len(targets) == len(past.lines)
        [signature] = provenance["signature"]
        assert signature["type"][0]["system"] == "urn:iso-astm:E1762-95:2013"
        assert signature["who"]["identifier"]["system"] == "urn:cabin:hub:signing-key"
        check_urls = [e["valueUrl"] for e in provenance.get("extension", [])]
        rebuilt = PrescriptionMessage(
            msg_id="any",
            prescription_id=past.prescription_id,
            consultation_id=content.consultation_id,
            issued_at=past.issued_at,
            prescriber=msgspec.structs.replace(content.doctor, photo=None),
            lines=past.lines,
            key_id=signature["who"]["identifier"]["value"],
            signature=signature["data"],
            check_url=check_urls[0] if check_urls else None,
        )
        SIGNING_KEY.public_key().verify(
            base64.b64decode(rebuilt.signature), canonical_bytes(rebuilt)
        )


def test_documents() -> None:
    bundle = build_bundle(FULL)
    urls = by_url(bundle)
    documents = resources(bundle, "DocumentReference")
    assert len(documents) == 3
    for document, pdf, code in zip(
        documents, (PDF_1, PDF_2, SUMMARY), ("57833-6", "57833-6", "34133-9"), strict=True
    ):
        assert document["status"] == "current"
        assert codes({"code": document["type"]}) == [code]
        [content] = document["content"]
        attachment = content["attachment"]
        assert attachment["contentType"] == "application/pdf"
        assert base64.b64decode(attachment["data"]) == pdf
        assert attachment["size"] == len(pdf)
        assert attachment["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
        [encounter] = document["context"]["encounter"]
        assert urls[encounter["reference"]]["resourceType"] == "Encounter"
        assert urls[document["subject"]["reference"]]["resourceType"] == "Patient"
    assert documents[0]["content"][0]["attachment"]["title"] == "Ordonnance RX-2025-000123-7KQ4"
    assert documents[0]["content"][0]["attachment"]["language"] == "fr"
    related = [urls[r["reference"]] for r in documents[0]["context"]["related"]]
    assert [r["medicationCodeableConcept"]["text"] for r in related] == [
        "Paracétamol 1 g",
        "Amoxicilline 500 mg",
    ]
    english = dataclasses.replace(FULL, language=Language.EN)
    summary = resources(build_bundle(english), "DocumentReference")[2]
    assert summary["content"][0]["attachment"]["language"] == "en"


def test_advice() -> None:
    bundle = build_bundle(FULL)
    urls = by_url(bundle)
    [advice] = resources(bundle, "Communication")
    assert advice["status"] == "completed"
    assert advice["payload"] == [{"contentString": FULL.advice}]
    assert advice["category"][0]["coding"][0]["code"] == "instruction"
    assert urls[advice["sender"]["reference"]]["resourceType"] == "Practitioner"
    assert urls[advice["subject"]["reference"]]["resourceType"] == "Patient"
    assert urls[advice["encounter"]["reference"]]["resourceType"] == "Encounter"
    assert datetime.fromisoformat(advice["sent"]) == END


def test_minimal_record_has_only_what_it_knows() -> None:
    bundle = build_bundle(MINIMAL)
    kinds = [r["resourceType"] for r in resources(bundle)]
    assert kinds == ["Patient", "Location", "Encounter"]
    [encounter] = resources(bundle, "Encounter")
    assert "participant" not in encounter
    assert "reasonCode" not in encounter
    [location] = resources(bundle, "Location")
    assert "name" not in location


def test_two_prescribers_are_two_practitioners() -> None:
    record = VARIANTS["two prescribers"]
    bundle = build_bundle(record)
    urls = by_url(bundle)
    assert len(resources(bundle, "Practitioner")) == 2
    assert len(resources(bundle, "PractitionerRole")) == 2
    requesters = {
        urls[r["requester"]["reference"]]["name"][0]["text"]
        for r in resources(bundle, "MedicationRequest")
    }
    assert requesters == {DOCTOR.display_name, OTHER_PRESCRIBER.display_name}
    content = parse_record(bundle)
    assert content.doctor == PRESCRIBER  # the doctor of the encounter, not the other prescriber
    assert content.documents == (
        ("Ordonnance RX-2025-000123-7KQ4", "application/pdf"),
        ("Résumé de consultation", "application/pdf"),
    )


# --- round trip ----------------------------------------------------------------------------------


def expected_content(record: RecordInput) -> RecordContent:
    documents = [
        (f"Ordonnance {p.prescription_id}", "application/pdf")
        for p in record.prescriptions
        if p.prescription_id in record.prescription_pdfs
    ]
    if record.summary_pdf is not None:
        documents.append(("Résumé de consultation", "application/pdf"))
    return RecordContent(
        record_id=record.record_id,
        consultation_id=record.consultation_id,
        cabin_id=record.cabin_id,
        patient=record.patient,
        language=record.language,
        started_at=record.started_at,
        ended_at=record.ended_at,
        reason=record.reason,
        doctor=None
        if record.doctor is None
        else msgspec.structs.replace(record.doctor, photo=None),
        doctor_id=record.doctor_id,
        vitals=record.vitals,
        prescriptions=tuple(
            PastPrescription(
                prescription_id=p.prescription_id, issued_at=p.issued_at, lines=p.lines
            )
            for p in record.prescriptions
        ),
        advice=record.advice,
        documents=tuple(documents),
        patient_local_id=record.patient_local_id,
        cabin_name=record.cabin_name,
        end_reason=record.end_reason,
        appointment=record.appointment,
    )


@pytest.mark.parametrize("record", VARIANTS.values(), ids=VARIANTS.keys())
def test_round_trip(record: RecordInput) -> None:
    content = parse_record(build_bundle(record))
    assert content == expected_content(record)
    assert content.vitals == record.vitals  # equal wire.Vital objects, in order, pulses folded back
    for vital in content.vitals:
        assert vital.measured_at.utcoffset() == timedelta(0)


def test_round_trip_of_a_datetime_in_another_zone() -> None:
    paris = datetime(2025, 3, 14, 10, 26, 53, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    record = dataclasses.replace(MINIMAL, started_at=paris)
    assert parse_record(build_bundle(record)).started_at == paris


words = st.text(
    alphabet=st.characters(categories=["L", "M", "Nd", "Pd", "Po"]), min_size=1, max_size=12
)


@st.composite
def vitals(draw: st.DrawFn) -> Vital:
    kind = draw(st.sampled_from(VitalKind))
    at = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    )
    device = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True))

    def value(low: float, high: float) -> float:
        return draw(st.floats(min_value=low, max_value=high, allow_nan=False))

    pulse = draw(st.none() | st.floats(min_value=0, max_value=300))
    match kind:
        case VitalKind.BLOOD_PRESSURE:
            diastolic = value(0, 400)
            systolic = value(diastolic, 400)
            mean = draw(st.none() | st.floats(min_value=0, max_value=400))
            return Vital(
                kind=kind,
                measured_at=at,
                device_id=device,
                systolic_mmhg=systolic,
                diastolic_mmhg=diastolic,
                mean_arterial_mmhg=mean,
                pulse_bpm=pulse,
            )
        case VitalKind.SPO2:
            return Vital(
                kind=kind,
                measured_at=at,
                device_id=device,
                spo2_percent=value(0, 100),
                pulse_bpm=pulse,
            )
        case VitalKind.TEMPERATURE:
            return Vital(kind=kind, measured_at=at, device_id=device, temperature_c=value(20, 50))
        case _:
            return Vital(kind=kind, measured_at=at, device_id=device, pulse_bpm=value(0, 300))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    family=words,
    given_names=st.lists(words, min_size=1, max_size=3).map(" ".join),
    readings=st.lists(vitals(), max_size=8),
    advice=st.text(max_size=300),
    reason=st.text(max_size=100),
)
def test_round_trip_of_any_values(
    family: str, given_names: str, readings: list[Vital], advice: str, reason: str
) -> None:
    record = dataclasses.replace(
        FULL,
        patient=PatientSummary(
            family_name=family, given_names=given_names, birth_date=date(1950, 2, 3)
        ),
        vitals=tuple(readings),
        advice=advice,
        reason=reason,
    )
    content = parse_record(build_bundle(record))
    assert content.patient == record.patient
    assert content.vitals == record.vitals
    assert content.advice == advice
    assert content.reason == reason


# --- determinism ---------------------------------------------------------------------------------


def test_the_same_record_gives_the_same_bytes() -> None:
    first = build_bundle(FULL)
    rebuilt = dataclasses.replace(
        FULL,
        prescription_pdfs=dict(reversed(list(FULL.prescription_pdfs.items()))),
        vitals=tuple(msgspec.json.decode(msgspec.json.encode(FULL.vitals), type=tuple[Vital, ...])),
    )
    assert build_bundle(rebuilt) == first
    assert build_bundle(FULL) == first
    assert build_bundle(dataclasses.replace(FULL, advice="autre")) != first


def test_record_ids() -> None:
    assert record_id_for("c-42") == record_id_for("c-42")
    assert record_id_for("c-42") != record_id_for("c-43")
    longest = record_id_for("x" * 64)
    assert len(longest) <= 64
    assert longest.startswith("rec-")
    with pytest.raises(ValueError, match="wire id"):
        record_id_for("not an id")


def test_other_records_have_other_full_urls() -> None:
    first = {e["fullUrl"] for e in json.loads(build_bundle(FULL))["entry"]}
    other = dataclasses.replace(FULL, record_id=record_id_for("c-99"))
    second = {e["fullUrl"] for e in json.loads(build_bundle(other))["entry"]}
    assert not first & second


# --- build refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"record_id": "bad id"}, "record_id"),
        ({"started_at": datetime(2025, 3, 14, 9, 0)}, "started_at"),
        ({"end_reason": "left early"}, "end_reason"),
        ({"doctor_id": ""}, "doctor_id"),
        ({"prescription_pdfs": {"RX-unknown": PDF_1}}, "PDF"),
        ({"summary_pdf": b""}, "empty"),
        ({"prescriptions": (RX_1, RX_1)}, "same number"),
        ({"reason": "x" * 501}, "reason"),
        (
            {"vitals": (msgspec.structs.replace(BP, pulse_bpm=float("nan")),)},
            r"vitals\[0\]",
        ),
        (
            {"vitals": (msgspec.structs.replace(SPO2, pulse_bpm=float("inf")),)},
            r"vitals\[0\]",
        ),
        (
            {"vitals": (msgspec.structs.replace(TEMPERATURE, temperature_c=60.0),)},
            r"vitals\[0\]",
        ),
    ],
)
def test_build_refuses_what_the_wire_refuses(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_bundle(dataclasses.replace(FULL, **changes))


# --- parse refusals ------------------------------------------------------------------------------


def test_record_error_is_a_wire_error() -> None:
    assert issubclass(RecordError, MalformedMessage)
    assert issubclass(RecordError, WireError)


def entry_of(data: dict[str, Any], resource_type: str, index: int = 0) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == resource_type
    ]
    return found[index]


def drop_entries(resource_type: str) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        data["entry"] = [e for e in data["entry"] if e["resource"]["resourceType"] != resource_type]

    return mutate


def duplicate_entry(resource_type: str) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        [entry] = [e for e in data["entry"] if e["resource"]["resourceType"] == resource_type]
        data["entry"].append({"fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000000", **entry})
        data["entry"][-1]["fullUrl"] = "urn:uuid:00000000-0000-0000-0000-000000000000"

    return mutate


def set_in(resource_type: str, key: str, value: Any, index: int = 0) -> Any:
    return lambda data: entry_of(data, resource_type, index).update({key: value})


def set_unit(data: dict[str, Any]) -> None:
    temperature = next(
        r for r in (e["resource"] for e in data["entry"]) if "8310-5" in str(r.get("code"))
    )
    temperature["valueQuantity"]["code"] = "[degF]"


def set_component_unit(data: dict[str, Any]) -> None:
    entry_of(data, "Observation")["component"][0]["valueQuantity"]["code"] = "kPa"


def tamper_pdf(data: dict[str, Any]) -> None:
    attachment = entry_of(data, "DocumentReference")["content"][0]["attachment"]
    attachment["data"] = base64.b64encode(PDF_1.replace(b"first", b"forge")).decode()


def truncate_pdf(data: dict[str, Any]) -> None:
    attachment = entry_of(data, "DocumentReference")["content"][0]["attachment"]
    attachment["data"] = base64.b64encode(PDF_1[:-1]).decode()


def same_full_url(data: dict[str, Any]) -> None:
    data["entry"][1]["fullUrl"] = data["entry"][0]["fullUrl"]


def same_full_url_as_an_unread_resource(data: dict[str, Any]) -> None:
    provenance = next(e for e in data["entry"] if e["resource"]["resourceType"] == "Provenance")
    provenance["fullUrl"] = data["entry"][0]["fullUrl"]


def two_advice(data: dict[str, Any]) -> None:
    [advice] = [e for e in data["entry"] if e["resource"]["resourceType"] == "Communication"]
    data["entry"].append({**advice, "fullUrl": "urn:uuid:00000000-0000-0000-0000-0000000000aa"})


REFUSED = {
    "not a Bundle": (lambda data: data.update({"resourceType": "Patient"}), "not a FHIR Bundle"),
    "not a collection": (lambda data: data.update({"type": "document"}), "collection"),
    "no identifier": (lambda data: data.pop("identifier"), "record identifier"),
    "bad record id": (lambda data: data["identifier"].update({"value": "a b"}), "wire id"),
    "no Patient": (drop_entries("Patient"), "0 Patient"),
    "two Patients": (duplicate_entry("Patient"), "2 Patient"),
    "no Encounter": (drop_entries("Encounter"), "0 Encounter"),
    "no Location": (drop_entries("Location"), "Location"),
    "no consultation id": (set_in("Encounter", "identifier", []), "wire id"),
    "no start": (set_in("Encounter", "period", {}), "no start"),
    "naive start": (set_in("Encounter", "period", {"start": "2025-03-14T09:00:00"}), "timezone"),
    "partial start": (set_in("Encounter", "period", {"start": "2025-03"}), "RFC 3339|datetime"),
    "unknown gender": (set_in("Patient", "gender", "x"), "gender"),
    "no birth date": (lambda data: entry_of(data, "Patient").pop("birthDate"), "birth_date"),
    "no name": (set_in("Patient", "name", []), "no name"),
    "no language": (set_in("Patient", "communication", []), "preferred language"),
    "unknown language": (
        set_in(
            "Patient",
            "communication",
            [
                {
                    "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "de"}]},
                    "preferred": True,
                }
            ],
        ),
        "communication",
    ),
    "unknown doctor": (
        lambda data: entry_of(data, "Encounter")["participant"][0]["individual"].update(
            {"reference": "urn:uuid:00000000-0000-0000-0000-000000000001"}
        ),
        "Practitioner",
    ),
    "doctor without specialty": (drop_entries("PractitionerRole"), "specialty"),
    "wrong unit": (set_unit, "UCUM `Cel`"),
    "wrong component unit": (set_component_unit, "UCUM `mm"),
    "value out of range": (
        lambda data: [
            r["valueQuantity"].update({"value": 20000})
            for r in (e["resource"] for e in data["entry"])
            if "valueQuantity" in r
        ],
        "<=",
    ),
    "no device": (lambda data: entry_of(data, "Observation").pop("device"), "device_id"),
    "dangling member": (
        lambda data: entry_of(data, "Observation")["hasMember"][0].update(
            {"reference": "urn:uuid:00000000-0000-0000-0000-000000000002"}
        ),
        "Observation",
    ),
    "member not a heart rate": (
        lambda data: entry_of(data, "Observation")["hasMember"][0].update(
            {"reference": data["entry"][0]["fullUrl"]}
        ),
        "Observation",
    ),
    "temperature with a member": (
        lambda data: [
            r.update({"hasMember": entry_of(data, "Observation")["hasMember"]})
            for r in (e["resource"] for e in data["entry"])
            if "8310-5" in str(r.get("code"))
        ],
        "members",
    ),
    "two vital codes": (
        lambda data: entry_of(data, "Observation")["code"]["coding"].append(
            {"system": LOINC, "code": "8310-5"}
        ),
        "more than one vital sign",
    ),
    "no prescription number": (
        lambda data: entry_of(data, "MedicationRequest").pop("groupIdentifier"),
        "prescription number",
    ),
    "no line extension": (
        lambda data: entry_of(data, "MedicationRequest")["dosageInstruction"][0].pop("extension"),
        "prescription-line",
    ),
    "no drug": (
        lambda data: entry_of(data, "MedicationRequest").pop("medicationCodeableConcept"),
        "drug",
    ),
    "too many renewals": (
        lambda data: entry_of(data, "MedicationRequest")["dispenseRequest"].update(
            {"numberOfRepeatsAllowed": 13}
        ),
        "renewals",
    ),
    "lines of two dates": (
        set_in("MedicationRequest", "authoredOn", "2025-03-15T00:00:00Z", index=1),
        "date",
    ),
    "tampered PDF": (tamper_pdf, "hash"),
    "truncated PDF": (truncate_pdf, "size"),
    "PDF not base64": (
        lambda data: entry_of(data, "DocumentReference")["content"][0]["attachment"].update(
            {"data": "é!"}
        ),
        "base64",
    ),
    "same fullUrl twice": (same_full_url, "fullUrl"),
    "same fullUrl as an unread resource": (same_full_url_as_an_unread_resource, "fullUrl"),
    "two advice": (two_advice, "advice"),
    "advice too long": (
        lambda data: entry_of(data, "Communication")["payload"][0].update(
            {"contentString": "x" * 10001}
        ),
        "length",
    ),
    "entry without resource": (lambda data: data["entry"].append({"fullUrl": "x"}), "resource"),
    "resource not an object": (lambda data: data["entry"].append({"resource": 5}), "object"),
}


@pytest.mark.parametrize(("mutate", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_parse_refuses_a_malformed_record(mutate: Any, message: str) -> None:
    bad = mutate_json(build_bundle(FULL), mutate)
    with pytest.raises(RecordError, match=message) as caught:
        parse_record(bad)
    text = str(caught.value)
    assert text.startswith("malformed record")
    for secret in ("Gall", "Anne", "1950", "Paracétamol", "Buvez", "pat-0007"):
        assert secret not in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe{", "not JSON"),
        (b'{"resourceType": "Bundle\x80"}', "UTF-8"),
        (b'{"resourceType": "Bundle"', "not JSON"),
        (b"[]", "object"),
        (b"null", "object"),
        (b'{"type": "collection"}', "resourceType"),
        (b"[" * 50000, "object|nested"),
        (b'{"resourceType": "Bundle", "x": ' + b"[" * 50000 + b"]" * 50000 + b"}", "nested"),
    ],
)
def test_parse_refuses_what_is_not_a_bundle(data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_record(data)


def test_parse_refuses_an_oversized_record() -> None:
    bundle = build_bundle(FULL)
    with pytest.raises(RecordError, match="larger than"):
        parse_record(bundle, max_bytes=len(bundle) - 1)
    assert parse_record(bundle, max_bytes=len(bundle)).record_id == FULL.record_id
    with pytest.raises(RecordError, match="larger than"):
        parse_record(b" " * (4 * 1024 * 1024 + 1))


def test_observations_of_unknown_codes_and_other_resources_are_ignored() -> None:
    def add(data: dict[str, Any]) -> None:
        weight = json.loads(json.dumps(entry_of(data, "Observation")))
        weight.pop("component")
        weight.pop("hasMember")
        weight["code"] = {"coding": [{"system": LOINC, "code": "29463-7"}]}
        weight["valueQuantity"] = {"value": 70, "unit": "kg", "system": UCUM, "code": "kg"}
        snomed = json.loads(json.dumps(weight))
        snomed["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "8867-4"}]}
        data["entry"].insert(
            5, {"fullUrl": "urn:uuid:00000000-0000-0000-0000-00000000000a", "resource": weight}
        )
        data["entry"].append(
            {"fullUrl": "urn:uuid:00000000-0000-0000-0000-00000000000b", "resource": snomed}
        )
        data["entry"].append({"resource": {"resourceType": "Basic", "code": {"text": "x"}}})
        entry_of(data, "Patient")["extension"] = [
            {"url": "https://example.org/x", "valueString": "y"}
        ]

    extended = mutate_json(build_bundle(FULL), add)
    Bundle.parse_raw(extended)
    assert parse_record(extended) == parse_record(build_bundle(FULL))


# --- fuzzing -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["urn:uuid:", "8867-4", "85354-9", "mm[Hg]", "/min", "Bundle", "Patient"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def parse_or_refuse(data: bytes) -> None:
    try:
        content = parse_record(data)
    except RecordError:
        return
    assert isinstance(content, RecordContent)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    parse_or_refuse(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzz_random_json(value: Any) -> None:
    parse_or_refuse(json.dumps(value).encode())
    parse_or_refuse(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": value}).encode()
    )


FULL_JSON = build_bundle(FULL)
SAMPLES: tuple[object, ...] = (0, -1, 1.5, 1e308, "", "x", None, True, [], {}, "2025-13-01")
SAMPLE_VALUES = sorted({json.dumps(sample) for sample in SAMPLES})


def slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of a JSON tree, the deepest included."""
    keys = list(node) if isinstance(node, dict) else range(len(node))
    found = []
    for key in keys:
        found.append((node, key))
        if isinstance(node[key], dict | list):
            found.extend(slots(node[key]))
    return found


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_bundles(data: st.DataObject) -> None:
    """Mutations anywhere in a real record: each one parses or is refused with a RecordError."""
    bundle = json.loads(FULL_JSON)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        node, key = data.draw(st.sampled_from(slots(bundle)))
        action = data.draw(st.sampled_from(["delete", "replace", "sample", "duplicate"]))
        if action == "delete":
            del node[key]
        elif action == "replace":
            node[key] = data.draw(json_values)
        elif action == "sample":
            node[key] = json.loads(data.draw(st.sampled_from(SAMPLE_VALUES)))
        elif isinstance(node, list):
            node.append(json.loads(json.dumps(node[key])))
        else:
            node[key] = [node[key], node[key]]
    parse_or_refuse(json.dumps(bundle).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_flipped_bytes(data: st.DataObject) -> None:
    raw = bytearray(FULL_JSON)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[index] = data.draw(st.integers(min_value=0, max_value=255))
    parse_or_refuse(bytes(raw))


# --- the appointment ---------------------------------------------------------------------------


def test_the_appointment_is_in_the_record_with_its_participants() -> None:
    bundle = build_bundle(VARIANTS["booked and seen by their doctor"])
    urls = by_url(bundle)
    [appointment] = resources(bundle, "Appointment")
    assert appointment["status"] == "fulfilled"
    assert appointment["identifier"] == [{"system": "urn:cabin:appointment", "value": "ap-42"}]
    assert datetime.fromisoformat(appointment["start"]) == BOOKED.starts_at
    assert datetime.fromisoformat(appointment["end"]) == BOOKED.ends_at
    actors = [urls[p["actor"]["reference"]]["resourceType"] for p in appointment["participant"]]
    assert actors == ["Patient", "Location", "Practitioner"]  # the booked doctor saw them
    [encounter] = resources(bundle, "Encounter")
    assert urls[encounter["appointment"][0]["reference"]] is not None
    assert urls[encounter["appointment"][0]["reference"]]["resourceType"] == "Appointment"

    other = build_bundle(VARIANTS["booked, seen by another doctor"])
    [appointment] = resources(other, "Appointment")
    booked_doctor = appointment["participant"][2]["actor"]
    assert booked_doctor == {
        "identifier": {"system": "urn:cabin:hub:doctor", "value": "b.remplacant"},
        "display": "Dr B R",
    }
    assert len(resources(other, "Practitioner")) == 1  # not a Practitioner of its own

    left = build_bundle(VARIANTS["booked, left before a doctor"])
    [appointment] = resources(left, "Appointment")
    assert appointment["status"] == "arrived"
    assert "appointment" in resources(left, "Encounter")[0]
    assert "appointment" not in resources(build_bundle(MINIMAL), "Encounter")[0]


@pytest.mark.parametrize("status", ["booked", "noshow", "cancelled", ""])
def test_only_an_arrived_or_fulfilled_appointment_goes_into_a_record(status: str) -> None:
    with pytest.raises(ValueError, match="arrived or fulfilled"):
        build_bundle(
            dataclasses.replace(FULL, appointment=dataclasses.replace(BOOKED, status=status))
        )
    bundle = mutate_json(
        build_bundle(dataclasses.replace(FULL, appointment=BOOKED)),
        lambda data: data["entry"][-1]["resource"].update(status=status),
    )
    with pytest.raises(RecordError, match="arrived or fulfilled"):
        parse_record(bundle)
