"""What the kiosk knows of a printer: its status, a job's progress, and the one call that prints.

The calls block (IPP requests, disk writes): the kiosk runs them through ``asyncio.to_thread``.
Two printers implement :class:`Printer`: :class:`printing.cups.CupsPrinter` (the cabin's real
printer) and :class:`printing.pdf_folder.PdfFolderPrinter` (the demo's folder of PDF files).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import wire
from printing.errors import PrintError

PrinterState = Literal["idle", "processing", "stopped", "unreachable"]


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """A printer as last seen.

    ``problem`` is what keeps it from printing, or ``None``. ``PAPER_LOW`` is a warning: the
    printer is still :attr:`ready` (the agent should refill it soon). A stopped printer, one that
    refuses jobs and one that cannot be reached all have a problem (``OFFLINE`` unless the
    printer says something more precise, like a paper jam).
    """

    problem: wire.PrinterProblem | None
    state: PrinterState
    accepting: bool
    reasons: tuple[str, ...]  # the raw printer-state-reasons, for the log and the agent

    @property
    def ready(self) -> bool:
        """A document sent now should come out (``PAPER_LOW`` alone is only a warning)."""
        return self.problem is None or self.problem is wire.PrinterProblem.PAPER_LOW

    @classmethod
    def unreachable(cls) -> PrinterStatus:
        """The status of a printer (or print server) that does not answer."""
        return cls(wire.PrinterProblem.OFFLINE, "unreachable", accepting=False, reasons=())


@dataclass(frozen=True, slots=True)
class JobProgress:
    """Where a job is: reported whenever its page count or the printer's status changes."""

    job_ref: str  # the CUPS job id as text, or the file name for the PDF folder
    pages_done: int
    status: PrinterStatus


class PrintJobFailed(PrintError):
    """A document did not come out; nothing of it is left to print later by surprise.

    The caller keeps the document and may print it again once ``problem`` is solved.
    """

    def __init__(self, problem: wire.PrinterProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


class Printer(Protocol):
    """A printer the kiosk can print on (blocking calls: run them in a worker thread)."""

    name: str

    def status(self) -> PrinterStatus:
        """The printer's status now; never raises (an unreachable printer is a status)."""
        ...

    def print_document(
        self,
        title: str,
        document: bytes,
        *,
        on_progress: Callable[[JobProgress], None] | None = None,
        timeout_s: float = 120.0,
    ) -> int:
        """Print ``document`` (a PDF) as ``title`` (no patient data in it) and return the pages
        printed, once they are out; raise :class:`PrintJobFailed` otherwise.

        ``on_progress`` is called from the calling (worker) thread.
        """
        ...


# A page object of a PDF ("/Type /Pages" is the page tree, not a page).
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page\b")


def page_count(document: bytes) -> int:
    """The pages of a PDF the cabin made (reportlab writes one ``/Type /Page`` per page)."""
    return len(_PAGE_OBJECT.findall(document))
