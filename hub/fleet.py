"""What the hub keeps of each cabin's health for the operator's fleet page (issue 18), and the
rules read from it: online or offline, which failed checks stop consultations.

A cabin sends its heartbeat (`wire.CabinStatus`, every `wire.STATUS_EVERY_S` and at each
change), its self-test reports (`wire.SelfTestReport`, acknowledged, stored once per
``report_id``) and its calls' quality (`wire.CallQuality`). The replica that holds a cabin's
socket also counts the socket itself as a heartbeat (`FleetStore.touch_cabins`): a cabin whose
software sends no status is still seen online while it is connected.

None of this is health data: versions, instruments, paper, self-test outcomes, bitrates and
consultation ids. Nothing here names a patient, and the storage never gets one.

`FleetStore` is a part of `hub.storage.Storage`; `hub.sqlite_fleet` and `hub.postgres_fleet`
implement it.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import wire

KEPT = timedelta(days=31)
"""Self-test reports and call-quality rows older than this are pruned as new ones arrive."""

BLOCKING_CHECKS = frozenset(
    {
        wire.SelfTestCheck.TURN,
        wire.SelfTestCheck.CAMERA,
        wire.SelfTestCheck.MICROPHONE,
        wire.SelfTestCheck.SPEAKER,
        wire.SelfTestCheck.DATABASE,
        wire.SelfTestCheck.DISK,
    }
)
"""A failed check of these stops consultations: without TURN there is no call behind most
networks, without camera, microphone or speaker the doctor cannot see or hear the patient (nor
the patient the doctor), and without a sound database or disk no record is kept. An instrument,
the printer or the clock failing alone is raised (an alert, shown on the fleet page) but the
cabin stays bookable: the doctor can still see the patient, measure with another instrument or
send the prescription to be printed later, and refusing patients would do them more harm. The
hub check is not here: a report reaches the hub only once the cabin reaches it again, and
whether it does now is the heartbeat's to say (offline after ``offline_after_min``)."""


@dataclass(frozen=True, slots=True)
class StoredSelfTest:
    """A cabin's self-test report as the hub received it."""

    cabin_id: str
    report: wire.SelfTestReport
    received_at: datetime


@dataclass(frozen=True, slots=True)
class CabinHealth:
    """What the hub knows of one cabin's health."""

    cabin_id: str
    last_seen_at: datetime | None
    """The last heartbeat: a status, or its socket seen open by the replica that holds it."""
    status: wire.CabinStatus | None = None
    status_received_at: datetime | None = None
    selftest: StoredSelfTest | None = None
    """The latest report (by the cabin's `finished_at`)."""


@dataclass(frozen=True, slots=True)
class CallQualityRecord:
    """The latest sample of one call (the final one once the call has ended)."""

    cabin_id: str
    consultation_id: str
    sent_at: datetime
    sample: wire.CallQualitySample
    final: bool


class FleetStore(Protocol):
    """The fleet's health in the hub's database. Every method may raise
    `hub.errors.StorageError`."""

    async def touch_cabins(self, cabin_ids: Sequence[str], *, at: datetime) -> None:
        """The cabins were heard from `at` (their socket is open): their last heartbeat
        becomes `at` unless it is later already."""
        ...

    async def put_cabin_status(
        self, cabin_id: str, status: wire.CabinStatus, *, at: datetime
    ) -> None:
        """The cabin's heartbeat received `at`: kept as its last status, and its last
        heartbeat."""
        ...

    async def add_selftest(
        self, cabin_id: str, report: wire.SelfTestReport, *, at: datetime
    ) -> bool:
        """Store the report received `at`; False (nothing changed) if this cabin's
        `report_id` is already stored. Reports older than `KEPT` are pruned."""
        ...

    async def put_call_quality(
        self, cabin_id: str, quality: wire.CallQuality, *, at: datetime
    ) -> None:
        """Keep the sample as the call's latest unless a later one (by `sent_at`) is kept.
        Calls older than `KEPT` are pruned."""
        ...

    async def cabin_health(self) -> list[CabinHealth]:
        """Every cabin the hub has heard from, by id."""
        ...

    async def call_qualities(self, *, since: datetime) -> list[CallQualityRecord]:
        """The calls whose latest sample was sent at `since` or later, oldest first."""
        ...

    async def consultation_counts(self, *, since: datetime) -> dict[str, int]:
        """Per cabin, the consultations that began (joined the waiting room) at `since` or
        later."""
        ...


def is_offline(health: CabinHealth | None, *, now: datetime, after: timedelta) -> bool:
    """Silent for longer than `after` (never heard from: not offline, "never seen")."""
    return (
        health is not None and health.last_seen_at is not None and now - health.last_seen_at > after
    )


def failed_results(report: wire.SelfTestReport) -> list[wire.SelfTestResult]:
    return [r for r in report.results if r.outcome is wire.SelfTestOutcome.FAILED]


def blocks_consultations(report: wire.SelfTestReport | None) -> bool:
    """Whether the report has a failed check of `BLOCKING_CHECKS`."""
    return report is not None and any(r.check in BLOCKING_CHECKS for r in failed_results(report))


def offline_alert_id(cabin_id: str, last_seen_at: datetime) -> str:
    """The one id every replica gives the alert of this outage (the outage that began after
    `last_seen_at`): the database keeps it once, however many replicas see it."""
    digest = hashlib.sha256(f"{cabin_id}|{last_seen_at.isoformat()}".encode()).hexdigest()
    return f"hub-offline-{digest[:40]}"


def selftest_alert_id(cabin_id: str, report_id: str) -> str:
    """The one id of the alert raised for a failed self-test report."""
    digest = hashlib.sha256(f"{cabin_id}|{report_id}".encode()).hexdigest()
    return f"hub-selftest-{digest[:40]}"


@dataclass(frozen=True, slots=True)
class QualitySummary:
    """A cabin's call quality: its last call's latest sample, and the week's medians."""

    last: CallQualityRecord | None
    calls: int
    median_sent_kbps: float | None
    median_received_kbps: float | None
    median_loss_percent: float | None
    median_round_trip_ms: float | None


def summarise_quality(records: Iterable[CallQualityRecord]) -> QualitySummary:
    calls = sorted(records, key=lambda r: r.sent_at)
    if not calls:
        return QualitySummary(None, 0, None, None, None, None)
    trips = [r.sample.round_trip_ms for r in calls if r.sample.round_trip_ms is not None]
    return QualitySummary(
        last=calls[-1],
        calls=len(calls),
        median_sent_kbps=statistics.median(r.sample.sent_kbps for r in calls),
        median_received_kbps=statistics.median(r.sample.received_kbps for r in calls),
        median_loss_percent=statistics.median(r.sample.loss_percent for r in calls),
        median_round_trip_ms=statistics.median(trips) if trips else None,
    )
