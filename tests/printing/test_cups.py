"""The cabin's CUPS printer against a real cupsd (tests/printing/cups_rig.py): real jobs over IPP,
cups-pdf as the paper, and a simulated printer that runs out of paper or jams.

What happens and why, never how fast: a job that should print gets all the time a loaded machine
needs (a long ``problem_grace_s``, a long ``connect_timeout_s``); a test that expects a problem to
fail a job sets a short grace itself. How soon a frozen cupsd is given up is measured in
``bench/bench_cups.py``."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import cups
import pytest

import wire
from printing.cups import CupsPrinter, printer_problem
from printing.printer import JobProgress, Printer, PrinterStatus, PrintJobFailed
from printing.test_page import render_test_page
from tests.printing.cups_rig import PDF_QUEUE, SIM_QUEUE, CupsRig, running_cupsd, why_not

TITLE = "ordonnance RX-2026-000123-K7QF"
DOCUMENT = render_test_page("mairie-x", "Cabine de la mairie", datetime(2026, 11, 23, tzinfo=UTC))
Problem = wire.PrinterProblem
PATIENCE_S = 30.0  # for what takes well under a second on an idle machine
GRACE_S = 1.0  # for a test that expects a lasting problem to fail the job

T = TypeVar("T")

needs_cupsd = pytest.mark.skipif(why_not() is not None, reason=str(why_not()))


# --- which problem the printer's reasons mean (no cupsd needed) ----------------------------------


@pytest.mark.parametrize(
    ("state", "accepting", "reasons", "problem"),
    [
        ("idle", True, (), None),
        ("processing", True, ("connecting-to-device",), None),
        ("idle", True, ("media-low-report",), Problem.PAPER_LOW),
        ("idle", True, ("media-low-warning", "toner-low-warning"), Problem.PAPER_LOW),
        ("processing", True, ("media-empty-error",), Problem.OUT_OF_PAPER),
        ("processing", True, ("media-needed-warning",), Problem.OUT_OF_PAPER),
        ("stopped", True, ("media-jam-error", "media-empty-error", "paused"), Problem.PAPER_JAM),
        ("stopped", True, ("paused",), Problem.OFFLINE),
        ("idle", True, ("offline-report",), Problem.OFFLINE),
        ("idle", False, (), Problem.OFFLINE),
        ("unreachable", False, (), Problem.OFFLINE),
        ("processing", True, ("cover-open-error",), Problem.OTHER),
        ("processing", True, ("cover-open-error", "media-low-report"), Problem.OTHER),
    ],
)
def test_reasons_become_one_problem(
    state: str, accepting: bool, reasons: tuple[str, ...], problem: Problem | None
) -> None:
    assert printer_problem(state, accepting, reasons) is problem  # type: ignore[arg-type]
    status = PrinterStatus(problem, state, accepting, reasons)  # type: ignore[arg-type]
    assert status.ready is (problem in (None, Problem.PAPER_LOW))


def test_a_document_that_is_not_a_pdf_is_refused_before_cups() -> None:
    printer = CupsPrinter("nowhere", "/nonexistent/cups.sock")
    with pytest.raises(PrintJobFailed) as failed:
        printer.print_document(TITLE, b"hello")
    assert failed.value.problem is Problem.OTHER


# --- against a real cupsd ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cupsd() -> Iterator[CupsRig]:
    reason = why_not()
    if reason is not None:
        pytest.skip(reason)
    with running_cupsd() as rig:
        yield rig


@pytest.fixture
def rig(cupsd: CupsRig) -> Iterator[CupsRig]:
    """The module's cupsd, its printers enabled, accepting, with paper."""
    if cupsd.process is None:
        cupsd.start()
    cupsd.set_sim("ok")
    for printed in cupsd.sim_out.iterdir():
        printed.unlink()
    for queue in (PDF_QUEUE, SIM_QUEUE):
        cupsd.lp("cupsenable", queue)
        cupsd.lp("cupsaccept", queue)
    yield cupsd
    if cupsd.process is not None:
        cupsd.lp("cancel", "-a", "-x")  # a failed test must not spill into the next one


