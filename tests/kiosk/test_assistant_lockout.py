"""The assistant's PIN lockout outlives a restart: the wrong tries and the lockout's end are kept
in the real SQLCipher file (``cabin_state``), on the wall clock, bounded so that a clock set back
never locks the agents out for more than one lockout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo.root import start_core
from kiosk.app import KioskCore
from kiosk.assistant import LOCKOUT_STATE_KEY, Assistant, UnlockOutcome
from kiosk.config import load_config
from kiosk.store import Store
from tests.kiosk.test_assistant import DEMO_PIN, KEY, WRONG_PINS, actions
from tests.kiosk.test_session import FakeClock

LOCKOUT_S = 300  # the embedded defaults': 5 wrong PINs lock for 5 minutes


class WallClock:
    """The cabin's wall clock (UTC), set by the test: it may jump, as a real one does."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@asynccontextmanager
async def cabin(
    data: Path, wall: Callable[[], datetime] | None = None
) -> AsyncIterator[tuple[KioskCore, Assistant, FakeClock]]:
    """A core on ``data`` (the same SQLCipher file at each start) and its assistant mode: the
    composition root's, or one on the given wall clock (the monotonic clock starts afresh at
    each start, as after a reboot)."""
    clock = FakeClock()
    core = await start_core(
        load_config(None), data, env={"CABIN_DB_KEY": KEY.hex()}, clock=clock, instruments={}
    )
    assistant = core.assistant
    if wall is not None:
        assistant = Assistant(
            core.store,
            core.session,
            core.bus,
            core.measurements,
            core.config.assistant,
            clock,
            now=wall,
        )
    try:
        yield core, assistant, clock
    finally:
        if assistant is not core.assistant:
            await assistant.aclose()
        await core.aclose()


async def lock(assistant: Assistant) -> None:
    results = [await assistant.unlock(pin) for pin in WRONG_PINS]
    assert results[-1].outcome is UnlockOutcome.LOCKED
    assert results[-1].locked_for_s == LOCKOUT_S


def test_a_lockout_outlives_a_restart_with_the_time_it_had_left(tmp_path: Path) -> None:
    async def scenario() -> None:
        wall = WallClock()
        async with cabin(tmp_path, wall) as (_core, assistant, clock):
            await lock(assistant)
            wall.advance(100)
            clock.advance(100)
        # the plug pulled 100 s into the lockout, the cabin back at once
        async with cabin(tmp_path, wall) as (core, assistant, clock):
            refused = await assistant.unlock(DEMO_PIN)  # the right PIN, still locked out
            assert refused.outcome is UnlockOutcome.LOCKED
            assert refused.locked_for_s == pytest.approx(200)
            wall.advance(150)  # another restart, 150 s later
        async with cabin(tmp_path, wall) as (core, assistant, clock):
            refused = await assistant.unlock(DEMO_PIN)
            assert refused.locked_for_s == pytest.approx(50)
            clock.advance(50)
            wall.advance(50)
            wrong = await assistant.unlock(WRONG_PINS[0])  # after the lockout: counted afresh
            assert (wrong.outcome, wrong.attempts_left) == (UnlockOutcome.WRONG, 4)
            assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK
            audit = await actions(core)
            assert ("unlock_refused_locked", "50 s left") in audit
            assert audit[-2:] == [("unlock_failed", "attempt 1 of 5"), ("unlock", None)]

    asyncio.run(scenario())


def test_wrong_pins_before_a_restart_still_count(tmp_path: Path) -> None:
    async def scenario() -> None:
        wall = WallClock()
        async with cabin(tmp_path, wall) as (_core, assistant, _clock):
            for pin in WRONG_PINS[:3]:
                assert (await assistant.unlock(pin)).outcome is UnlockOutcome.WRONG
        async with cabin(tmp_path, wall) as (_core, assistant, _clock):
            fourth = await assistant.unlock(WRONG_PINS[3])
            assert (fourth.outcome, fourth.attempts_left) == (UnlockOutcome.WRONG, 1)
            fifth = await assistant.unlock(WRONG_PINS[4])
            assert (fifth.outcome, fifth.locked_for_s) == (UnlockOutcome.LOCKED, LOCKOUT_S)
        async with cabin(tmp_path, wall) as (_core, assistant, _clock):
            assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.LOCKED
        wall.advance(LOCKOUT_S)
        async with cabin(tmp_path, wall) as (core, assistant, _clock):
            # the lockout ended while the cabin was off: the right PIN opens, and then the count
            # starts from zero (a right PIN clears it)
            assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK
            kept = await core.store.run(Store.cabin_state_get, LOCKOUT_STATE_KEY)
            assert kept is not None and '"failures":0' in kept

    asyncio.run(scenario())


def test_a_clock_set_back_never_locks_for_more_than_one_lockout(tmp_path: Path) -> None:
    async def scenario() -> None:
        wall = WallClock()
        async with cabin(tmp_path, wall) as (_core, assistant, _clock):
            await lock(assistant)
        wall.advance(-3 * 24 * 3600)  # rebooted with a clock three days behind
        async with cabin(tmp_path, wall) as (_core, assistant, clock):
            refused = await assistant.unlock(DEMO_PIN)
            assert refused.outcome is UnlockOutcome.LOCKED
            assert refused.locked_for_s == pytest.approx(LOCKOUT_S)  # not three days
            clock.advance(LOCKOUT_S)  # the lockout runs on the monotonic clock from here
            assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK

    asyncio.run(scenario())


def test_a_clock_jumping_back_while_locked_changes_nothing_until_a_restart(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        wall = WallClock()
        async with cabin(tmp_path, wall) as (_core, assistant, clock):
            await lock(assistant)
            wall.advance(-3600)  # NTP corrects the clock an hour back
            clock.advance(120)
            assert (await assistant.unlock(DEMO_PIN)).locked_for_s == pytest.approx(180)
            clock.advance(180)
            assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK

    asyncio.run(scenario())


def test_the_cabins_own_assistant_keeps_its_lockout_across_a_restart(tmp_path: Path) -> None:
    """The one the composition root builds, on the system's wall clock."""

    async def scenario() -> None:
        async with cabin(tmp_path) as (_core, assistant, _clock):
            await lock(assistant)
        async with cabin(tmp_path) as (_core, assistant, _clock):
            refused = await assistant.unlock(DEMO_PIN)
            assert refused.outcome is UnlockOutcome.LOCKED
            assert 0 < refused.locked_for_s <= LOCKOUT_S
            assert refused.locked_for_s > LOCKOUT_S - 60  # the restart took seconds, not a minute
            assert not assistant.is_open

    asyncio.run(scenario())


def test_an_unreadable_lockout_record_is_forgotten_not_a_crash(tmp_path: Path) -> None:
    async def scenario() -> None:
        wall = WallClock()
        async with cabin(tmp_path, wall) as (core, _assistant, _clock):
            await core.store.run(Store.cabin_state_set, LOCKOUT_STATE_KEY, "{garbage", wall())
        async with cabin(tmp_path, wall) as (_core, assistant, _clock):
            assert (await assistant.unlock(DEMO_PIN)).outcome is UnlockOutcome.OK

    asyncio.run(scenario())
