"""Free-slot search over a month: one cabin (the public page's search) and all 20 cabins (a
coordinator's), on a real SQLCipher hub database with realistic opening hours, a weekly rota
and about 40 % of the bookable slots booked; beside a floor measured in the same run: the same
storage reads without the slot arithmetic.

    python -m bench.bench_slots [--quick]

Prints medians and p95; nothing passes or fails here. Target: p95 <= 50 ms for 20 cabins.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time as clock_time
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import wire
from hub.audit import AuditLog
from hub.booking import Appointment, AppointmentStatus, BookingChannel, Notification
from hub.booking import NotificationKind as Kind
from hub.bookings import BookingDesk
from hub.config import BookingSection
from hub.schedule import CabinCalendar, OpeningHours, RotaShift, day_slots
from hub.sqlite_storage import SqliteStorage
from hub.storage import Storage
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import FakeClock

CABINS = 20
DOCTORS = 8
DAYS = 31
BOOKED_SHARE = 0.40
PARIS = ZoneInfo("Europe/Paris")
FIRST_DAY = date(2026, 4, 6)  # a Monday
NOW = datetime(2026, 4, 6, 5, 0, tzinfo=UTC)
HOURS = (
    *((weekday, time(9), time(12)) for weekday in range(6)),  # Monday to Saturday mornings
    *((weekday, time(14), time(18)) for weekday in range(5)),  # weekday afternoons
)


class _NoMessages:
    def plan(self, appointment: Appointment, kinds: set[Kind], now: datetime) -> list[Notification]:
        return []


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _seed(storage: Storage, rng: random.Random) -> int:
    calendars = [CabinCalendar(f"cab-{n:02d}", f"Bourg {n:02d}") for n in range(CABINS)]
    for calendar in calendars:
        await storage.put_calendar(calendar)
        await storage.set_opening_hours(
            calendar.cabin_id,
            [OpeningHours(calendar.cabin_id, w, opens, closes) for w, opens, closes in HOURS],
        )
    shifts: list[RotaShift] = []
    for week in range(6):  # a doctor a week for each group of cabins; a second one on Tuesdays
        monday = FIRST_DAY + timedelta(days=7 * week - 7)
        start = datetime.combine(monday, time(0), PARIS)
        for n, calendar in enumerate(calendars):
            doctor = f"dr.{(n % 4 + week) % DOCTORS}"
            shifts.append(
                RotaShift(
                    f"s-{week}-{n}", doctor, calendar.cabin_id, start, start + timedelta(days=7)
                )
            )
            tuesday = datetime.combine(monday + timedelta(days=1), time(8), PARIS)
            shifts.append(
                RotaShift(
                    f"t-{week}-{n}",
                    f"dr.{(n % 4 + week + 4) % DOCTORS}",
                    calendar.cabin_id,
                    tuesday,
                    tuesday + timedelta(hours=11),
                )
            )
    for shift in shifts:
        await storage.add_shift(shift)
    booked = 0
    for calendar in calendars:
        hours = await storage.opening_hours(calendar.cabin_id)
        own = [s for s in shifts if s.cabin_id == calendar.cabin_id]
        for offset in range(DAYS + 7):
            for slot in day_slots(calendar, hours, [], own, FIRST_DAY + timedelta(days=offset)):
                if slot.walk_in or rng.random() >= BOOKED_SHARE:
                    continue
                booked += 1
                await storage.add_appointment(
                    Appointment(
                        appointment_id=f"apt-{booked}",
                        cabin_id=calendar.cabin_id,
                        doctor=slot.doctors[0],
                        starts_at=slot.starts_at,
                        ends_at=slot.ends_at,
                        status=AppointmentStatus.BOOKED,
                        patient=wire.PatientSummary(
                            family_name=f"Patient{booked}",
                            given_names="Bench",
                            birth_date=date(1950, 1, 1) + timedelta(days=booked),
                        ),
                        code=f"{booked:06d}",
                        channel=BookingChannel.ONLINE,
                        booked_at=NOW,
                    )
                )
    return booked


async def _floor(storage: Storage, cabin_ids: list[str]) -> None:
    """What any search must read: the cabins' calendars, hours and closures, the rota and the
    month's held spans (the same calls `BookingDesk.free_slots_of` makes)."""
    last_day = FIRST_DAY + timedelta(days=DAYS)
    start = datetime.combine(FIRST_DAY, time(0), PARIS)
    end = datetime.combine(last_day, time(0), PARIS)
    await storage.cabin_setups(cabin_ids, first_day=FIRST_DAY, last_day=last_day)
    only = cabin_ids[0] if len(cabin_ids) == 1 else None
    await storage.shifts(starts_before=end, ends_after=start, cabin_id=only)
    await storage.held_spans(cabin_ids=cabin_ids, starts_from=start, starts_before=end)