def printer_on(rig: CupsRig, queue: str, **kwargs: float) -> CupsPrinter:
    """A printer that never gives up on a busy cupsd: a problem fails a job after a long grace,
    unless the test asks for ``problem_grace_s=GRACE_S`` (a reason left by an earlier test, until
    the next job's backend clears it, must not fail a job that is meant to print)."""
    settings = {
        "poll_s": 0.05,
        "problem_grace_s": PATIENCE_S,
        "connect_timeout_s": PATIENCE_S,
    } | kwargs
    return CupsPrinter(queue, str(rig.socket), **settings)


def assert_gone(rig: CupsRig, job_id: int) -> None:
    """CUPS knows nothing of the job any more: no record, no file in its spool."""
    assert rig.spool_files(job_id) == []
    with pytest.raises(cups.IPPError) as missing:
        cups.Connection(host=str(rig.socket)).getJobAttributes(job_id)
    assert missing.value.args[0] == 0x0406


class Running:
    """print_document in a worker thread (as the kiosk runs it), watched from the test."""

    def __init__(self, printer: CupsPrinter, **kwargs: float) -> None:
        self.progress: list[JobProgress] = []
        self._processing = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1)
        self.outcome: Future[int] = self._pool.submit(
            printer.print_document, TITLE, DOCUMENT, on_progress=self._on_progress, **kwargs
        )

    def _on_progress(self, progress: JobProgress) -> None:
        self.progress.append(progress)
        if progress.status.state == "processing":
            self._processing.set()

    def wait_until_processing(self) -> int:
        processing = self._processing.wait(timeout=PATIENCE_S)
        assert processing, f"the job never started printing: {self.progress}"
        return int(self.progress[-1].job_ref)

    def failure(self) -> PrintJobFailed:
        try:
            with pytest.raises(PrintJobFailed) as failed:
                try:
                    self.outcome.result(timeout=2 * PATIENCE_S)
                except FutureTimeout:
                    pytest.fail(f"print_document still running: {self.progress[-1:]}")
            return failed.value
        finally:
            self._pool.shutdown()


def _satisfies_the_protocol(printer: CupsPrinter) -> Printer:
    return printer  # mypy checks that CupsPrinter is a Printer


