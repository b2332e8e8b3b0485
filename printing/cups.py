"""The cabin's printer through CUPS (IPP, via pycups): a PDF streamed to a queue and followed until
it is on paper; cancelled and purged when it cannot be, so that it never prints by surprise later.

A prescription that did not come out is printed again, deliberately, from the assistant mode: a
job left in CUPS would come out too the moment someone refills the paper, and the patient would
hold two copies. So every job that fails (a lasting printer problem, a timeout, an error on our
side) is cancelled with ``purge-job``, and every job that succeeds is purged as well, which removes
its document from CUPS's spool (CUPS keeps job files a day by default: ``PreserveJobFiles``).

pycups (libcups) blocks up to 60 s on a cupsd that accepted the connection and does not answer,
and keeps its user and server per thread. So each exchange with cupsd runs in a short-lived daemon
thread of its own, with its own connection and the user ``cabin``, and is abandoned past
``connect_timeout_s`` (the thread ends with libcups's own timeout); while it hangs, other calls
answer "unreachable" at once instead of piling up threads. Nothing else is shared between calls
but the set of jobs still to cancel: a :class:`CupsPrinter` may be used from several threads.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, Final, TypeVar

import cups

import wire
from printing.errors import PrintError
from printing.printer import JobProgress, PrinterState, PrinterStatus, PrintJobFailed

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

REQUESTING_USER: Final = "cabin"
_CHUNK_BYTES: Final = 64 * 1024
_PRINTER_ATTRIBUTES: Final = [
    "printer-state",
    "printer-state-reasons",
    "printer-is-accepting-jobs",
]
_JOB_ATTRIBUTES: Final = [
    "job-state",
    "job-impressions-completed",
    "job-media-sheets-completed",
]
_PRINTER_STATES: Final[dict[int, PrinterState]] = {3: "idle", 4: "processing", 5: "stopped"}
_SETTLE_S: Final = 0.05  # between two looks at a job being cancelled


class JobState(enum.IntEnum):
    """IPP job-state (RFC 8011 5.3.7)."""

    PENDING = 3
    HELD = 4
    PROCESSING = 5
    STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9


class IppStatus(enum.IntEnum):
    """The IPP status codes this module tells apart (pycups raises them as ``IPPError``)."""

    NOT_FOUND = 0x0406
    INTERNAL_ERROR = 0x0500  # also what libcups reports when the connection broke
    NOT_ACCEPTING_JOBS = 0x0506


class _Unreachable(PrintError):
    """cupsd refused the connection, or did not answer in time."""


class _NotFound(PrintError):
    """cupsd does not know the job (any more), or the queue."""


def printer_problem(
    state: PrinterState, accepting: bool, reasons: Iterable[str]
) -> wire.PrinterProblem | None:
    """What keeps a printer from printing, from its IPP state and printer-state-reasons.

    The most useful to the agent wins: a jam, then no paper, then offline (stopped, paused,
    ``offline-report``, not accepting jobs, unreachable), then any other ``*-error``; paper low
    is a warning. Reasons without a known meaning and without ``-error`` are not problems.
    """
    found: set[wire.PrinterProblem] = set()
    for reason in reasons:
        keyword = reason.removesuffix("-error").removesuffix("-warning").removesuffix("-report")
        if keyword.startswith("media-jam"):
            found.add(wire.PrinterProblem.PAPER_JAM)
        elif keyword.startswith(("media-empty", "media-needed")):
            found.add(wire.PrinterProblem.OUT_OF_PAPER)
        elif keyword in {"offline", "paused", "shutdown", "moving-to-paused", "stopped"}:
            found.add(wire.PrinterProblem.OFFLINE)
        elif keyword.startswith("media-low"):
            found.add(wire.PrinterProblem.PAPER_LOW)
        elif reason.endswith("-error"):
            found.add(wire.PrinterProblem.OTHER)
    if state in ("stopped", "unreachable") or not accepting:
        found.add(wire.PrinterProblem.OFFLINE)
    for problem in (
        wire.PrinterProblem.PAPER_JAM,
        wire.PrinterProblem.OUT_OF_PAPER,
        wire.PrinterProblem.OFFLINE,
        wire.PrinterProblem.OTHER,
        wire.PrinterProblem.PAPER_LOW,
    ):
        if problem in found:
            return problem
    return None


class CupsPrinter:
    """A CUPS queue, through IPP.

    ``server`` is a Unix socket path (``/run/cups/cups.sock``) or ``host:port``; ``None`` means
    libcups's default. ``poll_s`` is how often a running job is looked at; a problem that lasts
    ``problem_grace_s`` fails the job; ``connect_timeout_s`` bounds each exchange with cupsd
    (connecting included), so that a dead or frozen cupsd is an ``OFFLINE`` printer, not a hang.
    """

    def __init__(
        self,
        queue: str,
        server: str | None = None,
        poll_s: float = 0.5,
        problem_grace_s: float = 3.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.name = queue
        self._queue = queue
        self._server = server
        self._poll_s = poll_s
        self._problem_grace_s = problem_grace_s
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._to_cancel: set[int] = set()  # jobs that cupsd could not be told to cancel, yet
        self._stuck: threading.Thread | None = None  # an exchange cupsd has not answered

    # --- the Printer protocol -------------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """The queue's status now; ``unreachable`` when cupsd or the queue cannot be reached."""
        self._cancel_remaining()
        try:
            return self._ipp("status", self._read_status)
        except _Unreachable as exc:
            _log.warning("printing.cups_unreachable queue=%s error=%s", self._queue, exc)
        except _NotFound:
            _log.warning("printing.queue_unknown queue=%s", self._queue)
        except cups.IPPError as exc:
            _log.warning("printing.status_failed queue=%s error=%s", self._queue, _describe(exc))
        return PrinterStatus.unreachable()

    def print_document(
        self,
        title: str,
        document: bytes,
        *,
        on_progress: Callable[[JobProgress], None] | None = None,
        timeout_s: float = 120.0,
    ) -> int:
        """Stream ``document`` (a PDF) to the queue as job ``title``, follow it until CUPS says it
        is completed, purge it and return the pages printed (0 when the printer does not count).

        Raises :class:`PrintJobFailed` when the printer is stopped or refuses jobs (nothing is
        sent), when a problem lasts ``problem_grace_s`` or the job is not done in ``timeout_s``
        (the job is cancelled and purged first), or when CUPS aborts or cancels the job. At worst
        the call returns ``timeout_s`` plus a few ``connect_timeout_s`` after it was made.
        """
        if not document.startswith(b"%PDF"):
            raise PrintJobFailed(wire.PrinterProblem.OTHER, "the document is not a PDF")
        deadline = time.monotonic() + timeout_s
        self._cancel_remaining()
        job_id = self._submit(title, document)
        _log.info(
            "printing.job_submitted queue=%s job=%d bytes=%d", self._queue, job_id, len(document)
        )
        try:
            pages = self._follow(job_id, deadline, timeout_s, on_progress)
        except PrintJobFailed as exc:
            _log.warning(
                "printing.job_failed queue=%s job=%d problem=%s detail=%s",
                self._queue,
                job_id,
                exc.problem.value,
                exc.detail,
            )
            self._cancel_and_purge(job_id)
            raise
        except BaseException:  # on_progress raised, or the thread is being torn down
            _log.warning("printing.job_abandoned queue=%s job=%d", self._queue, job_id)
            self._cancel_and_purge(job_id)
            raise
        _log.info("printing.job_completed queue=%s job=%d pages=%d", self._queue, job_id, pages)
        self._cancel_and_purge(job_id)  # on a completed job: removes its document from the spool
        return pages

    # --- for the composition root --------------------------------------------------------------

    def cancel_leftover_jobs(self) -> int:
        """Cancel and purge every unfinished job of ours on the queue, and return how many.

        To call when the kiosk starts: a job left by a kiosk that died mid-print would otherwise
        come out whenever the printer is fixed, next to the copy printed again.
        """

        def leftovers(connection: Any) -> list[int]:
            # pycups drops every job whose answer lacks job-id: ask for it.
            jobs = connection.getJobs(
                which_jobs="not-completed",
                my_jobs=True,
                requested_attributes=["job-id", "job-printer-uri"],
            )
            return [
                job_id
                for job_id, attributes in jobs.items()
                if str(attributes.get("job-printer-uri", "")).endswith(f"/{self._queue}")
            ]

        try:
            job_ids = self._ipp("list jobs", leftovers)
        except (_Unreachable, cups.IPPError) as exc:
            raise PrintError(f"{self._queue}: cannot list the queue's jobs ({exc})") from exc
        for job_id in job_ids:
            _log.warning("printing.leftover_job queue=%s job=%d", self._queue, job_id)
            self._cancel_and_purge(job_id)
        return len(job_ids)

    # --- steps ----------------------------------------------------------------------------------

    def _submit(self, title: str, document: bytes) -> int:
        """Create the job and stream the document into it; refuse a stopped printer first (CUPS
        would queue the job and print it whenever someone restarts the printer)."""
        try:
            status = self._ipp("status", self._read_status)
        except (_Unreachable, _NotFound, cups.IPPError) as exc:
            raise self._refused(wire.PrinterProblem.OFFLINE, str(exc)) from exc
        if status.state == "stopped":
            problem = status.problem or wire.PrinterProblem.OFFLINE
            raise self._refused(problem, f"printer stopped ({_reasons(status)})")

        created: list[int] = []

        def submit(connection: Any) -> int:
            job_id = int(connection.createJob(self._queue, title, {}))
            created.append(job_id)
            connection.startDocument(self._queue, job_id, title, "application/pdf", 1)
            for start in range(0, len(document), _CHUNK_BYTES):
                chunk = document[start : start + _CHUNK_BYTES]
                connection.writeRequestData(chunk, len(chunk))
            connection.finishDocument(self._queue)
            return job_id

        try:
            # Three exchanges and the document's bytes, on the local socket.
            return self._ipp("submit", submit, timeout_s=3 * self._connect_timeout_s)
        except (_Unreachable, _NotFound, cups.IPPError) as exc:
            if created:
                self._cancel_and_purge(created[0])
            if _ipp_status(exc) == IppStatus.NOT_ACCEPTING_JOBS:
                raise self._refused(wire.PrinterProblem.OFFLINE, _describe(exc)) from exc
            if isinstance(exc, cups.IPPError) and _ipp_status(exc) < IppStatus.INTERNAL_ERROR:
                raise self._refused(wire.PrinterProblem.OTHER, _describe(exc)) from exc
            raise self._refused(wire.PrinterProblem.OFFLINE, str(exc)) from exc

    def _follow(
        self,
        job_id: int,
        deadline: float,
        timeout_s: float,
        on_progress: Callable[[JobProgress], None] | None,
    ) -> int:
        """Look at the job and the printer every ``poll_s`` until the job is completed; raise
        :class:`PrintJobFailed` (without cancelling) when it will not be."""
        problem_since: float | None = None
        last: JobProgress | None = None
        pages = 0
        while True:
            now = time.monotonic()
            state: JobState | None
            try:
                state, pages_now, status = self._ipp("job", lambda c: self._read_job(c, job_id))
                pages = max(pages, pages_now)
            except _Unreachable:
                state, status = None, PrinterStatus.unreachable()
            except _NotFound as exc:  # the job, or even the queue
                detail = f"{exc}: the job may have printed"
                raise PrintJobFailed(wire.PrinterProblem.OTHER, detail) from exc
            except cups.IPPError as exc:
                state, status = None, PrinterStatus.unreachable()
                _log.warning("printing.job_unreadable job=%d error=%s", job_id, _describe(exc))

            progress = JobProgress(job_ref=str(job_id), pages_done=pages, status=status)
            if progress != last:
                last = progress
                if on_progress is not None:
                    on_progress(progress)

            if state is JobState.COMPLETED:
                return pages
            if state in (JobState.CANCELED, JobState.ABORTED, JobState.STOPPED):
                problem = status.problem or wire.PrinterProblem.OTHER
                if problem is wire.PrinterProblem.PAPER_LOW:
                    problem = wire.PrinterProblem.OTHER
                raise PrintJobFailed(problem, f"CUPS {state.name.lower()} the job")

            blocking = status.problem if not status.ready else None
            if state is JobState.HELD and blocking is None:
                blocking = wire.PrinterProblem.OTHER  # held jobs do not print by themselves
            if blocking is None:
                problem_since = None
            else:
                if problem_since is None:
                    problem_since = now
                    _log.warning(
                        "printing.printer_problem queue=%s job=%d problem=%s reasons=%s",
                        self._queue,
                        job_id,
                        blocking.value,
                        _reasons(status),
                    )
                if now - problem_since >= self._problem_grace_s:
                    detail = f"{_reasons(status)} for {self._problem_grace_s:g} s"
                    raise PrintJobFailed(blocking, detail)
            if now >= deadline:
                if blocking is None:
                    slow = "connecting-to-device" in status.reasons
                    blocking = wire.PrinterProblem.OFFLINE if slow else wire.PrinterProblem.OTHER
                raise PrintJobFailed(blocking, f"not printed within {timeout_s:g} s")
            time.sleep(max(0.0, min(self._poll_s, deadline - now)))

    def _cancel_and_purge(self, job_id: int) -> bool:
        """Cancel the job (if it is not finished) and purge it: no document, no history left.

        Seen on CUPS 2.4: Cancel-Job with purge-job removes a completed job, its record and its
        files (without purge-job, a completed job cannot be cancelled); on a job still printing,
        it cancels the job and removes its document at once, but the canceled record stays until
        a second Cancel-Job with purge-job. When cupsd cannot be reached, the job is remembered
        and cancelled by the next call that reaches it.
        """
        deadline = time.monotonic() + self._connect_timeout_s
        try:
            self._ipp("cancel", lambda c: c.cancelJob(job_id, purge_job=True))
            while time.monotonic() < deadline:
                state = self._ipp("job state", lambda c: _job_state(c, job_id))
                if state >= JobState.CANCELED:
                    self._ipp("purge", lambda c: c.cancelJob(job_id, purge_job=True))
                time.sleep(_SETTLE_S)
        except _NotFound:
            with self._lock:
                self._to_cancel.discard(job_id)
            return True
        except (_Unreachable, cups.IPPError) as exc:
            if _ipp_status(exc) == IppStatus.NOT_FOUND:
                with self._lock:
                    self._to_cancel.discard(job_id)
                return True
            _log.warning(
                "printing.job_cancel_failed queue=%s job=%d error=%s", self._queue, job_id, exc
            )
        else:
            _log.warning("printing.job_purge_late queue=%s job=%d", self._queue, job_id)
        with self._lock:
            self._to_cancel.add(job_id)
        return False

    def _cancel_remaining(self) -> None:
        with self._lock:
            remaining = sorted(self._to_cancel)
        for job_id in remaining:
            if self._cancel_and_purge(job_id):
                _log.info("printing.job_cancelled_late queue=%s job=%d", self._queue, job_id)
            else:
                return  # cupsd still out of reach: try again on the next call

    def _refused(self, problem: wire.PrinterProblem, detail: str) -> PrintJobFailed:
        """The failure of a document that did not become a CUPS job."""
        _log.warning(
            "printing.job_failed queue=%s job=- problem=%s detail=%s",
            self._queue,
            problem.value,
            detail,
        )
        return PrintJobFailed(problem, detail)

    # --- IPP ------------------------------------------------------------------------------------

    def _read_status(self, connection: Any) -> PrinterStatus:
        try:
            attributes = connection.getPrinterAttributes(
                self._queue, requested_attributes=_PRINTER_ATTRIBUTES
            )
        except cups.IPPError as exc:
            if _ipp_status(exc) == IppStatus.NOT_FOUND:
                raise _NotFound(f"no queue {self._queue}") from exc
            raise
        state = _PRINTER_STATES.get(int(attributes.get("printer-state", 5)), "stopped")
        accepting = bool(attributes.get("printer-is-accepting-jobs", False))
        reasons = tuple(
            reason
            for reason in _values(attributes.get("printer-state-reasons"))
            if reason != "none"
        )
        return PrinterStatus(printer_problem(state, accepting, reasons), state, accepting, reasons)

    def _read_job(self, connection: Any, job_id: int) -> tuple[JobState, int, PrinterStatus]:
        try:
            attributes = connection.getJobAttributes(job_id, requested_attributes=_JOB_ATTRIBUTES)
        except cups.IPPError as exc:
            if _ipp_status(exc) == IppStatus.NOT_FOUND:
                raise _NotFound(f"no job {job_id}") from exc
            raise
        pages = max(
            int(attributes.get("job-impressions-completed", 0)),
            int(attributes.get("job-media-sheets-completed", 0)),
        )
        return JobState(int(attributes["job-state"])), pages, self._read_status(connection)

    def _ipp(self, what: str, exchange: Callable[[Any], _T], timeout_s: float | None = None) -> _T:
        """Run ``exchange`` on a new connection to cupsd, in a thread of its own, as user
        ``cabin``; raise :class:`_Unreachable` if it cannot connect or has not returned in time."""
        bound_s = self._connect_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            if self._stuck is not None and self._stuck.is_alive():
                # No second thread stuck on a frozen cupsd: a call answers "unreachable" at once.
                raise _Unreachable(f"cupsd did not answer an earlier request ({what} not sent)")
            self._stuck = None
        outcome: Future[_T] = Future()

        def run() -> None:
            try:
                cups.setUser(REQUESTING_USER)  # per thread in libcups
                try:
                    connection = self._connect()
                except RuntimeError as exc:  # pycups: "failed to connect to server"
                    raise _Unreachable(f"cannot connect to cupsd ({exc})") from exc
                outcome.set_result(exchange(connection))
            except Exception as exc:  # noqa: BLE001 - handed over to the calling thread
                outcome.set_exception(exc)

        thread = threading.Thread(target=run, name=f"cups-{what}", daemon=True)
        thread.start()
        try:
            return outcome.result(timeout=bound_s)
        except TimeoutError as exc:
            with self._lock:
                self._stuck = thread
            raise _Unreachable(f"cupsd did not answer ({what}) within {bound_s:g} s") from exc
        except cups.IPPError as exc:
            if _ipp_status(exc) == IppStatus.INTERNAL_ERROR:  # also a broken connection
                raise _Unreachable(f"cupsd failed ({what}): {_describe(exc)}") from exc
            raise

    def _connect(self) -> Any:
        """A connection to ``server``, made in the current thread.

        libcups builds a job's printer-uri from the thread's server and port (``ipp://localhost:
        631/printers/<queue>`` by default), and cupsd, listening on another port, answers "The
        printer or class does not exist": so the thread's server and port are set, not only the
        connection's (libcups keeps them per thread).
        """
        server = self._server
        if server is None:
            return cups.Connection()
        host, port = server, 631
        if not server.startswith("/"):
            name, _, number = server.rpartition(":")
            if name and number.isdigit():
                host, port = name.strip("[]"), int(number)
        cups.setServer(host)
        cups.setPort(port)
        return cups.Connection(host=host, port=port)


def _job_state(connection: Any, job_id: int) -> JobState:
    try:
        attributes = connection.getJobAttributes(job_id, requested_attributes=["job-state"])
    except cups.IPPError as exc:
        if _ipp_status(exc) == IppStatus.NOT_FOUND:
            raise _NotFound(f"no job {job_id}") from exc
        raise
    return JobState(int(attributes["job-state"]))


def _values(value: object) -> tuple[str, ...]:
    """pycups gives a one-value attribute as the value, a several-value one as a list."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return (str(value),)


def _ipp_status(exc: BaseException) -> int:
    if isinstance(exc, cups.IPPError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cups.IPPError) and len(exc.args) == 2:
        return f"IPP 0x{exc.args[0]:04x} {exc.args[1]}"
    return str(exc)


def _reasons(status: PrinterStatus) -> str:
    return ",".join(status.reasons) or status.state
