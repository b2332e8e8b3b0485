"""Cabins a coordinator looks after, open and on the rota, for the coordinator's page tests.

Everything is set up through the hub's own `BookingDesk` (as an operator would), on a hub
started by `tests.hub.hub_rig.running_hub` or `hub.app.start_hub`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from hub.accounts import create_agent
from hub.app import RunningHub
from hub.bookings import BookingDesk
from hub.coordinator_http import DESK
from hub.schedule import CabinCalendar, OpeningHours, local_instant
from hub.storage import ActorKind

PARIS = ZoneInfo("Europe/Paris")
OPERATOR = "operator"
TOWNS = {"cabin-1": "Murat", "cabin-2": "Allanche"}
COORDINATOR = "coord.murat"
COORDINATOR_PASSWORD = "password-of-the-coordinator"


def desk_of(hub: RunningHub) -> BookingDesk:
    return hub.app[DESK]


async def open_cabins(
    hub: RunningHub,
    *,
    doctor: str,
    days: Iterable[date],
    cabins: Iterable[str] = ("cabin-1", "cabin-2"),
    second_doctor: str | None = None,
) -> None:
    """Each cabin open 09:00-12:00 and 14:00-18:00 every day (Paris time), with `doctor` on
    the rota 09:00-18:00 on `days` (and `second_doctor` 14:00-18:00 at cabin-2)."""
    desk = desk_of(hub)
    days = list(days)
    for cabin_id in cabins:
        await desk.put_calendar(desk.new_calendar(cabin_id, TOWNS[cabin_id]), by=OPERATOR)
        hours = [
            OpeningHours(cabin_id, weekday, opens, closes)
            for weekday in range(7)
            for opens, closes in ((time(9), time(12)), (time(14), time(18)))
        ]
        await desk.set_opening_hours(cabin_id, hours, by=OPERATOR, actor_kind=ActorKind.OPERATOR)
        for day in days:
            await desk.add_shift(
                cabin_id,
                doctor,
                local_instant(day, time(9), PARIS),
                local_instant(day, time(18), PARIS),
                by=OPERATOR,
                actor_kind=ActorKind.OPERATOR,
            )
            if second_doctor is not None and cabin_id == "cabin-2":
                await desk.add_shift(
                    cabin_id,
                    second_doctor,
                    local_instant(day, time(14), PARIS),
                    local_instant(day, time(18), PARIS),
                    by=OPERATOR,
                    actor_kind=ActorKind.OPERATOR,
                )


async def add_coordinator(
    hub: RunningHub,
    username: str = COORDINATOR,
    *cabins: str,
    coordinator: bool = True,
    password: str = COORDINATOR_PASSWORD,
) -> None:
    await create_agent(
        hub.storage,
        username=username,
        password=password,
        display_name="Mairie de Murat",
        cabins=cabins or ("cabin-1", "cabin-2"),
        argon2_cost="test",
        coordinator=coordinator,
    )


def week_from(first: date, count: int = 7) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


def calendar(cabin_id: str) -> CabinCalendar:
    return CabinCalendar(cabin_id, TOWNS[cabin_id])
