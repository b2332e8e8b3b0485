"""The parts of a running hub that the request handlers use, built by `hub.app`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hub.accounts import PasswordChecker
from hub.audit import AuditLog
from hub.auth import OriginPolicy, Sessions
from hub.clock import Clock
from hub.cluster import Cluster
from hub.config import HubConfig
from hub.prescriptions import PrescriptionSigner
from hub.rate_limit import FleetLimit
from hub.storage import Storage
from hub.switchboard import Switchboard


@dataclass(frozen=True, slots=True)
class HubServices:
    config: HubConfig
    storage: Storage
    clock: Clock
    sessions: Sessions
    origins: OriginPolicy
    passwords: PasswordChecker
    login_limit: FleetLimit
    audit: AuditLog
    signer: PrescriptionSigner
    switchboard: Switchboard
    console_dir: Path
    check_limit: FleetLimit
    """Prescription checks per client address (the public check page)."""
    agent_dir: Path
    """The agents' alert page's files (``/agent``)."""
    cluster: Cluster
    """What the replicas share (in memory for one process)."""


SERVICES = web.AppKey("hub_services", HubServices)
