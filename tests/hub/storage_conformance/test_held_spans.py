"""`BookingStore.held_spans` on both backends: the spans of the appointments not cancelled, of
some cabins or all, in a range, by start, to the microsecond, in UTC: what the free-slot search
reads instead of whole appointments (nothing of the patients, nothing to unseal)."""

from __future__ import annotations

from datetime import timedelta

from hub.booking import HeldSpan
from hub.storage import Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import NOW, SLOT, appointment, assert_utc

LATER = timedelta(minutes=15)


def test_held_spans_are_those_of_appointments_not_cancelled_by_start(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        early = appointment("ap-early", starts_at=SLOT, code="100001")
        theirs = appointment("ap-theirs", cabin_id="cabin-2", starts_at=SLOT + LATER, code="2")
        gone = appointment("ap-gone", starts_at=SLOT + 2 * LATER, code="100003")
        far = appointment("ap-far", starts_at=SLOT + timedelta(days=1), code="100004")
        for booked in (gone, theirs, far, early):
            await storage.add_appointment(booked)
        await storage.cancel_appointment("ap-gone", at=NOW, reason="", by="coord")
        await storage.mark_noshows(started_before=SLOT + timedelta(minutes=1), at=NOW)  # holds
        day = {"starts_from": SLOT, "starts_before": SLOT + timedelta(hours=1)}
        spans = await storage.held_spans(cabin_ids=None, **day)
        assert spans == [
            HeldSpan("cabin-1", early.starts_at, early.ends_at),
            HeldSpan("cabin-2", theirs.starts_at, theirs.ends_at),
        ]
        for span in spans:
            assert_utc(span.starts_at)
            assert_utc(span.ends_at)
        assert await storage.held_spans(cabin_ids=["cabin-2", "cabin-9"], **day) == spans[1:]
        assert await storage.held_spans(cabin_ids=[], **day) == []
        # from included, before excluded
        assert (
            await storage.held_spans(
                cabin_ids=None, starts_from=SLOT + LATER, starts_before=SLOT + timedelta(days=1)
            )
            == spans[1:]
        )

    storage.run(scenario)
