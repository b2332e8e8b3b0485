"""Who the patient is, as the cabin holds it in memory during a session."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime


class Sex(enum.Enum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PatientIdentity:
    """A patient's identity. Its repr hides every field, so that a stray log line or traceback
    never carries a name or a birth date."""

    family_name: str
    given_names: str
    birth_date: date
    sex: Sex = Sex.UNKNOWN
    appointment_code: str | None = None

    def __post_init__(self) -> None:
        if not self.family_name.strip() or not self.given_names.strip():
            raise ValueError("a patient needs a family name and a given name")
        if self.birth_date > date.today():
            raise ValueError("a birth date cannot be in the future")

    def __repr__(self) -> str:
        return "PatientIdentity(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class BookedAppointment:
    """The appointment a code opened at this cabin, while the patient confirms it is theirs and
    then for their session. Its repr hides the patient, as `PatientIdentity`'s does."""

    appointment_id: str
    patient: PatientIdentity
    starts_at: datetime
    ends_at: datetime
    timezone: str
    """The cabin's IANA zone, where the slot is shown."""
    doctor: str | None = None
    """The username of the doctor the slot was booked with."""
    doctor_name: str | None = None
    checked_offline: bool = False
    """The code was checked against the synced list, the hub being away."""

    def __repr__(self) -> str:
        return f"BookedAppointment({self.appointment_id}, <redacted>)"

    __str__ = __repr__
