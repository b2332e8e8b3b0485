"""The hub's configuration: TOML, validated once at start, with messages a person can act on.

The embedded defaults (``default_config.toml``, shipped in the package) describe the demo hub on
loopback. A configuration file overrides them key by key (the ``[turn]`` table merges too), and
the caller's overrides come last. Every table refuses unknown keys: a typo must not pass.
Relative paths (TLS files, the TURN secret file) are taken inside ``data_dir``; a relative
``data_dir`` is taken from the current directory when the configuration is loaded.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from hub.errors import ConfigError

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=30 * 86_400)]
IceUrl = Annotated[str, msgspec.Meta(max_length=512, pattern=r"^(stun|stuns|turn|turns):[!-~]+$")]
Origin = Annotated[str, msgspec.Meta(pattern=r"^(|https?://[^\s/]+)$")]
PublicUrl = Annotated[str, msgspec.Meta(max_length=400, pattern=r"^(|https?://[!-~]+)$")]
"""An http(s) address in printable ASCII (no query or fragment: checked by `HubConfig`)."""
EmergencyNumber = Annotated[
    str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9+][0-9 +().-]*$")
]
ProxyAddress = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[0-9A-Fa-f.:/]+$")
]
"""An IP address or a network in CIDR form (checked by `HubConfig`)."""
Argon2Cost = Literal["standard", "test"]
"""``standard``: argon2id at OWASP's recommended cost. ``test``: a cheap hash for the test suite
only; never on a hub that real doctors use."""

_SECRET_KEYS = ("secret", "dsn")
DATABASE_FILE = "hub.db"
"""The embedded database (SQLCipher), in the data folder."""
EnvName = Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]*$")]
CredentialName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class TurnSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The TURN (and STUN) servers handed to both ends of a call, with coturn REST credentials
    (``use-auth-secret``). No ``urls``: no ICE servers at all (loopback, or one local network)."""

    urls: Annotated[list[IceUrl], msgspec.Meta(max_length=8)] = []
    secret: str = ""
    secret_file: str = ""
    credential_ttl_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 3600
    ice_transport_policy: Literal["all", "relay"] = "all"

    def __post_init__(self) -> None:
        has_turn = any(url.startswith(("turn:", "turns:")) for url in self.urls)
        if self.secret and self.secret_file:
            raise ValueError("give `secret` or `secret_file`, not both")
        if has_turn and not (self.secret or self.secret_file):
            raise ValueError("a TURN url needs the shared `secret` (or a `secret_file`)")
        if self.ice_transport_policy == "relay" and not has_turn:
            raise ValueError('`ice_transport_policy = "relay"` needs at least one turn: url')


