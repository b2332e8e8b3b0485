"""What the hub keeps: one interface, so that PostgreSQL can replace SQLite for a fleet.

The composition root (`hub/app.py`) picks the implementation; everything else sees `Storage`.
Values in and out are frozen dataclasses and `wire` Structs, never rows. Times are aware UTC
datetimes. The hub never stores a session description or an ICE candidate: nothing here takes
one.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import wire
from hub.booking import BookingStore
from hub.fleet import FleetStore


class ConsultationStatus(enum.StrEnum):
    """Where a consultation stands on the hub."""

    WAITING = "waiting"
    TAKEN = "taken"
    ENDED = "ended"
    LEFT = "left"


class ActorKind(enum.StrEnum):
    """Who did what the audit log records."""

    DOCTOR = "doctor"
    CABIN = "cabin"
    OPERATOR = "operator"
    PUBLIC = "public"
    """Someone without an account: a pharmacy on the prescription check page."""
    AGENT = "agent"
    """A nurse or a town hall's agent, on the agents' alert page."""
    HUB = "hub"
    """The hub itself, on a timer (an alert escalated)."""


class AccountRole(enum.StrEnum):
    """What a signed-in account may open: the doctor's console, or the agents' alert page."""

    DOCTOR = "doctor"
    AGENT = "agent"
    OPERATOR = "operator"
    """Runs the fleet: opens the fleet page (issue 18), nothing else."""


class AckRole(enum.StrEnum):
    """Who acknowledged an alert."""

    AGENT = "agent"
    """An agent on the alert page (`acknowledged_by`: their username)."""
    DOCTOR = "doctor"
    """A doctor in the console (their username)."""
    PATIENT = "patient"
    """The patient, on the cabin's screen ("I am fine")."""
    CABIN_AGENT = "cabin_agent"
    """An agent in the cabin's assistant mode (the name they typed)."""
    OPERATOR = "operator"
    """The hub's operator, who cleared the cabin's alerts (``python -m hub clear-alerts``)."""
    HUB = "hub"
    """The hub itself resolved an alert it raised: the cabin came back online, or passed its
    self-test again (`acknowledged_by` says which)."""


