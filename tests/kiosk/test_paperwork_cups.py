"""The cabin's closing through a real cupsd (the test's own, ``tests/printing/cups_rig.py``):
the documents come out of cups-pdf and nothing stays in CUPS's spool; a printer out of paper
mid-job keeps the documents in the store, tells the patient, alerts the agent, and the
assistant's "print again" prints each of them once after the refill."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from demo.root import start_core
from kiosk.app import KioskCore
from kiosk.assistant import UnlockOutcome
from kiosk.config import load_config
from kiosk.events import PrintProgress, PrintState
from kiosk.session_states import EndReason, SessionState
from kiosk.store import Store
from tests.kiosk.test_paperwork import KEY, prescription, receive, to_the_call
from tests.kiosk.test_session import FakeClock
from tests.printing.cups_rig import PDF_QUEUE, SIM_QUEUE, CupsRig, running_cupsd, why_not

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cupsd() -> Iterator[CupsRig]:
    reason = why_not()
    if reason is not None:
        pytest.skip(reason)
    with running_cupsd() as rig:
        yield rig


def with_cups_core(
    tmp_path: Path, rig: CupsRig, queue: str, body: Callable[[KioskCore], Awaitable[None]]
) -> None:
    config = load_config(None)
    config = msgspec.structs.replace(
        config,
        printer=msgspec.structs.replace(
            config.printer, kind="cups", queue=queue, server=str(rig.socket), job_timeout_s=60
        ),
    )

    async def scenario() -> None:
        core = await start_core(
            config, tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, clock=FakeClock(), instruments={}
        )
        try:
            await body(core)
        finally:
            await core.aclose()

    asyncio.run(scenario())


def test_the_documents_come_out_of_cups_pdf_and_leave_no_spool(
    tmp_path: Path, cupsd: CupsRig
) -> None:
    async def body(core: KioskCore) -> None:
        assert core.paperwork is not None
        consultation_id = await to_the_call(core)
        await receive(core, prescription(consultation_id, 31))
        core.session.advance(SessionState.CLOSING)
        await core.paperwork.settled()
        jobs = await core.store.run(Store.print_jobs, consultation_id)
        assert [(j.document, j.state) for j in jobs] == [
            ("prescription", "printed"),
            ("summary", "printed"),
        ]

    with_cups_core(tmp_path, cupsd, PDF_QUEUE, body)
    printed = sorted(p.name for p in cupsd.paper.iterdir())
    assert len(printed) == 2, printed
    assert any(name.startswith("ordonnance") for name in printed)
    assert [p for p in cupsd.spool.iterdir() if p.name.startswith(("d", "c0"))] == []


def test_out_of_paper_keeps_the_documents_and_the_agent_prints_them_once(
    tmp_path: Path, cupsd: CupsRig
) -> None:
    progress: list[PrintProgress] = []
    for old in cupsd.sim_out.iterdir():
        old.unlink()
    cupsd.set_sim("paper-out")

    async def body(core: KioskCore) -> None:
        assert core.paperwork is not None
        core.bus.subscribe(PrintProgress, progress.append)
        consultation_id = await to_the_call(core)
        number = prescription(consultation_id, 32)
        await receive(core, number)
        core.session.advance(SessionState.CLOSING)
        await core.paperwork.settled()
        assert progress[-1].state is PrintState.PAPER_OUT  # the closing screen says so
        waiting = await core.store.run(Store.print_jobs, consultation_id, unprinted_only=True)
        assert {j.document for j in waiting} == {"prescription", "summary"}
        assert [a.kind for a in await core.store.run(Store.alerts, True)] == ["printer"]
        core.session.advance(SessionState.SURVEY)
        core.session.end(EndReason.COMPLETED)
        await core.consultation.settled()
        core.session.advance(SessionState.IDLE)
        cupsd.set_sim("ok")  # the agent puts paper in
        assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
        assert await core.assistant.reprint_waiting() == (2, 0)
        assert await core.store.run(Store.alerts, True) == []

    with_cups_core(tmp_path, cupsd, SIM_QUEUE, body)
    assert len(list(cupsd.sim_out.iterdir())) == 2  # each document once: none came out twice
