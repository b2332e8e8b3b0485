"""Issue 15: what a cabin says in an alert is its own. Another cabin's consultation is removed
from it, an absurd `raised_at` is bounded (the cabin's kept apart), and the patient's "I am
fine" is audited under the cabin that said it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import wire
from hub.alerts import CLOCK_SKEW, RELOAD_WINDOW
from hub.storage import ActorKind, AlertRecord
from tests.hub.hub_rig import FakeClock, Rig, new_id, run, running_hub


def alert(
    kind: wire.AlertKind,
    *,
    clock: FakeClock,
    consultation_id: str | None = None,
    raised_after: timedelta = timedelta(0),
    cabin_id: str = "cabin-1",
) -> wire.AlertMessage:
    return wire.AlertMessage(
        msg_id=new_id("alert"),
        alert_id=new_id("al"),
        cabin_id=cabin_id,
        kind=kind,
        severity=wire.AlertSeverity.CRITICAL,
        raised_at=clock.now() + raised_after,
        consultation_id=consultation_id,
    )


async def stored(rig: Rig, alert_id: str) -> AlertRecord:
    record = await rig.hub.storage.alert(alert_id)
    assert record is not None
    return record


def test_an_alert_naming_another_cabins_consultation_is_kept_without_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await rig.add_agent("agent.all")
            page = await rig.agent_page("agent.all")
            victim = await rig.cabin("cabin-2")
            await rig.join(victim, "c-victim")
            cabin = await rig.cabin()
            await rig.join(cabin, "c-own")

            forged = alert(wire.AlertKind.FALL, clock=clock, consultation_id="c-victim")
            own = alert(wire.AlertKind.STILLNESS, clock=clock, consultation_id="c-own")
            offline = alert(wire.AlertKind.ABSENCE, clock=clock, consultation_id="c-offline")
            shown = {}
            for message in (forged, own, offline):
                await cabin.send(message)
                assert (await cabin.expect(wire.Ack)).ack_of == message.msg_id
                shown[message.alert_id] = await page.expect(wire.AlertMessage)

            assert (await stored(rig, forged.alert_id)).consultation_id is None
            assert shown[forged.alert_id].consultation_id is None
            assert (await stored(rig, own.alert_id)).consultation_id == "c-own"
            # a consultation the hub never saw may be one the cabin made offline: kept
            assert (await stored(rig, offline.alert_id)).consultation_id == "c-offline"
            about_victim = await rig.hub.storage.audit_entries(consultation_id="c-victim")
            assert [e for e in about_victim if e.alert_id] == []

    run(scenario())


def test_a_raised_at_out_of_bounds_is_bounded_and_the_cabins_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            offline = alert(wire.AlertKind.FALL, clock=clock, raised_after=-timedelta(hours=3))
            skewed = alert(wire.AlertKind.STILLNESS, clock=clock, raised_after=CLOCK_SKEW)
            future = alert(wire.AlertKind.ABSENCE, clock=clock, raised_after=timedelta(days=400))
            ancient = alert(
                wire.AlertKind.CALL_FOR_HELP, clock=clock, raised_after=-timedelta(days=4000)
            )
            for message in (offline, skewed, future, ancient):
                await cabin.send(message)
                assert (await cabin.expect(wire.Ack)).ack_of == message.msg_id

            for kept in (offline, skewed):  # raised while offline, or a clock a bit ahead
                record = await stored(rig, kept.alert_id)
                assert (record.raised_at, record.cabin_raised_at) == (kept.raised_at, None)
            record = await stored(rig, future.alert_id)
            assert record.raised_at == clock.now()  # it cannot be later than its arrival
            assert record.cabin_raised_at == future.raised_at
            record = await stored(rig, ancient.alert_id)
            assert record.raised_at == clock.now() - RELOAD_WINDOW
            assert record.cabin_raised_at == ancient.raised_at

            # the cabin's time of an acknowledgement ("I am fine" offline) is bounded alike
            fine = wire.AlertAck(
                msg_id=new_id("ack"),
                alert_id=offline.alert_id,
                acknowledged_by="patient",
                acknowledged_at=clock.now() + timedelta(days=400),
                false_alarm=True,
            )
            await cabin.send(fine)
            assert (await cabin.expect(wire.Ack)).ack_of == fine.msg_id
            assert (await stored(rig, offline.alert_id)).acknowledged_at == clock.now()

    run(scenario())


def test_the_patients_i_am_fine_is_audited_under_the_cabin(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            raised = alert(wire.AlertKind.FALL, clock=clock)
            await cabin.send(raised)
            await cabin.expect(wire.Ack)
            fine = wire.AlertAck(
                msg_id=new_id("ack"),
                alert_id=raised.alert_id,
                acknowledged_by="patient",
                acknowledged_at=clock.now(),
                false_alarm=True,
            )
            await cabin.send(fine)
            assert (await cabin.expect(wire.Ack)).ack_of == fine.msg_id
            entries = [
                (e.action, e.actor_kind, e.actor_id)
                for e in await rig.hub.storage.audit_entries()
                if e.alert_id == raised.alert_id
            ]
            assert entries == [
                ("alert.raised", ActorKind.CABIN, "cabin-1"),
                ("alert.false_alarm", ActorKind.CABIN, "cabin-1"),
            ]
            record = await stored(rig, raised.alert_id)
            assert record.acknowledged_by == "patient"  # who, as the cabin said

    run(scenario())
