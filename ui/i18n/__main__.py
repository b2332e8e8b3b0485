"""Refresh (``--update``) or compile (``--build``) the screen's translations."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ui.i18n import I18N_DIR, TRANSLATED, qm_file, ts_file


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def build() -> None:
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
    sources = sorted(str(p) for p in I18N_DIR.parent.glob("*.py"))
    for language in TRANSLATED:
        subprocess.run(
            [_tool("pyside6-lupdate"), "-no-obsolete", *sources, "-ts", str(ts_file(language))],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ui.i18n")
    parser.add_argument("--update", action="store_true", help="refresh .ts from the code")
    parser.add_argument("--build", action="store_true", help="compile .ts into .qm")
    args = parser.parse_args()
    if args.update:
        update()
    if args.build or not args.update:
        build()


if __name__ == "__main__":
    main()
