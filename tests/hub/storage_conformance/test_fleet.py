"""The fleet's health (issue 18): heartbeats, statuses, self-test reports, call quality and the
consultation counts; the operators' accounts and an alert the hub resolved itself. The same on
both backends."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import msgspec
import pytest

import wire
from hub.errors import AccountError
from hub.fleet import KEPT
from hub.storage import AccountRole, AckRole, OperatorRecord, SessionRecord, Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import (
    NOW,
    PASSWORD_HASH,
    agent,
    alert,
    assert_utc,
    consultation,
    doctor,
)


def status(
    version: str = "1.4.0", *, paper: wire.PaperLevel = wire.PaperLevel.LOW
) -> wire.CabinStatus:
    return wire.CabinStatus(
        msg_id="st-1",
        sent_at=NOW,
        software_version=version,
        instruments=[
            wire.InstrumentState(
                instrument_id="tensio-1", kind="blood_pressure", connected=True, battery_percent=14
            ),
            wire.InstrumentState(instrument_id="thermo-1", kind="thermometer", connected=False),
        ],
        printer_problem=wire.PrinterProblem.OUT_OF_PAPER if paper is wire.PaperLevel.OUT else None,
        paper=paper,
        disk_free_mb=12_345,
        hub_unreachable_since=NOW - timedelta(hours=3, microseconds=5),
    )


def report(report_id: str, *, minutes: float = 0, failed: bool = True) -> wire.SelfTestReport:
    finished = NOW + timedelta(minutes=minutes)
    return wire.SelfTestReport(
        msg_id=f"m-{report_id}",
        report_id=report_id,
        trigger=wire.SelfTestTrigger.NIGHTLY,
        started_at=finished - timedelta(seconds=40),
        finished_at=finished,
        results=[
            wire.SelfTestResult(
                check=wire.SelfTestCheck.CAMERA,
                outcome=wire.SelfTestOutcome.FAILED if failed else wire.SelfTestOutcome.PASSED,
                detail="images noires — l'objectif est-il couvert ?" if failed else "",
                duration_ms=1200,
            ),
            wire.SelfTestResult(
                check=wire.SelfTestCheck.INSTRUMENT,
                outcome=wire.SelfTestOutcome.WARNING,
                subject="tensio-1",
                detail="pile faible",
            ),
        ],
    )


def quality(
    consultation_id: str, seconds: float, kbps: float, *, final: bool = False
) -> wire.CallQuality:
    return wire.CallQuality(
        msg_id=f"q-{consultation_id}-{seconds}",
        consultation_id=consultation_id,
        sent_at=NOW + timedelta(seconds=seconds),
        sample=wire.CallQualitySample(
            sent_kbps=kbps,
            received_kbps=kbps / 2,
            loss_percent=1.5,
            round_trip_ms=None if final else 42.5,
        ),
        final=final,
    )


def test_heartbeats_and_statuses_come_back_as_stored(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        assert await storage.cabin_health() == []
        await storage.touch_cabins([], at=NOW)  # nothing to do
        await storage.touch_cabins(["cabin-2", "cabin-1"], at=NOW)
        first = await storage.cabin_health()
        assert [h.cabin_id for h in first] == ["cabin-1", "cabin-2"]
        assert first[0].last_seen_at == NOW and first[0].status is None
        assert_utc(first[0].last_seen_at)
        later = NOW + timedelta(seconds=61)
        await storage.put_cabin_status("cabin-1", status(), at=later)
        await storage.touch_cabins(["cabin-1"], at=NOW)  # an older touch never goes back
        health = {h.cabin_id: h for h in await storage.cabin_health()}
        assert health["cabin-1"].last_seen_at == later
        assert health["cabin-1"].status == status()
        assert health["cabin-1"].status_received_at == later
        assert_utc(health["cabin-1"].status_received_at)
        await storage.put_cabin_status("cabin-1", status("1.5.0"), at=later + timedelta(seconds=1))
        health = {h.cabin_id: h for h in await storage.cabin_health()}
        cabin = health["cabin-1"]
        assert cabin.status is not None and cabin.status.software_version == "1.5.0"
        assert health["cabin-2"].last_seen_at == NOW

    storage.run(scenario)


def test_a_self_test_report_is_stored_once_and_the_latest_is_shown(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        assert await storage.add_selftest("cabin-1", report("r-1"), at=NOW)
        assert not await storage.add_selftest("cabin-1", report("r-1"), at=NOW)  # sent again
        assert await storage.add_selftest("cabin-2", report("r-1"), at=NOW)  # another cabin's
        # an older report arriving late does not replace the latest
        assert await storage.add_selftest(
            "cabin-1", report("r-2", minutes=10, failed=False), at=NOW
        )
        assert await storage.add_selftest("cabin-1", report("r-0", minutes=-10), at=NOW)
        health = {h.cabin_id: h for h in await storage.cabin_health()}
        latest = health["cabin-1"].selftest
        assert latest is not None and latest.report == report("r-2", minutes=10, failed=False)
        assert_utc(latest.received_at)
        assert health["cabin-1"].last_seen_at is None  # a report alone is not a heartbeat
        other = health["cabin-2"].selftest
        assert other is not None and other.report == report("r-1")
        # reports are pruned after KEPT
        much_later = NOW + KEPT + timedelta(days=1)
        assert await storage.add_selftest(
            "cabin-1", report("r-3", minutes=KEPT.total_seconds()), at=much_later
        )
        assert await storage.add_selftest("cabin-1", report("r-1"), at=much_later)  # forgotten

    storage.run(scenario)


def test_each_call_keeps_its_latest_sample(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.put_call_quality("cabin-1", quality("c-1", 10, 800), at=NOW)
        await storage.put_call_quality("cabin-1", quality("c-1", 30, 900, final=True), at=NOW)
        await storage.put_call_quality("cabin-1", quality("c-1", 20, 100), at=NOW)  # late, older
        await storage.put_call_quality("cabin-1", quality("c-2", 5, 600), at=NOW)
        await storage.put_call_quality("cabin-2", quality("c-1", 1, 50), at=NOW)  # another cabin
        calls = await storage.call_qualities(since=NOW)
        assert [(c.cabin_id, c.consultation_id) for c in calls] == [
            ("cabin-2", "c-1"),
            ("cabin-1", "c-2"),
            ("cabin-1", "c-1"),
        ]
        last = calls[-1]
        assert last.final and last.sample == quality("c-1", 30, 900, final=True).sample
        assert last.sent_at == NOW + timedelta(seconds=30)
        assert_utc(last.sent_at)
        assert [
            c.consultation_id
            for c in await storage.call_qualities(since=NOW + timedelta(seconds=6))
        ] == ["c-1"]
        # a month later, the old calls are pruned as a new one arrives
        later = NOW + KEPT + timedelta(days=1)
        await storage.put_call_quality(
            "cabin-3", msgspec.structs.replace(quality("c-9", 0, 1), sent_at=later), at=later
        )
        assert [c.consultation_id for c in await storage.call_qualities(since=NOW)] == ["c-9"]

    storage.run(scenario)


def test_consultations_are_counted_per_cabin_since_a_time(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.open_consultation(consultation("c-1", joined_at=NOW - timedelta(days=3)))
        await storage.open_consultation(consultation("c-2", joined_at=NOW))
        await storage.open_consultation(consultation("c-3", joined_at=NOW + timedelta(hours=1)))
        await storage.open_consultation(consultation("c-4", cabin_id="cabin-2", joined_at=NOW))
        assert await storage.consultation_counts(since=NOW) == {"cabin-1": 2, "cabin-2": 1}
        assert await storage.consultation_counts(since=NOW - timedelta(days=7)) == {
            "cabin-1": 3,
            "cabin-2": 1,
        }
        assert await storage.consultation_counts(since=NOW + timedelta(days=1)) == {}

    storage.run(scenario)


def operator(username: str = "opé.rateur") -> OperatorRecord:
    return OperatorRecord(
        username=username,
        password_hash=PASSWORD_HASH,
        display_name="Exploitation — Cantal",
        failed_attempts=0,
        locked_until=None,
        created_at=NOW,
    )


def test_an_operator_signs_in_like_the_others_and_names_stay_unique(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_operator(operator())
        assert await storage.operator("opé.rateur") == operator()
        assert await storage.operator("nobody") is None
        account = await storage.login_account("opé.rateur")
        assert account is not None and account.role is AccountRole.OPERATOR
        assert account.password_hash == PASSWORD_HASH
        await storage.add_doctor(doctor("dr.a"))
        await storage.add_agent(agent("agent.a"))
        for taken in ("dr.a", "agent.a", "opé.rateur"):
            with pytest.raises(AccountError):
                await storage.add_operator(operator(taken))
        with pytest.raises(AccountError):
            await storage.add_doctor(doctor("opé.rateur"))
        with pytest.raises(AccountError):
            await storage.add_agent(agent("opé.rateur"))
        await storage.set_password_hash("opé.rateur", "$argon2id$new")
        stored = await storage.operator("opé.rateur")
        assert stored is not None and stored.password_hash == "$argon2id$new"
        assert await storage.set_account_disabled("opé.rateur", True)
        account = await storage.login_account("opé.rateur")
        assert account is not None and account.disabled
        session = SessionRecord(
            token_sha256="f" * 64,
            username="opé.rateur",
            csrf_token="csrf",
            created_at=NOW,
            expires_at=NOW + timedelta(hours=8),
            role=AccountRole.OPERATOR,
        )
        await storage.add_session(session)
        assert await storage.session("f" * 64, now=NOW) == session

    storage.run(scenario)


def test_an_alert_the_hub_resolved_is_acknowledged_by_the_hub_once(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        raised = dataclasses.replace(alert("hub-offline-1"), kind=wire.AlertKind.CABIN_OFFLINE)
        _, new = await storage.add_alert(raised)
        assert new
        _, again = await storage.add_alert(raised)  # another replica, the same outage
        assert not again
        results = await asyncio.gather(
            *(
                storage.acknowledge_alert(
                    "hub-offline-1",
                    by="hub:back_online",
                    role=AckRole.HUB,
                    at=NOW,
                    false_alarm=False,
                )
                for _ in range(2)
            )
        )
        assert sorted(r[1] for r in results if r is not None) == [False, True]
        stored = await storage.alert("hub-offline-1")
        assert stored is not None and stored.acknowledged_role is AckRole.HUB
        assert stored.acknowledged_by == "hub:back_online"

    storage.run(scenario)
