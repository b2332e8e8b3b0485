"""The audit hook of the privacy tests: from the moment `forbid_writes_and_sockets()` returns,
every socket and every file opened for writing (or removed, renamed, linked, made) in this
process is recorded in the list it returned. The child processes of the privacy tests install
it once everything they need is made, run the analysis, and print what it recorded."""

from __future__ import annotations

import os
import sys
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
CHANGES = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.mkdir",
        "os.truncate",
        "shutil.copyfile",
        "os.link",
        "os.symlink",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
    }
)


def forbid_writes_and_sockets() -> list[str]:
    """Install the hook (it cannot be removed: for a child process); what it sees goes into the
    list returned."""
    seen: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("socket."):
            seen.append(event)
        elif event == "open":
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing:
                seen.append(f"open {args[0]} {mode} {flags}")
        elif event in CHANGES:
            seen.append(f"{event} {args[0]}")

    sys.addaudithook(hook)
    return seen
