"""Write the messages' JSON Schema to `wire/schema.json`, or check that it is up to date.

python -m wire            write the schema
python -m wire --check    exit 1 if the file differs from the generated schema
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wire.schema import SCHEMA_PATH, render_schema


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m wire", description="Write or check the JSON Schema of the wire messages."
    )
    parser.add_argument("--check", action="store_true", help="only check the file, exit 1 if stale")
    parser.add_argument("--path", type=Path, default=SCHEMA_PATH, help="schema file (%(default)s)")
    args = parser.parse_args(argv)
    path: Path = args.path
    expected = render_schema()
    if args.check:
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != expected:
            print(f"{path} is out of date; run `python -m wire` to regenerate it", file=sys.stderr)
            return 1
        return 0
    path.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
