"""Refresh (``--update``) or compile (``--build``) the screen's translations."""

from __future__ import annotations

import argparse

from ui.i18n import build, update


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
