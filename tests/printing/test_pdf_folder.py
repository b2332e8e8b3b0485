"""The PDF folder as a Printer: whole files named after the job, their pages counted, and an
OFFLINE printer when the folder cannot be written."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A5
from reportlab.pdfgen import canvas

import wire
from printing.pdf_folder import PdfFolderPrinter
from printing.printer import JobProgress, Printer, PrintJobFailed
from printing.test_page import render_test_page

TEST_PAGE = render_test_page("mairie-x", "Cabine de la mairie", datetime(2026, 11, 23, tzinfo=UTC))


def pdf_of(pages: int) -> bytes:
    out = io.BytesIO()
    document = canvas.Canvas(out, pagesize=A5)
    for page in range(pages):
        document.drawString(50, 50, f"page {page + 1}")
        document.showPage()
    document.save()
    return out.getvalue()


def test_a_document_is_printed_whole_as_its_title(tmp_path: Path) -> None:
    printer: Printer = PdfFolderPrinter(tmp_path / "printed")
    progress: list[JobProgress] = []
    three_pages = pdf_of(3)

    pages = printer.print_document("ordonnance RX-1", three_pages, on_progress=progress.append)

    assert pages == 3
    assert [p.name for p in (tmp_path / "printed").iterdir()] == ["ordonnance RX-1.pdf"]
    assert (tmp_path / "printed" / "ordonnance RX-1.pdf").read_bytes() == three_pages
    [done] = progress
    assert (done.job_ref, done.pages_done, done.status.ready) == ("ordonnance RX-1.pdf", 3, True)
    assert printer.print_document("test page", TEST_PAGE) == 1


def test_the_status_is_ready_or_offline(tmp_path: Path) -> None:
    assert PdfFolderPrinter(tmp_path / "new" / "folder").status().ready
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    printer = PdfFolderPrinter(blocker / "printed")
    status = printer.status()

    assert (status.problem, status.ready) == (wire.PrinterProblem.OFFLINE, False)
    with pytest.raises(PrintJobFailed) as failed:
        printer.print_document("ordonnance RX-1", TEST_PAGE)
    assert failed.value.problem is wire.PrinterProblem.OFFLINE


@pytest.mark.parametrize(
    ("title", "document"),
    [("ordonnance RX-1", b"hello"), ("../escape", TEST_PAGE), ("", TEST_PAGE)],
)
def test_what_cannot_be_a_file_is_refused(title: str, document: bytes, tmp_path: Path) -> None:
    with pytest.raises(PrintJobFailed) as failed:
        PdfFolderPrinter(tmp_path).print_document(title, document)
    assert failed.value.problem is wire.PrinterProblem.OTHER
    assert list(tmp_path.iterdir()) == []
