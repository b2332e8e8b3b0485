"""A real hub on 127.0.0.1 (port 0), with doctors, cabins and clients that speak to it.

Everything goes through the network as in production: aiohttp's client for the HTTP API and the
two websockets, `wire` messages both ways.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec

import wire
from hub.accounts import create_agent, create_doctor, provision_cabin
from hub.app import RunningHub, start_hub
from hub.clock import Clock
from hub.config import load_hub_config
from hub.services import SERVICES
from hub.storage import ConsultationRecord, DoctorRecord, Storage
from hub.switchboard import Switchboard
from tests.hub.hub_key import TEST_KEY, write_key_file
from wire.fhir_record import RecordInput, build_bundle, record_id_for

M = TypeVar("M")
TIMEOUT_S = 30.0
"""How long a test waits for what the hub does in milliseconds: only a real failure (or a hang)
runs into it, never a loaded machine."""
PASSWORDS = {"dr.a": "password-of-doctor-a", "dr.b": "password-of-doctor-b"}
AGENT_PASSWORD = "password-of-an-agent"
_ids = itertools.count(1)


def new_id(prefix: str = "m") -> str:
    return f"{prefix}-{next(_ids)}"


class FakeClock:
    """Wall and monotonic time that move only when told."""

    def __init__(self, start: datetime = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


def patient(
    family: str = "Quelennec", given: str = "Yvonne", born: date | None = None
) -> wire.PatientSummary:
    return wire.PatientSummary(
        family_name=family,
        given_names=given,
        birth_date=born or date(1938, 5, 2),
        sex=wire.Sex.FEMALE,
    )


def vital(systolic: float = 132, diastolic: float = 84) -> wire.Vital:
    return wire.Vital(
        kind=wire.VitalKind.BLOOD_PRESSURE,
        measured_at=datetime(2026, 11, 23, 8, 55, tzinfo=UTC),
        device_id="bp-1",
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
    )


def record_upload(
    consultation_id: str,
    *,
    cabin_id: str = "cabin-1",
    who: wire.PatientSummary | None = None,
    started_at: datetime = datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
    reason: str = "",
    doctor: wire.DoctorInfo | None = None,
    doctor_id: str | None = None,
    vitals: tuple[wire.Vital, ...] = (),
    prescriptions: tuple[wire.PrescriptionMessage, ...] = (),
    advice: str = "",
) -> wire.RecordUpload:
    """The record a cabin sends at the end of a consultation (a FHIR Bundle, as the cabin
    builds it with `wire.fhir_record`)."""
    ended_at = started_at + timedelta(minutes=20)
    record = RecordInput(
        record_id=record_id_for(consultation_id),
        consultation_id=consultation_id,
        cabin_id=cabin_id,
        cabin_name=f"Cabine {cabin_id}",
        patient_local_id="patient-1",
        patient=who or patient(),
        language=wire.Language.FR,
        started_at=started_at,
        ended_at=ended_at,
        end_reason="completed",
        reason=reason,
        doctor=doctor,
        doctor_id=doctor_id,
        vitals=vitals,
        prescriptions=prescriptions,
        prescription_pdfs={},
        summary_pdf=None,
        advice=advice,
    )
    return wire.RecordUpload(
        msg_id=new_id("record"),
        record_id=record.record_id,
        consultation_id=consultation_id,
        created_at=ended_at,
        bundle=msgspec.Raw(build_bundle(record)),
    )


class Peer:
    """One websocket client: sends wire messages, reads and decodes what comes back."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, allowed: object) -> None:
        self.ws = ws
        self.allowed = allowed
        self.seen: list[wire.Message] = []

    async def send(self, message: wire.Message) -> None:
        await self.ws.send_str(wire.encode(message).decode())

    async def receive(self, within_s: float = TIMEOUT_S) -> wire.Message:
        async with asyncio.timeout(within_s):
            raw = await self.ws.receive()
        if raw.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"websocket gave {raw.type!r} {raw.data!r}")
        message = wire.decode(raw.data, allowed=self.allowed)
        self.seen.append(message)
        return message

    async def expect(self, kind: type[M], within_s: float = TIMEOUT_S) -> M:
        """The next message of type `kind`, skipping others (waiting room updates...)."""
        async with asyncio.timeout(within_s):
            while True:
                message = await self.receive(within_s)
                if isinstance(message, kind):
                    return message

    async def nothing_more(self, wait_s: float = 0.2, *, ignore: tuple[type, ...] = ()) -> None:
        """Nothing arrives within `wait_s`, but the `ignore`d kinds."""
        try:
            while True:
                message = await self.receive(wait_s)
                if not isinstance(message, ignore):
                    raise AssertionError(f"unexpected {message!r}")
        except TimeoutError:
            return

    async def closed(self, within_s: float = TIMEOUT_S) -> int | None:
        """Wait for the server to close the socket; its close code."""
        async with asyncio.timeout(within_s):
            while True:
                raw = await self.ws.receive()
                if raw.type is aiohttp.WSMsgType.CLOSE:
                    return int(raw.data)
                if raw.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    return self.ws.close_code
                if raw.type is aiohttp.WSMsgType.TEXT:
                    self.seen.append(wire.decode(raw.data, allowed=self.allowed))

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class Doctor:
    username: str
    http: aiohttp.ClientSession
    csrf: str
    rig: Rig

    async def console(self) -> Peer:
        ws = await self.http.ws_connect(
            f"{self.rig.url}/ws/console?csrf={self.csrf}",
            headers={"Origin": self.rig.url},
            timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT_S),
        )
        peer = Peer(ws, wire.HubToConsole)
        await peer.expect(wire.Welcome)
        await peer.expect(wire.WaitingRoom)
        return peer

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        headers = {"Origin": self.rig.url, "X-CSRF-Token": self.csrf}
        headers.update(kwargs.pop("headers", {}))
        return await self.http.post(f"{self.rig.url}{path}", headers=headers, **kwargs)

    async def history(self, consultation_id: str) -> aiohttp.ClientResponse:
        return await self.http.get(f"{self.rig.url}/api/consultations/{consultation_id}/history")


