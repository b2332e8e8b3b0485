"""What every HTTP response carries, and the checks before a state-changing request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from hub.auth import CSRF_HEADER, client_address, csrf_matches
from hub.log_safe import log_safe
from hub.services import SERVICES

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; media-src 'self' blob:; img-src 'self' data: blob:; connect-src 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/api/login"
PUBLIC_API_PREFIX = "/api/public/"
"""The public booking page's API (`hub.booking_http`): the hub's Origin, no session."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, text: str, **extra: object) -> web.Response:
    return web.json_response({"error": text, **extra}, status=status)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, including errors and static files."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def state_change_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A POST, PUT, PATCH or DELETE needs the hub's Origin; all but the login and the public
    booking API also need a session and its CSRF token."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    services = request.app[SERVICES]
    if not services.origins.allows(request):
        log.warning(
            "hub.request_refused reason=origin path=%s address=%s",
            log_safe(request.path),
            log_safe(client_address(request)),
        )
        return json_error(403, "forbidden")
    if request.path == LOGIN_PATH or request.path.startswith(PUBLIC_API_PREFIX):
        return await handler(request)
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    if not csrf_matches(request.headers.get(CSRF_HEADER), session):
        log.warning(
            "hub.request_refused reason=csrf path=%s address=%s",
            log_safe(request.path),
            log_safe(client_address(request)),
        )
        return json_error(403, "forbidden")
    return await handler(request)


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


@web.middleware
async def refuse_undecodable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request whose text does not decode (bytes that are not UTF-8, JSON nested deeper than
    the decoder goes) is the client's error: 400 and one log line, not a 500 and a traceback.
    (Websockets answer their own messages: see `hub.websockets`.)"""
    if _is_websocket(request):
        return await handler(request)
    try:
        return await handler(request)
    except (UnicodeError, RecursionError) as exc:
        log.warning(
            "hub.request_refused reason=undecodable path=%s address=%s error=%s",
            log_safe(request.path),
            log_safe(client_address(request)),
            type(exc).__name__,
        )
        return json_error(400, "the request could not be decoded")


def body_deadline(timeout_s: float) -> Middleware:
    """A request's body must have arrived `timeout_s` after its headers (a client trickling it
    byte by byte is answered 408 and its connection closed). Bodies are small (the hub's
    `client_max_size`): reading one whole before the handler costs little."""

    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(timeout_s):
                    await request.read()
            except TimeoutError:
                log.warning(
                    "hub.request_refused reason=slow_body path=%s address=%s",
                    log_safe(request.path),
                    log_safe(client_address(request)),
                )
                response = json_error(408, "the request took too long")
                response.force_close()
                return response
        return await handler(request)

    return read_body_in_time
