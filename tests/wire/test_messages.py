"""Round trips, validation errors and fuzzing of `wire.messages`."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire import (
    TAGS,
    Ack,
    AgentToHub,
    AlertAck,
    AlertEscalated,
    AlertKind,
    AlertMessage,
    AlertSeverity,
    AlertSummary,
    AppointmentCheck,
    AppointmentFound,
    AppointmentRefusal,
    AppointmentRefused,
    CabinAlerts,
    CabinHello,
    CabinStatus,
    CabinToHub,
    CallAccepted,
    CallChannel,
    CallEnd,
    CallEndReason,
    CallQuality,
    CallQualitySample,
    ConsoleToHub,
    ConsultationNotes,
    DoctorInfo,
    ErrorCode,
    ErrorMessage,
    Heartbeat,
    HubToAgent,
    HubToCabin,
    HubToConsole,
    IceCandidate,
    IceServer,
    IceServersAsk,
    IceServersGiven,
    IceTransportPolicy,
    InstrumentState,
    Language,
    LeaveReason,
    MalformedMessage,
    MeasureRequest,
    Message,
    OpenAlert,
    PaperLevel,
    PastConsultation,
    PastPrescription,
    PatientAdvice,
    PatientHistory,
    PatientSummary,
    PrescriptionDelivered,
    PrescriptionDraft,
    PrescriptionLine,
    PrescriptionMessage,
    PrintDocument,
    PrinterProblem,
    PrintState,
    PrintStatus,
    QueueJoin,
    QueueLeave,
    QueuePosition,
    ReadingMessage,
    RecordAck,
    RecordUpload,
    SdpAnswer,
    SdpOffer,
    SelfTestCheck,
    SelfTestOutcome,
    SelfTestReport,
    SelfTestResult,
    SelfTestTrigger,
    Sex,
    TakeConsultation,
    TodaysAppointment,
    TodaysAppointments,
    UnknownMessage,
    Vital,
    VitalKind,
    WaitingEntry,
    WaitingRoom,
    Welcome,
    WireError,
    appointment_code_hash,
    check_code,
    decode,
    encode,
)

# Hypothesis times each example (200 ms) and its data generation: no clock may fail a test.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)
BP = Vital(
    kind=VitalKind.BLOOD_PRESSURE,
    measured_at=NOW,
    device_id="bp-1",
    systolic_mmhg=120,
    diastolic_mmhg=80,
    mean_arterial_mmhg=93,
    pulse_bpm=72,
)
TEMPERATURE = Vital(
    kind=VitalKind.TEMPERATURE, measured_at=NOW, device_id="thermo-1", temperature_c=36.6
)
SPO2 = Vital(kind=VitalKind.SPO2, measured_at=NOW, device_id="ox-1", spo2_percent=98, pulse_bpm=72)
DOCTOR = DoctorInfo(
    display_name="Dr Claire Martin",
    specialty="General practice",
    registration_number="10101010101",
    photo="iVBORw0KGgo=",
)
PATIENT = PatientSummary(
    family_name="MARTIN", given_names="Jeanne", birth_date=date(1944, 5, 2), sex=Sex.FEMALE
)
LINE = PrescriptionLine(
    drug="Paracetamol 500 mg tablet",
    dose="1 tablet",
    frequency="3 times a day",
    duration="5 days",
    instructions="With water",
    renewals=1,
)
BUNDLE = msgspec.Raw(b'{"resourceType":"Bundle","type":"collection","entry":[]}')

SAMPLES: list[Message] = [
    CabinHello(
        msg_id="m1", cabin_id="cabin-07", token="t0k3n-abcdefghijklmnop", software_version="1.2.3"
    ),
    QueueJoin(
        msg_id="m2",
        consultation_id="c-1",
        language=Language.FR,
        patient=PATIENT,
        reason="Toux depuis trois jours",
        age_years=54,
        vitals=[BP, TEMPERATURE],
    ),
    QueueLeave(msg_id="m3", consultation_id="c-1", reason=LeaveReason.INACTIVITY),
    ReadingMessage(msg_id="m4", consultation_id="c-1", reading=SPO2),
    AlertMessage(
        msg_id="m5",
        alert_id="a-1",
        cabin_id="cabin-07",
        kind=AlertKind.FALL,
        severity=AlertSeverity.CRITICAL,
        raised_at=NOW,
        confidence=0.87,
        consultation_id="c-1",
    ),
    RecordUpload(
        msg_id="m6", record_id="r-1", consultation_id="c-1", created_at=NOW, bundle=BUNDLE
    ),
    PrintStatus(
        msg_id="m7",
        job_id="j-1",
        document=PrintDocument.PRESCRIPTION,
        state=PrintState.FAILED,
        problem=PrinterProblem.OUT_OF_PAPER,
        consultation_id="c-1",
    ),
    CabinStatus(
        msg_id="m7s",
        sent_at=NOW,
        software_version="0.7.0",
        instruments=[
            InstrumentState(
                instrument_id="bp-1", kind="blood_pressure", connected=True, battery_percent=40
            )
        ],
        printer_problem=PrinterProblem.PAPER_LOW,
        paper=PaperLevel.LOW,
        disk_free_mb=12000,
    ),
    SelfTestReport(
        msg_id="m7t",
        report_id="st-1",
        trigger=SelfTestTrigger.NIGHTLY,
        started_at=NOW,
        finished_at=NOW,
        results=[
            SelfTestResult(
                check=SelfTestCheck.CAMERA,
                outcome=SelfTestOutcome.FAILED,
                detail="frozen: 30 identical frames",
                duration_ms=2100,
            ),
            SelfTestResult(
                check=SelfTestCheck.INSTRUMENT, outcome=SelfTestOutcome.PASSED, subject="bp-1"
            ),
        ],
    ),
    CallQuality(
        msg_id="m7q",
        consultation_id="c-1",
        sent_at=NOW,
        sample=CallQualitySample(
            sent_kbps=850.0, received_kbps=920.5, loss_percent=0.4, round_trip_ms=48.0
        ),
    ),
    IceServersAsk(msg_id="m7i"),
    IceServersGiven(
        msg_id="m7j",
        in_reply_to="m7i",
        ice_servers=[
            IceServer(
                urls=["turn:127.0.0.1:3478?transport=udp"],
                username="1900000000:cabin-07",
                credential="c2VjcmV0",
            )
        ],
    ),
    Welcome(msg_id="m8", protocol_version=1, hub_version="0.1.0+dev.3", server_time=NOW),
    Ack(msg_id="m9", ack_of="m4"),
    ErrorMessage(msg_id="m10", code=ErrorCode.UNAUTHORIZED, text="Unknown cabin", in_reply_to="m1"),
    CallAccepted(
        msg_id="m11",
        consultation_id="c-1",
        doctor=DOCTOR,
        ice_servers=[
            IceServer(
                urls=["turn:127.0.0.1:3478?transport=udp"],
                username="1900000000:cabin-07",
                credential="c2VjcmV0",
            )
        ],
        ice_transport_policy=IceTransportPolicy.RELAY,
        patient=PATIENT,
    ),
    QueuePosition(msg_id="m23", consultation_id="c-1", position=2, estimated_wait_s=300),
    PatientHistory(
        msg_id="m24",
        consultation_id="c-1",
        entries=[
            PastConsultation(
                consultation_id="c-0",
                cabin_id="cabin-07",
                started_at=NOW - timedelta(days=30),
                ended_at=NOW - timedelta(days=30) + timedelta(minutes=14),
                doctor=DoctorInfo(display_name="Dr Paul Durand", specialty="General practice"),
                reason="Fever",
                vitals=[TEMPERATURE],
                notes="Viral; fluids.",
                prescriptions=[
                    PastPrescription(
                        prescription_id="p-1", issued_at=NOW - timedelta(days=30), lines=[LINE]
                    )
                ],
            )
        ],
    ),
    ConsultationNotes(
        msg_id="m25",
        consultation_id="c-1",
        text="Cough for 3 days, no fever.",
        advice="Drink water; come back if the fever rises above 38.5 °C.",
    ),
    PatientAdvice(msg_id="m27", consultation_id="c-1", text="Buvez de l'eau."),
    Heartbeat(msg_id="m26", sent_at=NOW),
    MeasureRequest(msg_id="m12", consultation_id="c-1", kind=VitalKind.BLOOD_PRESSURE),
    PrescriptionMessage(
        msg_id="m13",
        prescription_id="p-2025-0001",
        consultation_id="c-1",
        issued_at=NOW,
        prescriber=DOCTOR,
        lines=[
            LINE,
            PrescriptionLine(drug="Ibuprofen", dose="200 mg", frequency="x2", duration="3 d"),
        ],
        key_id="hub-key-1",
        signature="MEUCIQDx+/abc==",
    ),
    PrescriptionDelivered(
        msg_id="m27",
        prescription_id="p-2025-0001",
        consultation_id="c-1",
        delivered_at=NOW + timedelta(seconds=3),
    ),
    RecordAck(msg_id="m14", record_id="r-1", duplicate=True),
    AlertAck(
        msg_id="m15",
        alert_id="a-1",
        acknowledged_by="agent-3",
        acknowledged_at=NOW + timedelta(seconds=40),
        false_alarm=True,
    ),
    AlertEscalated(
        msg_id="m15e",
        alert_id="a-1",
        cabin_id="cabin-7",
        kind=AlertKind.FALL,
        severity=AlertSeverity.CRITICAL,
        raised_at=NOW,
        escalated_at=NOW + timedelta(seconds=120),
        emergency_number="15",
        cabin_name="Mairie de Saint-Flour",
        consultation_id="c-1",
    ),
    AlertSummary(
        msg_id="m15s",
        cabins=[
            CabinAlerts(
                cabin_id="cabin-7",
                cabin_name="Mairie de Saint-Flour",
                open_count=2,
                raised_count=314,
                escalated_count=1,
                latest=[
                    OpenAlert(
                        alert_id="a-1",
                        kind=AlertKind.FALL,
                        severity=AlertSeverity.CRITICAL,
                        raised_at=NOW,
                        repeat_count=313,
                        last_raised_at=NOW + timedelta(seconds=300),
                        confidence=0.9,
                        consultation_id="c-1",
                        detail="sol 2.1 s",
                        escalated_at=NOW + timedelta(seconds=60),
                    ),
                    OpenAlert(
                        alert_id="a-2",
                        kind=AlertKind.PRINTER,
                        severity=AlertSeverity.WARNING,
                        raised_at=NOW,
                    ),
                ],
            )
        ],
        more_cabins=0,
        emergency_number="15",
    ),
    WaitingRoom(
        msg_id="m16",
        entries=[
            WaitingEntry(
                consultation_id="c-1",
                cabin_id="cabin-07",
                joined_at=NOW,
                language=Language.EN,
                reason="Cough",
                age_years=54,
                sex=Sex.FEMALE,
                vitals=[TEMPERATURE],
                taken_by="dr.martin",
                taken_by_name="Dr Claire Martin",
                cabin_online=False,
            )
        ],
    ),
    TakeConsultation(msg_id="m17", consultation_id="c-1"),
    PrescriptionDraft(msg_id="m18", consultation_id="c-1", lines=[LINE]),
    SdpOffer(msg_id="m19", consultation_id="c-1", sdp="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"),
    SdpAnswer(msg_id="m20", consultation_id="c-1", sdp="v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\n"),
    IceCandidate(
        msg_id="m21",
        consultation_id="c-1",
        candidate="candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
        sdp_mid="0",
        sdp_mline_index=0,
    ),
    CallEnd(msg_id="m22", consultation_id="c-1", reason=CallEndReason.COMPLETED),
    AppointmentCheck(msg_id="m30", code="042917"),
    AppointmentFound(
        msg_id="m31",
        in_reply_to="m30",
        appointment_id="ap-1",
        patient=PATIENT,
        starts_at=NOW,
        ends_at=NOW + timedelta(minutes=15),
        timezone="Europe/Paris",
        doctor="dr.martin",
        doctor_name="Dr Claire Martin",
    ),
    AppointmentRefused(
        msg_id="m32",
        in_reply_to="m30",
        reason=AppointmentRefusal.TOO_MANY_TRIES,
        retry_after_s=600,
    ),
    TodaysAppointments(
        msg_id="m33",
        day=date(2026, 11, 23),
        timezone="Europe/Paris",
        entries=[
            TodaysAppointment(
                appointment_id="ap-1",
                code_salt="c2FsdHNhbHRzYWx0c2FsdA==",
                code_hash=base64.b64encode(
                    appointment_code_hash("042917", b"saltsaltsaltsalt", 10)
                ).decode(),
                code_iterations=10,
                patient=PATIENT,
                starts_at=NOW,
                ends_at=NOW + timedelta(minutes=15),
                valid_from=NOW - timedelta(minutes=30),
                valid_until=NOW + timedelta(hours=12),
                doctor="dr.martin",
                doctor_name="Dr Claire Martin",
            )
        ],
    ),
]
DIRECTIONS = [
    CabinToHub,
    HubToCabin,
    ConsoleToHub,
    HubToConsole,
    AgentToHub,
    HubToAgent,
    CallChannel,
]


def tag_of(msg: Message) -> str:
    return str(msg.__struct_config__.tag)


def plain(msg: Message) -> dict[str, Any]:
    """The message as the JSON object it is sent as."""
    result: dict[str, Any] = json.loads(encode(msg))
    return result


def sample(cls: type[Message]) -> dict[str, Any]:
    return plain(next(m for m in SAMPLES if type(m) is cls))


def dumps(obj: object) -> bytes:
    return json.dumps(obj).encode()


# --- definitions ---------------------------------------------------------------------------------


def test_samples_cover_every_message() -> None:
    assert {type(m) for m in SAMPLES} == set(get_args(Message))
    assert len(SAMPLES) == len(get_args(Message))


def test_tags_are_unique_snake_case() -> None:
    tags = [tag_of(m) for m in SAMPLES]
    assert len(set(tags)) == len(tags)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", tag) for tag in tags)
    assert {tag_of(m): type(m) for m in SAMPLES} == TAGS


def test_every_message_travels_some_direction() -> None:
    members = [set(get_args(d) or (d,)) for d in DIRECTIONS]
    assert set().union(*members) == set(get_args(Message))


def test_messages_are_frozen() -> None:
    with pytest.raises(AttributeError):
        SAMPLES[0].msg_id = "other"  # type: ignore[misc]


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("msg", SAMPLES, ids=tag_of)
def test_round_trip(msg: Message) -> None:
    data = encode(msg)
    assert plain(msg)["type"] == tag_of(msg)
    assert decode(data) == msg
    assert decode(data.decode()) == msg
    assert decode(data, allowed=type(msg)) == msg


@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: str(d)[:40])
def test_round_trip_in_direction(direction: object) -> None:
    members = get_args(direction) or (direction,)
    for msg in SAMPLES:
        if type(msg) in members:
            assert decode(encode(msg), allowed=direction) == msg


def test_defaults_fill_optional_fields() -> None:
    msg = decode(
        b'{"type":"queue_join","msg_id":"m","consultation_id":"c","language":"en",'
        b'"patient":{"family_name":"MARTIN","given_names":"Jeanne","birth_date":"1944-05-02"}}'
    )
    assert msg == QueueJoin(
        msg_id="m",
        consultation_id="c",
        language=Language.EN,
        patient=PatientSummary(
            family_name="MARTIN", given_names="Jeanne", birth_date=date(1944, 5, 2)
        ),
    )


def test_a_waiting_entry_of_an_older_hub_reads_as_online_and_unnamed() -> None:
    entry = sample(WaitingRoom)["entries"][0]
    for field in ("cabin_online", "taken_by", "taken_by_name"):
        del entry[field]
    msg = decode(dumps({"type": "waiting_room", "msg_id": "m", "entries": [entry]}))
    assert isinstance(msg, WaitingRoom)
    assert msg.entries[0].cabin_online is True
    assert msg.entries[0].taken_by is None and msg.entries[0].taken_by_name is None


def test_other_offsets_are_the_same_instant() -> None:
    data = sample(AlertMessage) | {"raised_at": "2025-03-14T10:26:53.589+01:00"}
    msg = decode(dumps(data))
    assert isinstance(msg, AlertMessage)
    assert msg.raised_at == NOW


@st.composite
def vitals(draw: st.DrawFn) -> Vital:
    measured_at = draw(st.datetimes(timezones=st.just(UTC)))
    kind = draw(st.sampled_from(VitalKind))
    pulse = draw(st.none() | st.floats(0, 300))
    if kind is VitalKind.BLOOD_PRESSURE:
        diastolic = draw(st.floats(0, 400))
        return Vital(
            kind=kind,
            measured_at=measured_at,
            device_id="bp",
            systolic_mmhg=draw(st.floats(diastolic, 400)),
            diastolic_mmhg=diastolic,
            mean_arterial_mmhg=draw(st.none() | st.floats(0, 400)),
            pulse_bpm=pulse,
        )
    if kind is VitalKind.TEMPERATURE:
        temperature = draw(st.floats(20, 50))
        return Vital(kind=kind, measured_at=measured_at, device_id="t", temperature_c=temperature)
    if kind is VitalKind.SPO2:
        spo2 = draw(st.floats(0, 100))
        return Vital(
            kind=kind, measured_at=measured_at, device_id="o", spo2_percent=spo2, pulse_bpm=pulse
        )
    pulse = draw(st.floats(0, 300))
    return Vital(kind=kind, measured_at=measured_at, device_id="p", pulse_bpm=pulse)


@UNTIMED
@given(vital=vitals(), consultation_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z"))
def test_reading_round_trip_property(vital: Vital, consultation_id: str) -> None:
    msg = ReadingMessage(msg_id="m", consultation_id=consultation_id, reading=vital)
    assert decode(encode(msg), allowed=ReadingMessage) == msg


# --- unknown messages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"teleport","msg_id":"m"}',
        b'{"type":"","msg_id":"m"}',
        b'{"type":"Reading","msg_id":"m"}',
        b'{"type":5,"msg_id":"m"}',
        b'{"type":null,"msg_id":"m"}',
    ],
)
def test_unknown_tag(data: bytes) -> None:
    with pytest.raises(UnknownMessage) as info:
        decode(data)
    assert info.value.tag is None
    assert "teleport" not in str(info.value)


def test_missing_tag() -> None:
    with pytest.raises(UnknownMessage, match="no `type` tag"):
        decode(b'{"msg_id":"m","ack_of":"m2"}')


def test_known_tag_from_the_wrong_direction() -> None:
    with pytest.raises(UnknownMessage, match="`welcome` is not accepted") as info:
        decode(encode(next(m for m in SAMPLES if isinstance(m, Welcome))), allowed=CabinToHub)
    assert info.value.tag == "welcome"
    with pytest.raises(UnknownMessage):
        decode(encode(SAMPLES[0]), allowed=Ack)


def test_allowed_must_be_messages() -> None:
    with pytest.raises(TypeError):
        decode(b"{}", allowed=Vital)
    with pytest.raises(TypeError):
        decode(b"{}", allowed=Ack | int)


# --- malformed messages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"{", b"not json", b"\xff\xfe", b'{"type":"ack",}', "{\"type\": 'ack'}", b"[1"]
)
def test_invalid_json(data: bytes | str) -> None:
    with pytest.raises(MalformedMessage) as info:
        decode(data)
    assert isinstance(info.value.__cause__, msgspec.DecodeError)


@pytest.mark.parametrize("data", [b"[]", b"5", b'"ack"', b"null"])
def test_not_an_object(data: bytes) -> None:
    with pytest.raises(MalformedMessage, match="Expected `object`"):
        decode(data)


def with_reading(**fields: object) -> bytes:
    data = sample(ReadingMessage)
    data["reading"] = {**data["reading"], **fields}
    return dumps({k: v for k, v in data.items() if v is not None})


def with_fields(cls: type[Message], **fields: object) -> bytes:
    return dumps(sample(cls) | fields)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        # wrong types
        (with_fields(Ack, ack_of=5), "$.ack_of"),
        (with_fields(RecordAck, duplicate="yes"), "$.duplicate"),
        (with_fields(QueueJoin, vitals={}), "$.vitals"),
        (with_reading(spo2_percent="98"), "$.reading.spo2_percent"),
        (with_fields(AlertMessage, raised_at=1741944413), "$.raised_at"),
        # out of range or badly formed
        (with_reading(spo2_percent=100.5), "$.reading.spo2_percent"),
        (with_reading(pulse_bpm=-1), "$.reading.pulse_bpm"),
        (with_fields(AlertMessage, confidence=1.01), "$.confidence"),
        (with_fields(QueueJoin, age_years=131), "$.age_years"),
        (with_fields(QueueJoin, reason="x" * 501), "$.reason"),
        (with_fields(QueueJoin, language="de"), "$.language"),
        (with_fields(QueueJoin, vitals=[plain(SAMPLES[3])["reading"]] * 33), "$.vitals"),
        (with_fields(Ack, ack_of=""), "$.ack_of"),
        (with_fields(Ack, ack_of="x" * 65), "$.ack_of"),
        (with_fields(Ack, ack_of="a b"), "$.ack_of"),
        (with_fields(Ack, msg_id="-m"), "$.msg_id"),
        (with_fields(CabinHello, token="short"), "$.token"),
        (with_fields(CabinHello, software_version="1.2"), "$.software_version"),
        (with_fields(CabinHello, protocol_version=0), "$.protocol_version"),
        (
            with_fields(CallAccepted, doctor={"display_name": "", "specialty": "GP"}),
            "$.doctor.display_name",
        ),
        (
            with_fields(
                CallAccepted, doctor={**sample(CallAccepted)["doctor"], "photo": "not base64!"}
            ),
            "$.doctor.photo",
        ),
        (
            with_fields(CallAccepted, ice_servers=[{"urls": ["http://stun.example"]}]),
            "$.ice_servers[0].urls[0]",
        ),
        (
            with_fields(QueueJoin, patient={**sample(QueueJoin)["patient"], "birth_date": "1944"}),
            "$.patient.birth_date",
        ),
        (with_fields(PrescriptionDraft, lines=[]), "$.lines"),
        (
            with_fields(
                PrescriptionDraft, lines=[{**json.loads(msgspec.json.encode(LINE)), "renewals": -1}]
            ),
            "$.lines[0].renewals",
        ),
        (with_fields(PrescriptionMessage, signature="not base64!"), "$.signature"),
        (with_fields(SdpOffer, sdp=""), "$.sdp"),
        (with_fields(IceCandidate, sdp_mline_index=-1), "$.sdp_mline_index"),
        # naive or invalid datetimes
        (with_reading(measured_at="2025-03-14T09:26:53"), "$.reading.measured_at"),
        (with_fields(Welcome, server_time="2025-03-14 09:26"), "$.server_time"),
        (with_fields(AlertAck, acknowledged_at="yesterday"), "$.acknowledged_at"),
        # missing fields
        (dumps({k: v for k, v in sample(Ack).items() if k != "ack_of"}), None),
        (dumps({k: v for k, v in sample(Ack).items() if k != "msg_id"}), None),
        # unknown fields
        (with_fields(Ack, extra=1), None),
        (with_reading(blood_type="O+"), "$.reading"),
    ],
)
def test_malformed(data: bytes, path: str | None) -> None:
    with pytest.raises(MalformedMessage) as info:
        decode(data)
    assert info.value.path == path
    assert isinstance(info.value.__cause__, msgspec.ValidationError)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "blood_pressure", "systolic_mmhg": 120},
        {"kind": "blood_pressure", "systolic_mmhg": 80, "diastolic_mmhg": 120},
        {"kind": "temperature", "spo2_percent": 98},
        {"kind": "temperature", "temperature_c": 36.6, "pulse_bpm": 70},
        {"kind": "spo2", "spo2_percent": None, "pulse_bpm": 70},
        {"kind": "pulse", "spo2_percent": None, "pulse_bpm": None},
    ],
)
def test_vital_fields_must_match_kind(fields: dict[str, object]) -> None:
    data = sample(ReadingMessage)
    data["reading"] = {k: v for k, v in (data["reading"] | fields).items() if v is not None}
    with pytest.raises(MalformedMessage) as info:
        decode(dumps(data))
    assert info.value.path == "$.reading"


@pytest.mark.parametrize("bundle", [[], "Bundle", 1, {"resourceType": "Patient"}, {}])
def test_record_bundle_must_be_a_fhir_bundle(bundle: object) -> None:
    with pytest.raises(MalformedMessage, match="bundle"):
        decode(with_fields(RecordUpload, bundle=bundle))


def test_errors_name_the_path_not_the_value() -> None:
    secrets = [
        (with_reading(spo2_percent=123.456), "123.456"),
        (with_reading(kind="secret-kind"), "secret-kind"),
        (with_fields(QueueJoin, reason="Mal de tête " * 60), "tête"),
        (with_fields(Ack, ack_of="confidential value"), "confidential"),
        (with_fields(QueueJoin, language="secret'lang"), "secret"),
    ]
    for data, secret in secrets:
        with pytest.raises(MalformedMessage) as info:
            decode(data)
        assert secret not in str(info.value)
        assert info.value.path is not None
        assert info.value.path in str(info.value)


# --- fuzzing -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


def decode_or_wire_error(data: bytes | str) -> None:
    try:
        msg = decode(data)
    except WireError:
        return
    assert type(msg) in TAGS.values()


@UNTIMED
@given(st.binary(max_size=600))
def test_fuzz_bytes(data: bytes) -> None:
    decode_or_wire_error(data)


@UNTIMED
@given(st.text(max_size=300))
def test_fuzz_text(data: str) -> None:
    decode_or_wire_error(data)


@UNTIMED
@given(
    msg=st.sampled_from(SAMPLES),
    edits=st.lists(st.tuples(st.text(max_size=12), json_values), min_size=1, max_size=3),
    data=st.data(),
)
def test_fuzz_mutated_messages(
    msg: Message, edits: list[tuple[str, object]], data: st.DataObject
) -> None:
    obj = plain(msg)
    for key, value in edits:
        target = data.draw(st.sampled_from([key, *obj]))
        obj[target] = value
    decode_or_wire_error(dumps(obj))
    decode_or_wire_error(dumps(obj)[: data.draw(st.integers(0, 200))])


def test_bad_utf8_inside_a_string_is_a_malformed_message() -> None:
    with pytest.raises(MalformedMessage):
        decode(b'{"type":"ack","msg_id":"\x80a","ack_of":"b"}')


def test_the_check_code_is_crockford_base32_of_the_signature_digest() -> None:
    signature = base64.b64encode(bytes(range(64))).decode()
    digest = hashlib.sha256(bytes(range(64))).digest()
    top = int.from_bytes(digest, "big") >> (256 - 80)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    expected = "".join(alphabet[(top >> (5 * (15 - i))) & 31] for i in range(16))
    assert check_code(signature) == expected
    with pytest.raises(MalformedMessage):
        check_code("not base64!")


@pytest.mark.parametrize("code", ["04291", "0429170", "04291a", " 42917", ""])
def test_an_appointment_check_carries_six_digits(code: str) -> None:
    data = dumps({**sample(AppointmentCheck), "code": code})
    with pytest.raises(MalformedMessage) as caught:
        decode(data, allowed=CabinToHub)
    assert caught.value.path == "$.code"
    assert code not in str(caught.value) or code == ""


def test_the_code_hash_is_pbkdf2_sha256() -> None:
    expected = hashlib.pbkdf2_hmac("sha256", b"042917", b"salt", 3)
    assert appointment_code_hash("042917", b"salt", 3) == expected
    assert appointment_code_hash("042918", b"salt", 3) != expected
    assert appointment_code_hash("042917", b"other", 3) != expected
