"""How the hub recognises a patient it has seen before, without a national identifier.

The match key is the family name, the given names and the birth date, normalised so that
accents, case, hyphens and extra spaces do not split one person into two: "Le Gall-Éon, Anne
Marie, 1950-02-03" and "LE GALL EON, anne-marie, 1950-02-03" give the same key. It is stored
with the consultation and never logged.
"""

from __future__ import annotations

import re
import unicodedata

import wire

_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def _normalise(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    letters = letters.replace("æ", "ae").replace("œ", "oe")
    return _NOT_LETTERS.sub(" ", letters).strip()


def match_key(patient: wire.PatientSummary) -> str:
    """``family|given names|YYYY-MM-DD``, normalised."""
    family = _normalise(patient.family_name)
    given = _normalise(patient.given_names)
    return f"{family}|{given}|{patient.birth_date.isoformat()}"
