"""The operator's fleet page (``/flotte``, also ``/fleet``) and its API (``/api/fleet/...``).

For operators only (`AccountRole.OPERATOR`): a doctor or an agent signed in gets 403, nobody
signed in 401 (the page then shows its sign-in form, the hub's one login). The API is read
only: every cabin's health as `FleetView`, problems first (offline, a failed self-test, open
alerts, paper out, a low battery), polled by the page every few seconds. Each operator may ask
`REQUESTS_PER_MINUTE` times a minute (a page left open polls 6). Times are UTC instants; the
page shows them in each cabin's time zone (`timezone`), and "today" and "this week" are the
cabin's local day and week (from Monday). Nothing here is health data: the consultations are
counted, never listed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

import wire
from hub.fleet import (
    BLOCKING_CHECKS,
    CabinHealth,
    CallQualityRecord,
    blocks_consultations,
    is_offline,
    summarise_quality,
)
from hub.http_api import _console_file, _file_response
from hub.log_safe import log_safe
from hub.rate_limit import SlidingWindowLimit
from hub.schedule import DEFAULT_TIMEZONE, ScheduleError, zone
from hub.services import SERVICES, HubServices
from hub.storage import AccountRole, AlertRecord, SessionRecord
from hub.web_security import json_error

log = logging.getLogger(__name__)

FLEET_DIR = Path(__file__).parent / "fleet_page"
REQUESTS_PER_MINUTE = 30
LOW_BATTERY_PERCENT = 20
WEEK = timedelta(days=7)
_LIMIT = web.AppKey("hub_fleet_limit", SlidingWindowLimit)
_MAX_ID = 64


class InstrumentView(msgspec.Struct, frozen=True):
    instrument_id: str
    kind: str
    connected: bool
    battery_percent: int | None


class CheckView(msgspec.Struct, frozen=True):
    check: str
    outcome: str
    subject: str
    detail: str
    blocking: bool
    """A failed check of this kind stops consultations (`hub.fleet.BLOCKING_CHECKS`)."""


class SelfTestView(msgspec.Struct, frozen=True):
    report_id: str
    trigger: str
    started_at: datetime
    finished_at: datetime
    received_at: datetime
    checks: int
    passed: int
    problems: list[CheckView]
    """The failed checks first, then the warnings."""
    blocking: bool


class AlertView(msgspec.Struct, frozen=True):
    alert_id: str
    kind: str
    severity: str
    raised_at: datetime
    detail: str
    repeat_count: int


class SampleView(msgspec.Struct, frozen=True):
    consultation_id: str
    sent_at: datetime
    final: bool
    sent_kbps: float
    received_kbps: float
    loss_percent: float
    round_trip_ms: float | None


class QualityView(msgspec.Struct, frozen=True):
    last: SampleView | None
    calls_this_week: int
    median_sent_kbps: float | None
    median_received_kbps: float | None
    median_loss_percent: float | None
    median_round_trip_ms: float | None


class CabinView(msgspec.Struct, frozen=True):
    cabin_id: str
    name: str
    timezone: str
    state: str
    """``online``, ``offline`` (silent for longer than the threshold) or ``never_seen``."""
    last_seen_at: datetime | None
    software_version: str | None
    status_received_at: datetime | None
    instruments: list[InstrumentView]
    printer_problem: str | None
    paper: str
    disk_free_mb: int | None
    hub_unreachable_since: datetime | None
    selftest: SelfTestView | None
    alerts: list[AlertView]
    consultations_today: int
    consultations_week: int
    quality: QualityView
    problems: list[str]
    """What is wrong, worst first: ``offline``, ``selftest_failed``, ``alerts``,
    ``paper_out``, ``printer``, ``battery_low``, ``instrument_disconnected``,
    ``paper_low``, ``selftest_warning``, ``never_seen``."""
    unavailable: bool
    """No booking is taken for it (`hub.fleet_desk.FleetDesk.unavailable`)."""


class FleetView(msgspec.Struct, frozen=True):
    now: datetime
    offline_after_min: float
    cabins: list[CabinView]


_PROBLEM_ORDER = (
    "offline",
    "selftest_failed",
    "alerts",
    "paper_out",
    "printer",
    "battery_low",
    "instrument_disconnected",
    "paper_low",
    "selftest_warning",
    "never_seen",
)


@dataclass(frozen=True, slots=True)
class _Bounds:
    zone: ZoneInfo
    day_start: datetime
    week_start: datetime


def _zone(name: str) -> ZoneInfo:
    try:
        return zone(name)
    except ScheduleError:
        return zone(DEFAULT_TIMEZONE)


def _bounds(tz: ZoneInfo, now: datetime) -> _Bounds:
    today = now.astimezone(tz).date()
    day_start = datetime.combine(today, time(0), tzinfo=tz)
    week_start = datetime.combine(today - timedelta(days=today.weekday()), time(0), tzinfo=tz)
    return _Bounds(tz, day_start, week_start)


def _selftest_view(health: CabinHealth) -> SelfTestView | None:
    if health.selftest is None:
        return None
    report = health.selftest.report
    failed = [r for r in report.results if r.outcome is wire.SelfTestOutcome.FAILED]
    warned = [r for r in report.results if r.outcome is wire.SelfTestOutcome.WARNING]
    return SelfTestView(
        report_id=report.report_id,
        trigger=report.trigger.value,
        started_at=report.started_at,
        finished_at=report.finished_at,
        received_at=health.selftest.received_at,
        checks=len(report.results),
        passed=sum(1 for r in report.results if r.outcome is wire.SelfTestOutcome.PASSED),
        problems=[
            CheckView(
                r.check.value,
                r.outcome.value,
                r.subject,
                r.detail,
                r.outcome is wire.SelfTestOutcome.FAILED and r.check in BLOCKING_CHECKS,
            )
            for r in failed + warned
        ],
        blocking=blocks_consultations(report),
    )


def _sample(record: CallQualityRecord) -> SampleView:
    s = record.sample
    return SampleView(
        record.consultation_id,
        record.sent_at,
        record.final,
        s.sent_kbps,
        s.received_kbps,
        s.loss_percent,
        s.round_trip_ms,
    )


def _quality(records: list[CallQualityRecord]) -> QualityView:
    summary = summarise_quality(records)
    return QualityView(
        last=None if summary.last is None else _sample(summary.last),
        calls_this_week=summary.calls,
        median_sent_kbps=summary.median_sent_kbps,
        median_received_kbps=summary.median_received_kbps,
        median_loss_percent=summary.median_loss_percent,
        median_round_trip_ms=summary.median_round_trip_ms,
    )


def _problems(
    health: CabinHealth | None,
    offline: bool,
    alerts: list[AlertRecord],
    selftest: SelfTestView | None,
) -> list[str]:
    found: set[str] = set()
    if health is None or health.last_seen_at is None:
        found.add("never_seen")
    if offline:
        found.add("offline")
    if selftest is not None:
        if any(p.outcome == wire.SelfTestOutcome.FAILED.value for p in selftest.problems):
            found.add("selftest_failed")
        elif selftest.problems:
            found.add("selftest_warning")
    if alerts:
        found.add("alerts")
    status = health.status if health is not None else None
    if status is not None:
        if status.paper is wire.PaperLevel.OUT:
            found.add("paper_out")
        elif status.paper is wire.PaperLevel.LOW:
            found.add("paper_low")
        if status.printer_problem is not None:
            found.add("printer")
        for instrument in status.instruments:
            if (
                instrument.battery_percent is not None
                and instrument.battery_percent <= LOW_BATTERY_PERCENT
            ):
                found.add("battery_low")
            if not instrument.connected:
                found.add("instrument_disconnected")
    return [p for p in _PROBLEM_ORDER if p in found]


async def fleet_view(services: HubServices) -> FleetView:
    """Every provisioned cabin (and any other the hub heard from), problems first."""
    storage = services.storage
    now = services.clock.now()
    desk = services.switchboard.fleet
    names = {cabin.cabin_id: cabin.name for cabin in await storage.cabins()}
    zones = {c.cabin_id: c.timezone for c in await storage.calendars()}
    healths = {h.cabin_id: h for h in await storage.cabin_health()}
    open_alerts: dict[str, list[AlertRecord]] = {}
    for record in services.switchboard.alerts.open_alerts():
        open_alerts.setdefault(record.cabin_id, []).append(record)
    qualities: dict[str, list[CallQualityRecord]] = {}
    for quality in await storage.call_qualities(since=now - WEEK):
        qualities.setdefault(quality.cabin_id, []).append(quality)
    bounds: dict[str, _Bounds] = {}
    counts: dict[datetime, dict[str, int]] = {}
    cabin_ids = sorted(set(names) | set(healths))
    for cabin_id in cabin_ids:
        name = zones.get(cabin_id, services.config.booking.timezone)
        if name not in bounds:
            bounds[name] = _bounds(_zone(name), now)
        for start in (bounds[name].day_start, bounds[name].week_start):
            if start not in counts:
                counts[start] = await storage.consultation_counts(since=start)
    unavailable = desk.unavailable_of(list(healths.values()), now)
    views = []
    for cabin_id in cabin_ids:
        health = healths.get(cabin_id)
        tz_name = zones.get(cabin_id, services.config.booking.timezone)
        bound = bounds[tz_name]
        offline = is_offline(health, now=now, after=desk.offline_after)
        status = health.status if health else None
        alerts = sorted(open_alerts.get(cabin_id, []), key=lambda r: r.raised_at, reverse=True)
        selftest = _selftest_view(health) if health else None
        views.append(
            CabinView(
                cabin_id=cabin_id,
                name=names.get(cabin_id, cabin_id),
                timezone=tz_name,
                state="never_seen"
                if health is None or health.last_seen_at is None
                else ("offline" if offline else "online"),
                last_seen_at=health.last_seen_at if health else None,
                software_version=status.software_version if status else None,
                status_received_at=health.status_received_at if health else None,
                instruments=[
                    InstrumentView(i.instrument_id, i.kind, i.connected, i.battery_percent)
                    for i in (status.instruments if status else [])
                ],
                printer_problem=status.printer_problem.value
                if status and status.printer_problem
                else None,
                paper=status.paper.value if status else wire.PaperLevel.UNKNOWN.value,
                disk_free_mb=status.disk_free_mb if status else None,
                hub_unreachable_since=status.hub_unreachable_since if status else None,
                selftest=selftest,
                alerts=[
                    AlertView(
                        r.alert_id,
                        r.kind.value,
                        r.severity.value,
                        r.raised_at,
                        r.detail,
                        r.repeat_count,
                    )
                    for r in alerts[:20]
                ],
                consultations_today=counts[bound.day_start].get(cabin_id, 0),
                consultations_week=counts[bound.week_start].get(cabin_id, 0),
                quality=_quality(qualities.get(cabin_id, [])),
                problems=_problems(health, offline, alerts, selftest),
                unavailable=cabin_id in unavailable,
            )
        )

    def rank(view: CabinView) -> tuple[int, str, str]:
        first = _PROBLEM_ORDER.index(view.problems[0]) if view.problems else len(_PROBLEM_ORDER)
        return first, view.name.casefold(), view.cabin_id

    views.sort(key=rank)
    return FleetView(
        now=now, offline_after_min=desk.offline_after.total_seconds() / 60, cabins=views
    )


# --- who may --------------------------------------------------------------------------------


async def _operator(request: web.Request) -> SessionRecord | web.Response:
    services = request.app[SERVICES]
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    if session.role is not AccountRole.OPERATOR:
        log.warning("hub.fleet_refused %s=%s", session.role.value, log_safe(session.username))
        return json_error(403, "only operators may open the fleet page", reason="not_operator")
    retry_after = request.app[_LIMIT].attempt(session.username)
    if retry_after is not None:
        response = json_error(429, "too many requests; try again later", reason="rate_limited")
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
        return response
    return session


def _json(value: object) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), content_type="application/json")


async def cabins(request: web.Request) -> web.StreamResponse:
    who = await _operator(request)
    if isinstance(who, web.Response):
        return who
    return _json(await fleet_view(request.app[SERVICES]))


async def one_cabin(request: web.Request) -> web.StreamResponse:
    who = await _operator(request)
    if isinstance(who, web.Response):
        return who
    cabin_id = request.match_info["cabin_id"]
    if not 0 < len(cabin_id) <= _MAX_ID:
        return json_error(400, "not a cabin id", reason="invalid")
    view = await fleet_view(request.app[SERVICES])
    for cabin in view.cabins:
        if cabin.cabin_id == cabin_id:
            return _json(cabin)
    return json_error(404, "no such cabin", reason="not_found")


# --- the page's files -----------------------------------------------------------------------


async def page_index(_request: web.Request) -> web.StreamResponse:
    path = _console_file(FLEET_DIR, "index.html")
    if path is None:
        return web.Response(status=404, text="the fleet page is not installed")
    return _file_response(path)


async def page_file(request: web.Request) -> web.StreamResponse:
    path = _console_file(FLEET_DIR, request.match_info["path"])
    if path is None:
        return web.Response(status=404, text="not found")
    return _file_response(path)


async def english_address(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/flotte")


def add_routes(app: web.Application) -> None:
    """The page and its API (before `hub.http_api.add_routes` and its ``/api/*`` catch-all)."""
    clock = app[SERVICES].clock
    app[_LIMIT] = SlidingWindowLimit(limit=REQUESTS_PER_MINUTE, window_s=60.0, clock=clock)
    app.router.add_get("/flotte", page_index)
    app.router.add_get("/flotte/", page_index)
    app.router.add_get("/flotte/{path:.+}", page_file)
    app.router.add_get("/fleet", english_address)
    app.router.add_get("/api/fleet/cabins", cabins)
    app.router.add_get("/api/fleet/cabins/{cabin_id}", one_cabin)
