"""Confirmations and reminders (`hub.notifications`): the planner, the FR/EN templates, and
the outbox worker on a real SQLCipher file (and two replicas on one real PostgreSQL), sending
to a real SMTP server (aiosmtpd, `simulators.mailbox`) and to the SMS recorder process."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

import wire
from fleet.servers import PostgresServer
from hub import bookings
from hub.booking import (
    Appointment,
    AppointmentStatus,
    BookingChannel,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationState,
)
from hub.config import load_hub_config
from hub.mail import SmtpSender, SmtpSettings
from hub.notifications import (
    OUTBOX,
    MessageContext,
    NotificationPlanner,
    OutboxSettings,
    OutboxWorker,
    render_email,
    render_sms,
)
from hub.schedule import CabinCalendar
from hub.services import SERVICES
from hub.sms import HttpSmsProvider, SmsError, gsm7_length
from hub.sqlite_storage import SqliteStorage
from hub.storage import DoctorRecord, Storage
from simulators.mailbox import Mailbox, appointment_code, free_port
from simulators.sms_recorder import read_records
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import FakeClock, running_hub
from tests.hub.pg_backend import fresh_database, open_postgres_storage, postgres_server

__all__ = ["postgres_server"]

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SLOT = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)  # Monday 14 December, 09:00 in Paris
PUBLIC_URL = "https://rdv.example.fr"
ALL_KINDS = {
    NotificationKind.CONFIRMATION,
    NotificationKind.REMINDER_DAY,
    NotificationKind.REMINDER_HOUR,
}
TOKEN = "tok-recorder"

_numbers = iter(range(1, 10_000))


def appointment(
    *,
    starts_at: datetime = SLOT,
    language: wire.Language = wire.Language.FR,
    email: str = "yvonne@example.org",
    phone: str = "+33612345678",
    code: str | None = None,
) -> Appointment:
    number = next(_numbers)
    return Appointment(
        appointment_id=f"apt-{number}",
        cabin_id="cab-murat",
        doctor="dr.martin",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=15),
        status=AppointmentStatus.BOOKED,
        patient=wire.PatientSummary(
            family_name="Quélennec",
            given_names="Yvonne",
            birth_date=datetime(1938, 5, 2).date(),
            sex=wire.Sex.FEMALE,
        ),
        code=code or f"{400000 + number:06d}",
        channel=BookingChannel.ONLINE,
        booked_at=NOW,
        phone=phone,
        email=email,
        language=language,
        consent_at=NOW,
    )


def doctor() -> DoctorRecord:
    return DoctorRecord(
        username="dr.martin",
        password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        display_name="Dr Anne Martin",
        specialty="Médecine générale",
        registration_number=None,
        photo=None,
        failed_attempts=0,
        locked_until=None,
        created_at=NOW,
    )


CONTEXT = MessageContext(
    town="Murat", timezone="Europe/Paris", doctor_name="Dr Anne Martin", public_url=PUBLIC_URL
)


# --- the planner ----------------------------------------------------------------------------


def test_the_planner_gives_each_channel_a_confirmation_now_and_two_reminders() -> None:
    booked = appointment()
    planned = NotificationPlanner().plan(booked, ALL_KINDS, NOW)
    due = {(n.channel, n.kind): n.due_at for n in planned}
    for channel in NotificationChannel:
        assert due[channel, NotificationKind.CONFIRMATION] == NOW
        assert due[channel, NotificationKind.REMINDER_DAY] == SLOT - timedelta(hours=24)
        assert due[channel, NotificationKind.REMINDER_HOUR] == SLOT - timedelta(hours=1)
    assert len(planned) == 6
    assert len({n.notification_id for n in planned}) == 6
    assert all(n.state is NotificationState.PENDING and n.attempts == 0 for n in planned)


def test_the_planner_skips_past_reminders_missing_channels_and_unconfigured_ones() -> None:
    soon = appointment(starts_at=NOW + timedelta(hours=3), phone="")
    planned = NotificationPlanner().plan(soon, ALL_KINDS, NOW)
    assert {(n.channel, n.kind) for n in planned} == {
        (NotificationChannel.EMAIL, NotificationKind.CONFIRMATION),
        (NotificationChannel.EMAIL, NotificationKind.REMINDER_HOUR),
    }
    email_only = NotificationPlanner(
        channels={NotificationChannel.EMAIL},
        reminder_day_before=timedelta(hours=48),
        reminder_hour_before=timedelta(hours=2),
    )
    planned = email_only.plan(appointment(), ALL_KINDS, NOW)
    assert {n.channel for n in planned} == {NotificationChannel.EMAIL}
    assert {n.kind: n.due_at for n in planned}[NotificationKind.REMINDER_DAY] == SLOT - timedelta(
        hours=48
    )
    cancelled = NotificationPlanner().plan(appointment(), {NotificationKind.CANCELLATION}, NOW)
    assert {(n.kind, n.due_at) for n in cancelled} == {(NotificationKind.CANCELLATION, NOW)}


def test_the_planner_follows_the_booking_configuration() -> None:
    config = load_hub_config(
        None,
        overrides={
            "mail": {"enabled": True, "from_address": "rdv@rdv.example.fr"},
            "booking": {"reminder_day_before": False, "reminder_hours_before": 2},
        },
    )
    planner: bookings.NotificationPlanner = NotificationPlanner.from_config(config)
    planned = planner.plan(appointment(), ALL_KINDS, NOW)
    assert {(n.channel, n.kind, n.due_at) for n in planned} == {
        (NotificationChannel.EMAIL, NotificationKind.CONFIRMATION, NOW),
        (NotificationChannel.EMAIL, NotificationKind.REMINDER_HOUR, SLOT - timedelta(hours=2)),
    }
    config = load_hub_config(
        None,
        overrides={
            "sms": {"provider": "http", "url": "https://sms.example.fr/send"},
            "booking": {"reminder_hours_before": 0},
            "notifications": {"reminder_day_hours_before": 36},
        },
    )
    planned = NotificationPlanner.from_config(config).plan(appointment(), ALL_KINDS, NOW)
    assert {(n.channel, n.kind, n.due_at) for n in planned} == {
        (NotificationChannel.SMS, NotificationKind.CONFIRMATION, NOW),
        (NotificationChannel.SMS, NotificationKind.REMINDER_DAY, SLOT - timedelta(hours=36)),
    }


# --- the templates --------------------------------------------------------------------------


def _notification(kind: NotificationKind, channel: NotificationChannel) -> Notification:
    return Notification(
        notification_id="ntf-0123456789abcdef",
        appointment_id="apt-x",
        channel=channel,
        kind=kind,
        due_at=NOW,
    )


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_the_french_confirmation_has_the_place_time_doctor_code_and_cancel_link() -> None:
    booked = appointment(code="482913")
    message = render_email(
        _notification(NotificationKind.CONFIRMATION, NotificationChannel.EMAIL),
        booked,
        CONTEXT,
        from_address="rendez-vous@rdv.example.fr",
        from_name="La Box Médicale",
        now=NOW,
    )
    assert message["Subject"] == "Votre rendez-vous du lundi 14 décembre 2026 est confirmé"
    assert "Quélennec" not in message["Subject"] and "482" not in message["Subject"]
    assert message["Message-ID"] == "<ntf-0123456789abcdef@rdv.example.fr>"
    assert message["To"] == "yvonne@example.org"
    assert message["Content-Language"] == "fr"
    text = _body(message, "plain")
    assert "cabine de téléconsultation de Murat" in text
    assert "lundi 14 décembre 2026 à 09:00 (heure de Paris)" in text
    assert "avec Dr Anne Martin" in text
    assert "482 913" in text
    assert "carte Vitale" in text
    assert f"{PUBLIC_URL}/rendez-vous/annuler?code=482913" in text
    page = _body(message, "html")
    assert f'href="{PUBLIC_URL}/rendez-vous/annuler?code=482913"' in page
    assert 'lang="fr"' in page and "482913" in page


def test_the_english_reminder_and_a_summer_slot_stay_at_local_nine() -> None:
    summer = datetime(2027, 7, 5, 7, 0, tzinfo=UTC)  # 09:00 in Paris (UTC+2)
    booked = appointment(starts_at=summer, language=wire.Language.EN, code="100200")
    message = render_email(
        _notification(NotificationKind.REMINDER_DAY, NotificationChannel.EMAIL),
        booked,
        CONTEXT,
        from_address="rendez-vous@rdv.example.fr",
        now=NOW,
    )
    assert message["Subject"] == "Reminder: your appointment on Monday 5 July 2027"
    text = _body(message, "plain")
    assert "teleconsultation cabin of Murat" in text
    assert "Monday 5 July 2027 at 09:00 (Paris time)" in text
    assert "100 200" in text and "?code=100200" in text
    assert "carte Vitale" in text


def test_each_sms_fits_one_gsm7_message_with_the_code_and_link() -> None:
    for language in wire.Language:
        for kind in NotificationKind:
            booked = appointment(language=language, code="482913")
            text = render_sms(_notification(kind, NotificationChannel.SMS), booked, CONTEXT)
            assert 0 < gsm7_length(text) <= 160, (language, kind, text)
            if kind is NotificationKind.CANCELLATION:
                assert f"{PUBLIC_URL}/rendez-vous" in text
            else:
                assert "482913" in text
                assert f"{PUBLIC_URL}/rendez-vous/annuler?code=482913" in text
    accented = replace(CONTEXT, town="Pontivy-sur-Rhône")
    text = render_sms(
        _notification(NotificationKind.CONFIRMATION, NotificationChannel.SMS),
        appointment(),
        accented,
    )
    assert "Pontivy-sur-Rhone" in text and "confirmé" in text  # ô folded, é is GSM-7
    far = replace(
        CONTEXT,
        town="Saint-Martin-de-Belleville",
        public_url="https://rendez-vous.laboxmedicale.fr",
    )
    for language in wire.Language:
        for kind in NotificationKind:
            booked = appointment(language=language)
            text = render_sms(_notification(kind, NotificationChannel.SMS), booked, far)
            assert 0 < gsm7_length(text) <= 160, text  # the town left out when it must be
            assert "rendez-vous.laboxmedicale.fr/rendez-vous" in text


# --- the worker -----------------------------------------------------------------------------


@dataclass
class Recorder:
    url: str
    out: Path
    process: subprocess.Popen[str]

    def records(self) -> list[dict[str, object]]:
        return read_records(self.out)


def start_recorder(tmp_path: Path, *, fail_first: int = 0) -> Recorder:
    out = tmp_path / "sms.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.sms_recorder",
            "--port",
            "0",
            "--out",
            str(out),
            "--token",
            TOKEN,
            "--fail-first",
            str(fail_first),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "listening http://127.0.0.1:<port>/sms"
    if not line.startswith("listening "):
        process.kill()
        raise RuntimeError(f"the SMS recorder did not start: {line!r}")
    return Recorder(line.split()[1], out, process)


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    started = start_recorder(tmp_path)
    try:
        yield started
    finally:
        started.process.terminate()
        started.process.wait(timeout=10)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


Opener = Callable[[], Awaitable[Storage]]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the test's storage: the SQLCipher file, or a fresh database on real PostgreSQL."""
    if request.param == "sqlite":

        async def open_sqlite() -> Storage:
            return await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)

        return open_sqlite
    _, dsn = fresh_database(request.getfixturevalue("postgres_server"), "outbox")

    async def open_postgresql() -> Storage:
        return await open_postgres_storage(dsn)

    return open_postgresql


