"""The demo's accounts: two doctors, the town hall's agent, the coordinator, the operator who
runs the fleet (the fleet page, `/flotte`) and the demo cabin, made
idempotently at each start.

The passwords are public on purpose (the README gives them): this is for the demo hub on
loopback only. The cabin's token is new at each call (re-provisioning rotates it), and the demo
hands it to the demo cabin.

The doctors' practice details are fictional, made to look like what a French prescription
prints: RPPS numbers of 11 digits with a valid Luhn key (made up, not a real practitioner's),
phone numbers from the range ARCEP keeps for fiction (04 65 71 xx xx), e-mail addresses under
the ``.example`` domain that never resolves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from importlib import resources

from hub.accounts import (
    create_agent,
    create_doctor,
    create_operator,
    provision_cabin,
    set_doctor_details,
)
from hub.bookings import BookingDesk, BookingRefused
from hub.clock import Clock
from hub.config import Argon2Cost
from hub.schedule import CabinCalendar, OpeningHours, day_bounds, local_day, zone
from hub.storage import ActorKind, Storage

log = logging.getLogger(__name__)

DEMO_CABIN_ID = "demo-cabin"
DEMO_CABIN_NAME = "Cabine de démonstration"


@dataclass(frozen=True, slots=True)
class DemoDoctor:
    username: str
    password: str
    display_name: str
    specialty: str
    registration_number: str | None
    photo_file: str | None
    address: str
    phone: str
    email: str


DEMO_DOCTORS = (
    DemoDoctor(
        username="dr.martin",
        password="demo-docteur-2468",  # noqa: S106 - the demo's published password
        display_name="Dr Claire Martin",
        specialty="Médecine générale",
        registration_number="10003841722",
        photo_file="doctor.png",
        address="Cabinet médical des Planchettes\n8 avenue du Docteur Mallet\n15100 Saint-Flour",
        phone="04 65 71 20 14",
        email="dr.martin@cabinet-planchettes.example",
    ),
    DemoDoctor(
        username="dr.durand",
        password="demo-docteur-1357",  # noqa: S106 - the demo's published password
        display_name="Dr Paul Durand",
        specialty="Médecine générale",
        registration_number="10005619407",
        photo_file=None,
        address="Maison de santé du Lioran\n3 rue de la Poste\n15300 Murat",
        phone="04 65 71 48 63",
        email="p.durand@msp-lioran.example",
    ),
)


@dataclass(frozen=True, slots=True)
class DemoAgent:
    username: str
    password: str
    display_name: str
    cabins: tuple[str, ...]
    coordinator: bool = False


DEMO_AGENTS = (
    DemoAgent(
        username="agent.mairie",
        password="demo-agent-2468",  # noqa: S106 - the demo's published password
        display_name="Accueil de la mairie",
        cabins=(DEMO_CABIN_ID,),
    ),
    DemoAgent(
        username="coord.cantal",
        password="demo-coord-2468",  # noqa: S106 - the demo's published password
        display_name="Coordination des cabines du Cantal",
        cabins=(DEMO_CABIN_ID,),
        coordinator=True,
    ),
)


@dataclass(frozen=True, slots=True)
class DemoOperator:
    username: str
    password: str
    display_name: str


DEMO_OPERATORS = (
    DemoOperator(
        username="operateur.demo",
        password="demo-operateur-2468",  # noqa: S106 - the demo's published password
        display_name="Exploitation des cabines",
    ),
)


@dataclass(frozen=True, slots=True)
class DemoAccounts:
    doctors: tuple[DemoDoctor, ...]
    cabin_id: str
    cabin_token: str
    agents: tuple[DemoAgent, ...] = DEMO_AGENTS


def demo_photo(name: str) -> bytes:
    """A picture shipped in ``hub/demo/``."""
    return resources.files("hub").joinpath("demo", name).read_bytes()


async def seed_demo(
    storage: Storage, *, argon2_cost: Argon2Cost = "standard", clock: Clock | None = None
) -> DemoAccounts:
    """Create the demo doctors and agent if they are missing (and give the doctors their
    practice details again), and give the demo cabin a new token."""
    for doctor in DEMO_DOCTORS:
        if await storage.doctor(doctor.username) is not None:
            await set_doctor_details(
                storage,
                username=doctor.username,
                registration_number=doctor.registration_number,
                address=doctor.address,
                phone=doctor.phone,
                email=doctor.email,
            )
            continue
        await create_doctor(
            storage,
            username=doctor.username,
            password=doctor.password,
            display_name=doctor.display_name,
            specialty=doctor.specialty,
            registration_number=doctor.registration_number,
            photo=None if doctor.photo_file is None else demo_photo(doctor.photo_file),
            address=doctor.address,
            phone=doctor.phone,
            email=doctor.email,
            argon2_cost=argon2_cost,
            clock=clock,
        )
    for agent in DEMO_AGENTS:
        if await storage.agent(agent.username) is None:
            await create_agent(
                storage,
                username=agent.username,
                password=agent.password,
                display_name=agent.display_name,
                cabins=agent.cabins,
                coordinator=agent.coordinator,
                argon2_cost=argon2_cost,
                clock=clock,
            )
    for operator in DEMO_OPERATORS:
        if await storage.operator(operator.username) is None:
            await create_operator(
                storage,
                username=operator.username,
                password=operator.password,
                display_name=operator.display_name,
                argon2_cost=argon2_cost,
                clock=clock,
            )
    token = await provision_cabin(
        storage, cabin_id=DEMO_CABIN_ID, name=DEMO_CABIN_NAME, clock=clock, demo=True
    )
    return DemoAccounts(doctors=DEMO_DOCTORS, cabin_id=DEMO_CABIN_ID, cabin_token=token)


# --- the demo cabin's bookings ------------------------------------------------------------------

DEMO_TOWN = "Saint-Flour"
DEMO_TIMEZONE = "Europe/Paris"
DEMO_SLOT_MINUTES = 15
DEMO_WALK_IN_SHARE = 0.25
"""The default share: walk-ins are the 4th, 8th... slot of a day (`hub.schedule.walk_in_flags`),
so the day's first three slots, the ones the demo books, are always bookable."""
DEMO_OPENS_AFTER = timedelta(seconds=60)
"""Today the demo cabin opens this long after the hub starts (rounded up to the minute): the
scripted demo books the first two slots before the first one begins (a slot that has begun
cannot be booked: on this 2-core machine both were booked 7 s and 12 s after the hub started),
and the first, booked by phone for a patient who never comes, becomes a no-show a minute after
it began (the scripted demo's ``noshow_after_min = 1``)."""
DEMO_DAY_HOURS = ((time(8, 30), time(12, 30)), (time(14), time(19)))
"""The other days of the week: a town's ordinary hours."""
DEMO_OPERATOR = "demo"
DEMO_ROTA = ((0, "dr.martin"), (1, "dr.durand"))
"""Which doctor covers the demo cabin: this week (0), next week (1), Monday to Monday."""


