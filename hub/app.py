"""Composition root of the hub: builds every part from the configuration and serves them.

This is the one place that chooses implementations (SQLite today, PostgreSQL for a fleet). The
CLI (`python -m hub serve`), the demo and the tests all start a hub with `start_hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import BaseRequest

from hub import (
    agenda_http,
    booking_http,
    check_page,
    coordinator_http,
    fleet_http,
    health,
    http_api,
    operator_export,
    websockets,
)
from hub.accounts import LockoutPolicy, PasswordChecker
from hub.audit import AuditLog
from hub.auth import PROXIES, OriginPolicy, ProxyPolicy, Sessions
from hub.bookings import BOOKING_DESK, BookingDesk
from hub.cancellation import cancel_and_wait
from hub.clock import Clock, SystemClock
from hub.config import DATABASE_FILE, HubConfig, load_hub_config
from hub.errors import ConfigError
from hub.log_safe import log_safe
from hub.notifications import OUTBOX, NotificationPlanner, OutboxWorker, build_outbox
from hub.passwords import PasswordHasher
from hub.peers import CloseCode
from hub.postgres_storage import PostgresStorage
from hub.prescriptions import PrescriptionSigner
from hub.rate_limit import FleetLimit
from hub.records import RecordLimits, index_old_records, rekey_patients
from hub.redis_cluster import cluster_from_config
from hub.sealing import DataKeyring
from hub.services import SERVICES, HubServices
from hub.sqlite_storage import SqliteStorage
from hub.storage import Storage
from hub.storage_credentials import load_data_keys, load_postgres_password
from hub.switchboard import Switchboard
from hub.turn import IceServers
from hub.web_security import (
    add_security_headers,
    body_deadline,
    refuse_undecodable,
    state_change_guard,
)
from keysource import DatabaseKey

__all__ = ["DATABASE_FILE", "RunningHub", "load_hub_config", "open_storage", "start_hub"]

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).parent / "console"
AGENT_DIR = Path(__file__).parent / "agent"
MAX_REQUEST_BYTES = 64 * 1024
SHUTDOWN_TIMEOUT_S = 5.0
SESSION_SWEEP_S = 600.0
LOGIN_WINDOW_S = 60.0
LOGIN_ATTEMPTS_KEPT = timedelta(days=1)
"""A name's failures from an address are forgotten after a day without attempts."""
CHECK_WINDOW_S = 60.0


class _AccessLog(AbstractAccessLogger):
    """One line per request: method, path (as sent, still percent-encoded; never the query: it
    may hold a CSRF token), status. What the client chose is escaped (`log_safe`). The health
    checks the proxy makes every half second go at DEBUG (`hub.health` logs a change)."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        level = logging.DEBUG if request.path in health.HEALTH_PATHS else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        self.logger.log(
            level,
            "hub.http method=%s path=%s status=%d address=%s ms=%.1f",
            log_safe(request.method),
            log_safe(request.raw_path.partition("?")[0]),
            response.status,
            log_safe(request.remote or "-"),
            time * 1000,
        )


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log, where a request its parser refuses (a bad request line, a header
    with a control character, a path too long...) is one line, not a traceback: the client's
    error, answered 400 (or 413, 431). A handler's failure keeps its traceback."""

    def exception(self, msg: object, *args: object, exc_info: object = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            reason = str(exc_info.message).strip().partition("\n")[0]
            self.logger.warning(
                "hub.http_refused status=%s reason=%s error=%s",
                exc_info.code,
                log_safe(reason),
                type(exc_info).__name__,
            )
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)  # type: ignore[arg-type]