async def prepared(storage: Storage) -> None:
    await storage.put_calendar(CabinCalendar(cabin_id="cab-murat", town="Murat"))
    await storage.add_doctor(doctor())


async def book(
    storage: Storage, booked: Appointment, now: datetime, kinds: set[NotificationKind]
) -> None:
    await storage.add_appointment(booked)
    await storage.add_notifications(NotificationPlanner().plan(booked, kinds, now))


def worker(
    storage: Storage,
    clock: FakeClock,
    mailbox: Mailbox,
    recorder: Recorder | None,
    *,
    claimer: str = "replica-a",
    settings: OutboxSettings | None = None,
) -> OutboxWorker:
    return OutboxWorker(
        storage,
        clock,
        claimer=claimer,
        public_url=PUBLIC_URL,
        mail=SmtpSender(SmtpSettings(host=mailbox.host, port=mailbox.port, timeout_s=3)),
        from_address="rendez-vous@rdv.example.fr",
        from_name="La Box Médicale",
        sms=HttpSmsProvider(recorder.url, token=TOKEN, timeout_s=3) if recorder else None,
        settings=settings or OutboxSettings(),
    )


async def _close(outbox: OutboxWorker) -> None:
    await outbox.stop()  # and closes its SMS client


def test_the_confirmation_arrives_by_email_and_sms_in_french_and_english(
    tmp_path: Path, mailbox: Mailbox, recorder: Recorder
) -> None:
    clock = FakeClock(NOW)
    french = appointment(code="482913")
    english = appointment(
        code="730164", language=wire.Language.EN, starts_at=SLOT + timedelta(minutes=15)
    )

    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        outbox = worker(storage, clock, mailbox, recorder)
        try:
            await prepared(storage)
            for booked in (french, english):
                await book(storage, booked, NOW, ALL_KINDS)
            assert await outbox.run_once() == 4  # the two confirmations, each by e-mail and SMS
            sent = await storage.notifications(states=frozenset({NotificationState.SENT}))
            assert {(n.kind, n.attempts) for n in sent} == {(NotificationKind.CONFIRMATION, 1)}
            assert await outbox.run_once() == 0  # the reminders are not due yet
        finally:
            await _close(outbox)
            await storage.close()

    asyncio.run(scenario())
    mails = {m["Content-Language"]: m for m in mailbox.wait_for(2, timeout_s=5)}
    assert len(mailbox.messages) == 2
    assert "482 913" in _body(mails["fr"], "plain")
    assert f"{PUBLIC_URL}/rendez-vous/annuler?code=482913" in _body(mails["fr"], "plain")
    assert "Dr Anne Martin" in _body(mails["fr"], "plain")
    assert mails["en"]["Subject"] == "Your appointment on Monday 14 December 2026 is confirmed"
    assert f"{PUBLIC_URL}/rendez-vous/annuler?code=730164" in _body(mails["en"], "plain")
    records = recorder.records()
    assert len(records) == 2
    by_code = {("482913" in str(r["text"])): r for r in records}
    assert by_code[True]["to"] == "+33612345678"
    assert str(by_code[True]["text"]).startswith("RDV confirmé cabine de Murat le 14/12 à 09:00")
    assert str(by_code[False]["text"]).startswith("Appointment confirmed, Murat cabin, 14/12")
    assert all(r["idempotency_key"] == r["client_ref"] for r in records)