async def _search(desk: BookingDesk, cabin_ids: list[str]) -> int:
    if len(cabin_ids) == 1:
        return len(await desk.free_slots(cabin_ids[0], FIRST_DAY, DAYS))
    found = await desk.free_slots_of(cabin_ids, FIRST_DAY, DAYS)
    return sum(len(slots) for slots in found.values())


async def main_async(quick: bool) -> None:
    rounds = 10 if quick else 40
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as work:
        storage = await SqliteStorage.open(Path(work) / "hub.db", TEST_KEY)
        try:
            seeded_at = clock_time.perf_counter()
            booked = await _seed(storage, random.Random(17))
            seed_s = clock_time.perf_counter() - seeded_at
            clock = FakeClock(NOW)
            desk = BookingDesk(
                storage=storage,
                audit=AuditLog(storage, clock),
                clock=clock,
                settings=BookingSection(),
                notify=_NoMessages(),
            )
            cabins = [f"cab-{n:02d}" for n in range(CABINS)]
            samples: dict[str, list[float]] = {k: [] for k in ("f1", "s1", "f20", "s20")}
            cpu: dict[str, list[float]] = {k: [] for k in samples}
            found_one = found_all = 0
            for n in range(rounds + 2):  # interleaved; the first two are warm-up
                one = [cabins[n % CABINS]]
                for key, work_of in (
                    ("f1", _floor(storage, one)),
                    ("s1", _search(desk, one)),
                    ("f20", _floor(storage, cabins)),
                    ("s20", _search(desk, cabins)),
                ):
                    started = clock_time.perf_counter()
                    cpu_started = clock_time.process_time()
                    result = await work_of
                    elapsed = (clock_time.perf_counter() - started) * 1000
                    cpu_ms = (clock_time.process_time() - cpu_started) * 1000
                    if n >= 2:
                        samples[key].append(elapsed)
                        cpu[key].append(cpu_ms)
                    if key == "s1" and isinstance(result, int):
                        found_one = result
                    if key == "s20" and isinstance(result, int):
                        found_all = result
        finally:
            await storage.close()
    print(
        f"free-slot search over {DAYS} days: {CABINS} cabins, {booked} appointments booked"
        f" (~{BOOKED_SHARE:.0%} of bookable slots), SQLCipher; {rounds} rounds, interleaved"
        f" (seeding took {seed_s:.1f} s)"
    )
    print(
        "  (wall time of each call; cpu: the process's CPU time during it, all threads: what a"
        " loaded machine does not inflate)"
    )
    for label, floor_key, search_key, found, target in (
        ("1 cabin  ", "f1", "s1", found_one, ""),
        ("20 cabins", "f20", "s20", found_all, "   target p95 <= 50 ms"),
    ):
        floor, search = samples[floor_key], samples[search_key]
        print(
            f"  floor  {label} storage reads only      median {statistics.median(floor):7.2f} ms"
            f"   p95 {_percentile(floor, 0.95):7.2f} ms"
            f"   cpu {statistics.median(cpu[floor_key]):7.2f} ms"
        )
        print(
            f"  search {label} BookingDesk.free_slots* median {statistics.median(search):7.2f} ms"
            f"   p95 {_percentile(search, 0.95):7.2f} ms"
            f"   cpu {statistics.median(cpu[search_key]):7.2f} ms"
            f"   x{statistics.median(search) / statistics.median(floor):.1f} floor"
            f"   ({found} free slots){target}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_slots", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
