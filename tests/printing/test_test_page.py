"""The assistant's test page: a real PDF with no patient data, written whole into the folder."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo.root import start_core
from kiosk.assistant import AssistantModeClosed, UnlockOutcome
from kiosk.config import load_config
from kiosk.store import DatabaseKey
from printing.errors import PrintError
from printing.pdf_folder import PdfFolderPrinter
from printing.test_page import render_test_page
from tests.kiosk.test_session import FakeClock


def test_the_test_page_is_a_pdf_naming_the_cabin() -> None:
    pdf = render_test_page("mairie-x", "Cabine de la mairie", datetime(2026, 11, 22, tzinfo=UTC))
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    assert b"mairie-x" in pdf and b"Test page" in pdf


def test_the_pdf_folder_writes_whole_files_only(tmp_path: Path) -> None:
    printer = PdfFolderPrinter(tmp_path / "printed")
    path = printer.submit("doc", render_test_page("c", "C", datetime.now(UTC)))
    assert path.read_bytes().startswith(b"%PDF")
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["doc.pdf"]  # no .part left behind
    with pytest.raises(PrintError):
        printer.submit("not-a-pdf", b"hello")


def test_a_test_print_from_the_assistant_mode(tmp_path: Path) -> None:
    async def scenario() -> None:
        core = await start_core(
            load_config(None),
            tmp_path,
            env={"CABIN_DB_KEY": DatabaseKey.generate().hex()},
            clock=FakeClock(),
            instruments={},
        )
        try:
            with pytest.raises(AssistantModeClosed):
                await core.assistant.test_print()
            assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
            await core.assistant.record_paper_refill(50, "agent")
            name = await core.assistant.test_print()
            path = tmp_path / "printed" / f"{name}.pdf"
            assert path.read_bytes().startswith(b"%PDF")
            assert await core.assistant.sheets_left() == 49
        finally:
            await core.aclose()

    asyncio.run(scenario())
