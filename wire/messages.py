"""Messages exchanged by the cabin, the hub, the doctor's console and the agents' alert page.

Every message is a frozen msgspec Struct encoded as a JSON object whose `type` field names it
(`{"type": "reading", ...}`); unknown fields are rejected. Constraints (ranges, lengths, patterns,
time zones) are checked by `decode`, not when a Struct is built in Python. Every message carries a
`msg_id`, which an `Ack` or an `ErrorMessage` refers to.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import re
from datetime import date, datetime
from typing import Annotated, Final, TypeAlias, get_args

import msgspec

from wire.errors import MalformedMessage, UnknownMessage

PROTOCOL_VERSION: Final = 1
"""Version of this set of messages; a hub refuses a cabin that speaks another one."""
STATUS_EVERY_S: Final = 60
"""A cabin sends its `CabinStatus` this often (and at each change): its heartbeat."""
QUALITY_EVERY_S: Final = 10
"""A cabin in a call sends its `CallQuality` this often."""

# --- constrained field types ---------------------------------------------------------------------

Id = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
"""An identifier: 1 to 64 characters, letters, digits and `._:-`, safe to put in a log line."""

UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""An instant with its UTC offset (RFC 3339); senders use UTC."""

Version = Annotated[
    str,
    msgspec.Meta(max_length=64, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]+)?$"),
]
"""A software version, `MAJOR.MINOR.PATCH` with an optional pre-release or build suffix."""

