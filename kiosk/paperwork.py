"""What a consultation leaves behind: the documents printed in the cabin, and its record.

At closing the patient's prescriptions and their consultation summary are rendered (off the Qt
thread), kept in the encrypted store as print jobs, then printed one after the other. A printer
that fails (paper, jam, offline) leaves the job in the store: the patient is told in plain words
(``PrintProgress``), the agent gets an alert, and the assistant mode prints it again. When the
session ends, the consultation's FHIR record is built and filed in the store's outbox, from
which ``RecordSender`` takes it to the hub. Nothing of a patient is written anywhere else: the
PDFs travel from memory to CUPS (or to the demo's PDF folder, the demo's "paper").
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec

import wire
from devices.cancellation import cancel_and_wait
from kiosk.bus import EventBus
from kiosk.distress.alerts import AlertDesk
from kiosk.errors import StoreError
from kiosk.events import (
    PrescriptionReceived,
    PrintProgress,
    PrintState,
    SessionStateChanged,
)
from kiosk.session import Session
from kiosk.session_states import SessionState
from kiosk.store import AsyncStore, ConsultationFile, PrintJob, Store
from kiosk.store.store import PRINT_PRINTED, PRINT_PRINTING
from kiosk.teleconsultation import vital_of
from kiosk.visit_reasons import for_the_doctor, on_paper, reason_of
from printing.errors import PrintError
from printing.printer import JobProgress, Printer, PrinterStatus, PrintJobFailed, page_count
from wire import fhir_record

if TYPE_CHECKING:
    # reportlab loads with the documents' renderer, off the Qt thread: in the core's warm-up,
    # or in the first rendering's worker thread.
    from printing.prescription import PageSize, PatientOnPrescription

log = logging.getLogger(__name__)

PRESCRIPTION: Final = "prescription"
SUMMARY: Final = "summary"
WATCH_S: Final = 60.0  # how often the printer is asked how it is, between patients
_STATE_OF_PROBLEM: Final = {
    wire.PrinterProblem.OUT_OF_PAPER: PrintState.PAPER_OUT,
    wire.PrinterProblem.PAPER_JAM: PrintState.JAMMED,
}

Send = Callable[[wire.Message], Awaitable[None]]


class Paperwork:
    def __init__(
        self,
        session: Session,
        store: AsyncStore,
        bus: EventBus,
        printer: Printer,
        *,
        alerts: AlertDesk,
        cabin_id: str,
        cabin_name: str,
        page_size: PageSize = "A5",
        job_timeout_s: float = 120.0,
        send: Send | None = None,
        record_filed: Callable[[], None] = lambda: None,
        new_id: Callable[[str], str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session
        self._store = store
        self._bus = bus
        self.printer = printer
        self._alerts = alerts
        self._cabin_id = cabin_id
        self._cabin_name = cabin_name
        self._page_size: PageSize = page_size
        self._job_timeout_s = job_timeout_s
        self.send = send  # to the hub (set once the cabin has a hub link)
        self.record_filed = record_filed  # wakes the record sender
        self.new_id = new_id or (lambda prefix: f"{cabin_id}.{prefix}{uuid.uuid4().hex[:12]}")
        self._now = now
        self._printing = asyncio.Lock()  # one document at a time, in order
        self.prepared = asyncio.Event()
        """Set once printing may start: the core's warm-up has asked the printer and cleared a
        crash's leftover jobs (the screen says the printer is being prepared until then).
        Set from the start for a Paperwork used on its own."""
        self.prepared.set()
        self.printer_status: PrinterStatus | None = None  # as last seen
        self._watcher: asyncio.Task[None] | None = None
        self._checking = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._print_tasks: set[asyncio.Task[Any]] = set()
        self._subscriptions = [
            bus.subscribe(SessionStateChanged, self._on_state),
            bus.subscribe(PrescriptionReceived, self._on_prescription),
        ]

    # --- what the session does --------------------------------------------------------------------

    def _on_state(self, event: SessionStateChanged) -> None:
        if event.state is SessionState.CLOSING and event.previous is not SessionState.CLOSING:
            consultation_id = self._session.context.consultation_id
            if consultation_id is not None:
                self._spawn(self.print_consultation(consultation_id), printing=True)

    def _on_prescription(self, event: PrescriptionReceived) -> None:
        """A prescription that arrives while the patient is still at closing is printed too."""
        if (
            self._session.state in (SessionState.CLOSING, SessionState.SURVEY)
            and self._session.context.consultation_id == event.consultation_id
        ):
            self._spawn(self.print_consultation(event.consultation_id), printing=True)

    async def print_consultation(self, consultation_id: str) -> bool:
        """Render the consultation's documents, keep them as print jobs, print those not
        printed yet. True if everything is printed."""
        await self.until_printer_ready()
        try:
            await self.prepare_documents(consultation_id, for_print=True)
            jobs = await self._store.run(Store.print_jobs, consultation_id, unprinted_only=True)
        except (StoreError, PrintError) as exc:
            log.error("paperwork.documents_failed consultation=%s error=%s", consultation_id, exc)
            self._bus.publish(PrintProgress(PRESCRIPTION, PrintState.OFFLINE))
            return False
        for job in jobs:
            if not await self.print_job(job.job_id):
                return False  # the others wait with it, for the agent's "print again"
        return True

    async def prepare_documents(self, consultation_id: str, *, for_print: bool) -> dict[str, bytes]:
        """The PDFs of the consultation, kept as print jobs when ``for_print`` (rendered once;
        a document already kept is not rendered again). Returns {job ref: PDF}: the
        prescription numbers, and "" for the summary."""
        file = await self._store.run(Store.consultation_file, consultation_id)
        if file is None:
            raise StoreError(f"no consultation {consultation_id} in the store")
        existing = {
            (job.document, job.ref): job
            for job in await self._store.run(Store.print_jobs, consultation_id)
        }
        documents: dict[str, bytes] = {}
        prescriptions = _prescriptions(file)
        wanted: list[tuple[str, str, Callable[[], bytes]]] = [
            (PRESCRIPTION, p.prescription_id, _bind(self._render_prescription, file, p))
            for p in prescriptions
        ]
        wanted.append((SUMMARY, "", _bind(self._render_summary, file, prescriptions)))
        for document, ref, render in wanted:
            job = existing.get((document, ref))
            if job is not None:
                full = await self._store.run(Store.print_job, job.job_id)
                if full is not None and full.payload is not None:
                    documents[ref] = full.payload
                    continue
                if job.state == PRINT_PRINTED and for_print:
                    continue  # printed, and its PDF already travelled with the record
            pdf = await asyncio.to_thread(render)
            documents[ref] = pdf
            if for_print and job is None:
                title = (
                    f"ordonnance {ref}"
                    if document == PRESCRIPTION
                    else f"compte rendu {consultation_id[:8]}"
                )
                await self._store.run(
                    Store.add_print_job, consultation_id, document, ref, title, pdf
                )
        return documents

    # --- printing ---------------------------------------------------------------------------------

    async def print_job(self, job_id: str) -> bool:
        """Print one kept document (again); False if the printer failed (it stays kept)."""
        await self.until_printer_ready()
        async with self._printing:
            job = await self._store.run(Store.print_job, job_id)
            if job is None or job.state == PRINT_PRINTED:
                return job is not None
            if job.payload is None:
                log.error("paperwork.job_without_document job=%s", job_id)
                return False
            total = max(1, page_count(job.payload))
            await self._store.run(Store.print_job_started, job_id)
            self._bus.publish(PrintProgress(job.document, PrintState.PRINTING, 0, total))
            await self._status(job, wire.PrintState.PRINTING, None)
            loop = asyncio.get_running_loop()

            def progress(update: JobProgress) -> None:  # on the printing thread
                done = min(update.pages_done, total)
                loop.call_soon_threadsafe(
                    self._bus.publish,
                    PrintProgress(job.document, PrintState.PRINTING, done, total),
                )

            try:
                pages = await asyncio.to_thread(
                    self.printer.print_document,
                    job.title,
                    job.payload,
                    on_progress=progress,
                    timeout_s=self._job_timeout_s,
                )
            except PrintJobFailed as exc:
                await self._failed(job, exc.problem, exc.detail)
                return False
            except PrintError as exc:
                await self._failed(job, wire.PrinterProblem.OTHER, str(exc))
                return False
            pages = pages or total
            left = await self._store.run(Store.print_job_printed, job_id, pages)
            log.info(
                "paperwork.printed job=%s document=%s pages=%d sheets_left=%s",
                job_id,
                job.document,
                pages,
                "unknown" if left is None else left,
            )
            self._bus.publish(PrintProgress(job.document, PrintState.DONE, pages, pages))
            await self._status(job, wire.PrintState.PRINTED, None)
            return True

    async def until_printer_ready(self) -> None:
        """Wait until the printer is prepared (``prepared``)."""
        await self.prepared.wait()

    async def keep_late_prescription(self, consultation_id: str) -> None:
        """A prescription that reached the cabin after its patient left: kept as a print job,
        and the agent is alerted to print it and hand it over (the hub has it too, for the
        patient's record)."""
        try:
            await self.prepare_documents(consultation_id, for_print=True)
            for job in await self._store.run(
                Store.print_jobs, consultation_id, unprinted_only=True
            ):
                if job.document == PRESCRIPTION and job.state != PRINT_PRINTING:
                    await self._store.run(Store.print_job_failed, job.job_id, "arrived_late")
                    log.warning(
                        "paperwork.prescription_arrived_late consultation=%s job=%s",
                        consultation_id,
                        job.job_id,
                    )
                    await self._alert(job)
        except (StoreError, PrintError) as exc:
            log.error(
                "paperwork.late_prescription_failed consultation=%s error=%s", consultation_id, exc
            )

    async def waiting_jobs(self) -> list[PrintJob]:
        """Documents not printed (failed, interrupted, or waiting), oldest first."""
        return await self._store.run(Store.print_jobs, None, unprinted_only=True)

    async def reprint_waiting(self) -> tuple[int, int]:
        """The assistant's "print again": every waiting document; (printed, still waiting)."""
        jobs = [j for j in await self.waiting_jobs() if j.state != PRINT_PRINTING]
        printed = 0
        for job in jobs:
            printed += await self.print_job(job.job_id)
        return printed, len(jobs) - printed

    async def _failed(self, job: PrintJob, problem: wire.PrinterProblem, detail: str) -> None:
        await self._store.run(Store.print_job_failed, job.job_id, problem.value)
        log.warning(
            "paperwork.print_failed job=%s document=%s problem=%s detail=%s",
            job.job_id,
            job.document,
            problem.value,
            detail[:200],
        )
        self._bus.publish(
            PrintProgress(job.document, _STATE_OF_PROBLEM.get(problem, PrintState.OFFLINE))
        )
        await self._status(job, wire.PrintState.FAILED, problem)
        await self._alert(job)

    # --- the printer between patients ------------------------------------------------------

    def start(self, interval_s: float = WATCH_S) -> None:
        """Watch the printer: the agent learns of a paper-out before a patient does."""
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(interval_s))

    async def check_printer(self) -> PrinterStatus:
        """Ask the printer now (bounded: an unreachable CUPS answers "unreachable")."""
        async with self._checking:  # one question at a time, and its alert written before
            return await self._check_printer()

    async def _check_printer(self) -> PrinterStatus:
        status = await asyncio.to_thread(self.printer.status)
        previous = self.printer_status
        self.printer_status = status
        if previous is None or previous.problem is not status.problem:
            if status.ready:
                log.info("paperwork.printer_ready state=%s", status.state)
            else:
                assert status.problem is not None
                log.warning(
                    "paperwork.printer_problem problem=%s state=%s reasons=%s",
                    status.problem.value,
                    status.state,
                    ",".join(status.reasons)[:200],
                )
                await self._alert(None)
        return status

    async def _watch(self, interval_s: float) -> None:
        while True:
            if not self._printing.locked():  # a job in progress says it itself
                try:
                    await self.check_printer()
                except StoreError as exc:  # the alert could not be written: next time
                    log.error("paperwork.printer_alert_failed error=%s", exc)
            await asyncio.sleep(interval_s)

    async def _alert(self, job: PrintJob | None) -> None:
        """One open printer alert at a time: the agent comes, fixes, prints again."""
        open_alerts = await self._store.run(Store.alerts, True)
        if any(a.kind == wire.AlertKind.PRINTER.value for a in open_alerts):
            return
        await self._alerts.raise_alert(
            wire.AlertKind.PRINTER,
            wire.AlertSeverity.WARNING,
            overlay=False,
            prefix="print",
            consultation_id=None if job is None else job.consultation_id,
        )

    async def _status(
        self, job: PrintJob, state: wire.PrintState, problem: wire.PrinterProblem | None
    ) -> None:
        if self.send is None:
            return
        await self.send(
            wire.PrintStatus(
                msg_id=self.new_id("p"),
                job_id=job.job_id,
                document=wire.PrintDocument(job.document),
                state=state,
                problem=problem,
                consultation_id=job.consultation_id,
            )
        )

    # --- the record -------------------------------------------------------------------------------

    async def file_record(self, consultation_id: str) -> bool:
        """Build the consultation's FHIR record and queue it for the hub (once). A prescription
        that was never printed (the session ended before closing) is kept as a print job and
        the agent is alerted, so that it reaches the patient. On failure it says so in the log
        and returns False: the next start-up files it (``file_missing_records``)."""
        try:
            return await self._file_record(consultation_id)
        except (StoreError, PrintError, wire.WireError, OSError, ValueError) as exc:
            log.error("paperwork.record_failed consultation=%s error=%s", consultation_id, exc)
            return False

    async def _file_record(self, consultation_id: str) -> bool:
        if self._print_tasks:  # the closing's printing first: it keeps the documents
            await asyncio.gather(*tuple(self._print_tasks), return_exceptions=True)
        file = await self._store.run(Store.consultation_file, consultation_id)
        if file is None or file.ended_at is None:
            return False
        prescriptions = _prescriptions(file)
        documents = await self.prepare_documents(consultation_id, for_print=False)
        kept = {
            j.ref
            for j in await self._store.run(Store.print_jobs, consultation_id)
            if j.document == PRESCRIPTION
        }
        for prescription in prescriptions:
            if prescription.prescription_id not in kept:
                number = prescription.prescription_id
                pdf = documents[number]
                job_id, _ = await self._store.run(
                    Store.add_print_job,
                    consultation_id,
                    PRESCRIPTION,
                    number,
                    f"ordonnance {number}",
                    pdf,
                )
                await self._store.run(Store.print_job_failed, job_id, "not_printed")
                job = await self._store.run(Store.print_job, job_id, with_payload=False)
                if job is not None:
                    await self._alert(job)
        upload = wire.RecordUpload(
            msg_id="pending",
            record_id=fhir_record.record_id_for(consultation_id),
            consultation_id=consultation_id,
            created_at=file.ended_at,
            bundle=msgspec.Raw(
                fhir_record.build_bundle(self._record_input(file, prescriptions, documents))
            ),
        )
        filed = await self._store.run(Store.file_record, consultation_id, wire.encode(upload))
        if filed:
            log.info("paperwork.record_filed consultation=%s", consultation_id)
            self.record_filed()
        return filed

    async def file_missing_records(self) -> int:
        """At start-up: the records a crash kept from being filed."""
        filed = 0
        for consultation_id in await self._store.run(Store.consultations_without_record):
            filed += await self.file_record(consultation_id)
        return filed

    def _record_input(
        self,
        file: ConsultationFile,
        prescriptions: list[wire.PrescriptionMessage],
        documents: Mapping[str, bytes],
    ) -> fhir_record.RecordInput:
        assert file.ended_at is not None
        patient = file.patient
        return fhir_record.RecordInput(
            record_id=fhir_record.record_id_for(file.consultation_id),
            consultation_id=file.consultation_id,
            cabin_id=self._cabin_id,
            cabin_name=self._cabin_name,
            patient_local_id=file.patient_id,
            patient=wire.PatientSummary(
                family_name=patient.family_name,
                given_names=patient.given_names,
                birth_date=patient.birth_date,
                sex=wire.Sex(patient.sex.value),
            ),
            language=wire.Language(file.language if file.language in ("fr", "en") else "fr"),
            started_at=file.started_at,
            ended_at=file.ended_at,
            end_reason=file.end_reason or "completed",
            reason=for_the_doctor(reason_of(file.reason)),
            doctor=_doctor(file),
            doctor_id=file.doctor_id,
            vitals=tuple(vital_of(r.reading) for r in file.readings),
            prescriptions=tuple(prescriptions),
            prescription_pdfs={
                p.prescription_id: documents[p.prescription_id]
                for p in prescriptions
                if p.prescription_id in documents
            },
            summary_pdf=documents.get(""),
            advice=file.advice,
            appointment=_appointment(file),
        )

    # --- documents --------------------------------------------------------------------------------

    def _patient_on_paper(self, file: ConsultationFile) -> PatientOnPrescription:
        from printing.prescription import PatientOnPrescription  # noqa: PLC0415 - see imports

        return PatientOnPrescription(
            family_name=file.patient.family_name,
            given_names=file.patient.given_names,
            sex=file.patient.sex.value,
            birth_date=file.patient.birth_date,
        )

    def _render_prescription(
        self, file: ConsultationFile, prescription: wire.PrescriptionMessage
    ) -> bytes:
        """On a worker thread (reportlab is loaded there when the warm-up has not yet)."""
        from printing.prescription import (  # noqa: PLC0415 - see the imports
            DrugLine,
            ElectronicSignature,
            Prescriber,
            PrescriptionDocument,
            render_prescription,
        )

        doctor = prescription.prescriber
        document = PrescriptionDocument(
            number=prescription.prescription_id,
            issued_at=prescription.issued_at,
            prescriber=Prescriber(
                name=doctor.display_name,
                specialty=doctor.specialty,
                rpps=doctor.registration_number or "",
                address=doctor.address,
                phone=doctor.phone,
                email=doctor.email,
            ),
            patient=self._patient_on_paper(file),
            lines=tuple(
                DrugLine(
                    drug=line.drug,
                    dose=line.dose,
                    frequency=line.frequency,
                    duration=line.duration,
                    instructions=line.instructions,
                    renewals=line.renewals,
                )
                for line in prescription.lines
            ),
            check_url=prescription.check_url or "",
            cabin_name=self._cabin_name,
            signature=ElectronicSignature(
                key_id=prescription.key_id,
                fingerprint=wire.check_code(prescription.signature),
                signer=doctor.display_name,
            ),
        )
        return render_prescription(document, self._page_size)

    def _render_summary(
        self, file: ConsultationFile, prescriptions: list[wire.PrescriptionMessage]
    ) -> bytes:
        """On a worker thread, as the prescription."""
        from printing.summary import SummaryDocument, render_summary  # noqa: PLC0415

        doctor = _doctor(file)
        document = SummaryDocument(
            language=file.language,
            cabin_name=self._cabin_name,
            patient=self._patient_on_paper(file),
            started_at=file.started_at,
            doctor_name=None if doctor is None else doctor.display_name,
            doctor_specialty=None if doctor is None else doctor.specialty,
            reason=on_paper(reason_of(file.reason), file.language),
            vitals=tuple(vital_of(r.reading) for r in file.readings),
            advice=file.advice,
            prescription_numbers=tuple(p.prescription_id for p in prescriptions),
        )
        return render_summary(document, self._page_size)

    # --- housekeeping -----------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[Any], *, printing: bool = False) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        if printing:
            self._print_tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._print_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("paperwork.task_failed error=%r", task.exception())

    async def settled(self) -> None:
        """Wait for the printing and filing in flight (tests and the scripted demo)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            await cancel_and_wait(watcher)
        elif watcher is not None and not watcher.cancelled() and watcher.exception() is not None:
            log.error("paperwork.watcher_failed error=%r", watcher.exception())
        for task in tuple(self._tasks):
            await cancel_and_wait(task)


def _bind(render: Callable[..., bytes], *args: Any) -> Callable[[], bytes]:
    return lambda: render(*args)


def _prescriptions(file: ConsultationFile) -> list[wire.PrescriptionMessage]:
    found: list[wire.PrescriptionMessage] = []
    for payload in file.prescriptions:
        try:
            message = wire.decode(payload, allowed=wire.PrescriptionMessage)
        except wire.WireError as exc:
            log.error("paperwork.prescription_unreadable error=%s", exc)
            continue
        assert isinstance(message, wire.PrescriptionMessage)
        found.append(message)
    return found


def _doctor(file: ConsultationFile) -> wire.DoctorInfo | None:
    if file.doctor_info is None:
        return None
    try:
        return msgspec.json.decode(file.doctor_info, type=wire.DoctorInfo)
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.error("paperwork.doctor_unreadable consultation=%s", file.consultation_id)
        return None


def _appointment(file: ConsultationFile) -> fhir_record.RecordAppointment | None:
    """The appointment the patient checked in with, as of the record: fulfilled once a doctor
    took the call, else arrived (the hub keeps the truth; the record says what the cabin saw)."""
    booked = file.appointment
    if booked is None:
        return None
    return fhir_record.RecordAppointment(
        appointment_id=booked.appointment_id,
        status="fulfilled" if file.doctor_id is not None else "arrived",
        starts_at=booked.starts_at,
        ends_at=booked.ends_at,
        doctor_id=booked.doctor,
        doctor_name=booked.doctor_name,
    )
