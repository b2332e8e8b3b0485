"""The hub's per-cabin limit of appointment-code checks is the configuration's
(`[booking] code_tries_per_cabin_per_hour`), not only the code's default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import wire
from hub.code_check import CHECKS_PER_HOUR
from tests.hub.hub_rig import FakeClock, running_hub
from tests.hub.test_code_check import CODE, appointment, booked, check

TRIES = 3


def test_the_configured_number_of_code_tries_holds(tmp_path: Path) -> None:
    assert TRIES != CHECKS_PER_HOUR

    async def scenario() -> None:
        clock = FakeClock()
        async with (
            asyncio.timeout(60),
            running_hub(
                tmp_path, clock=clock, booking={"code_tries_per_cabin_per_hour": TRIES}
            ) as rig,
        ):
            await booked(rig, appointment())
            cabin = await rig.cabin("cabin-1")
            for attempt in range(TRIES):
                answer = await check(cabin, f"{attempt:06d}")
                assert isinstance(answer, wire.AppointmentRefused)
                assert answer.reason is wire.AppointmentRefusal.UNKNOWN_OR_EXPIRED
            limited = await check(cabin, CODE)
            assert isinstance(limited, wire.AppointmentRefused)
            assert limited.reason is wire.AppointmentRefusal.TOO_MANY_TRIES
            clock.advance(3600)
            assert isinstance(await check(cabin, CODE), wire.AppointmentFound)

    asyncio.run(scenario())