ProtocolVersion = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Token = Annotated[str, msgspec.Meta(min_length=16, max_length=4096, pattern=r"^[!-~]+$")]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
FreeText = Annotated[str, msgspec.Meta(max_length=500)]
Base64 = Annotated[
    str, msgspec.Meta(min_length=4, max_length=8192, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]
SdpText = Annotated[str, msgspec.Meta(min_length=1, max_length=65536)]
PhotoData = Annotated[
    str, msgspec.Meta(min_length=4, max_length=262144, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]
"""A JPEG or PNG image, base64: at most 192 KiB of image."""
NotesText = Annotated[str, msgspec.Meta(max_length=10000)]
PhoneText = Annotated[str, msgspec.Meta(max_length=40, pattern=r"^[0-9 +().-]*$")]
EmailText = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^(|[^@\s]+@[^@\s]+)$")]
CheckUrl = Annotated[str, msgspec.Meta(max_length=512, pattern=r"^https?://[!-~]+$")]
IceUrl = Annotated[str, msgspec.Meta(max_length=512, pattern=r"^(stun|stuns|turn|turns):[!-~]+$")]

AgeYears = Annotated[int, msgspec.Meta(ge=0, le=130)]
PressureMmhg = Annotated[float, msgspec.Meta(ge=0, le=400)]
PulseBpm = Annotated[float, msgspec.Meta(ge=0, le=300)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
TemperatureC = Annotated[float, msgspec.Meta(ge=20, le=50)]
Confidence = Annotated[float, msgspec.Meta(ge=0, le=1)]
Renewals = Annotated[int, msgspec.Meta(ge=0, le=12)]
RepeatCount = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]


# --- enumerations --------------------------------------------------------------------------------


class Language(enum.StrEnum):
    """Language of the patient's session."""

    FR = "fr"
    EN = "en"


class VitalKind(enum.StrEnum):
    """What an instrument measures."""

    BLOOD_PRESSURE = "blood_pressure"
    TEMPERATURE = "temperature"
    SPO2 = "spo2"
    PULSE = "pulse"


class Sex(enum.StrEnum):
    """A patient's sex as the identity document gives it."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class IceTransportPolicy(enum.StrEnum):
    """Which ICE candidates a peer may use: all, or only relayed ones (through TURN)."""

    ALL = "all"
    RELAY = "relay"


class AlertKind(enum.StrEnum):
    """What raised a distress alert."""

    FALL = "fall"
    STILLNESS = "stillness"
    ABSENCE = "absence"
    CALL_FOR_HELP = "call_for_help"
    DANGEROUS_VITALS = "dangerous_vitals"
    PANIC_BUTTON = "panic_button"
    DEVICE = "device"
    PRINTER = "printer"
    """The printer stopped (paper, jam, offline): a patient's document waits to be printed."""
    CABIN_OFFLINE = "cabin_offline"
    """Raised by the hub: the cabin has sent no heartbeat for ``[fleet] offline_after_min``."""
    SELFTEST_FAILED = "selftest_failed"
    """Raised by the hub: the cabin's last self-test has a failed check."""


class AlertSeverity(enum.StrEnum):
    """How urgently a person must come."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class LeaveReason(enum.StrEnum):
    """Why a patient left the waiting room."""

    CANCELLED = "cancelled"
    INACTIVITY = "inactivity"
    ALERT = "alert"


class CallEndReason(enum.StrEnum):
    """Why a call ended."""

    COMPLETED = "completed"
    PATIENT_LEFT = "patient_left"  # the session ended in the call (left, timed out, stopped)
    DOCTOR_LEFT = "doctor_left"
    CONNECTION_LOST = "connection_lost"
    TIMEOUT = "timeout"
    ALERT = "alert"
    PATIENT_ENDED = "patient_ended"  # the patient pressed "End the call": still at the cabin


class PrintDocument(enum.StrEnum):
    """What the cabin prints."""

    PRESCRIPTION = "prescription"
    SUMMARY = "summary"
    TEST_PAGE = "test_page"


class PrintState(enum.StrEnum):
    """Where a print job is."""

    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED = "failed"


class PrinterProblem(enum.StrEnum):
    """What keeps the printer from printing."""

    PAPER_LOW = "paper_low"
    OUT_OF_PAPER = "out_of_paper"
    PAPER_JAM = "paper_jam"
    OFFLINE = "offline"
    OTHER = "other"


class SelfTestCheck(enum.StrEnum):
    """One check of the cabin's self-test (issue 18)."""

    INSTRUMENT = "instrument"  # one per instrument: it answers (no reading is stored)
    CAMERA = "camera"  # frames that are neither black nor frozen
    MICROPHONE = "microphone"  # it hears a level
    SPEAKER = "speaker"  # it plays (heard back through the microphone where it can)
    PRINTER = "printer"  # its state and its paper
    DISK = "disk"  # free space for the database and the log
    CLOCK = "clock"  # synchronised (NTP)
    HUB = "hub"  # reachable, and the cabin's credential accepted
    TURN = "turn"  # a relay candidate is gathered from the hub's TURN servers
    DATABASE = "database"  # the SQLCipher file's integrity check


class SelfTestOutcome(enum.StrEnum):
    """How one check went: ``warning`` works but needs a look (paper low, disk nearly full);
    ``skipped`` could not run (the part is not configured, or the hardware cannot loop back)."""

    PASSED = "passed"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"


class SelfTestTrigger(enum.StrEnum):
    """Why a self-test ran."""

    START = "start"
    NIGHTLY = "nightly"
    AGENT = "agent"  # asked for in the assistant mode


class PaperLevel(enum.StrEnum):
    """What the cabin knows of its printer's paper."""

    OK = "ok"
    LOW = "low"
    OUT = "out"
    UNKNOWN = "unknown"


class AppointmentRefusal(enum.StrEnum):
    """Why the hub did not open an appointment with a code typed at a cabin.

    There is no "wrong cabin": a code of another cabin's appointment is answered
    `UNKNOWN_OR_EXPIRED`, as a code that exists nowhere. Saying "this code is for the cabin of
    Murat" would help a lost patient, but it would also tell whoever types codes at a cabin
    which of the million exist and where: the cabin's message for this answer asks the patient
    to check both the code and the town of their appointment instead."""

    UNKNOWN_OR_EXPIRED = "unknown_or_expired"
    """No active appointment of this cabin with this code now (unknown, not yet or no longer
    valid, cancelled, or another cabin's)."""
    ALREADY_USED = "already_used"
    """This cabin's appointment, already checked in (a code is used once)."""
    TOO_MANY_TRIES = "too_many_tries"
    """Too many wrong codes at this cabin lately: `retry_after_s` says when to try again."""


class ErrorCode(enum.StrEnum):
    """Why a message was refused."""

    MALFORMED = "malformed"
    UNKNOWN_MESSAGE = "unknown_message"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID_SIGNATURE = "invalid_signature"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


# --- values carried inside messages --------------------------------------------------------------


class _Value(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of the untagged Structs nested in messages."""


_VITAL_FIELDS: Final[dict[VitalKind, tuple[frozenset[str], frozenset[str]]]] = {
    # kind: (required fields, other allowed fields)
    VitalKind.BLOOD_PRESSURE: (
        frozenset({"systolic_mmhg", "diastolic_mmhg"}),
        frozenset({"mean_arterial_mmhg", "pulse_bpm"}),
    ),
    VitalKind.TEMPERATURE: (frozenset({"temperature_c"}), frozenset()),
    VitalKind.SPO2: (frozenset({"spo2_percent"}), frozenset({"pulse_bpm"})),
    VitalKind.PULSE: (frozenset({"pulse_bpm"}), frozenset()),
}
_VITAL_VALUES: Final[frozenset[str]] = frozenset().union(
    *(r | a for r, a in _VITAL_FIELDS.values())
)


class Vital(_Value, frozen=True):
    """One measurement by one instrument: the values its kind defines, the others absent."""

    kind: VitalKind
    measured_at: UtcDatetime
    device_id: Id
    systolic_mmhg: PressureMmhg | None = None
    diastolic_mmhg: PressureMmhg | None = None
    mean_arterial_mmhg: PressureMmhg | None = None
    pulse_bpm: PulseBpm | None = None
    spo2_percent: Percent | None = None
    temperature_c: TemperatureC | None = None

    def __post_init__(self) -> None:
        required, optional = _VITAL_FIELDS[self.kind]
        for name in sorted(_VITAL_VALUES):
            present = getattr(self, name) is not None
            if name in required and not present:
                raise ValueError(f"`{name}` is required for kind `{self.kind.value}`")
            if present and name not in required and name not in optional:
                raise ValueError(f"`{name}` is not allowed for kind `{self.kind.value}`")
        if (
            self.systolic_mmhg is not None
            and self.diastolic_mmhg is not None
            and self.systolic_mmhg < self.diastolic_mmhg
        ):
            raise ValueError("`systolic_mmhg` is below `diastolic_mmhg`")


class DoctorInfo(_Value, frozen=True):
    """The doctor as the patient sees them and as the prescription names them."""

    display_name: ShortText
    specialty: ShortText
    registration_number: Id | None = None
    """The RPPS number."""
    photo: PhotoData | None = None
    """The doctor's photo (base64 JPEG or PNG), shown to the patient before the call."""
    address: FreeText = ""
    """The practice's postal address, as the prescription prints it."""
    phone: PhoneText = ""
    email: EmailText = ""


class PatientSummary(_Value, frozen=True):
    """Who the patient is, as the doctor who takes them needs to know (never in a log line)."""

    family_name: ShortText
    given_names: ShortText
    birth_date: date
    sex: Sex = Sex.UNKNOWN


class IceServer(_Value, frozen=True):
    """A STUN or TURN server for a call, with short-lived credentials for TURN."""

    urls: Annotated[list[IceUrl], msgspec.Meta(min_length=1, max_length=8)]
    username: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    credential: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class PrescriptionLine(_Value, frozen=True):
    """One drug of a prescription."""

    drug: ShortText
    dose: ShortText
    frequency: ShortText
    duration: ShortText
    instructions: FreeText = ""
    renewals: Renewals = 0


Lines = Annotated[list[PrescriptionLine], msgspec.Meta(min_length=1, max_length=20)]


class WaitingEntry(_Value, frozen=True):
    """A patient in the waiting room, as the doctor's console lists them."""

    consultation_id: Id
    cabin_id: Id
    joined_at: UtcDatetime
    language: Language
    reason: FreeText = ""
    age_years: AgeYears | None = None
    sex: Sex = Sex.UNKNOWN
    vitals: Annotated[list[Vital], msgspec.Meta(max_length=32)] = []
    taken_by: ShortText | None = None
    """The username of the doctor who took the patient (as the console's `Me.username`), while
    the call is being set up or running: who it is, to compare with."""
    taken_by_name: ShortText | None = None
    """That doctor's display name, to show."""
    cabin_online: bool = True
    """False while the patient's cabin is disconnected (it keeps its place for a while, but
    cannot be taken until it is back)."""
    appointment_at: UtcDatetime | None = None
    """A booked patient: the start of their slot (the room orders them at it)."""
    booked_doctor: Id | None = None
    """A booked patient: the username of the doctor they booked with (offered to them first)."""
    booked_doctor_name: ShortText | None = None
    """That doctor's display name, to show."""
    appointment_timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    """A booked patient: the cabin's time zone (IANA), in which their slot time is shown (a
    doctor's browser may be in another)."""


class TodaysAppointment(_Value, frozen=True):
    """One of a cabin's appointments of the day, as the hub syncs them for the cabin to check a
    code while the hub cannot be reached. The code itself is not there: its PBKDF2-HMAC-SHA256
    with a salt of its own. Six digits are a million tries, a few seconds of brute force for
    anyone who holds the list; the list lives only in the cabin's SQLCipher store, and only
    for the day: the hash keeps the codes from being read off at a glance, no more."""

    appointment_id: Id
    code_salt: Base64
    code_hash: Base64
    """PBKDF2-HMAC-SHA256 of the six digits (ASCII), with `code_salt`, `code_iterations`."""
    patient: PatientSummary
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    valid_from: UtcDatetime
    """The code opens the appointment from then..."""
    valid_until: UtcDatetime
    """...until then, excluded (the end of the slot's local day): the hub's rule, applied by
    the cabin offline."""
    doctor: Id | None = None
    """The username of the doctor the slot was booked with."""
    doctor_name: ShortText | None = None
    code_iterations: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 10_000
    """(`APPOINTMENT_CODE_ITERATIONS` when the hub made it.)"""


class PastPrescription(_Value, frozen=True):
    """A prescription of an earlier consultation."""

    prescription_id: Id
    issued_at: UtcDatetime
    lines: Lines
    verified: bool = False
    """True: the hub issued it, and what it stored still matches its signature. False: only
    the cabin's record says so (the console marks it: from the cabin, not verified)."""


class PastConsultation(_Value, frozen=True):
    """An earlier consultation of the same patient, as the next doctor reads it."""

    consultation_id: Id
    cabin_id: Id
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = None
    doctor: DoctorInfo | None = None
    reason: FreeText = ""
    vitals: Annotated[list[Vital], msgspec.Meta(max_length=64)] = []
    notes: NotesText = ""
    advice: NotesText = ""
    """What the doctor advised the patient (printed on their summary)."""
    prescriptions: Annotated[list[PastPrescription], msgspec.Meta(max_length=20)] = []
    seen_by_hub: bool = False
    """True: the hub held this consultation (its cabin, times and doctor are the hub's).
    False: only a cabin's record tells it (made offline): the console marks it as the cabin's
    word, not verified, and no doctor is named."""


class OpenAlert(_Value, frozen=True):
    """One open alert of a cabin, as an `AlertSummary` lists it (its cabin is the entry's)."""

    alert_id: Id
    kind: AlertKind
    severity: AlertSeverity
    raised_at: UtcDatetime
    repeat_count: RepeatCount = 1
    last_raised_at: UtcDatetime | None = None
    confidence: Confidence = 1.0
    consultation_id: Id | None = None
    detail: Annotated[str, msgspec.Meta(max_length=120)] = ""
    escalated_at: UtcDatetime | None = None
    """Set when nobody acknowledged it in time: the summary's `emergency_number` applies."""


class CabinAlerts(_Value, frozen=True):
    """A cabin's open alerts: how many, and the most recent of them."""

    cabin_id: Id
    open_count: Count
    """Open alerts of this cabin shown to this page (repeats merged)."""
    raised_count: Count
    """Alerts the cabin raised into them (repeats included)."""
    latest: Annotated[list[OpenAlert], msgspec.Meta(max_length=16)]
    """The most recent open ones (escalated first), at most 16."""
    escalated_count: Count = 0
    cabin_name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SelfTestResult(_Value, frozen=True):
    """One check's outcome. ``subject`` names what was checked when there are several (an
    instrument's id); ``detail`` says what was found, for the operator, never patient data."""

    check: SelfTestCheck
    outcome: SelfTestOutcome
    subject: Annotated[str, msgspec.Meta(max_length=64)] = ""
    detail: FreeText = ""
    duration_ms: Annotated[int, msgspec.Meta(ge=0, le=600_000)] = 0


class InstrumentState(_Value, frozen=True):
    """An instrument as the cabin sees it now."""

    instrument_id: Id
    kind: Annotated[str, msgspec.Meta(max_length=64)]
    connected: bool
    battery_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None


class CallQualitySample(_Value, frozen=True):
    """The call's media as the cabin measures it (its WebRTC stats, over the last interval)."""

    sent_kbps: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
    received_kbps: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
    loss_percent: Percent
    round_trip_ms: Annotated[float, msgspec.Meta(ge=0, le=600_000)] | None = None


class _FhirBundleHead(msgspec.Struct, frozen=True, rename="camel"):
    """The one field of a FHIR resource that `RecordUpload` checks; the hub checks the rest."""

    resource_type: str


_FHIR_HEAD_DECODER: Final = msgspec.json.Decoder(_FhirBundleHead)


# --- messages ------------------------------------------------------------------------------------


class _Message(
    msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True, kw_only=True
):
    """Base of the messages: a `type` tag and a `msg_id`."""

    msg_id: Id


# cabin -> hub


class CabinHello(_Message, tag="cabin_hello", frozen=True):
    """First message of a cabin's connection: who it is and how it proves it."""

    cabin_id: Id
    token: Token
    software_version: Version
    protocol_version: ProtocolVersion = PROTOCOL_VERSION
    live: Annotated[list[Id], msgspec.Meta(max_length=2)] | None = None
    """The consultations the cabin has in its waiting room or call now; None: it does not say
    (an older cabin). A consultation the hub still has for this cabin and that is not here is
    over (the cabin restarted while its patient waited, and could not say so)."""


class QueueJoin(_Message, tag="queue_join", frozen=True):
    """A patient enters the waiting room, with the vitals measured so far."""

    consultation_id: Id
    language: Language
    patient: PatientSummary
    reason: FreeText = ""
    age_years: AgeYears | None = None
    vitals: Annotated[list[Vital], msgspec.Meta(max_length=32)] = []
    appointment_id: Id | None = None
    """The appointment the patient confirmed with its code and their birth date: the hub marks
    it arrived, puts the patient in the waiting room at its slot time and offers them to the
    booked doctor first."""


class AppointmentCheck(_Message, tag="appointment_check", frozen=True):
    """A code typed on the cabin's keypad: does it open an appointment here, now? The hub
    answers `AppointmentFound` or `AppointmentRefused`, `in_reply_to` this message."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$")]


class QueueLeave(_Message, tag="queue_leave", frozen=True):
    """A patient leaves the waiting room before a doctor takes them."""

    consultation_id: Id
    reason: LeaveReason


class ReadingMessage(_Message, tag="reading", frozen=True):
    """A new measurement during a consultation."""

    consultation_id: Id
    reading: Vital


class AlertMessage(_Message, tag="alert", frozen=True):
    """A distress or device alert raised in a cabin.

    No image, no sound and no value of the patient's: what was detected (`kind`), how sure the
    detector was, and a short technical `detail` for the log ("sol 2.1 s", "bouton écran").
    The hub adds `cabin_name` (where to go) to the copies it sends to agents and doctors."""

    alert_id: Id
    cabin_id: Id
    kind: AlertKind
    severity: AlertSeverity
    raised_at: UtcDatetime
    confidence: Confidence = 1.0
    consultation_id: Id | None = None
    detail: Annotated[str, msgspec.Meta(max_length=120)] = ""
    cabin_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    repeat_count: RepeatCount = 1
    """Set by the hub: how many alerts of this kind the cabin raised while this one was open
    (this one included); the hub merges repeats into the open alert."""
    last_raised_at: UtcDatetime | None = None
    """Set by the hub: when the cabin raised the latest of them (None: only this one)."""


class RecordUpload(_Message, tag="record_upload", frozen=True):
    """The record of a finished consultation; sent again until a `RecordAck` names `record_id`."""

    record_id: Id
    consultation_id: Id
    created_at: UtcDatetime
    bundle: msgspec.Raw
    """A FHIR R4 Bundle, as a JSON object."""

    def __post_init__(self) -> None:
        try:
            head = _FHIR_HEAD_DECODER.decode(self.bundle)
        except msgspec.DecodeError:
            raise ValueError("`bundle` is not a JSON object") from None
        if head.resource_type != "Bundle":
            raise ValueError("`bundle` is not a FHIR Bundle")


class PrintStatus(_Message, tag="print_status", frozen=True):
    """Progress of a print job, and the printer's problem if it has one."""

    job_id: Id
    document: PrintDocument
    state: PrintState
    problem: PrinterProblem | None = None
    consultation_id: Id | None = None


class CabinStatus(_Message, tag="cabin_status", frozen=True):
    """The cabin's heartbeat (every ``STATUS_EVERY_S`` and at each change): its version, its
    instruments, its printer and disk; the hub's fleet page shows it, and a cabin silent for
    too long is offline."""

    sent_at: UtcDatetime
    software_version: Version
    instruments: Annotated[list[InstrumentState], msgspec.Meta(max_length=32)] = []
    printer_problem: PrinterProblem | None = None
    paper: PaperLevel = PaperLevel.UNKNOWN
    disk_free_mb: Annotated[int, msgspec.Meta(ge=0)] | None = None
    hub_unreachable_since: UtcDatetime | None = None
    """Set on the first status after an outage: since when the cabin had no hub."""


class SelfTestReport(_Message, tag="selftest_report", frozen=True):
    """A self-test's results (at start, nightly, or asked by an agent). Sent reliably: the hub
    acknowledges it, and keeps the last one of each cabin."""

    report_id: Id
    trigger: SelfTestTrigger
    started_at: UtcDatetime
    finished_at: UtcDatetime
    results: Annotated[list[SelfTestResult], msgspec.Meta(max_length=64)]


class IceServersAsk(_Message, tag="ice_servers_ask", frozen=True):
    """The cabin asks for its ICE servers outside a call (TURN credentials fresh from now): its
    self-test gathers a relay candidate with them. The hub answers `IceServersGiven`,
    `in_reply_to` this message."""


class CallQuality(_Message, tag="call_quality", frozen=True):
    """The call's quality, every ``QUALITY_EVERY_S`` of a call and once at its end."""

    consultation_id: Id
    sent_at: UtcDatetime
    sample: CallQualitySample
    final: bool = False


# hub -> cabin, console or agent page


class IceServersGiven(_Message, tag="ice_servers_given", frozen=True):
    """The ICE servers a call of this cabin would use now (as in `CallAccepted`), for its
    self-test's TURN check; empty when the hub has none configured."""

    in_reply_to: Id
    ice_servers: Annotated[list[IceServer], msgspec.Meta(max_length=8)] = []
    ice_transport_policy: IceTransportPolicy = IceTransportPolicy.ALL


class Welcome(_Message, tag="welcome", frozen=True):
    """The hub's answer to a hello: the connection is accepted."""

    protocol_version: ProtocolVersion
    hub_version: Version
    server_time: UtcDatetime


class Ack(_Message, tag="ack", frozen=True):
    """The message `ack_of` was received and acted upon."""

    ack_of: Id


class ErrorMessage(_Message, tag="error", frozen=True):
    """A message was refused; `in_reply_to` names it when it could be read."""

    code: ErrorCode
    text: FreeText = ""
    in_reply_to: Id | None = None


class AppointmentFound(_Message, tag="appointment_found", frozen=True):
    """The code of an `AppointmentCheck` opens this appointment, at this cabin, now: the cabin
    greets the patient by name and asks them to confirm their birth date. The code is not
    used yet: the `QueueJoin` that names `appointment_id` uses it."""

    in_reply_to: Id
    appointment_id: Id
    patient: PatientSummary
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    """The cabin's IANA time zone, where the slot is shown ("Europe/Paris")."""
    doctor: Id | None = None
    doctor_name: ShortText | None = None


class AppointmentRefused(_Message, tag="appointment_refused", frozen=True):
    """The code of an `AppointmentCheck` opens nothing here now (see `AppointmentRefusal`)."""

    in_reply_to: Id
    reason: AppointmentRefusal
    retry_after_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] | None = None


class TodaysAppointments(_Message, tag="todays_appointments", frozen=True):
    """The cabin's active appointments of its day (`day`, in `timezone`), for checking codes
    while the hub cannot be reached. Sent after the cabin's hello, when they change, and after
    the cabin's midnight; each replaces the one before, and the cabin forgets it after `day`."""

    day: date
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    entries: Annotated[list[TodaysAppointment], msgspec.Meta(max_length=500)]


class CallAccepted(_Message, tag="call_accepted", frozen=True):
    """A doctor takes the patient; the call starts. The cabin then sends the offer.

    The cabin's copy has no `patient`; the doctor's console gets who the patient is."""

    consultation_id: Id
    doctor: DoctorInfo
    ice_servers: Annotated[list[IceServer], msgspec.Meta(max_length=8)] = []
    ice_transport_policy: IceTransportPolicy = IceTransportPolicy.ALL
    patient: PatientSummary | None = None


class QueuePosition(_Message, tag="queue_position", frozen=True):
    """Where the cabin's patient stands in the waiting room (1: next)."""

    consultation_id: Id
    position: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    estimated_wait_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] | None = None


class PatientHistory(_Message, tag="patient_history", frozen=True):
    """The earlier consultations of the patient of `consultation_id`, newest first."""

    consultation_id: Id
    entries: Annotated[list[PastConsultation], msgspec.Meta(max_length=200)]


class MeasureRequest(_Message, tag="measure_request", frozen=True):
    """The doctor asks for a measurement."""

    consultation_id: Id
    kind: VitalKind


class PrescriptionMessage(_Message, tag="prescription", frozen=True):
    """A prescription the hub has numbered and signed, to print in the cabin."""

    prescription_id: Id
    consultation_id: Id
    issued_at: UtcDatetime
    prescriber: DoctorInfo
    lines: Lines
    key_id: Id
    signature: Base64
    check_url: CheckUrl | None = None
    """The hub's page where a pharmacy checks this prescription (what its QR code holds)."""
    patient: PatientSummary | None = None
    """Who it is for, as the hub knew them when it signed: the signature covers it, so the
    check page shows the pharmacist the patient the doctor prescribed for."""


CHECK_CODE_CHARS: Final = 16
_TO_CROCKFORD: Final = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def check_code(signature: str) -> str:
    """The code that opens a prescription's check page (``?k=``), which the paper also prints
    as the signature's fingerprint: the first 16 characters of the Crockford base32 of the
    SHA-256 of the raw signature (``signature`` is its base64). `MalformedMessage` if the
    signature is not base64."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise MalformedMessage("the signature is not base64") from None
    encoded = base64.b32encode(hashlib.sha256(raw).digest()).decode("ascii")
    return encoded.translate(_TO_CROCKFORD)[:CHECK_CODE_CHARS]


APPOINTMENT_CODE_ITERATIONS: Final = 10_000
"""PBKDF2 rounds of a synced code's hash: a check at the cabin hashes the typed code once per
appointment of the day (a few milliseconds each, in a worker thread)."""


def appointment_code_hash(code: str, salt: bytes, iterations: int) -> bytes:
    """The hash of an appointment code that `TodaysAppointment` carries: PBKDF2-HMAC-SHA256 of
    its six ASCII digits with `salt`, 32 bytes."""
    return hashlib.pbkdf2_hmac("sha256", code.encode("ascii"), salt, iterations)


class PrescriptionDelivered(_Message, tag="prescription_delivered", frozen=True):
    """The cabin has acknowledged the prescription `prescription_id` (it has it, to print)."""

    prescription_id: Id
    consultation_id: Id
    delivered_at: UtcDatetime


class RecordAck(_Message, tag="record_ack", frozen=True):
    """The hub has stored the record `record_id`; `duplicate` if it already had it."""

    record_id: Id
    duplicate: bool = False


class AlertAck(_Message, tag="alert_ack", frozen=True):
    """Someone has taken charge of an alert, or dismissed it as a false alarm."""

    alert_id: Id
    acknowledged_by: Id
    acknowledged_at: UtcDatetime
    false_alarm: bool = False


class AlertEscalated(_Message, tag="alert_escalated", frozen=True):
    """Nobody acknowledged the alert `alert_id` in time: the doctors on duty are asked to act,
    and shown the number to call (`emergency_number`, the SAMU's 15 in France) and where the
    cabin is. Sent to every doctor's console and agent page; `AlertAck` ends it."""

    alert_id: Id
    cabin_id: Id
    kind: AlertKind
    severity: AlertSeverity
    raised_at: UtcDatetime
    escalated_at: UtcDatetime
    emergency_number: PhoneText
    cabin_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    consultation_id: Id | None = None


class AlertSummary(_Message, tag="alert_summary", frozen=True):
    """The open alerts a page is shown, in one bounded message: sent to an agent's page (its
    cabins' alerts) or a doctor's console (the escalated ones, and those of the cabin of its
    call) when it connects, instead of one message per alert. It replaces what the page
    showed; later alerts come one by one (`AlertMessage`, `AlertEscalated`, `AlertAck`)."""

    cabins: Annotated[list[CabinAlerts], msgspec.Meta(max_length=200)]
    """Cabins with escalated alerts first, then the most recently active, at most 200."""
    more_cabins: Count = 0
    """Cabins with open alerts left out of `cabins`."""
    emergency_number: PhoneText = ""


class WaitingRoom(_Message, tag="waiting_room", frozen=True):
    """The whole waiting room, sent to doctors' consoles whenever it changes."""

    entries: Annotated[list[WaitingEntry], msgspec.Meta(max_length=500)]


# doctor's console -> hub


class TakeConsultation(_Message, tag="take_consultation", frozen=True):
    """A doctor takes a patient from the waiting room."""

    consultation_id: Id


class PrescriptionDraft(_Message, tag="prescription_draft", frozen=True):
    """A prescription as the doctor wrote it, for the hub to number, sign and send."""

    consultation_id: Id
    lines: Lines


class ConsultationNotes(_Message, tag="consultation_notes", frozen=True):
    """The doctor's notes on the consultation; each field given replaces the stored one, a
    field left out (null) leaves it as it is. The hub sends the stored ones to the doctor's
    console when it takes the call up again (a reload, a reconnection)."""

    consultation_id: Id
    text: NotesText | None = None
    advice: NotesText | None = None
    """Advice for the patient, in words they understand: sent to the cabin, printed on their
    consultation summary (the notes stay between doctors)."""


class PatientAdvice(_Message, tag="patient_advice", frozen=True):
    """The doctor's advice for the patient, to print on their summary; each replaces the
    previous. Sent again until the cabin's `Ack` names it."""

    consultation_id: Id
    text: NotesText


# the call's data channel, both ways between cabin and doctor


class Heartbeat(_Message, tag="heartbeat", frozen=True):
    """Sent every second on the call's data channel; silence means the link is down."""

    sent_at: UtcDatetime


# signaling, both ways between cabin and doctor through the hub


class SdpOffer(_Message, tag="sdp_offer", frozen=True):
    """A WebRTC session description offer."""

    consultation_id: Id
    sdp: SdpText


class SdpAnswer(_Message, tag="sdp_answer", frozen=True):
    """A WebRTC session description answer."""

    consultation_id: Id
    sdp: SdpText


class IceCandidate(_Message, tag="ice_candidate", frozen=True):
    """A trickled ICE candidate; an empty `candidate` ends the candidates."""

    consultation_id: Id
    candidate: Annotated[str, msgspec.Meta(max_length=1024)]
    sdp_mid: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    sdp_mline_index: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None


class CallEnd(_Message, tag="call_end", frozen=True):
    """The call is over."""

    consultation_id: Id
    reason: CallEndReason


# --- unions --------------------------------------------------------------------------------------

Signaling: TypeAlias = SdpOffer | SdpAnswer | IceCandidate | CallEnd

CallChannel: TypeAlias = (
    ReadingMessage | MeasureRequest | PrescriptionMessage | Ack | Heartbeat | CallEnd
)
"""What travels on the call's data channel (peer to peer, never through the hub)."""

CabinToHub: TypeAlias = (
    CabinHello
    | QueueJoin
    | QueueLeave
    | AppointmentCheck
    | ReadingMessage
    | AlertMessage
    | AlertAck
    | RecordUpload
    | PrintStatus
    | CabinStatus
    | SelfTestReport
    | CallQuality
    | IceServersAsk
    | Ack
    | ErrorMessage
    | Signaling
)
HubToCabin: TypeAlias = (
    Welcome
    | IceServersGiven
    | Ack
    | ErrorMessage
    | CallAccepted
    | QueuePosition
    | AppointmentFound
    | AppointmentRefused
    | TodaysAppointments
    | MeasureRequest
    | PrescriptionMessage
    | PatientAdvice
    | RecordAck
    | AlertAck
    | Signaling
)
ConsoleToHub: TypeAlias = (
    TakeConsultation | PrescriptionDraft | ConsultationNotes | AlertAck | Ack | Signaling
)
HubToConsole: TypeAlias = (
    Welcome
    | ConsultationNotes
    | Ack
    | ErrorMessage
    | WaitingRoom
    | CallAccepted
    | PatientHistory
    | ReadingMessage
    | AlertMessage
    | AlertEscalated
    | AlertAck
    | AlertSummary
    | PrescriptionMessage
    | PrescriptionDelivered
    | Signaling
)
AgentToHub: TypeAlias = AlertAck | Ack
HubToAgent: TypeAlias = (
    Welcome
    | Ack
    | ErrorMessage
    | AlertMessage
    | AlertEscalated
    | AlertAck
    | AlertSummary
    | PrintStatus
)

Message: TypeAlias = (
    CabinHello
    | QueueJoin
    | QueueLeave
    | AppointmentCheck
    | ReadingMessage
    | AlertMessage
    | RecordUpload
    | PrintStatus
    | CabinStatus
    | SelfTestReport
    | CallQuality
    | IceServersAsk
    | IceServersGiven
    | AppointmentFound
    | AppointmentRefused
    | TodaysAppointments
    | Welcome
    | Ack
    | ErrorMessage
    | CallAccepted
    | QueuePosition
    | PatientHistory
    | MeasureRequest
    | PrescriptionMessage
    | PrescriptionDelivered
    | RecordAck
    | AlertAck
    | AlertEscalated
    | AlertSummary
    | WaitingRoom
    | TakeConsultation
    | PrescriptionDraft
    | ConsultationNotes
    | PatientAdvice
    | Heartbeat
    | SdpOffer
    | SdpAnswer
    | IceCandidate
    | CallEnd
)
"""Any message."""

MESSAGE_TYPES: Final[tuple[type[_Message], ...]] = get_args(Message)
TAGS: Final[dict[str, type[_Message]]] = {
    str(cls.__struct_config__.tag): cls for cls in MESSAGE_TYPES
}
"""Each message class by its `type` tag."""


# --- codec ---------------------------------------------------------------------------------------


class _TagProbe(msgspec.Struct, frozen=True):
    type: str


_TAG_DECODER: Final = msgspec.json.Decoder(_TagProbe)
_ENCODER: Final = msgspec.json.Encoder()
_ERROR_AT = re.compile(r"(?s)(?P<reason>.*) - at `(?P<path>\$[^`]*)`")
_MISSING_TAG = "Object missing required field `type`"


def encode(msg: Message) -> bytes:
    """Encode a message as JSON. Its constraints are not checked; the receiver's `decode` does."""
    return _ENCODER.encode(msg)


def decode(data: bytes | str, *, allowed: object = Message) -> Message:
    """Decode and validate one JSON message.

    `allowed` is a message class or a union of them (`CabinToHub`, ...); any other `type` is
    refused. Raises `UnknownMessage` if the `type` tag is missing, unknown or not allowed, and
    `MalformedMessage` for anything else wrong with the data.
    """
    try:
        msg: Message = _decoder(allowed).decode(data)
    except msgspec.ValidationError as exc:
        raise _validation_error(str(exc), data) from exc
    except msgspec.DecodeError as exc:
        raise MalformedMessage(_without_values(str(exc))) from exc
    except UnicodeError:  # msgspec lets bad UTF-8 inside a JSON string through as this
        raise MalformedMessage("the message is not valid UTF-8") from None
    except RecursionError:
        raise MalformedMessage("the message is nested too deep") from None
    return msg


@functools.lru_cache(maxsize=32)
def _decoder(allowed: object) -> msgspec.json.Decoder[Message]:
    """The decoder of `allowed`, built once per union."""
    members = get_args(allowed) or (allowed,)
    if not all(member in MESSAGE_TYPES for member in members):
        raise TypeError(f"allowed must be a message class or a union of them, not {allowed!r}")
    return msgspec.json.Decoder(allowed)


def _validation_error(text: str, data: bytes | str) -> UnknownMessage | MalformedMessage:
    """The error for msgspec's validation message `text`, without the offending value."""
    match = _ERROR_AT.fullmatch(text)
    reason, path = (match["reason"], match["path"]) if match else (text, None)
    if path is None and reason == _MISSING_TAG:
        return UnknownMessage("message has no `type` tag")
    if path == "$.type":
        tag = _tag_of(data) if reason.startswith("Invalid value") else None
        if tag is not None and tag in TAGS:
            return UnknownMessage(f"message type `{tag}` is not accepted here", tag=tag)
        return UnknownMessage("unknown message type")
    return MalformedMessage(_without_values(reason), path=path)


def _tag_of(data: bytes | str) -> str | None:
    """The `type` tag of `data`, or None if it cannot be read alone."""
    try:
        return _TAG_DECODER.decode(data).type
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None


def _without_values(reason: str) -> str:
    """msgspec's reason cut before its first quoted value, and bounded in length."""
    return re.split(r"\s*['\"]", reason, maxsplit=1)[0][:200]
