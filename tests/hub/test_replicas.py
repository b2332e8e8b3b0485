"""Two replicas of the hub sharing one database and one real Redis (`fleet.servers.redis`): a
cabin on one, doctors on the other, and what must hold between them (issue 16).

The replicas are two `start_hub` in this process, or one of them `python -m hub serve` in a
subprocess when it must die as a killed replica does (SIGKILL: no word to anyone, its presence
in Redis left to expire). They share the SQLCipher file (WAL) until PostgreSQL lands.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import operator
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import wire
from fleet.servers import RedisServer, redis
from hub.app import start_hub
from hub.clock import Clock
from hub.cluster import ClusterDown
from hub.config import load_hub_config
from hub.peers import CloseCode
from hub.storage import ConsultationStatus, Storage
from tests.hub.hub_key import TEST_KEY, connect, write_key_file
from tests.hub.hub_rig import (
    TIMEOUT_S,
    FakeClock,
    Peer,
    Rig,
    new_id,
    patient,
    running_hub,
    until,
)
from tests.hub.test_record_forgery import send, upload

LINES = [
    wire.PrescriptionLine(
        drug="Paracétamol 1 g", dose="1 comprimé", frequency="3 fois par jour", duration="5 jours"
    )
]
_prefixes = itertools.count(1)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


def _overrides(server: RedisServer, **more: Any) -> dict[str, Any]:
    return {
        "cluster": {
            "backend": "redis",
            "redis_url": server.url,
            "key_prefix": f"replicas-{os.getpid()}-{next(_prefixes)}",
        },
        **more,
    }


@asynccontextmanager
async def two_replicas(
    tmp_path: Path, server: RedisServer, *, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[tuple[Rig, Rig]]:
    """Replicas A and B (A made the accounts), both started, on one database and one Redis."""
    settings = _overrides(server, **overrides)
    async with running_hub(tmp_path, clock=clock, **settings) as a:
        config = load_hub_config(
            None,
            data_dir=tmp_path / "hub-data",
            overrides={"port": 0, "argon2_cost": "test", **settings},
        )
        hub_b = await start_hub(config, key=TEST_KEY, clock=clock, console_dir=tmp_path / "console")
        b = Rig(hub_b, a.tokens)
        try:
            yield a, b
        finally:
            await b.close()
            await hub_b.stop()


@asynccontextmanager
async def killable_replica(tmp_path: Path, settings: dict[str, Any]) -> AsyncIterator[str]:
    """`python -m hub serve` on the same data folder (its URL), killed with SIGKILL at the
    end if it is still running."""
    config = tmp_path / "replica.toml"
    config.write_text(_toml(settings), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--config",
        str(config),
        "--data",
        str(tmp_path / "hub-data"),
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=REPO,
    )
    drain: asyncio.Task[None] | None = None
    try:
        assert process.stdout is not None
        async with asyncio.timeout(TIMEOUT_S):
            url = await _serving_url(process.stdout)
        # the replica logs on: read it away so that it never blocks on a full pipe
        drain = asyncio.create_task(_drain(process.stdout))
        yield url
    finally:
        if process.returncode is None:
            process.kill()  # SIGKILL
        await process.wait()
        if drain is not None:
            await drain


async def _serving_url(stdout: asyncio.StreamReader) -> str:
    lines: list[str] = []
    while True:
        line = (await stdout.readline()).decode(errors="replace")
        if not line:
            raise AssertionError("the replica ended before serving:\n" + "".join(lines[-40:]))
        lines.append(line)
        if line.startswith("hub: serving on "):
            return line.removeprefix("hub: serving on ").strip()


async def _drain(stdout: asyncio.StreamReader) -> None:
    while await stdout.readline():
        pass


def _toml(settings: dict[str, Any]) -> str:
    lines = [f"{key} = {_value(value)}" for key, value in settings.items() if key != "cluster"]
    lines.append("[cluster]")
    lines += [f"{key} = {_value(value)}" for key, value in settings["cluster"].items()]
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def at_url(rig: Rig, url: str) -> Rig:
    """The same accounts, through another replica's address."""

    class _At(Rig):
        @property
        def url(self) -> str:
            return url

    return _At(rig.hub, rig.tokens, rig.clients)