@dataclass
class RunningHub:
    url: str
    """``http://127.0.0.1:<port>`` (https with TLS)."""
    app: web.Application
    storage: Storage
    _runner: web.AppRunner = field(repr=False)
    _switchboard: Switchboard = field(repr=False)
    _sweeper: asyncio.Task[None] = field(repr=False)
    _hasher: PasswordHasher = field(repr=False)
    _drain_s: float = field(default=0.0, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _hurry: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _outbox: OutboxWorker | None = field(default=None, repr=False)
    _bookings: BookingDesk | None = field(default=None, repr=False)

    async def stop(self) -> None:
        """Drain (`drain`), stop serving, close the database."""
        if self._stopped:
            return
        self._stopped = True
        await self._drain()
        await cancel_and_wait(self._sweeper)
        if self._outbox is not None:
            await self._outbox.stop()
        if self._bookings is not None:
            await self._bookings.stop()
        await self._switchboard.stop()
        await self._runner.cleanup()
        self._hasher.close()
        await self.storage.close()
        log.info("hub.stopped")

    def hurry(self) -> None:
        """Cut the drain's wait short (a second SIGTERM): close the sockets now."""
        self._hurry.set()

    async def _drain(self) -> None:
        """A rolling restart loses nobody: not ready first (``/readyz`` 503 "draining"), for
        `drain_s`, so that the proxy sends new sockets to the other replicas; then no more
        connections here, and every socket closed with 1012 (reconnect now) once what was
        queued for it is sent. The cabins and consoles reconnect at once, through the proxy."""
        health.start_draining(self.app)
        log.info(
            "hub.draining sockets=%d delay_s=%g",
            sum(1 for _ in self._switchboard.routing.peers()),
            self._drain_s,
        )
        if self._drain_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._drain_s):
                    await self._hurry.wait()
        for site in list(self._runner.sites):
            await site.stop()  # new connections are refused: the proxy tries another replica
        peers = list(self._switchboard.routing.peers())  # with those that came meanwhile
        await asyncio.gather(
            *(p.close_after_sending(CloseCode.SERVICE_RESTART, "restarting") for p in peers)
        )
        log.info("hub.drained sockets=%d", len(peers))


def _bind(config: HubConfig) -> socket.socket:
    try:
        infos = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, _, _, _, address = infos[0]
        return socket.create_server(address[:2], family=family)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port} ({exc})") from exc


