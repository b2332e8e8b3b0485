"""The demo's printer: each document becomes a PDF file in a folder, written whole or not at all."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import wire
from printing.errors import PrintError
from printing.printer import JobProgress, PrinterStatus, PrintJobFailed, page_count

_log = logging.getLogger(__name__)

_READY = PrinterStatus(problem=None, state="idle", accepting=True, reasons=())


class PdfFolderPrinter:
    """A :class:`printing.printer.Printer` whose paper is a folder of PDF files."""

    def __init__(self, folder: Path, name: str = "pdf-folder") -> None:
        self.folder = folder
        self.name = name

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

    def status(self) -> PrinterStatus:
        """Ready, or ``OFFLINE`` when the folder cannot be made or written to."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return _offline()
        if not os.access(self.folder, os.W_OK | os.X_OK):
            return _offline()
        return _READY

    def print_document(
        self,
        title: str,
        document: bytes,
        *,
        on_progress: Callable[[JobProgress], None] | None = None,
        timeout_s: float = 120.0,
    ) -> int:
        """Write ``document`` as ``<title>.pdf`` and return its page count.

        ``timeout_s`` is not used: a local write is bounded by the disk.
        """
        del timeout_s
        if not title or "/" in title or "\0" in title or title.startswith("."):
            raise PrintJobFailed(wire.PrinterProblem.OTHER, "the title is not a file name")
        if not document.startswith(b"%PDF"):
            raise PrintJobFailed(wire.PrinterProblem.OTHER, "the document is not a PDF")
        try:
            path = self.submit(title, document)
        except PrintError as exc:
            _log.warning("printing.job_failed printer=%s problem=offline", self.name)
            raise PrintJobFailed(wire.PrinterProblem.OFFLINE, str(exc)) from exc
        pages = page_count(document)
        _log.info("printing.job_completed printer=%s pages=%d", self.name, pages)
        if on_progress is not None:
            on_progress(JobProgress(job_ref=path.name, pages_done=pages, status=_READY))
        return pages


def _offline() -> PrinterStatus:
    return PrinterStatus(
        problem=wire.PrinterProblem.OFFLINE, state="stopped", accepting=False, reasons=()
    )
