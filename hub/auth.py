"""Doctors' and agents' sessions and the checks every request goes through.

- The session cookie ``hub_session`` holds 32 random bytes; the database keeps only their
  SHA-256. It is HttpOnly, SameSite=Strict, Path=/, and Secure when browsers reach the hub
  over HTTPS (its own TLS, or an ``https://`` ``public_origin`` when TLS ends at a proxy).
- A session ends `session_ttl_s` after sign-in, or `session_idle_s` after its last use; an
  account has `sessions_per_account` at most (signing in once more closes the oldest).
- Each session has a CSRF token: a state-changing request must carry it in ``X-CSRF-Token``
  (the console's websocket, in its ``csrf`` query parameter).
- A state-changing request, the login and the console's websocket must come with an ``Origin``
  that is the hub's own.
A cabin's token is not a session: nothing here looks at cabins' credentials, and no header but
the cookie opens a session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

from aiohttp import web

from hub.clock import Clock
from hub.config import HubConfig
from hub.storage import AccountRole, SessionRecord, Storage

COOKIE = "hub_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_QUERY = "csrf"
_TOKEN_BYTES = 32
_TOUCH_EVERY_S = 60.0
"""A session's last use is written at most this often (not on every request)."""


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class OpenedSession:
    cookie_value: str
    record: SessionRecord
    closed: tuple[str, ...] = ()
    """The token hashes of the account's oldest sessions, closed to make room for this one."""


class Sessions:
    """Open, find and close sessions: each lasts `ttl_s` at most, ends after `idle_s` unused
    (a session whose console or agent page is connected, `in_use`, is in use), and an account
    has `max_per_account` at most (a new one closes the oldest)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        ttl_s: float,
        secure: bool,
        idle_s: float = 3600.0,
        max_per_account: int = 5,
        in_use: Callable[[str], bool] = lambda _session_sha256: False,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._secure = secure
        self._idle = timedelta(seconds=idle_s)
        self._touch_every = timedelta(seconds=min(_TOUCH_EVERY_S, idle_s / 10))
        self._max_per_account = max_per_account
        self._in_use = in_use

    async def open(self, username: str, role: AccountRole = AccountRole.DOCTOR) -> OpenedSession:
        value = secrets.token_urlsafe(_TOKEN_BYTES)
        now = self._clock.now()
        record = SessionRecord(
            token_sha256=_sha256(value),
            username=username,
            csrf_token=secrets.token_urlsafe(_TOKEN_BYTES),
            created_at=now,
            expires_at=now + self._ttl,
            role=role,
        )
        await self._storage.add_session(record)
        closed = await self._storage.trim_sessions(username, keep=self._max_per_account)
        return OpenedSession(value, record, tuple(closed))

    async def of_request(self, request: web.Request) -> SessionRecord | None:
        """The request's live session, from its cookie only (and marks it used)."""
        value = request.cookies.get(COOKIE)
        if not value or len(value) > 256:
            return None
        now = self._clock.now()
        token_sha256 = _sha256(value)
        return await self._storage.live_session(
            token_sha256,
            now=now,
            idle_since=None if self._in_use(token_sha256) else now - self._idle,
            touch_before=now - self._touch_every,
        )

    async def close(self, session: SessionRecord) -> None:
        await self._storage.delete_session(session.token_sha256)

    def remaining_s(self, session: SessionRecord) -> float:
        return (session.expires_at - self._clock.now()).total_seconds()

    def set_cookie(self, response: web.StreamResponse, opened: OpenedSession) -> None:
        response.set_cookie(
            COOKIE,
            opened.cookie_value,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self._secure,
            max_age=int(self._ttl.total_seconds()),
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.set_cookie(
            COOKIE,
            "",
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self._secure,
            max_age=0,
        )


def csrf_matches(given: str | None, session: SessionRecord) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), session.csrf_token.encode("utf-8"))


class OriginPolicy:
    """The origins the hub accepts: its own."""

    def __init__(self, origins: frozenset[str]) -> None:
        self.origins = origins

    @classmethod
    def for_hub(cls, config: HubConfig, port: int) -> OriginPolicy:
        if config.public_origin:
            return cls(frozenset({config.public_origin.rstrip("/")}))
        scheme = "https" if config.tls_enabled else "http"
        default_port = 443 if config.tls_enabled else 80
        hosts = {config.host}
        if _is_loopback(config.host):
            hosts |= {"127.0.0.1", "localhost", "[::1]"}
        origins = set()
        for host in hosts:
            shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
            origins.add(f"{scheme}://{shown}:{port}")
            if port == default_port:
                origins.add(f"{scheme}://{shown}")
        return cls(frozenset(origins))

    def allows(self, request: web.Request) -> bool:
        return request.headers.get("Origin", "") in self.origins


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


MAX_FORWARDED_HOPS = 32
"""Hops of a forwarding header looked at, from the right: enough for any real chain."""
_AddressNet = IPv4Network | IPv6Network


class ProxyPolicy:
    """Whose forwarding header is believed: the configured proxies' only.

    The client's address is the rightmost address of the chain (the header's hops, then the
    connection's peer) that is not a trusted proxy: every hop to its right was added by a proxy
    we trust, and anything to its left was written by the client and may be a lie. A hop that
    is not an address (garbage, ``unknown``, an obfuscated RFC 7239 name) stops the walk: the
    last trusted proxy stands for the client, never a value the client chose.
    """

    def __init__(self, trusted: tuple[_AddressNet, ...], header: str) -> None:
        self._trusted = trusted
        self._header = header

    @classmethod
    def for_hub(cls, config: HubConfig) -> ProxyPolicy:
        networks = tuple(ip_network(proxy, strict=False) for proxy in config.trusted_proxies)
        return cls(networks, config.proxy_header)

    def _is_trusted(self, address: IPv4Address | IPv6Address) -> bool:
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._trusted)

    def client_of(self, request: web.Request) -> str:
        peer = request.remote or "unknown"
        current = _parse_address(peer)
        if current is None or not self._trusted or not self._is_trusted(current):
            return peer
        hops = self._hops(request)
        for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
            address = _parse_address(hop)
            if address is None:
                break
            current = address
            if not self._is_trusted(current):
                break
        return str(current)

    def _hops(self, request: web.Request) -> list[str]:
        values = request.headers.getall(self._header, [])
        if self._header == "Forwarded":
            return [hop for value in values for hop in _forwarded_for(value)]
        return [hop.strip() for value in values for hop in value.split(",")]


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` of each element of an RFC 7239 ``Forwarded`` value ("" if it has none)."""
    hops = []
    for element in value.split(","):
        found = ""
        for pair in element.split(";"):
            name, _, given = pair.strip().partition("=")
            if name.strip().lower() == "for":
                found = given.strip().strip('"')
        hops.append(found)
    return hops


def _parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """An address as forwarding headers write it: ``1.2.3.4``, ``1.2.3.4:80``, ``::1``,
    ``[::1]``, ``[::1]:80``; None for anything else."""
    text = text.strip()
    if len(text) > 64:
        return None
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


PROXIES = web.AppKey("hub_proxies", ProxyPolicy)


def client_address(request: web.Request) -> str:
    """The address of the client: the connection's peer, or, behind a trusted proxy, the
    address the proxies say they received the request from (see `ProxyPolicy`)."""
    policy = request.app.get(PROXIES)
    if policy is None:
        return request.remote or "unknown"
    return policy.client_of(request)
