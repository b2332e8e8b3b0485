"""What every HTTP response carries, and the checks before a state-changing request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.auth import CSRF_HEADER, client_address, csrf_matches
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
    """A POST, PUT, PATCH or DELETE needs the hub's Origin; all but the login also need a
    session and its CSRF token."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    services = request.app[SERVICES]
    if not services.origins.allows(request):
        log.warning(
            "hub.request_refused reason=origin path=%s address=%s",
            request.path,
            client_address(request),
        )
        return json_error(403, "forbidden")
    if request.path == LOGIN_PATH:
        return await handler(request)
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    if not csrf_matches(request.headers.get(CSRF_HEADER), session):
        log.warning(
            "hub.request_refused reason=csrf path=%s address=%s",
            request.path,
            client_address(request),
        )
        return json_error(403, "forbidden")
    return await handler(request)
