"""A record the hub refuses for the cabin's quota stays in the cabin's outbox, to be sent again
later (issue 15, item 6): the real cabin core (SQLCipher store, hub link, record sender)
against a real hub whose quota is two records an hour."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from hub.accounts import provision_cabin
from hub.app import DATABASE_FILE, start_hub
from hub.config import load_hub_config
from tests.e2e.record_cabin import CABIN_ID, cabin_core, pending, play_consultations
from tests.e2e.rig import until
from tests.e2e.test_records import free_port, until_async
from tests.hub.hub_key import TEST_KEY, connect

pytestmark = pytest.mark.timeout(300)


class Refusals(logging.Handler):
    """The record sender's log lines of the hub's refusals."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("records.refused_by_hub"):
            self.lines.append(record.getMessage())


def test_a_record_over_the_quota_stays_in_the_outbox(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = load_hub_config(
            None,
            data_dir=tmp_path / "hub",
            overrides={
                "port": free_port(),
                "argon2_cost": "test",
                "records_per_cabin_per_hour": 2,
            },
        )
        hub = await start_hub(config, key=TEST_KEY)
        refusals = Refusals()
        logger = logging.getLogger("kiosk.record_sender")
        logger.addHandler(refusals)
        try:
            token = await provision_cabin(hub.storage, cabin_id=CABIN_ID, name="Cabine")
            core = await cabin_core(tmp_path / "cabin", hub.url, token)
            try:
                await play_consultations(core, 3)
                await until(lambda: bool(refusals.lines), "the hub's refusal of the third")
                assert refusals.lines[0].endswith("code=rate_limited")
                await until_async(lambda: pending(core), 1, "the two others' acks")
                with connect(tmp_path / "hub" / DATABASE_FILE) as db:
                    (stored,) = db.execute("SELECT count(*) FROM records").fetchone()
                db.close()
                assert stored == 2
                assert await pending(core) == 1  # kept, to be sent again later
            finally:
                await core.aclose()
        finally:
            logger.removeHandler(refusals)
            await hub.stop()

    asyncio.run(scenario())
