"""Why the patient comes today: a few broad reasons the patient can touch, told to the doctor.

The patient chooses among pictures-and-words on the screen (in their language); the doctor reads
the reason in French, the console's language, beside the patient in the waiting room.
"""

from __future__ import annotations

import enum


class VisitReason(enum.Enum):
    FEVER = "fever"
    COUGH_COLD = "cough_cold"
    PAIN = "pain"
    SKIN = "skin"
    RENEWAL = "renewal"
    OTHER = "other"


_FOR_THE_DOCTOR: dict[VisitReason, str] = {
    VisitReason.FEVER: "Fièvre",
    VisitReason.COUGH_COLD: "Toux, rhume ou mal de gorge",
    VisitReason.PAIN: "Douleur",
    VisitReason.SKIN: "Problème de peau",
    VisitReason.RENEWAL: "Renouvellement d'ordonnance",
    VisitReason.OTHER: "Autre motif (à préciser avec le patient)",
}


def for_the_doctor(reason: VisitReason | None) -> str:
    """The reason as the doctor's console shows it; empty when the patient gave none."""
    return "" if reason is None else _FOR_THE_DOCTOR[reason]
