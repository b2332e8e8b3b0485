"""The screen's translations: Qt Linguist sources (``cabin_<lang>.ts``) and their built ``.qm``.

Source strings are English (Qt's convention); French is the cabin's first language and is
loaded by default. ``python -m ui.i18n --update`` refreshes the ``.ts`` from the code;
``--build`` compiles the ``.qm`` files (``./cabin`` does it on every run: it takes ~50 ms).
"""

from __future__ import annotations

from pathlib import Path

I18N_DIR = Path(__file__).resolve().parent
LANGUAGES = ("fr", "en")
TRANSLATED = ("fr",)  # English is the source language: no file needed


def ts_file(language: str) -> Path:
    return I18N_DIR / f"cabin_{language}.ts"


def qm_file(language: str) -> Path:
    return I18N_DIR / f"cabin_{language}.qm"