@dataclass(frozen=True, slots=True)
class DoctorRecord:
    username: str
    password_hash: str
    display_name: str
    specialty: str
    registration_number: str | None
    photo: bytes | None
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime
    address: str = ""
    """The practice's postal address, as the prescription prints it (lines apart by ``\n``)."""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class DoctorDetails:
    """What a prescription says of its prescriber besides the name and the specialty."""

    registration_number: str | None
    """The RPPS number."""
    address: str
    phone: str
    email: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A doctor's or an agent's signed-in browser. Only the SHA-256 of the cookie value is
    kept."""

    token_sha256: str
    username: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    role: AccountRole = AccountRole.DOCTOR


@dataclass(frozen=True, slots=True)
class LoginAccount:
    """What signing in needs of a doctor's or an agent's account."""

    username: str
    role: AccountRole
    password_hash: str
    disabled: bool = False
    totp_required: bool = False
    """An operator requires a second factor (TOTP) of this account."""
    totp_secret: str | None = None
    """The enrolled TOTP secret (base32); None: not enrolled."""
    totp_pending_secret: str | None = None
    """A secret shown for enrolment, not yet confirmed by a code."""
    totp_last_step: int | None = None
    """The last 30-second step whose code was accepted (a code is good once)."""


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A sign-in attempt, counted before its password is checked."""

    blocked_until: datetime | None
    """Set: the name is locked for this client; the attempt is refused unchecked."""
    locks_until: datetime | None
    """Set: this attempt, if its password is wrong, locks the name until then."""
    account: LoginAccount | None
    """None: no account has this name (the attempt goes on as if, against a decoy)."""


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """A nurse's or a town hall agent's account: signs in like a doctor, opens only the alert
    page, and sees the alerts of `cabins` (of every cabin with `all_cabins`)."""

    username: str
    password_hash: str
    display_name: str
    cabins: tuple[str, ...]
    all_cabins: bool
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime
    coordinator: bool = False
    """Opens the coordinator's page too: books, moves and cancels for callers, for `cabins`
    (every cabin with `all_cabins`), and edits their rota."""

    def looks_after(self, cabin_id: str) -> bool:
        return self.all_cabins or cabin_id in self.cabins


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    """A person who runs the fleet: signs in like a doctor or an agent, opens only the fleet
    page (every cabin's health)."""

    username: str
    password_hash: str
    display_name: str
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert a cabin raised, and how it was handled."""

    alert_id: str
    cabin_id: str
    kind: wire.AlertKind
    severity: wire.AlertSeverity
    confidence: float
    detail: str
    consultation_id: str | None
    raised_at: datetime
    """When the cabin raised it (the cabin's clock)."""
    received_at: datetime
    """When the hub first got it (the escalation delay counts from here)."""
    cabin_name: str = ""
    escalated_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_role: AckRole | None = None
    acknowledged_at: datetime | None = None
    false_alarm: bool | None = None
    repeat_count: int = 1
    """How many alerts of this kind the cabin raised into this one while it was open."""
    last_raised_at: datetime | None = None
    """When the cabin raised the latest of them (None: only this one)."""
    merged_into: str | None = None
    """The open alert this one was merged into (a repeat of the same kind); acknowledged
    with it, never sent on its own."""
    cabin_raised_at: datetime | None = None
    """The `raised_at` the cabin gave, when the hub did not believe it (in the future, or
    older than it keeps alerts): `raised_at` is then the hub's bound."""

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


@dataclass(frozen=True, slots=True)
class CabinRecord:
    """A provisioned cabin. Only the SHA-256 of its token is kept."""

    cabin_id: str
    name: str
    token_sha256: str
    provisioned_at: datetime


@dataclass(frozen=True, slots=True)
class ConsultationRecord:
    consultation_id: str
    cabin_id: str
    patient: wire.PatientSummary
    match_key: str
    """Normalized family name, given names and birth date: finds the patient's earlier visits."""
    reason: str
    age_years: int | None
    sex: wire.Sex
    language: wire.Language
    status: ConsultationStatus
    doctor: str | None
    joined_at: datetime
    taken_at: datetime | None = None
    ended_at: datetime | None = None
    notes: str = ""
    """The doctor's notes, for the doctors who see the patient next."""
    advice: str = ""
    """The doctor's advice for the patient, sent to the cabin (printed on their summary)."""


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    consultation_id: str
    msg_id: str
    """The id of the message (or of the queue join) that carried the reading: stored once."""
    vital: wire.Vital
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PrescriptionRecord:
    """A signed prescription, with everything the signature covers."""

    prescription_id: str
    consultation_id: str
    doctor: str
    issued_at: datetime
    prescriber: wire.DoctorInfo
    lines: tuple[wire.PrescriptionLine, ...]
    key_id: str
    signature: str
    msg_id: str
    """The id it is sent to the cabin under, every time (not signed): the cabin's Ack names it."""
    delivered_at: datetime | None = None
    """When the cabin acknowledged it; None until then."""
    check_url: str | None = None
    """The check page's address sent with it (not signed: it is made from the signature)."""
    patient: wire.PatientSummary | None = None
    """Who it is for (signed); None for prescriptions signed before the patient was."""


@dataclass(frozen=True, slots=True)
class UndeliveredPrescription:
    """A prescription its cabin has not acknowledged yet, and that cabin."""

    prescription: PrescriptionRecord
    cabin_id: str


@dataclass(frozen=True, slots=True)
class AdviceRecord:
    """The latest advice of a consultation, as sent to its cabin (again until acknowledged)."""

    consultation_id: str
    cabin_id: str
    text: str
    msg_id: str
    """The id of the `PatientAdvice` that carries this text, every time it is sent."""
    changed_at: datetime
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConsultationRecordUpload:
    """A cabin's FHIR record of a finished consultation, kept as received, and indexed by the
    patient it is about (match key) and when it began."""

    record_id: str
    consultation_id: str
    cabin_id: str
    """The cabin that sent it."""
    created_at: datetime
    received_at: datetime
    bundle: bytes
    match_key: str | None = None
    """The patient's match key (`hub.patients.match_key`); None until indexed, "" if the
    record could not be read to index it."""
    started_at: datetime | None = None
    """When the consultation began, as the record says."""
    digest: bytes | None = None
    """What a history shows of it (`hub.records.RecordDigest`, JSON; no PDF); None until
    indexed."""


@dataclass(frozen=True, slots=True)
class RecordHead:
    """What the hub keeps of a cabin's record but the Bundle itself (read one at a time, on
    demand, with `Storage.record_bundle`: a history never holds every record's PDFs)."""

    record_id: str
    consultation_id: str
    cabin_id: str
    received_at: datetime
    started_at: datetime | None
    bundle_bytes: int
    digest: bytes | None = None
    """What a history shows of it (no PDF); None: read the Bundle."""


@dataclass(frozen=True, slots=True)
class StoredMatchKey:
    """A consultation's patient and the match key stored with it."""

    consultation_id: str
    patient: wire.PatientSummary | None
    """None if the stored patient can no longer be read."""
    match_key: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor_kind: ActorKind
    actor_id: str
    action: str
    """A stable name: ``history.read``, ``consultation.take``, ``prescription.issue``..."""
    consultation_id: str | None = None
    client_address: str | None = None
    alert_id: str | None = None
    subject: str | None = None
    """The account an action was done to (an operator's reset, disabling...)."""


class Storage(BookingStore, FleetStore, Protocol):
    """The hub's database. Every method may raise `hub.errors.StorageError`. It keeps the
    bookings too (`hub.booking.BookingStore`), and the fleet's health (`hub.fleet.FleetStore`)."""

    async def close(self) -> None: ...

    async def check(self) -> None:
        """Raise `hub.errors.StorageError` unless the database answers now (`/readyz`)."""
        ...

    # doctors
    async def add_doctor(self, doctor: DoctorRecord) -> None:
        """Raises `hub.errors.AccountError` if the username is taken."""
        ...

    async def doctor(self, username: str) -> DoctorRecord | None: ...

    async def doctors(self) -> list[DoctorRecord]: ...

    async def set_doctor_photo(self, username: str, photo: bytes | None) -> bool:
        """False if there is no such doctor."""
        ...

    async def set_doctor_details(self, username: str, details: DoctorDetails) -> bool:
        """Replace the doctor's RPPS number, address, phone and e-mail; False if there is no
        such doctor."""
        ...

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        """Of the doctor's or the agent's account of that name."""
        ...

    # sign-in attempts (per typed name and client address, whether the name exists or not)
    async def begin_login(
        self,
        username: str,
        client: str,
        *,
        now: datetime,
        free_failures: int,
        first_lock_s: float,
        max_lock_s: float,
    ) -> LoginAttempt:
        """In one transaction: unless `username` is locked for `client`, count this attempt as
        a failure (the success clears it: `end_login`), locking the name for that client from
        the `free_failures`th on, `first_lock_s` doubling up to `max_lock_s`; and read the
        account. Concurrent attempts are counted one after the other."""
        ...

    async def login_account(self, username: str) -> LoginAccount | None:
        """What signing in needs of the doctor's or agent's account (for the operator's
        listings: disabled, second factor)."""
        ...

    async def end_login(self, username: str, client: str) -> None:
        """The attempt succeeded: forget the failures of `username` from `client`."""
        ...

    async def forget_login_attempts(self, *, before: datetime) -> int:
        """Drop the counts of names and clients not tried since `before`, no longer locked."""
        ...

    # what an operator decides of an account, and its second factor
    async def set_account_disabled(self, username: str, disabled: bool) -> bool:
        """False if there is no such account."""
        ...

    async def set_totp_required(self, username: str, required: bool) -> bool:
        """False if there is no such account."""
        ...

    async def set_totp(
        self, username: str, *, secret: str | None, pending_secret: str | None
    ) -> bool:
        """Replace the enrolled and the pending TOTP secrets; False if no such account."""
        ...

    async def use_totp_step(self, username: str, step: int) -> bool:
        """Record that the code of `step` was used; False if it (or a later one) was."""
        ...

    # agents (usernames are unique across doctors and agents)
    async def add_agent(self, agent: AgentRecord) -> None:
        """Raises `hub.errors.AccountError` if the username is taken (by an agent or a
        doctor)."""
        ...

    async def agent(self, username: str) -> AgentRecord | None: ...

    async def agents(self) -> list[AgentRecord]: ...

    # operators (usernames are unique across doctors, agents and operators)
    async def add_operator(self, operator: OperatorRecord) -> None:
        """Raises `hub.errors.AccountError` if the username is taken."""
        ...

    async def operator(self, username: str) -> OperatorRecord | None: ...

    # sessions
    async def add_session(self, session: SessionRecord) -> None: ...

    async def session(self, token_sha256: str, *, now: datetime) -> SessionRecord | None:
        """The session, or None if there is none or it has expired."""
        ...

    async def delete_session(self, token_sha256: str) -> None: ...

    async def delete_expired_sessions(self, *, now: datetime) -> int: ...

    async def live_session(
        self,
        token_sha256: str,
        *,
        now: datetime,
        idle_since: datetime | None,
        touch_before: datetime,
    ) -> SessionRecord | None:
        """The session, or None if there is none, it has expired, or it was last used before
        `idle_since` (then it is deleted; None: the session is in use, never idle). Marks it
        used `now` if it was last marked before `touch_before` (not on every request)."""
        ...

    async def live_session_hashes(self, token_sha256s: set[str], *, now: datetime) -> set[str]:
        """Those of the sessions that still exist and have not expired."""
        ...

    async def trim_sessions(self, username: str, *, keep: int) -> list[str]:
        """Delete all but the `keep` newest sessions of the account; the deleted ones'
        token hashes."""
        ...

    async def delete_sessions_of(self, username: str, *, keep: str | None = None) -> list[str]:
        """Delete the account's sessions (but `keep`, a token hash); their token hashes."""
        ...

    # cabins
    async def put_cabin(self, cabin: CabinRecord) -> None:
        """Add the cabin, or replace its name and token (the old token stops working)."""
        ...

    async def cabin(self, cabin_id: str) -> CabinRecord | None: ...

    async def cabins(self) -> list[CabinRecord]: ...

    # consultations
    async def open_consultation(self, record: ConsultationRecord) -> ConsultationRecord:
        """Store a new consultation; if its id is known, change nothing and return the
        stored one (the caller decides whether the join may go on)."""
        ...

    async def consultation(self, consultation_id: str) -> ConsultationRecord | None: ...

    async def active_consultations(self, *, limit: int = 1000) -> list[ConsultationRecord]:
        """The consultations waiting or taken (neither ended nor left), by time of arrival: the
        waiting room and the calls as the database knows them (what a replica re-reads)."""
        ...

    async def mark_taken(self, consultation_id: str, *, doctor: str, at: datetime) -> bool:
        """Waiting → taken by `doctor`; False if it was not waiting (someone else won)."""
        ...

    async def mark_waiting(self, consultation_id: str) -> None:
        """Back to the waiting room (a cabin joining again after the hub restarted)."""
        ...

    async def close_consultation(
        self, consultation_id: str, *, status: ConsultationStatus, at: datetime
    ) -> None: ...

    async def close_live_consultation(
        self, consultation_id: str, *, status: ConsultationStatus, at: datetime
    ) -> bool:
        """Waiting or taken → `status` (ended or left) at `at`, as one conditional update;
        False if it was not live (closed already: of two replicas that end it at once, one
        does)."""
        ...

    async def set_notes(self, consultation_id: str, text: str) -> None: ...

    async def set_advice(
        self, consultation_id: str, text: str, *, msg_id: str, at: datetime
    ) -> AdviceRecord | None:
        """Replace the consultation's advice for the patient, to be sent under `msg_id` and
        not yet delivered; None (nothing changed) if the text is the one already stored."""
        ...

    async def undelivered_advice(
        self, *, since: datetime, cabin_id: str | None = None, limit: int = 1000
    ) -> list[AdviceRecord]:
        """The advice changed at `since` or later that its cabin has not acknowledged, oldest
        first (one per consultation: the latest); only `cabin_id`'s when it is given."""
        ...

    async def mark_advice_delivered(
        self, msg_id: str, *, cabin_id: str, at: datetime
    ) -> AdviceRecord | None:
        """`cabin_id` acknowledged `msg_id`: if it is the latest advice of one of its
        consultations, not yet delivered, record the delivery `at` and return it; else None."""
        ...

    async def earlier_consultations(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecord]:
        """The same patient's consultations that began before `before`, newest first."""
        ...

    # readings
    async def add_reading(self, reading: ReadingRecord) -> bool:
        """False if this `msg_id` of this consultation is already stored."""
        ...

    async def readings(self, consultation_id: str) -> list[ReadingRecord]:
        """In the order they were received."""
        ...

    # prescriptions
    async def next_prescription_sequence(self, year: int) -> int:
        """1, 2, 3... within `year`, never the same twice."""
        ...

    async def add_prescription(self, prescription: PrescriptionRecord) -> None: ...

    async def prescription(self, prescription_id: str) -> PrescriptionRecord | None: ...

    async def prescription_signature(self, prescription_id: str) -> str | None:
        """The stored signature alone (readable even if the rest of the row is not)."""
        ...

    async def prescriptions(self, consultation_id: str) -> list[PrescriptionRecord]: ...

    async def undelivered_prescriptions(
        self, *, since: datetime, cabin_id: str | None = None, limit: int = 1000
    ) -> list[UndeliveredPrescription]:
        """The prescriptions issued at `since` or later that their cabin has not acknowledged,
        oldest first; only those of `cabin_id`'s consultations when it is given."""
        ...

    async def mark_prescription_delivered(
        self, msg_id: str, *, cabin_id: str, at: datetime
    ) -> PrescriptionRecord | None:
        """`cabin_id` acknowledged the message `msg_id`: if it is one of its consultations'
        prescriptions not yet delivered, record the delivery `at` and return it; else None."""
        ...

    # consultation records (FHIR) from cabins
    async def add_record(self, record: ConsultationRecordUpload) -> bool:
        """False if this cabin's `record_id` is already stored (the cabin sent it again);
        another cabin's record of the same id is another record."""
        ...

    async def earlier_records(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[ConsultationRecordUpload]:
        """The records of the same patient that began before `before`, but the record of the
        consultation `exclude`, newest first."""
        ...

    async def record_of_consultation(self, consultation_id: str) -> ConsultationRecordUpload | None:
        """The record of a consultation (the last received, should there be two; whichever
        cabin sent it: `record_head_of_consultation` names the cabin)."""
        ...

    async def unindexed_records(self, *, limit: int) -> list[ConsultationRecordUpload]:
        """Records stored before records were indexed (`match_key` None), oldest first."""
        ...

    async def index_record(
        self,
        record_id: str,
        *,
        match_key: str,
        started_at: datetime | None,
        cabin_id: str | None = None,
        digest: bytes | None = None,
    ) -> None:
        """Index the record `record_id` (of `cabin_id`'s; of every cabin that has one when
        None), with its digest."""
        ...

    async def earlier_record_heads(
        self, match_key: str, *, before: datetime, exclude: str, limit: int
    ) -> list[RecordHead]:
        """As `earlier_records`, without the Bundles."""
        ...

    async def record_head_of_consultation(
        self, consultation_id: str, *, cabin_id: str
    ) -> RecordHead | None:
        """The record `cabin_id` sent of a consultation (the last received, should there be
        two), without its Bundle."""
        ...

    async def record_bundle(self, cabin_id: str, record_id: str) -> bytes | None:
        """One record's Bundle, as received."""
        ...

    # patients' match keys recomputed after `hub.patients` changed (a migration queues them)
    async def consultations_to_rekey(self, *, limit: int) -> list[StoredMatchKey]:
        """Consultations whose match key is queued to be recomputed, a batch."""
        ...

    async def set_match_key(self, consultation_id: str, match_key: str) -> None:
        """Store the recomputed key and take the consultation off the queue."""
        ...

    # alerts
    async def add_alert(self, alert: AlertRecord) -> tuple[AlertRecord, bool]:
        """Store a new alert; if its id is known, change nothing. The stored alert, and
        whether it was new."""
        ...

    async def alert(self, alert_id: str) -> AlertRecord | None: ...

    async def acknowledge_alert(
        self, alert_id: str, *, by: str, role: AckRole, at: datetime, false_alarm: bool
    ) -> tuple[AlertRecord, bool] | None:
        """Record who handled the alert, unless it was already: the first acknowledgement
        stands. The stored alert and whether this one was recorded; None for an unknown id."""
        ...

    async def mark_alert_escalated(self, alert_id: str, *, at: datetime) -> AlertRecord | None:
        """Record the escalation of an open alert not yet escalated; None if it was not (it
        has been acknowledged or escalated meanwhile, or is unknown)."""
        ...

    async def open_alerts(self, *, since: datetime, limit: int = 1000) -> list[AlertRecord]:
        """The alerts received at `since` or later and not acknowledged, oldest first (not
        those merged into another)."""
        ...

    async def add_repeat(
        self, alert: AlertRecord, *, head_id: str, keep: bool, count: int = 1
    ) -> AlertRecord | None:
        """Merge `alert` (the latest of `count` repeats) into the open alert `head_id` (same
        cabin, kind and severity): its `repeat_count` grows by `count`, its `last_raised_at`
        follows; with `keep`, `alert` is stored too (`merged_into`), unless its id is known
        (then nothing changes). The head as stored now; None if it is no longer open."""
        ...

    async def merged_alert_ids(self, head_id: str, *, limit: int) -> list[str]:
        """The ids of the alerts stored as merged into `head_id`."""
        ...

    async def clear_alerts(self, cabin_id: str, *, by: str, at: datetime) -> list[AlertRecord]:
        """Dismiss, as the operator `by` (role `operator`, `false_alarm`), every open alert of
        `cabin_id`, merged ones too; those dismissed now, as stored."""
        ...

    # audit
    async def add_audit(self, entry: AuditEntry) -> None: ...

    async def audit_entries(self, *, consultation_id: str | None = None) -> Sequence[AuditEntry]:
        """Oldest first; only those about `consultation_id` when it is given."""
        ...