@needs_cupsd
def test_a_document_comes_out_of_cups_pdf_whole_and_leaves_nothing_behind(
    rig: CupsRig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    printer = _satisfies_the_protocol(printer_on(rig, PDF_QUEUE))
    progress: list[JobProgress] = []
    caplog.set_level(logging.INFO, logger="printing")

    assert printer.print_document(TITLE, DOCUMENT, on_progress=progress.append) == 1

    job_id = int(progress[0].job_ref)
    assert {p.job_ref for p in progress} == {str(job_id)}
    assert progress[0].pages_done == 0 and progress[-1].pages_done == 1
    [paper] = rig.paper_of(job_id)
    info = subprocess.run(["pdfinfo", str(paper)], capture_output=True, text=True, check=True)
    assert "Pages:           1" in info.stdout
    text = subprocess.run(
        ["pdftotext", str(paper), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Test page" in text and "mairie-x" in text
    assert_gone(rig, job_id)  # PreserveJobFiles is Yes in the rig: only our purge removed it
    assert f"printing.job_submitted queue={PDF_QUEUE} job={job_id}" in caplog.text
    assert f"printing.job_completed queue={PDF_QUEUE} job={job_id} pages=1" in caplog.text
    assert "RX-2026" not in caplog.text  # the title stays out of the log


@needs_cupsd
def test_the_status_follows_the_queue(rig: CupsRig) -> None:
    printer = printer_on(rig, PDF_QUEUE)
    assert printer.status() == PrinterStatus(None, "idle", True, ())

    rig.lp("cupsdisable", PDF_QUEUE)
    stopped = printer.status()
    assert (stopped.state, stopped.problem, stopped.ready) == ("stopped", Problem.OFFLINE, False)
    assert "paused" in stopped.reasons
    rig.lp("cupsenable", PDF_QUEUE)

    rig.lp("cupsreject", PDF_QUEUE)
    refusing = printer.status()
    assert (refusing.accepting, refusing.problem, refusing.ready) == (False, Problem.OFFLINE, False)
    rig.lp("cupsaccept", PDF_QUEUE)
    assert printer.status().ready

    assert printer_on(rig, "no-such-queue").status() == PrinterStatus.unreachable()
    over_tcp = CupsPrinter(PDF_QUEUE, f"127.0.0.1:{rig.port}", connect_timeout_s=PATIENCE_S)
    assert over_tcp.status().ready


@needs_cupsd
def test_over_tcp_a_job_prints_too(rig: CupsRig) -> None:
    """libcups names the queue with the thread's port: a cupsd not on 631 must still find it."""
    printer = CupsPrinter(
        SIM_QUEUE,
        f"127.0.0.1:{rig.port}",
        poll_s=0.05,
        problem_grace_s=PATIENCE_S,
        connect_timeout_s=PATIENCE_S,
    )
    progress: list[JobProgress] = []
    assert printer.print_document(TITLE, DOCUMENT, on_progress=progress.append) == 1
    job_id = int(progress[0].job_ref)
    assert (rig.sim_out / f"job-{job_id}.pdf").read_bytes() == DOCUMENT
    assert_gone(rig, job_id)


@needs_cupsd
def test_a_disabled_printer_gets_no_job(rig: CupsRig) -> None:
    """CUPS queues jobs for a disabled printer and prints them when it is enabled again: the
    kiosk would find a second copy in the tray after reprinting. So nothing is sent."""
    rig.lp("cupsdisable", SIM_QUEUE)
    with pytest.raises(PrintJobFailed) as failed:
        printer_on(rig, SIM_QUEUE).print_document(TITLE, DOCUMENT)
    assert failed.value.problem is Problem.OFFLINE
    assert cups.Connection(host=str(rig.socket)).getJobs(which_jobs="all") == {}


@needs_cupsd
def test_a_printer_disabled_mid_job_fails_it_and_cancels_it(rig: CupsRig) -> None:
    rig.set_sim("hold")
    running = Running(printer_on(rig, SIM_QUEUE, problem_grace_s=GRACE_S))
    job_id = running.wait_until_processing()

    rig.lp("cupsdisable", SIM_QUEUE)

    failure = running.failure()
    assert failure.problem is Problem.OFFLINE
    assert_gone(rig, job_id)
    rig.set_sim("ok")
    rig.lp("cupsenable", SIM_QUEUE)
    assert list(rig.sim_out.glob(f"job-{job_id}.*")) == []


@needs_cupsd
def test_a_printer_refusing_jobs_is_offline(rig: CupsRig) -> None:
    rig.lp("cupsreject", SIM_QUEUE)
    with pytest.raises(PrintJobFailed) as failed:
        printer_on(rig, SIM_QUEUE).print_document(TITLE, DOCUMENT)
    assert failed.value.problem is Problem.OFFLINE
    assert "not accepting" in failed.value.detail
    assert cups.Connection(host=str(rig.socket)).getJobs(which_jobs="all") == {}


@needs_cupsd
def test_out_of_paper_mid_job_then_refilled_prints_once(
    rig: CupsRig, caplog: pytest.LogCaptureFixture
) -> None:
    printer = printer_on(rig, SIM_QUEUE, problem_grace_s=GRACE_S)
    rig.set_sim("paper-out")
    running = Running(printer)
    job_id = running.wait_until_processing()

    failure = running.failure()

    assert failure.problem is Problem.OUT_OF_PAPER
    assert any(p.status.problem is Problem.OUT_OF_PAPER for p in running.progress)
    assert f"printing.job_failed queue={SIM_QUEUE} job={job_id} problem=out_of_paper" in (
        caplog.text
    )
    assert_gone(rig, job_id)
    # The printer still says so: only a job's backend asks it again.
    assert printer.status().problem is Problem.OUT_OF_PAPER

    rig.set_sim("ok")  # the agent refills the tray, then prints the same document again
    progress: list[JobProgress] = []
    # The reasons say "out of paper" until this job's backend runs: it gets all the time it needs.
    patient = printer_on(rig, SIM_QUEUE)
    assert patient.print_document(TITLE, DOCUMENT, on_progress=progress.append) == 1

    again = int(progress[0].job_ref)
    assert [p.name for p in rig.sim_out.iterdir()] == [f"job-{again}.pdf"]  # once, not twice
    assert_gone(rig, again)
    assert printer.status().ready


@needs_cupsd
def test_a_jam_stops_the_printer_and_fails_the_job(rig: CupsRig) -> None:
    printer = printer_on(rig, SIM_QUEUE, problem_grace_s=GRACE_S)
    rig.set_sim("jam")
    progress: list[JobProgress] = []

    with pytest.raises(PrintJobFailed) as failed:
        printer.print_document(TITLE, DOCUMENT, on_progress=progress.append)

    assert failed.value.problem is Problem.PAPER_JAM
    assert_gone(rig, int(progress[0].job_ref))
    jammed = printer.status()
    assert (jammed.state, jammed.problem) == ("stopped", Problem.PAPER_JAM)
    assert {"media-jam-error", "paused"} <= set(jammed.reasons)
    with pytest.raises(PrintJobFailed) as refused:  # until the agent restarts it
        printer.print_document(TITLE, DOCUMENT)
    assert refused.value.problem is Problem.PAPER_JAM

    rig.set_sim("ok")
    rig.lp("cupsenable", SIM_QUEUE)
    # The jam's reason stays until this job's backend clears it: all the time it needs.
    assert printer_on(rig, SIM_QUEUE).print_document(TITLE, DOCUMENT) == 1
    assert len(list(rig.sim_out.iterdir())) == 1


@needs_cupsd
def test_a_job_the_printer_failed_is_aborted_not_retried(rig: CupsRig) -> None:
    """ErrorPolicy abort-job (deploy/cups/cupsd.conf): CUPS does not keep it to retry later."""
    rig.set_sim("fail")
    progress: list[JobProgress] = []
    with pytest.raises(PrintJobFailed) as failed:
        printer_on(rig, SIM_QUEUE).print_document(TITLE, DOCUMENT, on_progress=progress.append)
    assert failed.value.problem is Problem.OTHER
    assert failed.value.detail == "CUPS aborted the job"
    assert_gone(rig, int(progress[0].job_ref))


@needs_cupsd
def test_a_job_not_printed_in_time_is_cancelled(rig: CupsRig) -> None:
    rig.set_sim("hold")
    running = Running(printer_on(rig, SIM_QUEUE), timeout_s=1.0)

    failure = running.failure()  # whether the backend had started or not yet
    job_id = int(running.progress[0].job_ref)

    assert failure.problem is Problem.OTHER
    assert "not printed within 1 s" in failure.detail
    assert_gone(rig, job_id)
    rig.set_sim("ok")
    assert list(rig.sim_out.glob(f"job-{job_id}.*")) == []


@needs_cupsd
def test_an_error_in_on_progress_cancels_the_job(rig: CupsRig) -> None:
    rig.set_sim("hold")
    seen: list[int] = []

    def broken(progress: JobProgress) -> None:
        seen.append(int(progress.job_ref))
        raise RuntimeError("the kiosk's callback broke")

    with pytest.raises(RuntimeError):
        printer_on(rig, SIM_QUEUE).print_document(TITLE, DOCUMENT, on_progress=broken)
    assert_gone(rig, seen[0])


@needs_cupsd
def test_a_stopped_cupsd_is_offline_at_once(rig: CupsRig) -> None:
    printer = printer_on(rig, PDF_QUEUE)
    rig.stop()
    try:
        assert printer.status() == PrinterStatus.unreachable()
        with pytest.raises(PrintJobFailed) as failed:
            printer.print_document(TITLE, DOCUMENT)
        assert failed.value.problem is Problem.OFFLINE
        assert "cannot connect to cupsd" in failed.value.detail
    finally:
        rig.start()
    assert printer.status().ready


@needs_cupsd
def test_a_frozen_cupsd_is_offline_after_the_connect_timeout_not_a_hang(
    rig: CupsRig, caplog: pytest.LogCaptureFixture
) -> None:
    """libcups itself waits 60 s for an answer; the printer gives up after connect_timeout_s,
    and the next call, while the first exchange still hangs, answers at once without sending
    (bench/bench_cups.py measures both)."""
    printer = printer_on(rig, PDF_QUEUE, connect_timeout_s=0.5)
    caplog.set_level(logging.WARNING, logger="printing")
    rig.freeze()
    try:
        assert returns(printer.status) == PrinterStatus.unreachable()
        with pytest.raises(PrintJobFailed) as failed:
            returns(lambda: printer.print_document(TITLE, DOCUMENT))
    finally:
        rig.thaw()
    # our timeout fired (libcups's own would have said something else, a minute later)
    expected = f"printing.cups_unreachable queue={PDF_QUEUE} error=cupsd did not answer (status)"
    assert f"{expected} within 0.5 s" in caplog.text
    assert failed.value.problem is Problem.OFFLINE
    assert "did not answer an earlier request" in failed.value.detail  # nothing sent
    assert cups.Connection(host=str(rig.socket)).getJobs(which_jobs="all") == {}
    wait_for(lambda: printer.status().ready)  # once cupsd has answered the abandoned request


@needs_cupsd
def test_a_job_lost_with_cupsd_is_cancelled_when_cupsd_is_back(rig: CupsRig) -> None:
    """cupsd stopped mid-job keeps the job and starts it again when it comes back: the printer
    remembers it and cancels it on its next call, before the paper could come out."""
    printer = printer_on(rig, SIM_QUEUE, problem_grace_s=GRACE_S)
    rig.set_sim("hold")
    running = Running(printer)
    job_id = running.wait_until_processing()

    rig.stop()
    failure = running.failure()
    assert failure.problem is Problem.OFFLINE, failure
    assert rig.spool_files(job_id) != []  # still queued in cupsd's spool

    rig.start()
    printer.status()  # any call will do
    assert_gone(rig, job_id)
    rig.set_sim("ok")
    assert list(rig.sim_out.glob(f"job-{job_id}.*")) == []


@needs_cupsd
def test_leftover_jobs_of_a_dead_kiosk_are_cancelled_at_start(rig: CupsRig, tmp_path: Path) -> None:
    rig.lp("cupsdisable", SIM_QUEUE)
    document = tmp_path / "test-page.pdf"  # a test page: no patient data
    document.write_bytes(DOCUMENT)
    rig.lp("lp", "-U", "cabin", "-d", SIM_QUEUE, str(document))
    rig.lp("lp", "-U", "someone-else", "-d", SIM_QUEUE, str(document))
    jobs = cups.Connection(host=str(rig.socket)).getJobs()
    ours, theirs = sorted(jobs)

    assert printer_on(rig, SIM_QUEUE).cancel_leftover_jobs() == 1

    assert_gone(rig, ours)
    assert list(cups.Connection(host=str(rig.socket)).getJobs()) == [theirs]


def wait_for(condition: Callable[[], bool], timeout_s: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still not so after {timeout_s} s"
        time.sleep(0.02)


def returns(call: Callable[[], T]) -> T:
    """``call()``, run in a thread of its own so that a hang fails the test instead of blocking
    the run (libcups alone would wait 60 s for a frozen cupsd)."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(call).result(timeout=PATIENCE_S)
    except FutureTimeout:
        pytest.fail(f"still waiting after {PATIENCE_S} s for cupsd: connect_timeout_s not applied")
    finally:
        pool.shutdown(wait=False)