RedisUrl = Annotated[str, msgspec.Meta(max_length=400)]
KeyPrefix = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class ClusterSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the hub's replicas share besides the database (`hub.cluster`): nothing but this
    process (``local``, one hub), or a Redis server (``redis``, a fleet of replicas)."""

    backend: Literal["local", "redis"] = "local"
    redis_url: RedisUrl = ""
    """``redis://host:port/db``, ``rediss://...`` (TLS) or ``unix:///path/redis.sock``; a user
    name may be in it (``redis://hub@host``), never the password (below)."""
    redis_password_env: EnvName = "HUB_REDIS_PASSWORD"  # noqa: S105 (where, not what)
    """Redis's password (``requirepass``, or the ACL user's) may be in this environment
    variable (read once, then removed from the hub's environment)..."""
    redis_password_credential: CredentialName = "hub-redis-password"  # noqa: S105
    """...or in this systemd credential..."""
    redis_password_file: Annotated[str, msgspec.Meta(min_length=1)] = "hub-redis.password"  # noqa: S105
    """...or in this file (inside ``data_dir`` when relative; mode 0600). None of them: no
    password."""
    key_prefix: KeyPrefix = "cabin-hub"
    """Every key and channel of this hub starts with it: two hubs may share one Redis."""

    def __post_init__(self) -> None:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError('`backend = "redis"` needs `redis_url` ("redis://127.0.0.1:6379/0")')
        if self.redis_url:
            problem = redis_url_problem(self.redis_url)
            if problem:
                raise ValueError(f"`redis_url`: {problem}")


def redis_url_problem(url: str) -> str:
    """What is wrong with a Redis address, or "" (the message never repeats the address: it
    might hold a password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not an address ({exc})"
    if parts.scheme == "unix":
        return "" if parts.path.startswith("/") else "a unix socket needs an absolute path"
    if parts.scheme not in ("redis", "rediss"):
        return "must start with redis://, rediss:// or unix://"
    if parts.password is not None:
        return "must not hold the password: give it in `redis_password_env`, its credential or file"
    if not parts.hostname:
        return "names no host"
    if port == 0:
        return "port 0 is no port"
    if parts.path not in ("", "/") and not re.fullmatch(r"/\d{1,2}", parts.path):
        return "the path is the database number (/0 to /15)"
    if parts.query or parts.fragment:
        return "no query (?) nor fragment (#): everything else is in the [cluster] table"
    return ""


class StorageSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where the hub keeps its state: the SQLCipher file in the data folder (``sqlite``, the
    default: one hub), or a PostgreSQL database that several replicas share (``postgresql``),
    with health data sealed by the hub (`hub.sealing`) under data keys from a credential."""

    backend: Literal["sqlite", "postgresql"] = "sqlite"
    dsn: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    """``postgresql://hub@127.0.0.1:5432/hub``: no password in it (see `password_env`)."""
    password_env: EnvName = "HUB_PG_PASSWORD"  # noqa: S105 - its name, not a password
    """The database password may be in this environment variable (read once, then removed)..."""
    password_credential: CredentialName = "hub-pg-password"  # noqa: S105 - its name
    """...or in this systemd credential..."""
    password_file: str = ""
    """...or in this file (inside ``data_dir`` when relative; mode 0600). Empty, and no
    variable nor credential: no password (peer or certificate authentication)."""
    data_keys_env: EnvName = "HUB_DATA_KEYS"
    """The data keys (`hub.sealing`: ``index <hex>`` and ``k1 <hex>`` lines, the current data
    key first) may be in this environment variable (read once, then removed)..."""
    data_keys_credential: CredentialName = "hub-data-keys"
    """...or in this systemd credential..."""
    data_keys_file: Annotated[str, msgspec.Meta(min_length=1)] = "hub-data.keys"
    """...or in this file (inside ``data_dir`` when relative), readable by its owner only."""
    min_connections: Annotated[int, msgspec.Meta(ge=0, le=100)] = 1
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=200)] = 10
    """Connections of this replica's pool (PostgreSQL's ``max_connections`` must cover every
    replica's, and the command line's)."""
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10
    """How long to wait for a connection before the operation fails (`StorageError`)."""

    def __post_init__(self) -> None:
        if self.backend == "sqlite":
            if self.dsn:
                raise ValueError('`dsn` is for `backend = "postgresql"`; remove it, or set that')
            return
        if not self.dsn:
            raise ValueError(
                '`backend = "postgresql"` needs `dsn`, e.g. "postgresql://hub@127.0.0.1:5432/hub"'
            )
        try:
            parts = urlsplit(self.dsn)
            parts.port  # noqa: B018 - parsed for its check
        except ValueError:
            raise ValueError("`dsn` is not a postgresql:// address") from None
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("`dsn` must start with postgresql:// (e.g. postgresql://hub@host/hub)")
        if parts.password is not None or "password=" in parts.query:
            raise ValueError(
                "`dsn` must not hold the password: give it in $HUB_PG_PASSWORD, the systemd"
                " credential `password_credential`, or `password_file`"
            )
        if self.min_connections > self.max_connections:
            raise ValueError("`min_connections` is more than `max_connections`")


class PublicBookingSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The public booking page (``/rendez-vous``, `hub.booking_http`): its proof of work and
    its limits on reads and cancellations (those on bookings are `[booking]`'s
    ``bookings_per_client_per_hour`` and ``bookings_per_phone_per_day``, the latter for an
    e-mail too)."""

    proof_bits: Annotated[int, msgspec.Meta(ge=0, le=24)] = 12
    """Leading zero bits of sha256(challenge + nonce) the page must find (12: ~4000 tries of
    crypto.subtle, tens of ms on a desktop, a few hundred on a phone; see
    bench/bench_booking_page.py); 0 turns the proof off."""
    challenge_ttl_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 900
    """A challenge is good for one booking or cancellation within this long."""
    reads_per_minute: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 120
    """Towns, cabins, slots and challenges one client address may ask for in any 60 s."""
    cancels_per_hour: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 10
    """Cancellations one client address may try in any hour."""
    cancels_per_code_per_day: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 5
    """Cancellations tried with one code in any 24 hours (a wrong birth date counts)."""


MailAddress = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^(|[^\s@<>\"]+@[^\s@<>\"]+)$")]
"""An e-mail address (``rendez-vous@hub.example.fr``), or ""."""
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class MailSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The SMTP server the hub sends patients' confirmations and reminders through
    (`hub.mail`). Not ``enabled``: no e-mail is sent (the outbox keeps them pending)."""

    enabled: bool = False
    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 25
    starttls: bool = False
    """Upgrade the connection with STARTTLS (port 587), the certificate checked."""
    tls: bool = False
    """Implicit TLS from the first byte (port 465), the certificate checked."""
    username: Annotated[str, msgspec.Meta(max_length=256)] = ""
    """Sign in with it (and the password below); "": no authentication."""
    password_env: EnvName = "HUB_SMTP_PASSWORD"  # noqa: S105 - its name, not a password
    """The SMTP password may be in this environment variable (read once, then removed)..."""
    password_credential: CredentialName = "hub-smtp-password"  # noqa: S105 - its name
    """...or in this systemd credential..."""
    password_file: Annotated[str, msgspec.Meta(min_length=1)] = "hub-smtp.password"  # noqa: S105
    """...or in this file (inside ``data_dir`` when relative; mode 0600)."""
    from_address: MailAddress = ""
    from_name: Annotated[str, msgspec.Meta(max_length=100)] = "La Box Médicale"
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15

    def __post_init__(self) -> None:
        if self.starttls and self.tls:
            raise ValueError("give `starttls` (port 587) or `tls` (port 465), not both")
        if self.enabled and not self.from_address:
            raise ValueError('`enabled = true` needs `from_address` ("rendez-vous@example.fr")')
        if self.username and not (self.starttls or self.tls) and self.host not in _LOOPBACK:
            raise ValueError("a password is never sent in clear: set `starttls` or `tls`")


class SmsSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The SMS provider (`hub.sms`): ``none`` (no SMS sent; the outbox keeps them pending) or
    ``http``, a JSON API that takes ``{"to", "text", "client_ref"}`` with a bearer token."""

    provider: Literal["none", "http"] = "none"
    url: PublicUrl = ""
    token_env: EnvName = "HUB_SMS_TOKEN"  # noqa: S105 - its name, not a token
    """The provider's API token may be in this environment variable (read once, removed)..."""
    token_credential: CredentialName = "hub-sms-token"  # noqa: S105 - its name
    """...or in this systemd credential..."""
    token_file: Annotated[str, msgspec.Meta(min_length=1)] = "hub-sms.token"  # noqa: S105
    """...or in this file (inside ``data_dir`` when relative; mode 0600)."""
    sender: Annotated[str, msgspec.Meta(max_length=11, pattern=r"^[A-Za-z0-9 ]*$")] = ""
    """The sender name shown on the phone (11 letters or digits at most); "": the provider's."""
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10

    def __post_init__(self) -> None:
        if self.provider == "http" and not self.url:
            raise ValueError('`provider = "http"` needs `url` ("https://sms.example.fr/send")')


class NotificationsSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When reminders go out, and how the outbox (`hub.notifications`) is worked."""

    reminder_day_hours_before: Annotated[float, msgspec.Meta(gt=0, le=14 * 24)] = 24
    """The "day before" reminder goes this long before the slot (24: the same time, the day
    before). Whether there is one, and the one shortly before: `[booking]`."""
    poll_s: PositiveSeconds = 5
    """How often each replica looks for messages that are due."""
    lease_s: Annotated[float, msgspec.Meta(ge=10, le=3600)] = 120
    """A message claimed by a replica that dies is tried again by another after this long."""
    batch: Annotated[int, msgspec.Meta(ge=1, le=500)] = 20
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 6
    """Tries before a message is FAILED for good (shown on the coordinator's page)."""
    retry_first_s: PositiveSeconds = 30
    """The wait after the first failure; it doubles after each, up to `retry_max_s`."""
    retry_max_s: PositiveSeconds = 3600


class BookingSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Booking (`hub.bookings`): the defaults of a new cabin's calendar (each cabin's own
    calendar may differ), how long a code opens the cabin, when a booking becomes a no-show,
    the reminders, and the limits that hold off bots and brute force."""

    slot_minutes: Annotated[int, msgspec.Meta(ge=5, le=240)] = 15
    walk_in_share: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.25
    """The share of each day's slots kept for patients who come without an appointment."""
    code_valid_before_min: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] = 30
    """A code opens the cabin from this long before its slot to the end of the slot's day."""
    noshow_after_min: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 30
    """A booked patient not arrived this long after the slot's start is a no-show."""
    noshow_check_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60
    """How often the hub looks for no-shows (the scripted demo: a few seconds)."""
    reminder_day_before: bool = True
    reminder_hours_before: Annotated[int, msgspec.Meta(ge=0, le=48)] = 1
    """0: no reminder shortly before."""
    bookable_days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 60
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Europe/Paris"
    code_tries_per_cabin_per_hour: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 30
    bookings_per_client_per_hour: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 5
    bookings_per_phone_per_day: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 3

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"`timezone`: {self.timezone!r} is not an IANA zone") from None


class FleetSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The fleet page and the alerts the hub raises itself (`hub.fleet_desk`)."""

    offline_after_min: Annotated[float, msgspec.Meta(gt=0, le=7 * 24 * 60)] = 5
    """A cabin silent this long (no heartbeat, no socket) is offline: an alert to its agents
    and the operator, and "temporarily unavailable" on the booking page."""
    check_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 0
    """How often each replica looks for silent cabins; 0: a third of `offline_after_min`,
    at most a minute."""


class HubConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything the hub reads at start. Build it with `load_hub_config`."""

    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65_535)] = 8765
    """0: the system picks a free port (`RunningHub.url` tells which)."""
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = ".cabin-data/hub"
    database_key_env: EnvName = "HUB_DB_KEY"
    """The database key (64 hex digits) may be in this environment variable (read once, then
    removed from the hub's environment)..."""
    database_key_credential: CredentialName = "hub-db-key"
    """...or in this systemd credential (``LoadCredential=``, in ``$CREDENTIALS_DIRECTORY``)..."""
    database_key_file: Annotated[str, msgspec.Meta(min_length=1)] = "hub-db.key"
    """...or in this file (inside ``data_dir`` when relative), readable by its owner only."""
    public_origin: Origin = ""
    """The origin doctors' browsers use (``https://hub.example.fr``) when the hub is behind a
    proxy. Empty: the hub's own address (and ``localhost`` for a loopback hub)."""
    public_url: PublicUrl = ""
    """The address pharmacies reach the hub at (``https://hub.example.fr``, or with a path
    prefix behind a proxy): prescriptions' QR codes lead to ``<public_url>/rx/<number>?k=...``.
    Empty: the hub's own address (fine for the demo; a pharmacy cannot reach a loopback one)."""
    check_page_requests_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 30
    """Prescription checks one client address may make in any 60 s (429 beyond)."""
    tls_cert: str | None = None
    tls_key: str | None = None
    session_ttl_s: PositiveSeconds = 12 * 3600
    login_max_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    login_lockout_s: PositiveSeconds = 15 * 60
    login_attempts_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20
    """Login attempts one client address may make in any 60 s."""
    login_backoff_s: PositiveSeconds = 60
    """The first lock of a name from one address (after `login_max_failures` wrong
    passwords); each further wrong password doubles it, up to `login_lockout_s`."""
    trusted_proxies: Annotated[list[ProxyAddress], msgspec.Meta(max_length=64)] = []
    """Addresses (or networks, ``10.0.0.0/8``) of the reverse proxies in front of the hub:
    only their `proxy_header` is believed for the client's address. Empty: no proxy."""
    proxy_header: Literal["X-Forwarded-For", "Forwarded"] = "X-Forwarded-For"
    """The header the trusted proxies add the client's address to."""
    session_idle_s: PositiveSeconds = 3600
    """A session unused this long is closed (the doctor signs in again)."""
    session_check_s: PositiveSeconds = 15
    """How often the sockets of sessions ended elsewhere (the command line) are closed."""
    sessions_per_account: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    """Open sessions an account may have; signing in once more closes the oldest."""
    password_hash_workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    """Threads that hash and verify passwords (their own: records never wait behind them)."""
    password_hash_queue: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 16
    """Password checks that may wait for a thread; beyond them, a login is answered 503."""
    cabin_offline_grace_s: PositiveSeconds = 300
    cabin_hello_timeout_s: PositiveSeconds = 5
    request_read_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10
    """An HTTP client must send a request's headers within this long of connecting (or of the
    previous answer, on a kept-alive connection), then its body within this long; else it is
    disconnected. Also how long an idle kept-alive connection stays open."""
    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 2 * 1024 * 1024
    waiting_room_refresh_s: PositiveSeconds = 30
    prescription_retry_s: PositiveSeconds = 30
    """A prescription its (connected) cabin has not acknowledged is sent again this often."""
    alert_escalation_s: PositiveSeconds = 60
    """A distress alert nobody has acknowledged this long after the hub got it goes to every
    doctor's console, with `emergency_number` (see `hub.alerts.escalates` for which do)."""
    emergency_number: EmergencyNumber = "15"
    """The number the escalation tells to call: the SAMU's 15 in France (112 in Europe)."""
    records_per_cabin_per_hour: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 60
    """Consultation records one cabin may send in any hour (`hub.records.CabinQuota`)."""
    record_bytes_per_cabin_per_day: Annotated[int, msgspec.Meta(ge=1024)] = 64 * 1024 * 1024
    """Bytes of records one cabin may send in any 24 hours; beyond, `rate_limited`."""
    record_session_margin_s: PositiveSeconds = 7200
    """How long before the hub's join a record's consultation may start, and after the hub's
    end it may end; a record outside is refused (`conflict`)."""
    record_intake_workers: Annotated[int, msgspec.Meta(ge=1, le=32)] = 2
    """Threads that read records (their own pool: password hashing does not stall them)."""
    history_readers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    """Patients' histories built at once; each holds one record's Bundle at a time."""
    alerts_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 12
    """New alerts one cabin may open in any 60 s, and repeats (an alert of the kind and
    severity of one already open, merged into it) it may have stored one by one; beyond,
    `rate_limited` (a repeat is still counted)."""
    alert_update_s: PositiveSeconds = 5
    """The pages shown an alert get its new repeat count at most this often."""
    alert_resync_s: PositiveSeconds = 15
    """The hub re-reads this often which alerts are still open (``clear-alerts``)."""
    drain_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0
    """On SIGTERM, how long the replica says "draining" on ``/readyz`` (so that the proxy sends
    it no new socket) before it closes its sockets with 1012 (reconnect now) and stops. 0: no
    wait (one hub, no proxy); behind HAProxy, more than its ``inter`` times ``fall``."""
    argon2_cost: Argon2Cost = "standard"
    turn: TurnSection = msgspec.field(default_factory=TurnSection)
    cluster: ClusterSection = msgspec.field(default_factory=ClusterSection)
    storage: StorageSection = msgspec.field(default_factory=StorageSection)
    public_booking: PublicBookingSection = msgspec.field(default_factory=PublicBookingSection)
    mail: MailSection = msgspec.field(default_factory=MailSection)
    sms: SmsSection = msgspec.field(default_factory=SmsSection)
    notifications: NotificationsSection = msgspec.field(default_factory=NotificationsSection)
    booking: BookingSection = msgspec.field(default_factory=BookingSection)
    fleet: FleetSection = msgspec.field(default_factory=FleetSection)

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both `tls_cert` and `tls_key`")
        if "?" in self.public_url or "#" in self.public_url:
            raise ValueError("`public_url` must have no query (?) nor fragment (#)")
        for proxy in self.trusted_proxies:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"`trusted_proxies`: {proxy!r} is not an address nor a network"
                ) from None

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_path(self) -> Path:
        return self.data_path / DATABASE_FILE

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None

    @property
    def secure_cookies(self) -> bool:
        """Browsers reach the hub over HTTPS: its own TLS, or a proxy's (an https origin)."""
        return self.tls_enabled or self.public_origin.startswith("https://")

    def resolve(self, relative: str) -> Path:
        """A path of the configuration, relative ones taken inside the data folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.data_path / path


def default_toml() -> str:
    """The embedded defaults, as shipped in the package."""
    return resources.files("hub").joinpath("default_config.toml").read_text(encoding="utf-8")


def load_hub_config(
    path: Path | None,
    *,
    data_dir: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HubConfig:
    """The embedded defaults, overridden by the file at ``path`` (when given), then by
    ``overrides`` (same keys as the file, ``{"turn": {...}}`` for the TURN table), then by
    ``data_dir``. Raises `ConfigError` naming the file, the key and what was expected."""
    data = _parse(default_toml(), "embedded defaults")
    origin = "configuration"
    if path is not None:
        origin = str(path)
        data = _merge(data, _parse(_read(path), origin))
    if overrides:
        origin = f"{origin} (with overrides)"
        data = _merge(data, dict(overrides))
    if data_dir is not None:
        data["data_dir"] = str(data_dir)
    if isinstance(data.get("data_dir"), str):
        data["data_dir"] = str(Path(data["data_dir"]).expanduser().absolute())
    try:
        return msgspec.convert(data, HubConfig)
    except msgspec.ValidationError as exc:
        key, problem = _readable_path(str(exc))
        value = _value_at(data, key) if key else None
        shown = value is not None and not isinstance(value, dict)
        if any(word in key for word in _SECRET_KEYS):
            shown = False
        given = f" (given: {value!r})" if shown else ""
        where = f"{origin}: {key}" if key else origin
        raise ConfigError(f"{where}: {problem}{given}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: the configuration file does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: the configuration file cannot be read ({exc})") from exc


def _parse(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: this is not valid TOML ({exc})") from exc


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (values, arrays) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], dict(value))
        else:
            merged[key] = value
    return merged


def _readable_path(message: str) -> tuple[str, str]:
    """Split msgspec's "... - at `$.a.b[0]`" into ("a.b[0]", "...")."""
    head, sep, where = message.rpartition(" - at `$")
    if not sep:
        return "", message
    return where.rstrip("`").lstrip("."), head


def _value_at(data: Any, key: str) -> Any:
    """The value at a dotted path such as ``turn.urls[0]``, or None."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            index = int(part[1:-1])
            data = data[index] if isinstance(data, list) and index < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data
