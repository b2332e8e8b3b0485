"""Ending a live consultation is one conditional update: of two replicas that end it at once
(a cabin's grace on one, a doctor's hang-up on another), exactly one does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.sqlite_storage import SqliteStorage
from hub.storage import ConsultationStatus
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import run
from tests.hub.test_storage import NOW, _consultation, _doctor


def test_a_live_consultation_is_closed_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            await storage.add_doctor(_doctor("dr.a"))
            for consultation_id in ("c-waiting", "c-taken"):
                await storage.open_consultation(_consultation(consultation_id))
            assert await storage.mark_taken("c-taken", doctor="dr.a", at=NOW)
            for consultation_id in ("c-waiting", "c-taken"):
                results = await asyncio.gather(
                    storage.close_live_consultation(
                        consultation_id, status=ConsultationStatus.LEFT, at=NOW
                    ),
                    storage.close_live_consultation(
                        consultation_id, status=ConsultationStatus.ENDED, at=NOW
                    ),
                )
                assert sorted(results) == [False, True]
                record = await storage.consultation(consultation_id)
                assert record is not None and record.status in (
                    ConsultationStatus.LEFT,
                    ConsultationStatus.ENDED,
                )
            assert not await storage.close_live_consultation(
                "c-unknown", status=ConsultationStatus.LEFT, at=NOW
            )
        finally:
            await storage.close()

    run(scenario())
