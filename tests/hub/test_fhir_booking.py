"""Bookings as FHIR R4: Schedule (per cabin, per doctor), Slot, Appointment and the export
Bundle, validated with fhir.resources 6.1 (FHIR 4.0.1); the export from a real SQLCipher hub,
and `python -m hub export-bookings`."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fhir.resources import get_fhir_model_class
from fhir.resources.bundle import Bundle

from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.fhir_booking import (
    APPOINTMENT_SYSTEM,
    BookingExport,
    DoctorName,
    build_export_bundle,
    collect_export,
)
from hub.schedule import CabinCalendar, OpeningHours, RotaShift, day_slots
from tests.hub.hub_key import key_env
from tests.hub.test_bookings import MONDAY, NOW, OTHER, PATIENT, Rig, at, desk_rig

ROOT = Path(__file__).resolve().parents[2]
MURAT = CabinCalendar("cab-murat", "Murat")
ALLANCHE = CabinCalendar("cab-allanche", "Allanche")
HOURS = [
    OpeningHours(cabin, weekday, time(9), time(12))
    for cabin in ("cab-murat", "cab-allanche")
    for weekday in range(5)
]
SHIFTS = (
    RotaShift("s1", "dr.martin", "cab-murat", at(MONDAY, 8), at(MONDAY, 18)),
    RotaShift("s2", "dr.martin", "cab-allanche", at(MONDAY, 8), at(MONDAY, 18)),  # remote
    RotaShift("s3", "dr.bernard", "cab-murat", at(MONDAY, 10), at(MONDAY, 12)),
)


def appointment(
    n: int,
    status: AppointmentStatus,
    *,
    cabin: str = "cab-murat",
    doctor: str | None = "dr.martin",
    **more: Any,
) -> Appointment:
    starts = at(MONDAY, 9) + timedelta(minutes=15 * n)
    return Appointment(
        appointment_id=f"apt-{n}",
        cabin_id=cabin,
        doctor=doctor,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=15),
        status=status,
        patient=PATIENT if n % 2 == 0 else OTHER,
        code=f"98765{n}",
        channel=BookingChannel.ONLINE if n % 2 == 0 else BookingChannel.PHONE,
        booked_at=NOW,
        phone="+33612345678" if n == 0 else "",
        email="jeanne@example.fr" if n == 0 else "",
        reason="renouvellement" if n == 1 else "",
        **more,
    )


APPOINTMENTS = (
    appointment(0, AppointmentStatus.BOOKED),
    appointment(1, AppointmentStatus.ARRIVED, consultation_id="consult-1"),
    appointment(2, AppointmentStatus.FULFILLED, consultation_id="consult-2"),
    appointment(
        4, AppointmentStatus.CANCELLED, cancel_reason="Je vais mieux", cancelled_by="patient"
    ),
    appointment(5, AppointmentStatus.NOSHOW, doctor=None),
    appointment(6, AppointmentStatus.BOOKED, cabin="cab-allanche"),
)


def export() -> BookingExport:
    slots = [
        slot
        for calendar in (MURAT, ALLANCHE)
        for slot in day_slots(calendar, HOURS, [], SHIFTS, MONDAY)
    ]
    return BookingExport(
        generated_at=NOW,
        horizon=(NOW, NOW + timedelta(days=60)),
        calendars=(MURAT, ALLANCHE),
        slots=tuple(slots),
        shifts=SHIFTS,
        appointments=APPOINTMENTS,
        doctors={"dr.martin": DoctorName("dr.martin", "Dr Anne Martin", "10101234567")},
    )


def resources(bundle: bytes, kind: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in json.loads(bundle)["entry"] if e["resource"]["resourceType"] == kind
    ]


APPOINTMENT_STATUSES = {
    "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
    "entered-in-error", "checked-in", "waitlist",
}  # fmt: skip
SLOT_STATUSES = {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
PARTICIPANT_STATUSES = {"accepted", "declined", "tentative", "needs-action"}


def validate(bundle: bytes) -> None:
    """fhir.resources checks types, cardinalities and unknown fields, not the required value
    sets of codes: those of Appointment and Slot are checked here."""
    parsed = Bundle.parse_raw(bundle)
    assert parsed.type == "collection"
    entries: list[Any] = parsed.entry
    for entry, raw in zip(entries, json.loads(bundle)["entry"], strict=True):
        model = get_fhir_model_class(raw["resource"]["resourceType"])
        assert type(entry.resource) is model
        model.parse_obj(raw["resource"])
    for a in resources(bundle, "Appointment"):
        if a["status"] not in APPOINTMENT_STATUSES:
            raise ValueError(f"Appointment.status {a['status']!r}")
        assert a["participant"], "Appointment.participant is 1..*"
        for p in a["participant"]:
            if p["status"] not in PARTICIPANT_STATUSES:
                raise ValueError(f"Appointment.participant.status {p['status']!r}")
    for slot in resources(bundle, "Slot"):
        if slot["status"] not in SLOT_STATUSES:
            raise ValueError(f"Slot.status {slot['status']!r}")


def test_the_export_is_valid_fhir_r4() -> None:
    validate(build_export_bundle(export()))


def test_the_validator_looks_inside_the_entries() -> None:
    """Guard of the test above: a wrong status or an unknown field in an entry is refused."""
    bundle = json.loads(build_export_bundle(export()))
    for change in ({"status": "maybe"}, {"nonsense": 1}, {"start": "lundi"}, {"status": None}):
        broken = json.loads(json.dumps(bundle))
        target = next(e for e in broken["entry"] if e["resource"]["resourceType"] == "Appointment")
        target["resource"].update(change)
        with pytest.raises(ValueError, match=r"entry|status"):
            validate(json.dumps(broken).encode())


def test_one_schedule_per_cabin_as_a_location_and_one_per_doctor() -> None:
    bundle = build_export_bundle(export())
    urls = {e["fullUrl"]: e["resource"] for e in json.loads(bundle)["entry"]}
    schedules = resources(bundle, "Schedule")
    kinds = sorted(urls[s["actor"][0]["reference"]]["resourceType"] for s in schedules)
    assert kinds == ["Location", "Location", "Practitioner", "Practitioner"]
    martin = next(s for s in schedules if s["identifier"][0]["value"] == "dr.martin")
    covered = [urls[a["reference"]]["identifier"][0]["value"] for a in martin["actor"][1:]]
    assert sorted(covered) == ["cab-allanche", "cab-murat"]  # one doctor, two cabins
    practitioner = urls[martin["actor"][0]["reference"]]
    assert practitioner["name"] == [{"text": "Dr Anne Martin"}]
    shift_slots = [s for s in resources(bundle, "Slot") if "Permanence" in s.get("comment", "")]
    assert len(shift_slots) == 3


def test_slots_are_free_or_busy_and_walk_ins_are_marked() -> None:
    bundle = build_export_bundle(export())
    cabin_slots = [s for s in resources(bundle, "Slot") if "Permanence" not in s.get("comment", "")]
    murat = {
        s["start"]: s for s in cabin_slots if s["identifier"][0]["value"].startswith("cab-murat/")
    }
    assert len(murat) == 12
    busy = sorted(start for start, s in murat.items() if s["status"] == "busy")
    held = sorted(
        a.starts_at.isoformat().replace("+00:00", "Z")
        for a in APPOINTMENTS
        if a.cabin_id == "cab-murat" and a.status is not AppointmentStatus.CANCELLED
    )
    assert busy == held
    walk_ins = [s for s in murat.values() if s["appointmentType"]["coding"][0]["code"] == "WALKIN"]
    assert len(walk_ins) == 3


def test_appointments_carry_their_status_times_participants_and_never_the_code() -> None:
    bundle = build_export_bundle(export())
    urls = {e["fullUrl"]: e["resource"] for e in json.loads(bundle)["entry"]}
    found = {a["identifier"][0]["value"]: a for a in resources(bundle, "Appointment")}
    assert {a["status"] for a in found.values()} == {
        "booked",
        "arrived",
        "fulfilled",
        "cancelled",
        "noshow",
    }
    booked = found["apt-0"]
    assert booked["identifier"][0]["system"] == APPOINTMENT_SYSTEM
    assert booked["start"] == "2026-03-23T08:00:00Z" and booked["end"] == "2026-03-23T08:15:00Z"
    actors = [urls[p["actor"]["reference"]]["resourceType"] for p in booked["participant"]]
    assert actors == ["Patient", "Practitioner", "Location"]
    assert urls[booked["slot"][0]["reference"]]["status"] == "busy"
    assert "cancelationReason" not in booked
    cancelled = found["apt-4"]
    assert cancelled["cancelationReason"] == {"text": "Je vais mieux"}
    assert cancelled["participant"][0]["status"] == "declined"
    assert "slot" not in cancelled  # its slot is free again
    assert [
        urls[p["actor"]["reference"]]["resourceType"] for p in found["apt-5"]["participant"]
    ] == [
        "Patient",
        "Location",
    ]
    assert found["apt-1"]["supportingInformation"][0]["identifier"]["value"] == "consult-1"
    for a in APPOINTMENTS:
        assert a.code.encode() not in bundle
    patient = urls[booked["participant"][0]["actor"]["reference"]]
    assert patient["birthDate"] == "1950-03-02"
    assert {t["value"] for t in patient["telecom"]} == {"+33612345678", "jeanne@example.fr"}
    assert len(resources(bundle, "Patient")) == 2  # one per person, not per appointment


def test_every_reference_resolves_and_the_export_is_deterministic() -> None:
    bundle = build_export_bundle(export())
    assert build_export_bundle(export()) == bundle
    data = json.loads(bundle)
    urls = [e["fullUrl"] for e in data["entry"]]
    assert len(urls) == len(set(urls))
    references: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                references.append(node["reference"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    assert references and set(references) <= set(urls)


def test_the_export_of_a_real_hub_is_valid(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        booked = await rig.book(at(MONDAY, 9))
        await rig.book(at(MONDAY, 9, 15), patient=OTHER)
        await rig.desk.cancel_by_patient(booked.code, PATIENT.birth_date, "Je vais mieux")
        result = await collect_export(rig.storage, now=rig.clock.now(), days_ahead=14)
        assert len(result.appointments) == 2 and len(result.calendars) == 2
        bundle = build_export_bundle(result)
        validate(bundle)
        statuses = sorted(a["status"] for a in resources(bundle, "Appointment"))
        assert statuses == ["booked", "cancelled"]

    async def bounded() -> None:
        async with asyncio.timeout(20), desk_rig(tmp_path) as rig:
            await body(rig)

    asyncio.run(bounded())


def test_the_operator_exports_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    async def seed() -> None:
        async with desk_rig(data_dir) as rig:
            await rig.book(at(MONDAY, 9))

    data_dir.mkdir(mode=0o700)
    asyncio.run(seed())  # the rig's database is the data folder's hub.db, with the test key
    config = tmp_path / "hub.toml"
    config.write_text('argon2_cost = "test"\n')
    out = tmp_path / "export" / "bookings.fhir.json"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "hub", "export-bookings", str(out), "--days", "3"),
            *("--config", str(config), "--data", str(data_dir)),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=key_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 appointments" in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    bundle = out.read_bytes()
    validate(bundle)
    assert [a["status"] for a in resources(bundle, "Appointment")] == ["booked"]
    assert msgspec.json.decode(bundle)["type"] == "collection"
    start = resources(bundle, "Appointment")[0]["start"]
    assert start.endswith("Z") and date.fromisoformat(start[:10]) == MONDAY
