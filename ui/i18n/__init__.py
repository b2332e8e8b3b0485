"""The screen's translations: Qt Linguist sources (``cabin_<lang>.ts``) and their built ``.qm``.

Source strings are English (Qt's convention); French is the cabin's first language and is
loaded by default. ``python -m ui.i18n --update`` refreshes the ``.ts`` from the code;
``--build`` compiles the ``.qm`` files (``./cabin`` does it on every run: it takes ~50 ms).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

I18N_DIR = Path(__file__).resolve().parent
LANGUAGES = ("fr", "en")
TRANSLATED = ("fr",)  # English is the source language: no file needed


def ts_file(language: str) -> Path:
    return I18N_DIR / f"cabin_{language}.ts"


def qm_file(language: str) -> Path:
    return I18N_DIR / f"cabin_{language}.qm"


def _tool(name: str) -> str:
    """A Qt Linguist tool of the PySide6 wheel, beside this interpreter."""
    return str(Path(sys.executable).parent / name)


def build() -> None:
    """Compile every ``.ts`` into its ``.qm``."""
    for language in TRANSLATED:
        subprocess.run(
            [
                _tool("pyside6-lrelease"),
                "-silent",
                str(ts_file(language)),
                "-qm",
                str(qm_file(language)),
            ],
            check=True,
        )


def update() -> None:
    """Refresh every ``.ts`` from the strings in the screen's code."""
    sources = sorted(str(p) for p in I18N_DIR.parent.glob("*.py"))
    for language in TRANSLATED:
        subprocess.run(
            [_tool("pyside6-lupdate"), "-no-obsolete", *sources, "-ts", str(ts_file(language))],
            check=True,
        )
