"""What the proxy in front (and an operator) asks of a replica: is it alive, may it take sockets.

``/healthz`` answers 200 as long as the process serves HTTP: it touches nothing else, so a
slow database never makes a live replica look dead (which would get it restarted for nothing).

``/readyz`` answers 200 only if the database and the shared store (Redis, for a fleet) both
answer within `READY_TIMEOUT_S`; else 503 and one plain reason ("storage unreachable", "redis
unreachable"), nothing of the error itself. HAProxy checks it (``option httpchk GET /readyz``):
a replica that cannot reach PostgreSQL or Redis gets no new sockets, while the ones it holds go
on (calls are peer to peer).

A replica asked to stop (SIGTERM, a rolling restart) first says "draining" on ``/readyz``: the
proxy stops sending it new sockets before it closes those it holds (`hub.app.RunningHub.stop`).

Both are unauthenticated and cheap, and the access log leaves them out (the proxy asks every
half second): a change of readiness is logged once, at the moment it changes.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from hub.cluster import ClusterDown
from hub.errors import StorageError
from hub.services import SERVICES

log = logging.getLogger(__name__)

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths the access log leaves out."""
READY_TIMEOUT_S = 1.0
"""How long each of the database and the shared store has to answer `/readyz`: both together
stay under HAProxy's ``timeout check`` (3 s), so that a hung database is "not ready", not a
check that never ends."""
_PLAIN = "text/plain"
_READY = web.AppKey("hub_ready", list[str])
"""The last reason `/readyz` gave ("" when ready), to log each change once."""
_DRAINING = web.AppKey("hub_draining", set[str])
"""Holds "draining" once the replica is stopping (a set: the application's keys are fixed once
it serves, their contents are not)."""
DRAINING_REASON = "draining"


async def healthz(_request: web.Request) -> web.StreamResponse:
    return web.Response(text="alive\n", content_type=_PLAIN)


async def readyz(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if request.app[_DRAINING]:
        _log_change(request.app, DRAINING_REASON)
        return web.Response(status=503, text=f"{DRAINING_REASON}\n", content_type=_PLAIN)
    reason = ""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await services.storage.check()
    except (StorageError, TimeoutError):
        reason = "storage unreachable"
    if not reason:
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await services.cluster.check()
        except (ClusterDown, TimeoutError):
            reason = "redis unreachable"
    _log_change(request.app, reason)
    if reason:
        return web.Response(status=503, text=f"{reason}\n", content_type=_PLAIN)
    return web.Response(text="ready\n", content_type=_PLAIN)


def _log_change(app: web.Application, reason: str) -> None:
    last = app[_READY]
    if last and last[0] == reason:
        return
    if reason:
        log.warning("hub.not_ready reason=%s", reason.replace(" ", "_"))
    elif last:
        log.info("hub.ready_again")
    last[:] = [reason]


def start_draining(app: web.Application) -> None:
    """From now on `/readyz` answers 503 "draining": the replica is stopping."""
    app[_DRAINING].add(DRAINING_REASON)


def add_routes(app: web.Application) -> None:
    app[_READY] = []
    app[_DRAINING] = set()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
