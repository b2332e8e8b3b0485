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


_ON_PAPER: dict[str, dict[VisitReason, str]] = {
    "fr": {
        VisitReason.FEVER: "Fièvre",
        VisitReason.COUGH_COLD: "Toux, rhume ou mal de gorge",
        VisitReason.PAIN: "Douleur",
        VisitReason.SKIN: "Problème de peau",
        VisitReason.RENEWAL: "Renouvellement d'ordonnance",
        VisitReason.OTHER: "Autre motif",
    },
    "en": {
        VisitReason.FEVER: "Fever",
        VisitReason.COUGH_COLD: "Cough, cold or sore throat",
        VisitReason.PAIN: "Pain",
        VisitReason.SKIN: "Skin problem",
        VisitReason.RENEWAL: "Prescription renewal",
        VisitReason.OTHER: "Another reason",
    },
}


def on_paper(reason: VisitReason | None, language: str) -> str:
    """The reason as the patient's printed summary says it, in their language (French when
    the summary has no words for it); empty when they gave none."""
    if reason is None:
        return ""
    return _ON_PAPER.get(language, _ON_PAPER["fr"])[reason]


def reason_of(stored: str) -> VisitReason | None:
    """A reason as the store keeps it (its value), or None (none given, or unknown)."""
    try:
        return VisitReason(stored) if stored else None
    except ValueError:
        return None