def _tls_context(config: HubConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.resolve(config.tls_cert), config.resolve(config.tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls_cert / tls_key cannot be loaded ({exc})") from exc
    return context


async def _sweep_sessions(
    storage: Storage, clock: Clock, switchboard: Switchboard, check_s: float
) -> None:
    """Every `check_s`, close the sockets whose session has ended elsewhere (an operator's
    `revoke-sessions`, `disable-account`, `reset-password` from the command line, or its
    expiry); every `SESSION_SWEEP_S`, delete the expired sessions and old login counts."""
    swept_at = time.monotonic()
    while True:
        await asyncio.sleep(check_s)
        open_sessions = switchboard.session_hashes()
        if open_sessions:
            live = await storage.live_session_hashes(open_sessions, now=clock.now())
            for ended in open_sessions - live:
                log.info("hub.session_ended_elsewhere")
                switchboard.close_session(ended)
        if time.monotonic() - swept_at < SESSION_SWEEP_S:
            continue
        swept_at = time.monotonic()
        removed = await storage.delete_expired_sessions(now=clock.now())
        if removed:
            log.info("hub.sessions_expired count=%d", removed)
        await storage.forget_login_attempts(before=clock.now() - LOGIN_ATTEMPTS_KEPT)


def _credentials_dir() -> Path | None:
    """systemd's folder of this service's decrypted credentials (``LoadCredentialEncrypted=``)."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(folder) if folder else None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def open_storage(
    config: HubConfig,
    *,
    key: DatabaseKey | None,
    env: MutableMapping[str, str],
    data_keys: DataKeyring | None = None,
    create_keys: bool = False,
) -> Storage:
    """The storage `config.storage` names: the SQLCipher file opened with `key`, or the
    PostgreSQL database with the data keys (`data_keys`, else from their sources in `env`) and
    its password (from `env`'s sources). A wrong key: `DatabaseKeyError`, nothing written."""
    section = config.storage
    if section.backend == "postgresql":
        keyring = data_keys or load_data_keys(config, env, create=create_keys)
        return await PostgresStorage.open(
            section.dsn,
            keyring,
            password=load_postgres_password(config, env),
            min_connections=section.min_connections,
            max_connections=section.max_connections,
            timeout_s=section.timeout_s,
        )
    if key is None:
        raise ConfigError("the SQLite database needs its key (database_key_*)")
    return await SqliteStorage.open(config.database_path, key)


async def start_hub(
    config: HubConfig,
    *,
    key: DatabaseKey | None = None,
    data_keys: DataKeyring | None = None,
    clock: Clock | None = None,
    console_dir: Path | None = None,
    agent_dir: Path | None = None,
) -> RunningHub:
    """Open the database (SQLite with `key`: encrypted first if it was plaintext; PostgreSQL
    with `data_keys`, or those of the configured sources) and migrate it, load or make the
    signing key, bind, and serve. The hub is ready when this returns; old data keys are then
    replaced in the background (PostgreSQL). `clock`, `console_dir` and `agent_dir` are for the
    tests."""
    clock = clock or SystemClock()
    data_dir = config.data_path
    await asyncio.to_thread(data_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
    ice = await asyncio.to_thread(IceServers.from_config, config)
    tls = await asyncio.to_thread(_tls_context, config)
    # The database first: a wrong key stops the hub before it makes anything (a signing key).
    storage = await open_storage(config, key=key, env=os.environ, data_keys=data_keys)
    try:
        signer = await asyncio.to_thread(
            PrescriptionSigner.load_or_create, data_dir, _credentials_dir()
        )
        await rekey_patients(storage)
        await index_old_records(storage)
        hub = await _serve(
            config,
            clock,
            storage,
            ice,
            tls,
            signer,
            console_dir or CONSOLE_DIR,
            agent_dir or AGENT_DIR,
        )
    except BaseException:
        await storage.close()
        raise
    if isinstance(storage, PostgresStorage):
        storage.start_resealing()
    return hub


async def _serve(
    config: HubConfig,
    clock: Clock,
    storage: Storage,
    ice: IceServers,
    tls: ssl.SSLContext | None,
    signer: PrescriptionSigner,
    console_dir: Path,
    agent_dir: Path,
) -> RunningHub:
    hasher = PasswordHasher(
        config.argon2_cost,
        workers=config.password_hash_workers,
        queue=config.password_hash_queue,
    )
    passwords = PasswordChecker(
        storage,
        hasher,
        LockoutPolicy(config.login_max_failures, config.login_backoff_s, config.login_lockout_s),
        clock,
    )
    try:
        return await _serve_with(
            config, clock, storage, ice, tls, signer, console_dir, agent_dir, passwords
        )
    except BaseException:
        hasher.close()
        raise


def _add_routes(app: web.Application, bookings: BookingDesk) -> None:
    health.add_routes(app)
    check_page.add_routes(app)
    # the pages' own /api/ routes before http_api's /api/* catch-all
    agenda_http.add_routes(app)
    coordinator_http.add_routes(app)
    fleet_http.add_routes(app)
    booking_http.add_routes(app, bookings)
    operator_export.add_routes(app)
    http_api.add_routes(app)
    websockets.add_routes(app)


async def _serve_with(
    config: HubConfig,
    clock: Clock,
    storage: Storage,
    ice: IceServers,
    tls: ssl.SSLContext | None,
    signer: PrescriptionSigner,
    console_dir: Path,
    agent_dir: Path,
    passwords: PasswordChecker,
) -> RunningHub:
    await passwords.start()
    audit = AuditLog(storage, clock)
    sock = _bind(config)
    port = int(sock.getsockname()[1])
    url = f"{'https' if tls else 'http'}://{_url_host(config.host)}:{port}"
    cluster = cluster_from_config(config)  # LocalCluster for one hub, Redis for a fleet
    try:  # the SMTP password and SMS token first: one missing stops the hub here
        outbox = build_outbox(
            config,
            storage,
            clock,
            claimer=cluster.replica_id,
            public_url=config.public_url.rstrip("/") or url,
            env=os.environ,
        )
    except BaseException:
        sock.close()
        raise
    switchboard = Switchboard(
        storage=storage,
        clock=clock,
        ice=ice,
        signer=signer,
        audit=audit,
        offline_grace_s=config.cabin_offline_grace_s,
        refresh_s=config.waiting_room_refresh_s,
        prescription_retry_s=config.prescription_retry_s,
        public_url=config.public_url.rstrip("/") or url,
        alert_escalation_s=config.alert_escalation_s,
        emergency_number=config.emergency_number,
        record_limits=RecordLimits(
            uploads_per_hour=config.records_per_cabin_per_hour,
            bytes_per_day=config.record_bytes_per_cabin_per_day,
            session_margin_s=config.record_session_margin_s,
            intake_workers=config.record_intake_workers,
            history_readers=config.history_readers,
        ),
        alerts_per_minute=config.alerts_per_minute,
        alert_update_s=config.alert_update_s,
        alert_resync_s=config.alert_resync_s,
        cluster=cluster,
        code_tries_per_hour=config.booking.code_tries_per_cabin_per_hour,
        code_valid_before_min=config.booking.code_valid_before_min,
        offline_after_s=config.fleet.offline_after_min * 60,
        fleet_check_s=config.fleet.check_s,
    )
    try:
        await switchboard.alerts.reload()
    except BaseException:
        switchboard.alerts.stop()
        switchboard.records.close()
        sock.close()
        raise
    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,
        middlewares=[
            refuse_undecodable,
            body_deadline(config.request_read_timeout_s),
            state_change_guard,
        ],
    )
    # Sign-in and check-page limits are counted by the replicas together; one hub's own
    # count is all there is.
    shared = cluster if config.cluster.backend == "redis" else None
    app[SERVICES] = HubServices(
        config=config,
        storage=storage,
        clock=clock,
        sessions=Sessions(
            storage,
            clock,
            ttl_s=config.session_ttl_s,
            secure=tls is not None or config.secure_cookies,
            idle_s=config.session_idle_s,
            max_per_account=config.sessions_per_account,
            in_use=switchboard.has_session,
        ),
        origins=OriginPolicy.for_hub(config, port),
        passwords=passwords,
        login_limit=FleetLimit(
            "login",
            limit=config.login_attempts_per_minute,
            window_s=LOGIN_WINDOW_S,
            clock=clock,
            cluster=shared,
        ),
        audit=audit,
        signer=signer,
        switchboard=switchboard,
        console_dir=console_dir,
        check_limit=FleetLimit(
            "rx_check",
            limit=config.check_page_requests_per_minute,
            window_s=CHECK_WINDOW_S,
            clock=clock,
            cluster=shared,
        ),
        agent_dir=agent_dir,
        cluster=cluster,
    )
    app[PROXIES] = ProxyPolicy.for_hub(config)
    app[OUTBOX] = outbox
    bookings = BookingDesk(  # the one desk every booking page uses (`app[BOOKING_DESK]`)
        storage=storage,
        audit=audit,
        clock=clock,
        settings=config.booking,
        notify=NotificationPlanner.from_config(config),
        on_change=lambda appointment: switchboard.spawn(
            switchboard.code_checks.push_todays(appointment.cabin_id),
            f"hub-todays-appointments-{appointment.cabin_id}",
        ),
    )
    app[BOOKING_DESK] = bookings
    app.on_response_prepare.append(add_security_headers)
    _add_routes(app, bookings)
    runner = web.AppRunner(
        app,
        access_log_class=_AccessLog,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        # aiohttp's keep-alive deadline runs from the connection's start (and from each answer)
        # until a request's headers are complete, however the bytes trickle in: a slow client
        # is closed after it. A body has the same time (`body_deadline`), and an unread one is
        # drained for at most that long before the connection closes.
        keepalive_timeout=config.request_read_timeout_s,
        lingering_time=config.request_read_timeout_s,
        logger=_ServerLog(logging.getLogger("aiohttp.server")),
    )
    try:
        await runner.setup()
        await web.SockSite(runner, sock, ssl_context=tls).start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    try:
        await switchboard.start()  # a Redis that refuses this hub: ClusterDown, nothing left
    except BaseException:
        await switchboard.stop()
        await runner.cleanup()
        raise
    sweeper = asyncio.get_running_loop().create_task(
        _sweep_sessions(storage, clock, switchboard, config.session_check_s),
        name="hub-session-sweeper",
    )
    outbox.start()  # confirmations and reminders (`hub.notifications`)
    bookings.start(every_s=config.booking.noshow_check_s)  # the no-show timer
    log.info("hub.started url=%s key_id=%s", url, signer.key_id)
    return RunningHub(
        url=url,
        app=app,
        storage=storage,
        _runner=runner,
        _switchboard=switchboard,
        _sweeper=sweeper,
        _hasher=passwords.hasher,
        _drain_s=config.drain_s,
        _outbox=outbox,
        _bookings=bookings,
    )
