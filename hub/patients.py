"""How the hub recognises a patient it has seen before, without a national identifier.

The match key is the family name, the given names and the birth date, normalised so that
accents, case, hyphens and extra spaces do not split one person into two: "Le Gall-Éon, Anne
Marie, 1950-02-03" and "LE GALL EON, anne-marie, 1950-02-03" give the same key. Every script
keeps its letters: "Иванов Иван" and "王 伟" born the same day are two people, two keys.

How a name is normalised (`normalise_name`):
- NFKC first (full-width Latin letters are Latin letters, a ligature is its letters), then
  Unicode case folding (locale-free: "ИВАНОВ" is "иванов", "ß" is "ss").
- The combining marks that follow a *Latin* letter are dropped (canonical decomposition first):
  "Éloïse" is "eloise", "Şahin" is "sahin". Marks in other scripts are letters' parts there
  ("й" is not "и", "ガ" is not "カ", a Devanagari vowel sign is a vowel) and are kept, but
  Arabic's harakat (short vowels, shadda, sukun), which are optional in writing and mostly
  left out, and the tatweel: "مُحَمَّد" is "محمد".
- Turkish I: case folding is not Turkish-aware, so "I" is "i" and "İ" is "i" plus a combining
  dot above, dropped like any Latin accent; the dotless i (U+0131) is folded to "i" too. So the
  four Turkish i's all match: a Turkish name typed on a French keyboard, without its dotless
  i, is the same patient; two patients told apart only by a dotless i *and* born the same day
  are more than the hub can tell apart anyway (it asks their birth date, not an id).
- "æ" and "œ" are "ae" and "oe"; anything that is not a letter, a digit or a kept mark
  (spaces, hyphens, apostrophes, dots) separates words, and runs of separators are one space.

The key is stored with the consultation and the record and never logged. A change of this
function needs the stored keys recomputed: a migration queues them (table
`patient_rekey`), `hub.records.rekey_patients` recomputes them when the hub starts.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import wire

_FOLDED = str.maketrans({"æ": "ae", "œ": "oe", "\u0131": "i", "\u0640": None})
"""Ligatures spelled out, the dotless i, the Arabic tatweel (a stretch of the line, no letter)."""


def _optional_mark(char: str) -> bool:
    """Arabic's short vowels and other harakat: optional in writing, mostly left out."""
    return "\u064b" <= char <= "\u065f" or char == "\u0670"


@lru_cache(maxsize=4096)
def _is_latin(char: str) -> bool:
    return unicodedata.name(char, "").startswith("LATIN ")


def normalise_name(name: str) -> str:
    """`name` as the match key holds it (see the module's text)."""
    text = _without_latin_marks(unicodedata.normalize("NFKC", name))
    text = _without_latin_marks(text.casefold())  # "İ" folds to "i" and a combining dot
    text = unicodedata.normalize("NFC", text).translate(_FOLDED)
    return " ".join(
        "".join(c if unicodedata.category(c)[0] in "LNM" else " " for c in text).split()
    )


def _without_latin_marks(text: str) -> str:
    """`text` decomposed (NFD), without the marks on Latin letters nor the optional ones."""
    kept: list[str] = []
    after_latin = False
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.category(char) == "Mn":
            if not (after_latin or _optional_mark(char)):
                kept.append(char)
            continue
        after_latin = _is_latin(char)
        kept.append(char)
    return "".join(kept)


def match_key(patient: wire.PatientSummary) -> str:
    """``family|given names|YYYY-MM-DD``, normalised."""
    family = normalise_name(patient.family_name)
    given = normalise_name(patient.given_names)
    return f"{family}|{given}|{patient.birth_date.isoformat()}"