async def _room_has(peer: Peer, consultation_id: str) -> wire.WaitingEntry:
    """The console's waiting room, until it shows `consultation_id` (taken or not)."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            room = await peer.expect(wire.WaitingRoom)
            for entry in room.entries:
                if entry.consultation_id == consultation_id:
                    return entry


async def _status(storage: Storage, consultation_id: str) -> ConsultationStatus:
    record = await storage.consultation(consultation_id)
    assert record is not None
    return record.status


async def _until_status(storage: Storage, consultation_id: str, status: ConsultationStatus) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while await _status(storage, consultation_id) is not status:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# --- a cabin on A, a doctor on B ----------------------------------------------------------


async def _taken_through_b(a: Rig, b: Rig, consultation_id: str = "c-1") -> tuple[Peer, Peer]:
    """The cabin on A joins; dr.a's console on B takes the patient: (cabin, console)."""
    cabin = await a.cabin()
    doctor = await b.login("dr.a")
    console = await doctor.console()
    await a.join(cabin, consultation_id)
    entry = await _room_has(console, consultation_id)
    assert entry.cabin_online
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id))
    assert (await console.expect(wire.CallAccepted)).patient is not None
    assert (await cabin.expect(wire.CallAccepted)).patient is None
    return cabin, console


def test_a_reading_from_a_cabin_on_a_reaches_a_console_on_b_and_signaling_keeps_its_order(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            cabin, console = await _taken_through_b(a, b)
            reading = wire.ReadingMessage(
                msg_id=new_id(),
                consultation_id="c-1",
                reading=wire.Vital(
                    kind=wire.VitalKind.SPO2,
                    measured_at=datetime.now(UTC),
                    device_id="ox-1",
                    spo2_percent=97,
                ),
            )
            await cabin.send(reading)
            assert (await console.expect(wire.ReadingMessage)).msg_id == reading.msg_id
            offer = wire.SdpOffer(msg_id=new_id(), consultation_id="c-1", sdp="v=0 offer")
            await cabin.send(offer)
            candidates = [
                wire.IceCandidate(
                    msg_id=new_id(), consultation_id="c-1", candidate=f"candidate:{n}"
                )
                for n in range(20)
            ]
            for candidate in candidates:
                await cabin.send(candidate)
            assert (await console.expect(wire.SdpOffer)).sdp == "v=0 offer"
            got = [(await console.expect(wire.IceCandidate)).candidate for _ in candidates]
            assert got == [c.candidate for c in candidates]
            answer = wire.SdpAnswer(msg_id=new_id(), consultation_id="c-1", sdp="v=0 answer")
            await console.send(answer)
            assert (await cabin.expect(wire.SdpAnswer)).sdp == "v=0 answer"

    run(scenario())


def test_a_waiting_patients_reading_on_a_shows_in_the_room_of_a_console_on_b(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            cabin = await a.cabin()
            console = await (await b.login("dr.a")).console()
            await a.join(cabin, "c-1")  # with one blood pressure
            assert len((await _room_has(console, "c-1")).vitals) == 1
            reading = wire.ReadingMessage(
                msg_id=new_id(),
                consultation_id="c-1",
                reading=wire.Vital(
                    kind=wire.VitalKind.SPO2,
                    measured_at=datetime.now(UTC),
                    device_id="ox-1",
                    spo2_percent=97,
                ),
            )
            await cabin.send(reading)
            async with asyncio.timeout(TIMEOUT_S):
                while len((await _room_has(console, "c-1")).vitals) < 2:
                    pass

    run(scenario())


def test_signing_out_through_a_closes_the_console_on_b(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            doctor = await b.login("dr.a")
            console = await doctor.console()
            response = await doctor.http.post(
                f"{a.url}/api/logout", headers={"Origin": a.url, "X-CSRF-Token": doctor.csrf}
            )
            assert response.status == 204, await response.text()
            assert await console.closed() == CloseCode.SESSION_ENDED

    run(scenario())


def test_a_session_whose_console_is_on_a_is_not_idle_for_b(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(
            tmp_path, redis_server, session_idle_s=2.0, waiting_room_refresh_s=0.3
        ) as (a, b):
            doctor = await b.login("dr.a")
            ws = await doctor.http.ws_connect(
                f"{a.url}/ws/console?csrf={doctor.csrf}", headers={"Origin": a.url}
            )
            console = Peer(ws, wire.HubToConsole)
            await console.expect(wire.Welcome)
            await asyncio.sleep(3.0)  # longer than the idle time, with no HTTP request
            response = await doctor.http.get(f"{b.url}/api/me")
            assert response.status == 200, await response.text()

    run(scenario())


def test_a_cabin_reconnecting_to_b_closes_its_old_socket_on_a(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            old = await a.cabin()
            new = await b.cabin()
            assert await old.closed() == CloseCode.REPLACED
            await until(lambda: not a.switchboard.is_cabin_online("cabin-1"))
            assert b.switchboard.is_cabin_online("cabin-1")
            await new.nothing_more(0.5)  # and stays connected

    run(scenario())


def test_a_console_back_through_the_other_replica_gets_the_offer_it_missed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            cabin, console = await _taken_through_b(a, b)
            await console.close()
            await until(lambda: not b.switchboard.has_console("dr.a"))
            await cabin.send(wire.SdpOffer(msg_id=new_id(), consultation_id="c-1", sdp="v=0 o"))
            back = await (await a.login("dr.a")).console()  # through A this time
            accepted = await back.expect(wire.CallAccepted)
            assert accepted.consultation_id == "c-1"
            assert (await back.expect(wire.SdpOffer)).sdp == "v=0 o"

    run(scenario())


def test_a_prescription_from_b_reaches_the_cabin_on_a_exactly_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server, prescription_retry_s=1.0) as (a, b):
            cabin, console = await _taken_through_b(a, b)
            draft = wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-1", lines=LINES)
            await console.send(draft)
            issued = await console.expect(wire.PrescriptionMessage)
            received = await cabin.expect(wire.PrescriptionMessage)
            assert received.prescription_id == issued.prescription_id
            await cabin.send(wire.Ack(msg_id=new_id(), ack_of=received.msg_id))
            await cabin.send(wire.Ack(msg_id=new_id(), ack_of=received.msg_id))  # twice
            delivered = await console.expect(wire.PrescriptionDelivered)
            assert delivered.prescription_id == issued.prescription_id
            await console.nothing_more(1.5, ignore=(wire.WaitingRoom,))
            await cabin.nothing_more(1.5, ignore=(wire.QueuePosition,))  # not sent again
            audit = await a.hub.storage.audit_entries(consultation_id="c-1")
            assert [e.action for e in audit].count("prescription.delivered") == 1

    run(scenario())


def test_two_doctors_on_two_replicas_take_the_same_patient_exactly_one_wins(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            cabin = await a.cabin()
            on_a = await (await a.login("dr.a")).console()
            on_b = await (await b.login("dr.b")).console()
            wins = {"dr.a": 0, "dr.b": 0}
            for round_ in range(50):
                consultation_id = f"c-{round_}"
                await a.join(cabin, consultation_id)
                in_b_room = functools.partial(
                    operator.contains, b.switchboard.room, consultation_id
                )
                await until(in_b_room, what="B's room")
                takes = [
                    console.send(
                        wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id)
                    )
                    for console in (on_a, on_b)
                ]
                await asyncio.gather(*takes)
                outcomes = await asyncio.gather(_take_outcome(on_a), _take_outcome(on_b))
                assert sorted(outcomes, key=str) == [None, wire.ErrorCode.CONFLICT], outcomes
                winner, doctor = (on_a, "dr.a") if outcomes[0] is None else (on_b, "dr.b")
                wins[doctor] += 1
                assert (await cabin.expect(wire.CallAccepted)).consultation_id == consultation_id
                record = await a.hub.storage.consultation(consultation_id)
                assert record is not None and record.doctor == doctor
                end = wire.CallEnd(
                    msg_id=new_id(),
                    consultation_id=consultation_id,
                    reason=wire.CallEndReason.COMPLETED,
                )
                await winner.send(end)
                await cabin.expect(wire.CallEnd)
                await until(
                    lambda: (
                        not any(r.switchboard.calls.all() or r.switchboard.room for r in (a, b))
                    ),
                    what="the call ended on both replicas",
                )
            assert sum(wins.values()) == 50

    run(scenario())


async def _take_outcome(console: Peer) -> wire.ErrorCode | None:
    """None if the console got the call, else the refusal's code."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            message = await console.receive()
            if isinstance(message, wire.CallAccepted):
                return None
            if isinstance(message, wire.ErrorMessage):
                return message.code


# --- quotas and rate limits count across the replicas -------------------------------------


def test_a_cabin_hopping_between_replicas_cannot_multiply_its_record_quota(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        clock = FakeClock()  # one hour of the clock throughout: the count is not cut in two
        settings = {"records_per_cabin_per_hour": 2}
        async with two_replicas(tmp_path, redis_server, clock=clock, **settings) as (a, b):
            start = clock.now() - timedelta(days=2)
            records = [
                upload(f"c-{index}", who=patient(), started_at=start + timedelta(hours=index))
                for index in range(3)
            ]
            on_a = await a.cabin()
            for record in records[:2]:
                assert isinstance(await send(on_a, record), wire.RecordAck)
            on_b = await b.cabin()
            refused = await send(on_b, records[2])
            assert isinstance(refused, wire.ErrorMessage)
            assert refused.code is wire.ErrorCode.RATE_LIMITED

    run(scenario())


def test_a_client_spread_over_the_replicas_gets_no_more_sign_in_attempts_than_from_one(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server, login_attempts_per_minute=4) as (a, b):
            # the fleet counts in minutes of the clock: not across the turn of one
            into_minute = time.time() % 60
            if into_minute > 50:
                await asyncio.sleep(61 - into_minute)
            statuses = []
            for attempt in range(6):
                replica = (a, b)[attempt % 2]
                response = await replica.login_response("dr.a", "not the password")
                statuses.append(response.status)
            # each replica alone would allow 4 (8 in all): together, 4
            assert statuses[:4] == [401] * 4, statuses
            assert statuses[4:] == [429, 429], statuses

    run(scenario())


def test_a_cabin_hopping_between_replicas_cannot_multiply_its_new_alerts(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        clock = FakeClock()  # one minute of the clock throughout: the count is not cut in two
        async with two_replicas(tmp_path, redis_server, clock=clock, alerts_per_minute=2) as (
            a,
            b,
        ):
            kinds = [wire.AlertKind.FALL, wire.AlertKind.STILLNESS, wire.AlertKind.PANIC_BUTTON]
            answers: list[wire.Message] = []
            for index, (rig, kind) in enumerate(zip((a, a, b), kinds, strict=True)):
                cabin = await rig.cabin()
                raised = _alert(f"alert-{index}", kind, at=clock.now())
                await cabin.send(raised)
                answers.append(await _answer_to(cabin, raised.msg_id))
            assert [type(answer) for answer in answers] == [wire.Ack, wire.Ack, wire.ErrorMessage]
            refused = answers[2]
            assert isinstance(refused, wire.ErrorMessage)
            assert refused.code is wire.ErrorCode.RATE_LIMITED

    run(scenario())


def _alert(
    alert_id: str, kind: wire.AlertKind = wire.AlertKind.FALL, *, at: datetime | None = None
) -> wire.AlertMessage:
    return wire.AlertMessage(
        msg_id=new_id("alert"),
        alert_id=alert_id,
        cabin_id="cabin-1",
        kind=kind,
        severity=wire.AlertSeverity.CRITICAL,
        raised_at=at or datetime.now(UTC),
        confidence=0.9,
        detail="sol",
    )


async def _answer_to(cabin: Peer, msg_id: str) -> wire.Message:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            message = await cabin.receive()
            if isinstance(message, wire.Ack) and message.ack_of == msg_id:
                return message
            if isinstance(message, wire.ErrorMessage) and message.in_reply_to == msg_id:
                return message


# --- grace, and a replica that dies ---------------------------------------------------------


def test_a_cabin_that_moves_from_a_to_b_within_the_grace_is_not_marked_gone_by_a(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(
            tmp_path, redis_server, cabin_offline_grace_s=1.0, waiting_room_refresh_s=0.3
        ) as (a, b):
            cabin = await a.cabin()
            await a.join(cabin, "c-1")
            await until(lambda: "c-1" in b.switchboard.room, what="B's room")
            await cabin.close()
            await until(lambda: not a.switchboard.is_cabin_online("cabin-1"))
            moved = await b.cabin(live=["c-1"])
            assert (await moved.expect(wire.QueuePosition)).position == 1
            await asyncio.sleep(3.0)  # A's grace timer and both periodic checks have run
            assert await _status(a.hub.storage, "c-1") is ConsultationStatus.WAITING
            assert "c-1" in a.switchboard.room and "c-1" in b.switchboard.room
            doctor = await (await a.login("dr.a")).console()
            entry = await _room_has(doctor, "c-1")
            assert entry.cabin_online  # held by B: online as A's console sees it

    run(scenario())


def test_a_cabin_that_moved_to_b_is_shown_online_by_a_at_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(
            tmp_path, redis_server, cabin_offline_grace_s=600.0, waiting_room_refresh_s=600.0
        ) as (a, b):  # neither A's timer nor its periodic check comes into it
            console = await (await a.login("dr.a")).console()
            cabin = await a.cabin()
            await a.join(cabin, "c-1")
            assert (await _room_has(console, "c-1")).cabin_online
            moved = await b.cabin(live=["c-1"])  # B closes its socket on A (replaced)
            assert await cabin.closed() == CloseCode.REPLACED
            await until(lambda: not a.switchboard.is_cabin_online("cabin-1"))
            assert (await moved.expect(wire.QueuePosition)).position == 1
            await until(
                lambda: [e.cabin_online for e in a.switchboard.waiting_entries()] == [True],
                what="A showing the cabin online",
            )

    run(scenario())


def test_a_killed_replicas_waiting_patient_is_kept_or_ended_once_by_the_other(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Replica A is killed (SIGKILL) with two cabins' patients waiting: the cabin that comes
    back through B keeps its place, past the grace and B's periodic checks; the one that never
    comes back is ended (left) by B once its presence has expired and the grace has passed."""

    async def scenario() -> None:
        settings = _overrides(
            redis_server,
            cabin_offline_grace_s=1.0,
            waiting_room_refresh_s=0.3,
            argon2_cost="test",
        )
        async with running_hub(tmp_path, **settings) as b:
            async with killable_replica(tmp_path, settings) as url_a:
                a = at_url(b, url_a)
                stays, goes = await a.cabin("cabin-1"), await a.cabin("cabin-2")
                await a.join(stays, "c-1")
                await a.join(goes, "c-2")
                await until(lambda: "c-2" in b.switchboard.room, what="B's room")
            # A is dead (SIGKILL), its presence in Redis not yet expired
            back = await b.cabin("cabin-1", live=["c-1"])
            assert (await back.expect(wire.QueuePosition)).consultation_id == "c-1"
            await _until_status(b.hub.storage, "c-2", ConsultationStatus.LEFT)
            await asyncio.sleep(1.5)  # more periodic checks past the grace
            assert await _status(b.hub.storage, "c-1") is ConsultationStatus.WAITING
            assert "c-1" in b.switchboard.room and "c-2" not in b.switchboard.room

    run(scenario())


def test_a_call_goes_on_through_b_when_its_cabins_replica_is_killed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """A killed mid-call: the cabin comes back through B and gets its call again, its
    signaling reaches the doctor, the room and the call look the same from B, no check ends
    them, and a record posted to A then again to B (its ack lost in the kill) is stored once."""

    async def scenario() -> None:
        settings = _overrides(
            redis_server,
            cabin_offline_grace_s=1.0,
            waiting_room_refresh_s=0.3,
            argon2_cost="test",
        )
        record = upload(
            "c-earlier", who=patient(), started_at=datetime.now(UTC) - timedelta(days=2)
        )
        async with running_hub(tmp_path, **settings) as b:
            console = await (await b.login("dr.a")).console()
            async with killable_replica(tmp_path, settings) as url_a:
                a = at_url(b, url_a)
                cabin = await a.cabin()
                await a.join(cabin, "c-1")
                await _room_has(console, "c-1")
                await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
                await console.expect(wire.CallAccepted)
                await cabin.expect(wire.CallAccepted)
                assert isinstance(await send(cabin, record), wire.RecordAck)
            # A is dead (SIGKILL)
            back = await b.cabin(live=["c-1"])
            assert (await back.expect(wire.CallAccepted)).consultation_id == "c-1"
            await back.send(wire.SdpOffer(msg_id=new_id(), consultation_id="c-1", sdp="v=0 again"))
            assert (await console.expect(wire.SdpOffer)).sdp == "v=0 again"
            again = await send(back, record)
            assert isinstance(again, wire.RecordAck) and again.duplicate
            await asyncio.sleep(1.5)  # past the grace, and B's periodic checks
            assert await _status(b.hub.storage, "c-1") is ConsultationStatus.TAKEN
            call = b.switchboard.calls.get("c-1")
            assert call is not None and call.doctor == "dr.a" and call.cabin_id == "cabin-1"
            waiting = b.switchboard.room.get("c-1")
            assert waiting is not None and waiting.taken_by == "dr.a"
            assert (await _room_has(console, "c-1")).cabin_online
            with connect(b.database) as db:
                (count,) = db.execute("SELECT count(*) FROM records").fetchone()
            db.close()
            assert count == 1

    run(scenario())


def test_an_alert_whose_replica_dies_escalates_exactly_once_from_the_other(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        settings = _overrides(
            redis_server, alert_escalation_s=2.0, alert_resync_s=0.5, argon2_cost="test"
        )
        async with running_hub(tmp_path, **settings) as b:
            console = await (await b.login("dr.a")).console()
            async with killable_replica(tmp_path, settings) as url_a:
                cabin = await at_url(b, url_a).cabin()
                raised = _alert("alert-1")
                await cabin.send(raised)
                assert (await cabin.expect(wire.Ack)).ack_of == raised.msg_id
                await until(
                    lambda: [r.alert_id for r in b.switchboard.alerts.open_alerts()] == ["alert-1"],
                    what="B knows the alert",
                )
            # A is dead before the escalation
            escalated = await console.expect(wire.AlertEscalated)
            assert escalated.alert_id == "alert-1"
            await console.nothing_more(2.0, ignore=(wire.WaitingRoom,))
            stored = await b.hub.storage.alert("alert-1")
            assert stored is not None and stored.escalated_at is not None
            audit = await b.hub.storage.audit_entries()
            assert [e.action for e in audit].count("alert.escalated") == 1

    run(scenario())


def test_a_hub_that_redis_refuses_does_not_start_and_leaves_nothing_behind(tmp_path: Path) -> None:
    async def scenario() -> None:
        with redis(tmp_path / "redis") as server:
            client = Redis.from_url(server.url)
            await client.config_set("requirepass", "not-the-hubs")
            await client.aclose()
            config = load_hub_config(
                None,
                data_dir=tmp_path / "hub-data",
                overrides={"port": 0, "argon2_cost": "test", **_overrides(server)},
            )
            write_key_file(config.data_path)
            with pytest.raises(ClusterDown, match="refused this hub"):
                await start_hub(config, key=TEST_KEY)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert tasks == []

    run(scenario())
