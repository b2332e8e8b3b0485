"""A cabin's alerts: stored once, sent to the agents of the cabin (and to the doctor in a call
with it), acknowledged once, escalated to every console when nobody acknowledges them, and
all of it kept across a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import wire
from hub.alerts import escalates
from hub.app import start_hub
from hub.config import load_hub_config
from hub.storage import AckRole, ActorKind, AlertRecord
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import FakeClock, Peer, Rig, new_id, run, running_hub

SHORT_S = 1.0  # the escalation: an ack sent before it has ample time, even on a busy machine


def alert(
    alert_id: str,
    *,
    cabin_id: str = "cabin-1",
    kind: wire.AlertKind = wire.AlertKind.FALL,
    severity: wire.AlertSeverity = wire.AlertSeverity.CRITICAL,
    consultation_id: str | None = None,
) -> wire.AlertMessage:
    return wire.AlertMessage(
        msg_id=new_id("alert"),
        alert_id=alert_id,
        cabin_id=cabin_id,
        kind=kind,
        severity=severity,
        raised_at=datetime(2026, 11, 23, 8, 59, tzinfo=UTC),
        confidence=0.87,
        consultation_id=consultation_id,
        detail="sol 2.1 s",
    )


def ack(alert_id: str, *, by: str = "whoever", false_alarm: bool = False) -> wire.AlertAck:
    return wire.AlertAck(
        msg_id=new_id("ack"),
        alert_id=alert_id,
        acknowledged_by=by,
        acknowledged_at=datetime(2026, 11, 23, 9, 0, 5, tzinfo=UTC),
        false_alarm=false_alarm,
    )


async def raise_alert(cabin: Peer, message: wire.AlertMessage) -> None:
    await cabin.send(message)
    assert (await cabin.expect(wire.Ack)).ack_of == message.msg_id


async def stored(rig: Rig, alert_id: str) -> AlertRecord:
    record = await rig.hub.storage.alert(alert_id)
    assert record is not None
    return record


def test_the_rule_escalates_critical_distress_only() -> None:
    assert escalates(wire.AlertKind.FALL, wire.AlertSeverity.CRITICAL)
    assert escalates(wire.AlertKind.STILLNESS, wire.AlertSeverity.CRITICAL)
    assert not escalates(wire.AlertKind.ABSENCE, wire.AlertSeverity.WARNING)
    assert not escalates(wire.AlertKind.PRINTER, wire.AlertSeverity.CRITICAL)
    assert not escalates(wire.AlertKind.DEVICE, wire.AlertSeverity.CRITICAL)


def test_an_alert_goes_to_the_agents_of_its_cabin_only_and_is_stored_once(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await rig.add_agent("agent.one", "cabin-1")
            await rig.add_agent("agent.two", "cabin-2")
            await rig.add_agent("agent.all")
            one, two, everyone = [
                await rig.agent_page(n) for n in ("agent.one", "agent.two", "agent.all")
            ]
            console = await (await rig.login("dr.a")).console()  # not in a call
            cabin = await rig.cabin()
            message = alert("al-1")
            await raise_alert(cabin, message)
            for page in (one, everyone):
                got = await page.expect(wire.AlertMessage)
                assert got.alert_id == "al-1"
                assert got.cabin_name == "Cabine cabin-1"
                assert (got.kind, got.confidence, got.detail) == (
                    wire.AlertKind.FALL,
                    0.87,
                    "sol 2.1 s",
                )
            await two.nothing_more()
            await console.nothing_more(ignore=(wire.WaitingRoom,))
            record = await stored(rig, "al-1")
            assert record.received_at == clock.now()
            assert record.raised_at == message.raised_at
            assert record.is_open and record.escalated_at is None

            await raise_alert(cabin, message)  # sent again (no Ack seen): nothing new
            await one.nothing_more()
            entries = [e for e in await rig.hub.storage.audit_entries() if e.alert_id]
            assert [(e.action, e.actor_kind, e.actor_id) for e in entries] == [
                ("alert.raised", ActorKind.CABIN, "cabin-1")
            ]

    run(scenario())


def test_an_agents_ack_reaches_the_cabin_and_the_other_pages_and_the_first_stands(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, alert_escalation_s=SHORT_S) as rig:
            await rig.add_agent("agent.one", "cabin-1")
            await rig.add_agent("agent.all")
            one, everyone = await rig.agent_page("agent.one"), await rig.agent_page("agent.all")
            console = await (await rig.login("dr.a")).console()
            cabin = await rig.cabin()
            await raise_alert(cabin, alert("al-1"))
            await one.expect(wire.AlertMessage)
            await everyone.expect(wire.AlertMessage)

            clock.advance(12)
            taken = ack("al-1", by="forged-name", false_alarm=False)
            await one.send(taken)
            assert (await one.expect(wire.Ack)).ack_of == taken.msg_id
            relayed = await cabin.expect(wire.AlertAck)
            assert relayed.acknowledged_by == "agent.one"
            assert relayed.acknowledged_at == clock.now()
            assert not relayed.false_alarm
            assert (await everyone.expect(wire.AlertAck)).acknowledged_by == "agent.one"
            record = await stored(rig, "al-1")
            assert (record.acknowledged_by, record.acknowledged_role) == (
                "agent.one",
                AckRole.AGENT,
            )
            assert record.acknowledged_at == clock.now() and record.false_alarm is False

            late = ack("al-1", false_alarm=True)
            await everyone.send(late)
            assert (await everyone.expect(wire.Ack)).ack_of == late.msg_id
            assert (await stored(rig, "al-1")).acknowledged_by == "agent.one"
            await cabin.nothing_more(SHORT_S * 2)  # no second AlertAck, no escalation
            await console.nothing_more(ignore=(wire.WaitingRoom,))
            actions = [e.action for e in await rig.hub.storage.audit_entries() if e.alert_id]
            assert actions == ["alert.raised", "alert.acknowledged"]

    run(scenario())


def test_an_agent_cannot_ack_another_cabins_alert_nor_an_unknown_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.two", "cabin-2")
            page = await rig.agent_page("agent.two")
            await raise_alert(await rig.cabin(), alert("al-1"))
            for alert_id, code in (
                ("al-1", wire.ErrorCode.UNAUTHORIZED),
                ("al-nope", wire.ErrorCode.NOT_FOUND),
            ):
                attempt = ack(alert_id)
                await page.send(attempt)
                refused = await page.expect(wire.ErrorMessage)
                assert (refused.code, refused.in_reply_to) == (code, attempt.msg_id)
            assert (await stored(rig, "al-1")).is_open

    run(scenario())


def test_the_doctor_in_a_call_with_the_cabin_is_shown_its_alert_and_may_ack_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.one", "cabin-1")
            page = await rig.agent_page("agent.one")
            cabin = await rig.cabin()
            in_call = await (await rig.login("dr.a")).console()
            other = await (await rig.login("dr.b")).console()
            await rig.join(cabin, "c-1")
            await in_call.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await in_call.expect(wire.CallAccepted)
            await raise_alert(cabin, alert("al-1", consultation_id="c-1"))
            assert (await in_call.expect(wire.AlertMessage)).cabin_name == "Cabine cabin-1"
            await page.expect(wire.AlertMessage)
            await raise_alert(cabin, alert("al-paper", kind=wire.AlertKind.PRINTER))
            assert (await page.expect(wire.AlertMessage)).kind is wire.AlertKind.PRINTER
            await in_call.nothing_more(ignore=(wire.WaitingRoom,))  # printers: agents only

            stranger = ack("al-1")
            await other.send(stranger)
            assert (await other.expect(wire.ErrorMessage)).code is wire.ErrorCode.UNAUTHORIZED

            mine = ack("al-1", by="someone")
            await in_call.send(mine)
            assert (await in_call.expect(wire.AlertAck)).acknowledged_by == "dr.a"
            assert (await cabin.expect(wire.AlertAck)).acknowledged_by == "dr.a"
            assert (await page.expect(wire.AlertAck)).acknowledged_by == "dr.a"
            record = await stored(rig, "al-1")
            assert record.acknowledged_role is AckRole.DOCTOR
            assert record.consultation_id == "c-1"

    run(scenario())


def test_nobody_acknowledges_so_every_console_and_agent_page_is_told_to_call(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, alert_escalation_s=SHORT_S, emergency_number="112") as rig:
            await rig.add_agent("agent.one", "cabin-1")
            page = await rig.agent_page("agent.one")
            console = await (await rig.login("dr.a")).console()
            cabin = await rig.cabin()
            await raise_alert(cabin, alert("al-1"))
            await raise_alert(cabin, alert("al-warn", severity=wire.AlertSeverity.WARNING))
            await raise_alert(cabin, alert("al-paper", kind=wire.AlertKind.PRINTER))
            escalated = await console.expect(wire.AlertEscalated)
            assert escalated.alert_id == "al-1"
            assert escalated.emergency_number == "112"
            assert escalated.cabin_name == "Cabine cabin-1"
            assert escalated.kind is wire.AlertKind.FALL
            assert (await page.expect(wire.AlertEscalated)).alert_id == "al-1"
            record = await stored(rig, "al-1")
            assert record.escalated_at is not None and record.is_open
            for other in ("al-warn", "al-paper"):
                assert (await stored(rig, other)).escalated_at is None

            late = await (await rig.login("dr.b")).console()  # connects after: told too
            told = await late.expect(wire.AlertSummary)
            assert told.emergency_number == "112"
            assert [(c.cabin_name, c.open_count, c.escalated_count) for c in told.cabins] == [
                ("Cabine cabin-1", 1, 1)
            ]
            assert told.cabins[0].latest[0].alert_id == "al-1"
            assert told.cabins[0].latest[0].escalated_at == record.escalated_at
            await rig.agent_page("agent.one")  # a page reloaded: the open ones, in one message
            reloaded = (await rig.agent_page("agent.one")).seen[-1]
            assert isinstance(reloaded, wire.AlertSummary)
            (cabin_1,) = reloaded.cabins
            assert (cabin_1.open_count, cabin_1.raised_count, cabin_1.escalated_count) == (3, 3, 1)
            assert cabin_1.latest[0].alert_id == "al-1"  # the escalated one first
            assert {a.alert_id for a in cabin_1.latest} == {"al-1", "al-warn", "al-paper"}

            handled = ack("al-1", by="x")
            await late.send(handled)
            assert (await late.expect(wire.Ack)).ack_of == handled.msg_id
            assert (await console.expect(wire.AlertAck)).acknowledged_by == "dr.b"
            assert (await page.expect(wire.AlertAck)).acknowledged_by == "dr.b"
            assert (await cabin.expect(wire.AlertAck)).acknowledged_by == "dr.b"
            actions = [
                (e.action, e.actor_kind)
                for e in await rig.hub.storage.audit_entries()
                if e.alert_id == "al-1"
            ]
            assert actions == [
                ("alert.raised", ActorKind.CABIN),
                ("alert.escalated", ActorKind.HUB),
                ("alert.acknowledged", ActorKind.DOCTOR),
            ]

    run(scenario())


def test_the_patients_i_am_fine_ends_the_alert_before_it_escalates(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()  # the cabin's times below are this clock's
        async with running_hub(tmp_path, clock=clock, alert_escalation_s=SHORT_S) as rig:
            await rig.add_agent("agent.one", "cabin-1")
            page = await rig.agent_page("agent.one")
            console = await (await rig.login("dr.a")).console()
            cabin = await rig.cabin()
            await raise_alert(cabin, alert("al-1"))
            await page.expect(wire.AlertMessage)
            fine = ack("al-1", by="patient", false_alarm=True)
            await cabin.send(fine)
            assert (await cabin.expect(wire.Ack)).ack_of == fine.msg_id
            relayed = await page.expect(wire.AlertAck)
            assert (relayed.acknowledged_by, relayed.false_alarm) == ("patient", True)
            assert relayed.acknowledged_at == fine.acknowledged_at  # the cabin's own time
            record = await stored(rig, "al-1")
            assert record.acknowledged_role is AckRole.PATIENT and record.false_alarm
            await console.nothing_more(SHORT_S * 2, ignore=(wire.WaitingRoom,))
            await cabin.nothing_more()  # not sent back to the cabin

            await raise_alert(cabin, alert("al-2"))
            helper = ack("al-2", by="Mme-Besson")
            await cabin.send(helper)
            await cabin.expect(wire.Ack)
            record = await stored(rig, "al-2")
            assert (record.acknowledged_by, record.acknowledged_role) == (
                "Mme-Besson",
                AckRole.CABIN_AGENT,
            )
            other = await rig.cabin("cabin-2")
            await other.send(ack("al-2"))
            assert (await other.expect(wire.ErrorMessage)).code is wire.ErrorCode.UNAUTHORIZED

    run(scenario())


def test_an_alert_handled_while_its_cabin_was_away_is_acknowledged_on_resend(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            await rig.add_agent("agent.one", "cabin-1")
            page = await rig.agent_page("agent.one")
            cabin = await rig.cabin()
            message = alert("al-1")
            await raise_alert(cabin, message)
            await cabin.close()
            await page.send(ack("al-1"))
            await page.expect(wire.Ack)
            cabin = await rig.cabin()
            await cabin.send(message)
            assert (await cabin.expect(wire.AlertAck)).acknowledged_by == "agent.one"
            assert (await cabin.expect(wire.Ack)).ack_of == message.msg_id

    run(scenario())


def test_open_alerts_survive_a_restart_and_escalate_at_once_when_overdue(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await raise_alert(await rig.cabin(), alert("al-1"))
            tokens = rig.tokens
        clock.advance(61)  # longer than the default 60 s, while the hub was down
        config = load_hub_config(
            None,
            data_dir=tmp_path / "hub-data",
            overrides={"port": 0, "argon2_cost": "test"},
        )
        hub = await start_hub(config, key=TEST_KEY, clock=clock, console_dir=tmp_path / "console")
        rig = Rig(hub, tokens)
        try:
            console = await (await rig.login("dr.a")).console()
            told = await console.expect(wire.AlertSummary)
            (escalated,) = told.cabins[0].latest
            assert escalated.alert_id == "al-1"
            assert escalated.escalated_at == clock.now()
            assert told.emergency_number == "15"
        finally:
            await rig.close()
            await hub.stop()

    run(scenario())
