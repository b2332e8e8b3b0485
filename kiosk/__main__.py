"""``python -m kiosk``: the cabin's tools that start nothing.

    python -m kiosk check-config FILE [--data DIR] [--credstore DIR ...]

``check-config`` validates a real cabin's configuration as ``python -m ui run`` does before it
starts (``kiosk.production``): it prints "configuration OK" and exits 0, or prints each demo or
missing setting, with its key, and exits 1; a file that is no valid configuration (bad TOML, an
unknown key, a wrong value) exits 2 with the error. The PIN's hash is made by
``python -m kiosk.assistant set-pin``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk.errors import ConfigError
from kiosk.production import CREDENTIAL_STORES, check_file

DEFAULT_DATA_DIR = Path("/var/lib/cabin")
OK, PROBLEMS, INVALID = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-config", help="check a real cabin's configuration without starting anything"
    )
    check.add_argument("file", type=Path, help="the cabin's TOML file (/etc/cabin/cabin.toml)")
    check.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"the cabin's data folder, for relative paths (default {DEFAULT_DATA_DIR})",
    )
    check.add_argument(
        "--credstore",
        type=Path,
        action="append",
        help="a folder of the service's systemd credentials, by name (default: "
        + ", ".join(str(p) for p in CREDENTIAL_STORES)
        + ")",
    )
    args = parser.parse_args(argv)
    stores = CREDENTIAL_STORES if args.credstore is None else tuple(args.credstore)
    try:
        _config, found = check_file(args.file, args.data, os.environ, credential_stores=stores)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return INVALID
    for problem in found:
        print(problem.describe(str(args.file)))
    if found:
        print(f"{len(found)} setting(s) a real cabin refuses", file=sys.stderr)
        return PROBLEMS
    print("configuration OK")
    return OK


if __name__ == "__main__":
    sys.exit(main())