def test_reminders_become_due_and_are_sent_once(tmp_path: Path, mailbox: Mailbox) -> None:
    clock = FakeClock(NOW)
    booked = appointment(phone="")

    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        outbox = worker(storage, clock, mailbox, None)
        try:
            await prepared(storage)
            await book(storage, booked, NOW, ALL_KINDS)
            assert await outbox.run_once() == 1
            clock.advance((SLOT - timedelta(hours=24) - NOW).total_seconds() - 60)
            assert await outbox.run_once() == 0  # a minute early
            clock.advance(60)
            assert await outbox.run_once() == 1
            assert await outbox.run_once() == 0
            clock.advance(23 * 3600)
            assert await outbox.run_once() == 1
            clock.advance(3600)
            assert await outbox.run_once() == 0
            states = {
                n.kind: (n.state, n.attempts)
                for n in await storage.notifications(appointment_id=booked.appointment_id)
            }
            assert states == {kind: (NotificationState.SENT, 1) for kind in ALL_KINDS}
        finally:
            await _close(outbox)
            await storage.close()

    asyncio.run(scenario())
    subjects = [m["Subject"] for m in mailbox.wait_for(3, timeout_s=5)]
    assert subjects == [
        "Votre rendez-vous du lundi 14 décembre 2026 est confirmé",
        "Rappel : votre rendez-vous du lundi 14 décembre 2026",
        "Rappel : votre rendez-vous aujourd'hui à 09:00",
    ]
    assert len({m["Message-ID"] for m in mailbox.messages}) == 3