@dataclass
class Rig:
    hub: RunningHub
    tokens: dict[str, str]
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.hub.url

    @property
    def switchboard(self) -> Switchboard:
        return self.hub.app[SERVICES].switchboard

    @property
    def database(self) -> Path:
        return self.hub.app[SERVICES].config.data_path / "hub.db"

    def client(self) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
        )
        self.clients.append(session)
        return session

    async def login_response(
        self, username: str, password: str, *, http: aiohttp.ClientSession | None = None
    ) -> aiohttp.ClientResponse:
        http = http or self.client()
        return await http.post(
            f"{self.url}/api/login",
            json={"username": username, "password": password},
            headers={"Origin": self.url},
        )

    async def login(self, username: str) -> Doctor:
        http = self.client()
        response = await self.login_response(username, PASSWORDS[username], http=http)
        assert response.status == 200, await response.text()
        me = await response.json()
        return Doctor(username, http, me["csrf_token"], self)

    async def add_agent(self, username: str, *cabins: str, clock: Clock | None = None) -> None:
        """An agent who looks after `cabins` (every cabin if none), password `AGENT_PASSWORD`."""
        await create_agent(
            self.hub.storage,
            username=username,
            password=AGENT_PASSWORD,
            display_name=f"Agent {username}",
            cabins=cabins,
            all_cabins=not cabins,
            argon2_cost="test",
            clock=clock,
        )

    async def agent_page(self, username: str) -> Peer:
        """An agent signed in, with their alert page's websocket open (past its Welcome and
        its `AlertSummary`, which is then `peer.seen[-1]`)."""
        http = self.client()
        response = await self.login_response(username, AGENT_PASSWORD, http=http)
        assert response.status == 200, await response.text()
        me = await response.json()
        ws = await http.ws_connect(
            f"{self.url}/ws/agent?csrf={me['csrf_token']}",
            headers={"Origin": self.url},
            timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT_S),
        )
        peer = Peer(ws, wire.HubToAgent)
        await peer.expect(wire.Welcome)
        await peer.expect(wire.AlertSummary)
        return peer

    async def cabin(
        self, cabin_id: str = "cabin-1", token: str | None = None, live: list[str] | None = None
    ) -> Peer:
        ws = await self.client().ws_connect(
            f"{self.url}/ws/cabin", timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT_S)
        )
        peer = Peer(ws, wire.HubToCabin)
        await peer.send(
            wire.CabinHello(
                msg_id=new_id("hello"),
                cabin_id=cabin_id,
                token=token or self.tokens[cabin_id],
                software_version="0.1.0",
                live=live,
            )
        )
        await peer.expect(wire.Welcome)
        return peer

    async def join(
        self,
        cabin: Peer,
        consultation_id: str,
        who: wire.PatientSummary | None = None,
        *,
        reason: str = "fièvre",
    ) -> None:
        join = wire.QueueJoin(
            msg_id=new_id("join"),
            consultation_id=consultation_id,
            language=wire.Language.FR,
            patient=who or patient(),
            reason=reason,
            age_years=88,
            vitals=[vital()],
        )
        await cabin.send(join)
        ack = await cabin.expect(wire.Ack)
        assert ack.ack_of == join.msg_id

    async def close(self) -> None:
        for session in self.clients:
            await session.close()


