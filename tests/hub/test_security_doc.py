"""hub/SECURITY.md names, for each threat, the test that plays the attack: every test it names
exists, so that a renamed or removed test cannot leave the document claiming a proof."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def test_every_test_named_in_security_md_exists() -> None:
    missing = []
    named = 0
    for line in (ROOT / "hub" / "SECURITY.md").read_text(encoding="utf-8").splitlines():
        current: str | None = None  # "`::name`" is a test of the file named before it
        for match in REFERENCE.finditer(line):
            path, name = match.groups()
            if path is not None:
                current = path
                if not (ROOT / path).is_file():
                    missing.append(path)
                    continue
            if name is None:
                continue
            named += 1
            if current is None or not re.search(
                rf"^(async )?def {name}\b", (ROOT / current).read_text(encoding="utf-8"), re.M
            ):
                missing.append(f"{current}::{name}")
    assert named > 50
    assert missing == []