def test_smtp_down_is_retried_with_backoff_then_failed_and_listed(
    tmp_path: Path, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(NOW)
    booked = appointment(phone="", code="555111")
    settings = OutboxSettings(max_attempts=3, retry_first_s=30, retry_max_s=3600)
    mailbox.stop()

    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        outbox = worker(storage, clock, mailbox, None, settings=settings)
        try:
            await prepared(storage)
            await book(storage, booked, NOW, {NotificationKind.CONFIRMATION})
            assert await outbox.run_once() == 1
            [pending] = await storage.notifications(appointment_id=booked.appointment_id)
            assert pending.state is NotificationState.PENDING
            assert pending.due_at == NOW + timedelta(seconds=30)
            assert "unreachable" in pending.last_error
            clock.advance(29)
            assert await outbox.run_once() == 0  # not before its retry time
            clock.advance(1)
            assert await outbox.run_once() == 1
            [pending] = await storage.notifications(appointment_id=booked.appointment_id)
            assert pending.due_at == clock.now() + timedelta(seconds=60)  # doubled
            clock.advance(60)
            assert await outbox.run_once() == 1
            failed = await storage.notifications(states=frozenset({NotificationState.FAILED}))
            assert [(n.notification_id, n.attempts) for n in failed] == [
                (pending.notification_id, 3)
            ]
            clock.advance(7200)
            assert await outbox.run_once() == 0  # given up
        finally:
            await _close(outbox)
            await storage.close()

    with caplog.at_level(logging.INFO, logger="hub.notifications"):
        asyncio.run(scenario())
    failures = [r.getMessage() for r in caplog.records if "hub.notification_failed" in r.message]
    assert len(failures) == 3
    assert "attempt=3" in failures[-1] and "retry_at=never" in failures[-1]
    assert "channel=email" in failures[0]
    for line in failures:
        assert "555111" not in line and "yvonne" not in line and "Quélennec" not in line
    assert mailbox.messages == []


def test_an_sms_refused_503_is_sent_once_on_the_retry(tmp_path: Path, mailbox: Mailbox) -> None:
    clock = FakeClock(NOW)
    booked = appointment(email="")
    recorder = start_recorder(tmp_path, fail_first=1)

    async def scenario() -> str:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        outbox = worker(storage, clock, mailbox, recorder)
        try:
            await prepared(storage)
            await book(storage, booked, NOW, {NotificationKind.CONFIRMATION})
            assert await outbox.run_once() == 1
            [retry] = await storage.notifications(appointment_id=booked.appointment_id)
            assert retry.state is NotificationState.PENDING
            assert retry.last_error == "sms provider answered 503"
            clock.advance(30)
            assert await outbox.run_once() == 1
            [sent] = await storage.notifications(appointment_id=booked.appointment_id)
            assert (sent.state, sent.attempts) == (NotificationState.SENT, 2)
            clock.advance(3600)
            assert await outbox.run_once() == 0
            return sent.notification_id
        finally:
            await _close(outbox)
            await storage.close()

    try:
        notification_id = asyncio.run(scenario())
        records = recorder.records()
    finally:
        recorder.process.terminate()
        recorder.process.wait(timeout=10)
    assert [r.get("refused") for r in records] == [503, None]
    delivered = [r for r in records if "id" in r]
    assert len(delivered) == 1
    assert delivered[0]["client_ref"] == notification_id
    assert delivered[0]["idempotency_key"] == notification_id


def test_a_cancelled_appointments_reminders_are_never_sent(
    open_storage: Opener, mailbox: Mailbox, recorder: Recorder
) -> None:
    clock = FakeClock(NOW)
    cancelled = appointment()
    arrived = appointment(starts_at=SLOT + timedelta(minutes=15))

    async def scenario() -> None:
        storage = await open_storage()
        outbox = worker(storage, clock, mailbox, recorder)
        try:
            await prepared(storage)
            for booked in (cancelled, arrived):
                await book(storage, booked, NOW, ALL_KINDS)
            assert await outbox.run_once() == 4  # both confirmations, by e-mail and SMS
            clock.advance(3600)
            assert await storage.cancel_appointment(
                cancelled.appointment_id, at=clock.now(), reason="better", by="patient"
            )
            await storage.add_notifications(
                NotificationPlanner().plan(cancelled, {NotificationKind.CANCELLATION}, clock.now())
            )
            assert await outbox.run_once() == 2  # its cancellation, by e-mail and SMS
            # The other patient is early: checked in before their reminders went out.
            clock.advance((SLOT - NOW).total_seconds() - 2 * 3600)
            await storage.mark_arrived(arrived.appointment_id, at=clock.now(), consultation_id=None)
            clock.advance(3600 * 3)
            await outbox.run_once()
            for booked in (cancelled, arrived):
                states = {
                    (n.kind, n.channel): n.state
                    for n in await storage.notifications(appointment_id=booked.appointment_id)
                }
                for kind in (NotificationKind.REMINDER_DAY, NotificationKind.REMINDER_HOUR):
                    for channel in NotificationChannel:
                        assert states[kind, channel] is NotificationState.DROPPED
        finally:
            await _close(outbox)
            await storage.close()

    asyncio.run(scenario())
    mailbox.wait_for(3, timeout_s=5)
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert subjects == [
        "Votre rendez-vous du lundi 14 décembre 2026 est annulé",
        "Votre rendez-vous du lundi 14 décembre 2026 est confirmé",
        "Votre rendez-vous du lundi 14 décembre 2026 est confirmé",
    ]
    texts = [str(r["text"]) for r in recorder.records()]
    assert len(texts) == 3
    assert not any(t.startswith("Rappel") for t in texts)


def test_two_replicas_on_one_postgresql_send_each_message_exactly_once(
    postgres_server: PostgresServer, mailbox: Mailbox, recorder: Recorder
) -> None:
    _, dsn = fresh_database(postgres_server, "outbox")
    clock = FakeClock(NOW)
    booked = [
        appointment(code=f"{700000 + i:06d}", starts_at=SLOT + timedelta(minutes=15 * i))
        for i in range(12)
    ]
    settings = OutboxSettings(poll_s=0.05, batch=3)

    async def scenario() -> None:
        first = await open_postgres_storage(dsn)
        second = await open_postgres_storage(dsn)
        outboxes = [
            worker(first, clock, mailbox, recorder, claimer="replica-a", settings=settings),
            worker(second, clock, mailbox, recorder, claimer="replica-b", settings=settings),
        ]
        try:
            await prepared(first)
            for one in booked:
                await book(first, one, NOW, {NotificationKind.CONFIRMATION})
            for outbox in outboxes:
                outbox.start()
            async with asyncio.timeout(30):
                while True:
                    sent = await first.notifications(states=frozenset({NotificationState.SENT}))
                    if len(sent) == 2 * len(booked):
                        break
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # a duplicate would have time to arrive
            claimers = {n.claimed_by for n in sent}
            assert claimers == {"replica-a", "replica-b"}, claimers  # both did work
            assert all(n.attempts == 1 for n in sent)
        finally:
            for outbox in outboxes:
                await _close(outbox)
            await first.close()
            await second.close()

    asyncio.run(scenario())
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(ids) == len(booked) == len(set(ids))
    refs = [r["client_ref"] for r in recorder.records()]
    assert len(refs) == len(booked) == len(set(refs))


def test_a_hub_configured_for_mail_and_sms_sends_what_its_outbox_holds(
    tmp_path: Path, mailbox: Mailbox, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SMS_TOKEN", TOKEN)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    booked = appointment(code="246810", starts_at=now + timedelta(days=7))

    async def scenario() -> None:
        async with running_hub(
            tmp_path,
            public_url=PUBLIC_URL,
            mail=mailbox.hub_mail_config("rendez-vous@rdv.example.fr"),
            sms={"provider": "http", "url": recorder.url},
            notifications={"poll_s": 0.05},
        ) as rig:
            storage = rig.hub.storage
            await storage.put_calendar(CabinCalendar(cabin_id="cab-murat", town="Murat"))
            await storage.add_appointment(booked)
            planner = NotificationPlanner.from_config(rig.hub.app[SERVICES].config)
            await storage.add_notifications(planner.plan(booked, ALL_KINDS, now))
            rig.hub.app[OUTBOX].wake()
            await mailbox.wait(1, timeout_s=10)
            async with asyncio.timeout(10):
                while not recorder.records():  # noqa: ASYNC110 - another process's file
                    await asyncio.sleep(0.02)

    asyncio.run(scenario())
    [mail] = mailbox.messages
    assert f"{PUBLIC_URL}/rendez-vous/annuler?code=246810" in _body(mail, "plain")
    assert appointment_code(mail) == "246810"  # what the demo's patient types at the cabin
    assert mail["From"] == "La Box Médicale <rendez-vous@rdv.example.fr>"
    [sms] = recorder.records()
    assert "246810" in str(sms["text"])


class SlowSmtp:
    """The real sender, on a server that takes 70 s (of the test's clock) per message."""

    def __init__(self, sender: SmtpSender, clock: FakeClock) -> None:
        self._sender = sender
        self._clock = clock

    async def send(self, message: EmailMessage) -> None:
        await self._sender.send(message)
        self._clock.advance(70)


def test_a_slow_server_never_lets_a_lease_run_out_while_sending(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    clock = FakeClock(NOW)
    booked = [appointment(phone="", starts_at=SLOT + timedelta(minutes=15 * i)) for i in range(3)]

    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        sender = SmtpSender(SmtpSettings(host=mailbox.host, port=mailbox.port, timeout_s=3))
        outbox = OutboxWorker(
            storage,
            clock,
            claimer="replica-a",
            public_url=PUBLIC_URL,
            mail=SlowSmtp(sender, clock),
            from_address="rendez-vous@rdv.example.fr",
            settings=OutboxSettings(lease_s=120),
        )
        try:
            await prepared(storage)
            for one in booked:
                await book(storage, one, NOW, {NotificationKind.CONFIRMATION})
            assert await outbox.run_once() == 3
            # One sent in 70 s; a second would end past the lease's half: left claimed.
            states = sorted(n.state for n in await storage.notifications())
            assert states == [NotificationState.SENDING] * 2 + [NotificationState.SENT]
            assert await outbox.run_once() == 0  # still leased
            clock.advance(60)  # the lease ends
            assert await outbox.run_once() == 2
            clock.advance(120)
            assert await outbox.run_once() == 1
            sent = await storage.notifications(states=frozenset({NotificationState.SENT}))
            assert len(sent) == 3
        finally:
            await outbox.stop()
            await storage.close()

    asyncio.run(scenario())
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(ids) == 3 == len(set(ids))


def test_an_unusable_address_fails_at_once_and_the_others_still_go(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    clock = FakeClock(NOW)
    forged = appointment(phone="", email="yvonne@example.org\r\nBcc: spy@example.net")
    fine = appointment(phone="", starts_at=SLOT + timedelta(minutes=15))

    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        outbox = worker(storage, clock, mailbox, None)
        try:
            await prepared(storage)
            for one in (forged, fine):
                await book(storage, one, NOW, {NotificationKind.CONFIRMATION})
            assert await outbox.run_once() == 2
            [failed] = await storage.notifications(appointment_id=forged.appointment_id)
            assert (failed.state, failed.attempts) == (NotificationState.FAILED, 1)
            assert "spy" not in failed.last_error
            [sent] = await storage.notifications(appointment_id=fine.appointment_id)
            assert sent.state is NotificationState.SENT
        finally:
            await outbox.stop()
            await storage.close()

    asyncio.run(scenario())
    assert mailbox.recipients() == [["yvonne@example.org"]]


def test_the_sms_provider_errors_say_the_status_and_whether_to_retry(
    recorder: Recorder,
) -> None:
    async def scenario() -> None:
        wrong = HttpSmsProvider(recorder.url, token="not-it", timeout_s=3)
        with pytest.raises(SmsError) as refused:
            await wrong.send("+33612345678", "RDV", "ntf-1")
        assert (refused.value.status, refused.value.permanent) == (401, True)
        assert "+336" not in str(refused.value)
        await wrong.close()
        gone = HttpSmsProvider(f"http://127.0.0.1:{free_port()}/sms", token=TOKEN, timeout_s=3)
        with pytest.raises(SmsError) as unreachable:
            await gone.send("+33612345678", "RDV", "ntf-2")
        assert unreachable.value.status is None and not unreachable.value.permanent
        await gone.close()
        right = HttpSmsProvider(recorder.url, token=TOKEN, timeout_s=3)
        assert (await right.send("+33612345678", "RDV", "ntf-3")).startswith("sim-")
        await right.close()

    asyncio.run(scenario())
    [record] = [r for r in recorder.records() if "id" in r]
    assert record["client_ref"] == record["idempotency_key"] == "ntf-3"


def test_messages_found_after_their_slot_are_dropped_not_sent(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    clock = FakeClock(NOW)
    booked = appointment(phone="")

    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        outbox = worker(storage, clock, mailbox, None)
        try:
            await prepared(storage)
            await book(storage, booked, NOW, ALL_KINDS)
            clock.advance((SLOT - NOW).total_seconds())  # every replica was down until now
            assert await outbox.run_once() == 3
            states = {n.state for n in await storage.notifications()}
            assert states == {NotificationState.DROPPED}
        finally:
            await outbox.stop()
            await storage.close()

    asyncio.run(scenario())
    assert mailbox.messages == []


def test_a_replica_dead_after_sending_leaves_a_resend_with_the_same_message_id(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    clock = FakeClock(NOW)
    booked = appointment(phone="")

    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        survivor = worker(storage, clock, mailbox, None, claimer="replica-b")
        try:
            await prepared(storage)
            await book(storage, booked, NOW, {NotificationKind.CONFIRMATION})
            # Replica A claims and sends, then dies before it records the message sent.
            [claimed] = await storage.claim_notifications(
                now=NOW, claimer="replica-a", lease_until=NOW + timedelta(seconds=120), limit=5
            )
            sender = SmtpSender(SmtpSettings(host=mailbox.host, port=mailbox.port, timeout_s=3))
            await sender.send(
                render_email(
                    claimed,
                    booked,
                    CONTEXT,
                    from_address="rendez-vous@rdv.example.fr",
                    now=NOW,
                )
            )
            assert await survivor.run_once() == 0  # A's lease holds
            clock.advance(120)
            assert await survivor.run_once() == 1
            [sent] = await storage.notifications(appointment_id=booked.appointment_id)
            assert (sent.state, sent.claimed_by, sent.attempts) == (
                NotificationState.SENT,
                "replica-b",
                2,
            )
        finally:
            await survivor.stop()
            await storage.close()

    asyncio.run(scenario())
    first, second = mailbox.wait_for(2, timeout_s=5)
    # The patient's mail client shows one message: the same Message-ID.
    assert first["Message-ID"] == second["Message-ID"]