@asynccontextmanager
async def running_hub(
    tmp_path: Path, *, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[Rig]:
    config = load_hub_config(
        None,
        data_dir=tmp_path / "hub-data",
        overrides={"port": 0, "argon2_cost": "test", **overrides},
    )
    console_dir = tmp_path / "console"
    console_dir.mkdir(exist_ok=True)
    (console_dir / "index.html").write_text("<!doctype html><title>console</title>")
    (console_dir / "app.js").write_text("export const ready = true;\n")
    write_key_file(config.data_path)  # where `python -m hub ...` on this data folder finds it
    hub = await start_hub(config, key=TEST_KEY, clock=clock, console_dir=console_dir)
    rig = Rig(hub, {})
    try:
        for username, password in PASSWORDS.items():
            await create_doctor(
                hub.storage,
                username=username,
                password=password,
                display_name=f"Dr {username[3:].upper()}",
                specialty="Médecine générale",
                registration_number="10101010101",
                argon2_cost="test",
                clock=clock,
            )
        for cabin_id in ("cabin-1", "cabin-2"):
            rig.tokens[cabin_id] = await provision_cabin(
                hub.storage, cabin_id=cabin_id, name=f"Cabine {cabin_id}", clock=clock
            )
        yield rig
    finally:
        await rig.close()
        await hub.stop()


async def stored_doctor(storage: Storage, username: str) -> DoctorRecord:
    doctor = await storage.doctor(username)
    assert doctor is not None, username
    return doctor


async def stored_consultation(storage: Storage, consultation_id: str) -> ConsultationRecord:
    record = await storage.consultation(consultation_id)
    assert record is not None, consultation_id
    return record


def decode_as(data: bytes | str, kind: type[M]) -> M:
    message = wire.decode(data, allowed=kind)
    assert isinstance(message, kind)
    return message


async def until(
    predicate: Callable[[], bool], within_s: float = TIMEOUT_S, what: str = "the condition"
) -> None:
    """Wait until `predicate()` holds (the hub has handled what the test did); fail the test,
    saying what it waited for, after `within_s`."""
    # Polling: the hub's state is read from outside, with no event to wait on.
    try:
        async with asyncio.timeout(within_s):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {within_s} s waiting for {what}") from None


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