async def seed_demo_bookings(desk: BookingDesk, storage: Storage, now: datetime) -> datetime:
    """The demo cabin's booking calendar (in `DEMO_TOWN`), its opening hours and the rota;
    the start of today's first slot (UTC).

    Today's hours are "around now": the cabin opens `DEMO_OPENS_AFTER` from now until 23:59,
    whatever the hour the demo runs, so that its first slots are a minute or two ahead (the
    public page offers them, a code opens the cabin from 30 min before its slot, and the slot
    left for the caller who does not come turns into a no-show within the demo's few
    minutes). The same weekday next week keeps those hours; the other days are ordinary.
    Limit: started after 23:28 in Paris, today has fewer than two slots left. Seeding again
    (the hub restarted) moves today's opening; hours that would leave a booking to come
    outside them are refused by the desk, and the earlier ones stay (said in the log)."""
    calendar = CabinCalendar(
        cabin_id=DEMO_CABIN_ID,
        town=DEMO_TOWN,
        timezone=DEMO_TIMEZONE,
        slot_minutes=DEMO_SLOT_MINUTES,
        walk_in_share=DEMO_WALK_IN_SHARE,
        bookable_days=60,
    )
    by = DEMO_OPERATOR
    await desk.put_calendar(calendar, by=by, actor_kind=ActorKind.OPERATOR)
    tz = zone(DEMO_TIMEZONE)
    opening = (now + DEMO_OPENS_AFTER + timedelta(seconds=59)).astimezone(tz)
    opening = opening.replace(second=0, microsecond=0)
    today = opening.date().weekday()
    hours = [
        OpeningHours(DEMO_CABIN_ID, weekday, opens, closes)
        for weekday in range(7)
        if weekday != today
        for opens, closes in DEMO_DAY_HOURS
    ]
    if opening.time() < time(23, 59):
        hours.append(OpeningHours(DEMO_CABIN_ID, today, opening.time(), time(23, 59)))
    try:
        await desk.set_opening_hours(DEMO_CABIN_ID, hours, by=by, actor_kind=ActorKind.OPERATOR)
    except BookingRefused as refusal:
        log.warning("hub.demo_hours_kept reason=%s", refusal.reason.value)
    monday = local_day(now, tz) - timedelta(days=local_day(now, tz).weekday())
    for week, doctor in DEMO_ROTA:
        starts, _ = day_bounds(monday + timedelta(weeks=week), tz)
        ends, _ = day_bounds(monday + timedelta(weeks=week + 1), tz)
        covered = await storage.shifts(
            starts_before=ends, ends_after=starts, cabin_id=DEMO_CABIN_ID, doctor=doctor
        )
        if not covered:
            await desk.add_shift(
                DEMO_CABIN_ID, doctor, starts, ends, by=by, actor_kind=ActorKind.OPERATOR
            )
    first = opening.astimezone(UTC)
    log.info("hub.demo_bookings cabin=%s first_slot=%s", DEMO_CABIN_ID, first.isoformat())
    return first
