"""The demo's printer: each document becomes a PDF file in a folder, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from printing.errors import PrintError


class PdfFolderPrinter:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def submit(self, name: str, document: bytes) -> Path:
        """Write ``document`` as ``<name>.pdf`` (atomically: a temporary file, then a rename)."""
        if not document.startswith(b"%PDF"):
            raise PrintError(f"{name}: not a PDF document")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".part")
            with os.fdopen(fd, "wb") as out:
                out.write(document)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o640)
            target = self.folder / f"{name}.pdf"
            os.replace(temporary, target)
        except OSError as exc:
            raise PrintError(f"{self.folder}: cannot write {name}.pdf ({exc})") from exc
        return target
