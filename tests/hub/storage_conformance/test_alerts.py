"""Alerts a cabin raises: stored once, handled once, escalated once, repeats merged."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import wire
from hub.storage import AckRole, AlertRecord, Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import NOW, alert, assert_utc

LATER = NOW + timedelta(minutes=2, microseconds=17)


def _acknowledged(
    stored: AlertRecord, by: str, role: AckRole, *, false_alarm: bool = False
) -> AlertRecord:
    return dataclasses.replace(
        stored,
        acknowledged_by=by,
        acknowledged_role=role,
        acknowledged_at=LATER,
        false_alarm=false_alarm,
    )


def test_an_alert_is_stored_once_and_comes_back_as_raised(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        raised = dataclasses.replace(
            alert("al-1"), cabin_raised_at=NOW + timedelta(days=400, microseconds=1)
        )
        assert await storage.add_alert(raised) == (raised, True)
        stored = await storage.alert("al-1")
        assert stored == raised
        assert stored is not None
        assert stored.confidence == 0.1 + 0.2  # to the last bit
        assert stored.is_open
        for moment in (stored.raised_at, stored.received_at, stored.cabin_raised_at):
            assert_utc(moment)
        # the same id again, whatever it says: not new, nothing changed
        other = dataclasses.replace(
            alert("al-1", cabin_id="cabin-2", kind=wire.AlertKind.ABSENCE), detail="autre"
        )
        assert await storage.add_alert(other) == (raised, False)
        assert await storage.alert("al-1") == raised
        assert await storage.alert("al-unknown") is None
        bare = dataclasses.replace(alert("al-2"), consultation_id=None, cabin_name="", detail="")
        assert await storage.add_alert(bare) == (bare, True)
        assert await storage.alert("al-2") == bare

    storage.run(scenario)


def test_twenty_copies_of_an_alert_at_once_make_one_new_alert(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            raised = alert("al-1")
            results = await asyncio.gather(
                *(replica.add_alert(raised) for replica in [one, two] * 10)
            )
            assert [new for _, new in results].count(True) == 1
            assert all(stored == raised for stored, _ in results)
            assert await one.open_alerts(since=NOW) == [raised]

    asyncio.run(scenario())


def test_the_first_acknowledgement_stands(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        raised = alert("al-1")
        await storage.add_alert(raised)
        first = _acknowledged(raised, "agent.ß", AckRole.AGENT, false_alarm=True)
        assert await storage.acknowledge_alert(
            "al-1", by="agent.ß", role=AckRole.AGENT, at=LATER, false_alarm=True
        ) == (first, True)
        assert await storage.acknowledge_alert(
            "al-1", by="dr.é", role=AckRole.DOCTOR, at=LATER + timedelta(1), false_alarm=False
        ) == (first, False)
        stored = await storage.alert("al-1")
        assert stored == first
        assert stored is not None and not stored.is_open
        assert_utc(stored.acknowledged_at)
        assert (
            await storage.acknowledge_alert(
                "al-unknown", by="x", role=AckRole.PATIENT, at=LATER, false_alarm=False
            )
            is None
        )
        assert await storage.open_alerts(since=NOW - timedelta(days=1)) == []

    storage.run(scenario)


def test_of_twenty_acknowledgements_at_once_one_is_recorded(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_alert(alert("al-1"))
        roles = list(AckRole)
        results = await asyncio.gather(
            *(
                storage.acknowledge_alert(
                    "al-1",
                    by=f"person-{n}",
                    role=roles[n % len(roles)],
                    at=LATER,
                    false_alarm=n % 2 == 0,
                )
                for n in range(20)
            )
        )
        assert all(result is not None for result in results)
        recorded = [result[1] for result in results if result is not None]
        assert recorded.count(True) == 1
        winner = recorded.index(True)
        stored = await storage.alert("al-1")
        assert stored is not None and stored.acknowledged_by == f"person-{winner}"
        assert stored.false_alarm is (winner % 2 == 0)
        assert all(result is not None and result[0] == stored for result in results)

    storage.run(scenario)


def test_an_open_alert_is_escalated_once(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        raised = alert("al-1")
        await storage.add_alert(raised)
        escalations = await asyncio.gather(
            *(storage.mark_alert_escalated("al-1", at=LATER) for _ in range(20))
        )
        done = [e for e in escalations if e is not None]
        assert done == [dataclasses.replace(raised, escalated_at=LATER)]
        assert_utc(done[0].escalated_at)
        assert await storage.mark_alert_escalated("al-1", at=LATER) is None
        assert await storage.alert("al-1") == done[0]
        # an escalated alert is still open, and can be acknowledged
        assert await storage.open_alerts(since=NOW) == done
        await storage.add_alert(alert("al-2"))
        await storage.acknowledge_alert(
            "al-2", by="p", role=AckRole.PATIENT, at=LATER, false_alarm=False
        )
        assert await storage.mark_alert_escalated("al-2", at=LATER) is None
        assert await storage.mark_alert_escalated("al-unknown", at=LATER) is None

    storage.run(scenario)


def test_open_alerts_since_a_time_oldest_first(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        for minutes, alert_id in [(3, "al-c"), (1, "al-a"), (4, "al-d"), (2, "al-b"), (0, "al-0")]:
            await storage.add_alert(alert(alert_id, received_at=NOW + timedelta(minutes=minutes)))
        await storage.acknowledge_alert(
            "al-b", by="p", role=AckRole.PATIENT, at=LATER, false_alarm=False
        )
        since = NOW + timedelta(minutes=1)
        assert [a.alert_id for a in await storage.open_alerts(since=since)] == [
            "al-a",
            "al-c",
            "al-d",
        ]
        assert [a.alert_id for a in await storage.open_alerts(since=since, limit=2)] == [
            "al-a",
            "al-c",
        ]
        after = since + timedelta(microseconds=1)
        assert [a.alert_id for a in await storage.open_alerts(since=after)] == ["al-c", "al-d"]

    storage.run(scenario)


def test_repeats_merge_into_the_open_alert(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        head = alert("al-1", received_at=NOW)
        await storage.add_alert(head)
        repeat = alert("al-2", received_at=NOW + timedelta(seconds=10))
        merged = await storage.add_repeat(repeat, head_id="al-1", keep=True)
        assert merged == dataclasses.replace(head, repeat_count=2, last_raised_at=repeat.raised_at)
        assert await storage.alert("al-2") == dataclasses.replace(repeat, merged_into="al-1")
        # kept again under a known id: counted once only
        assert await storage.add_repeat(repeat, head_id="al-1", keep=True) == merged
        # not kept: counted, `count` at once; an older repeat leaves the latest time
        older = alert("al-3", received_at=NOW + timedelta(seconds=20), raised_at=NOW)
        counted = await storage.add_repeat(older, head_id="al-1", keep=False, count=5)
        assert counted == dataclasses.replace(merged, repeat_count=7)
        assert await storage.alert("al-3") is None
        newest = alert("al-4", received_at=NOW + timedelta(seconds=30))
        counted = await storage.add_repeat(newest, head_id="al-1", keep=True)
        assert counted is not None
        assert (counted.repeat_count, counted.last_raised_at) == (8, newest.raised_at)
        assert_utc(counted.last_raised_at)
        assert await storage.merged_alert_ids("al-1", limit=10) == ["al-2", "al-4"]
        assert await storage.merged_alert_ids("al-1", limit=1) == ["al-2"]
        assert await storage.merged_alert_ids("al-2", limit=10) == []
        # the merged ones are not open alerts of their own
        assert [a.alert_id for a in await storage.open_alerts(since=NOW)] == ["al-1"]
        # acknowledged with their head
        result = await storage.acknowledge_alert(
            "al-1", by="agent.ß", role=AckRole.AGENT, at=LATER, false_alarm=False
        )
        assert result is not None and result[1]
        for alert_id in ("al-2", "al-4"):
            stored = await storage.alert(alert_id)
            assert stored is not None
            assert (
                stored.acknowledged_by,
                stored.acknowledged_role,
                stored.acknowledged_at,
                stored.false_alarm,
            ) == ("agent.ß", AckRole.AGENT, LATER, False)
        # no longer open: nothing merges into it
        late = alert("al-5", received_at=LATER)
        assert await storage.add_repeat(late, head_id="al-1", keep=True) is None
        assert await storage.alert("al-5") is None
        assert await storage.add_repeat(late, head_id="al-unknown", keep=True) is None

    storage.run(scenario)


def test_repeats_counted_at_once_are_all_counted(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            head = alert("al-1")
            await one.add_alert(head)
            replicas = [one, two] * 10
            await asyncio.gather(
                *(
                    replica.add_repeat(alert(f"al-x{n}"), head_id="al-1", keep=False)
                    for n, replica in enumerate(replicas)
                )
            )
            await asyncio.gather(
                *(
                    replica.add_repeat(alert(f"al-k{n}"), head_id="al-1", keep=True)
                    for n, replica in enumerate(replicas)
                )
            )
            await asyncio.gather(
                *(
                    replica.add_repeat(alert("al-same"), head_id="al-1", keep=True)
                    for replica in replicas
                )
            )
            stored = await two.alert("al-1")
            assert stored is not None and stored.repeat_count == 1 + 20 + 20 + 1
            assert len(await one.merged_alert_ids("al-1", limit=100)) == 21

    asyncio.run(scenario())


def test_the_operator_clears_a_cabins_open_alerts(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        head = alert("al-1", received_at=NOW)
        other_head = alert(
            "al-2", received_at=NOW + timedelta(seconds=1), kind=wire.AlertKind.DEVICE
        )
        handled = alert("al-3", received_at=NOW + timedelta(seconds=2), kind=wire.AlertKind.PRINTER)
        elsewhere = alert("al-4", cabin_id="cabin-2")
        for each in (head, other_head, handled, elsewhere):
            await storage.add_alert(each)
        await storage.add_repeat(
            alert("al-5", received_at=NOW + timedelta(seconds=3)), head_id="al-1", keep=True
        )
        await storage.acknowledge_alert(
            "al-3", by="p", role=AckRole.PATIENT, at=NOW, false_alarm=False
        )
        cleared = await storage.clear_alerts("cabin-1", by="ops.łukasz", at=LATER)
        assert sorted(a.alert_id for a in cleared) == ["al-1", "al-2", "al-5"]
        for each in cleared:
            assert await storage.alert(each.alert_id) == each
            assert (each.acknowledged_by, each.acknowledged_role, each.acknowledged_at) == (
                "ops.łukasz",
                AckRole.OPERATOR,
                LATER,
            )
            assert each.false_alarm is True
        by_id = {a.alert_id: a for a in cleared}
        assert by_id["al-1"].repeat_count == 2
        assert by_id["al-5"].merged_into == "al-1"
        third = await storage.alert("al-3")
        assert third is not None and third.acknowledged_role is AckRole.PATIENT
        assert await storage.open_alerts(since=NOW - timedelta(days=1)) == [elsewhere]
        assert await storage.clear_alerts("cabin-1", by="ops", at=LATER) == []

    storage.run(scenario)
