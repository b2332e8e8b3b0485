"""Values to store: every field set, names beyond ASCII, times with microseconds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import wire
from hub.booking import (
    Appointment,
    AppointmentStatus,
    BookingChannel,
    Notification,
    NotificationChannel,
    NotificationKind,
)
from hub.storage import (
    AgentRecord,
    AlertRecord,
    ConsultationRecord,
    ConsultationRecordUpload,
    ConsultationStatus,
    DoctorRecord,
    PrescriptionRecord,
)

NOW = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
"""A time with microseconds: each backend must give it back to the microsecond."""
KEY = "łukaszewska|zoé|1938-05-02"
"""A patient's match key (`hub.patients.match_key` of `PATIENT`)."""
PATIENT = wire.PatientSummary(
    family_name="Łukaszewska-Groß",
    given_names="Zoé Ærin",
    birth_date=date(1938, 5, 2),
    sex=wire.Sex.FEMALE,
)
OTHER_PATIENT = wire.PatientSummary(
    family_name="Quélennec", given_names="Yves", birth_date=date(1951, 12, 31), sex=wire.Sex.MALE
)
PHOTO = bytes(range(256)) * 40
"""Every byte value, NUL included."""
PASSWORD_HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"


def assert_utc(moment: datetime | None) -> None:
    """Times come back aware, in UTC."""
    assert moment is not None
    assert moment.utcoffset() == timedelta(0), moment


def doctor(username: str = "dr.é", *, created_at: datetime = NOW) -> DoctorRecord:
    return DoctorRecord(
        username=username,
        password_hash=PASSWORD_HASH,
        display_name="Dr Łucja Weiß",
        specialty="Médecine générale",
        registration_number="10101010101",
        photo=PHOTO,
        failed_attempts=2,
        locked_until=NOW + timedelta(minutes=5, microseconds=7),
        created_at=created_at,
        address="3 rue de l'Église\n29000 Quimper",
        phone="+33 2 98 00 00 00",
        email="lucja.weiss@example.org",
    )


def agent(
    username: str = "agent.ß",
    *,
    cabins: tuple[str, ...] = ("cabin-2", "cabin-1"),
    all_cabins: bool = False,
) -> AgentRecord:
    return AgentRecord(
        username=username,
        password_hash=PASSWORD_HASH,
        display_name="Maïwenn Le Bihan",
        cabins=cabins,
        all_cabins=all_cabins,
        failed_attempts=0,
        locked_until=None,
        created_at=NOW,
    )


def consultation(
    consultation_id: str,
    *,
    cabin_id: str = "cabin-1",
    joined_at: datetime = NOW,
    who: wire.PatientSummary = PATIENT,
    match_key: str = KEY,
    status: ConsultationStatus = ConsultationStatus.WAITING,
) -> ConsultationRecord:
    return ConsultationRecord(
        consultation_id=consultation_id,
        cabin_id=cabin_id,
        patient=who,
        match_key=match_key,
        reason="fièvre, toux 🤒",
        age_years=88,
        sex=wire.Sex.FEMALE,
        language=wire.Language.FR,
        status=status,
        doctor=None,
        joined_at=joined_at,
    )


def prescription(
    prescription_id: str,
    consultation_id: str,
    *,
    issued_at: datetime = NOW,
    msg_id: str | None = None,
) -> PrescriptionRecord:
    return PrescriptionRecord(
        prescription_id=prescription_id,
        consultation_id=consultation_id,
        doctor="dr.é",
        issued_at=issued_at,
        prescriber=wire.DoctorInfo(
            display_name="Dr Łucja Weiß",
            specialty="Médecine générale",
            registration_number="10101010101",
            address="3 rue de l'Église\n29000 Quimper",
            phone="+33 2 98 00 00 00",
            email="lucja.weiss@example.org",
        ),
        lines=(
            wire.PrescriptionLine(
                drug="Paracétamol 500 mg",
                dose="1 comprimé",
                frequency="3 fois par jour",
                duration="5 jours",
                instructions="Au cours des repas ; pas plus de 3 g/jour.",
                renewals=1,
            ),
            wire.PrescriptionLine(
                drug="Sérum physiologique", dose="1 dose", frequency="matin", duration="7 j"
            ),
        ),
        key_id="key-2026",
        signature="TUVEU0lHTkFUVVJF" * 4,
        msg_id=msg_id or f"msg-{prescription_id}",
        check_url=f"https://hub.example.org/check/{prescription_id}",
        patient=PATIENT,
    )


def record(
    record_id: str,
    consultation_id: str,
    *,
    cabin_id: str = "cabin-1",
    received_at: datetime = NOW,
    started_at: datetime | None = NOW - timedelta(hours=1),
    match_key: str | None = KEY,
    bundle: bytes | None = None,
    digest: bytes | None = b'{"reason":"fi\xc3\xa8vre"}',
) -> ConsultationRecordUpload:
    return ConsultationRecordUpload(
        record_id=record_id,
        consultation_id=consultation_id,
        cabin_id=cabin_id,
        created_at=received_at - timedelta(seconds=3, microseconds=1),
        received_at=received_at,
        bundle=bundle if bundle is not None else f'{{"id":"{record_id}","n":"é"}}'.encode(),
        match_key=match_key,
        started_at=started_at,
        digest=digest,
    )


def alert(
    alert_id: str,
    *,
    cabin_id: str = "cabin-1",
    kind: wire.AlertKind = wire.AlertKind.FALL,
    received_at: datetime = NOW,
    raised_at: datetime | None = None,
) -> AlertRecord:
    return AlertRecord(
        alert_id=alert_id,
        cabin_id=cabin_id,
        kind=kind,
        severity=wire.AlertSeverity.CRITICAL,
        confidence=0.1 + 0.2,
        detail="chute détectée près de l'écran — Łazienka",
        consultation_id="c-1",
        raised_at=raised_at or received_at - timedelta(seconds=1),
        received_at=received_at,
        cabin_name="Cabine de Plœmeur",
    )


SLOT = datetime(2026, 12, 1, 8, 15, 0, 250001, tzinfo=UTC)
"""An appointment's slot (09:15 in Paris), with microseconds."""


def appointment(
    appointment_id: str,
    *,
    cabin_id: str = "cabin-1",
    starts_at: datetime = SLOT,
    code: str = "042917",
    who: wire.PatientSummary = PATIENT,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    doctor: str | None = "dr.é",
) -> Appointment:
    """A booking by phone with every field set (the ones a later change sets left empty)."""
    return Appointment(
        appointment_id=appointment_id,
        cabin_id=cabin_id,
        doctor=doctor,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=15),
        status=status,
        patient=who,
        code=code,
        channel=BookingChannel.PHONE,
        booked_at=NOW - timedelta(days=3, microseconds=11),
        booked_by="agent.ß",
        phone="+33612345678",
        email="zoe.lukaszewska@example.org",
        language=wire.Language.EN,
        reason="renouvellement d'ordonnance — asthme",
        consent_at=NOW - timedelta(days=3, microseconds=13),
    )


def notification(
    notification_id: str,
    appointment_id: str,
    *,
    kind: NotificationKind = NotificationKind.CONFIRMATION,
    due_at: datetime = NOW,
    channel: NotificationChannel = NotificationChannel.EMAIL,
) -> Notification:
    return Notification(
        notification_id=notification_id,
        appointment_id=appointment_id,
        channel=channel,
        kind=kind,
        due_at=due_at,
    )
