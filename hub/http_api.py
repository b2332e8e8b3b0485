"""The console's HTTP API (see PROTOCOL.md): login (with a second factor), logout, me, the
account's password change, a patient's history, health;
and the files of the console and of the agents' alert page."""

from __future__ import annotations

import asyncio
import enum
import logging
import mimetypes
from pathlib import Path
from typing import Annotated

import msgspec
from aiohttp import web

import wire
from hub import totp
from hub.accounts import LoginOutcome, LoginResult, check_password_length, doctor_info
from hub.auth import client_address
from hub.errors import AccountError
from hub.log_safe import log_safe
from hub.passwords import HasherBusy
from hub.services import SERVICES, HubServices
from hub.storage import AccountRole, ActorKind, SessionRecord
from hub.web_security import json_error

log = logging.getLogger(__name__)

BODY_TIMEOUT_S = 10.0
_WRONG_CREDENTIALS = "wrong username or password"
_TOO_MANY = "too many attempts; try again later"
_BUSY = "the hub is busy; try again in a moment"
_CODE_NEEDED = "the code of your authenticator app is needed"
_ENROL_NEEDED = "add this hub to an authenticator app, then type its code"
_CONSOLE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}


class LoginRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    totp_code: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    """The authenticator app's code, when the hub asked for it (``second_factor``)."""


class PasswordChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class AgentInfo(msgspec.Struct, frozen=True):
    """An agent as their page shows them: name, and the cabins they look after."""

    display_name: str
    cabins: list[str]
    all_cabins: bool


class OperatorInfo(msgspec.Struct, frozen=True):
    """An operator as the fleet page shows them."""

    display_name: str


class Me(msgspec.Struct, frozen=True):
    """Who is signed in: a doctor (`doctor`, without photo), an agent (`agent`) or an
    operator (`operator`)."""

    username: str
    role: AccountRole
    csrf_token: str
    doctor: wire.DoctorInfo | None = None
    agent: AgentInfo | None = None
    operator: OperatorInfo | None = None


_LOGIN = msgspec.json.Decoder(LoginRequest)
_PASSWORD_CHANGE = msgspec.json.Decoder(PasswordChange)


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


class TooManyReason(enum.StrEnum):
    """Why a login is refused with 429: the account is locked, or the address tried too often."""

    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"


def _too_many(reason: TooManyReason, retry_after_s: int) -> web.Response:
    response = json_error(429, _TOO_MANY, reason=reason.value, retry_after_s=retry_after_s)
    response.headers["Retry-After"] = str(retry_after_s)
    return response


async def _me(services: HubServices, session: SessionRecord) -> web.Response:
    if session.role is AccountRole.OPERATOR:
        operator = await services.storage.operator(session.username)
        if operator is None:
            return json_error(401, "not signed in")
        return _json(
            Me(
                operator.username,
                session.role,
                csrf_token=session.csrf_token,
                operator=OperatorInfo(operator.display_name),
            )
        )
    if session.role is AccountRole.AGENT:
        agent = await services.storage.agent(session.username)
        if agent is None:
            return json_error(401, "not signed in")
        info = AgentInfo(agent.display_name, list(agent.cabins), agent.all_cabins)
        return _json(Me(agent.username, session.role, csrf_token=session.csrf_token, agent=info))
    doctor = await services.storage.doctor(session.username)
    if doctor is None:
        return json_error(401, "not signed in")
    return _json(
        Me(
            username=doctor.username,
            role=session.role,
            doctor=doctor_info(doctor, with_photo=False),
            csrf_token=session.csrf_token,
        )
    )


def actor_kind(session: SessionRecord) -> ActorKind:
    match session.role:
        case AccountRole.AGENT:
            return ActorKind.AGENT
        case AccountRole.OPERATOR:
            return ActorKind.OPERATOR
        case _:
            return ActorKind.DOCTOR


def _busy() -> web.Response:
    response = json_error(503, _BUSY, reason="busy", retry_after_s=1)
    response.headers["Retry-After"] = "1"
    return response


async def _read_json(request: web.Request) -> bytes | web.Response:
    if request.content_type != "application/json":
        return json_error(415, "send JSON (Content-Type: application/json)")
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await request.read()
    except TimeoutError:
        return json_error(408, "the request took too long")


def _second_factor_answer(outcome: LoginOutcome, username: str) -> web.Response:
    if outcome.result is LoginResult.SECOND_FACTOR:
        return json_error(401, _CODE_NEEDED, second_factor="totp")
    secret = outcome.totp_secret or ""
    return json_error(
        401,
        _ENROL_NEEDED,
        second_factor="totp_enrol",
        totp_secret=secret,
        otpauth_uri=totp.otpauth_uri(secret, username),
    )


async def login(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    address = client_address(request)
    retry_after = await services.login_limit.attempt(address)
    if retry_after is not None:
        log.warning("hub.login_rate_limited address=%s", log_safe(address))
        return _too_many(TooManyReason.RATE_LIMITED, int(retry_after))
    data = await _read_json(request)
    if isinstance(data, web.Response):
        return data
    try:
        body = _LOGIN.decode(data)
    except msgspec.DecodeError:
        return json_error(400, 'send {"username": ..., "password": ...}')
    username = body.username.strip().lower()
    try:
        outcome = await services.passwords.check(
            username, body.password, address, totp_code=body.totp_code
        )
    except HasherBusy:
        log.warning("hub.login_busy address=%s", log_safe(address))
        return _busy()
    if outcome.result is LoginResult.LOCKED:
        log.warning("hub.login_locked address=%s", log_safe(address))
        return _too_many(TooManyReason.LOCKED, outcome.retry_after_s or 1)
    if outcome.result in (LoginResult.SECOND_FACTOR, LoginResult.ENROL_SECOND_FACTOR):
        log.info("hub.login_second_factor address=%s", log_safe(address))
        return _second_factor_answer(outcome, username)
    account = outcome.account
    if outcome.result is not LoginResult.ACCEPTED or account is None:
        log.warning("hub.login_refused address=%s", log_safe(address))
        return json_error(401, _WRONG_CREDENTIALS)
    opened = await services.sessions.open(*account)
    for token_sha256 in opened.closed:
        services.switchboard.close_session(token_sha256)
    response = await _me(services, opened.record)
    services.sessions.set_cookie(response, opened)
    log.info(
        "hub.login %s=%s address=%s", account[1].value, log_safe(account[0]), log_safe(address)
    )
    kind = actor_kind(opened.record)
    if outcome.enrolled:
        await services.audit.record(
            "totp.enrolled", actor_kind=kind, actor_id=username, client_address=address
        )
    await services.audit.record(
        "login", actor_kind=kind, actor_id=opened.record.username, client_address=address
    )
    if opened.closed:
        await services.audit.record(
            "sessions.closed_oldest", actor_kind=kind, actor_id=username, client_address=address
        )
    return response


async def change_password(request: web.Request) -> web.StreamResponse:
    """The signed-in doctor's (or agent's) new password, given with the current one: the
    account's other sessions are closed; this one stays. Audited."""
    services = request.app[SERVICES]
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    address = client_address(request)
    data = await _read_json(request)
    if isinstance(data, web.Response):
        return data
    try:
        body = _PASSWORD_CHANGE.decode(data)
    except msgspec.DecodeError:
        return json_error(400, 'send {"current_password": ..., "new_password": ...}')
    try:
        check_password_length(body.new_password)
    except AccountError as exc:
        return json_error(400, str(exc), reason="password_length")
    try:
        outcome = await services.passwords.confirm(session.username, body.current_password, address)
    except HasherBusy:
        return _busy()
    if outcome.result is LoginResult.LOCKED:
        return _too_many(TooManyReason.LOCKED, outcome.retry_after_s or 1)
    if outcome.result is not LoginResult.ACCEPTED:
        log.warning("hub.password_change_refused %s=%s", session.role.value, session.username)
        await services.audit.record(
            "password.change_refused",
            actor_kind=actor_kind(session),
            actor_id=session.username,
            client_address=address,
        )
        return json_error(403, "the current password is wrong", reason="wrong_password")
    new_hash = await services.passwords.hasher.hash(body.new_password)
    await services.storage.set_password_hash(session.username, new_hash)
    closed = await services.storage.delete_sessions_of(session.username, keep=session.token_sha256)
    for token_sha256 in closed:
        services.switchboard.close_session(token_sha256)
    log.info("hub.password_changed %s=%s", session.role.value, session.username)
    await services.audit.record(
        "password.changed",
        actor_kind=actor_kind(session),
        actor_id=session.username,
        client_address=address,
    )
    return web.Response(status=204)


async def logout(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    await services.sessions.close(session)
    services.switchboard.close_session(session.token_sha256)
    response = web.Response(status=204)
    services.sessions.clear_cookie(response)
    log.info("hub.logout %s=%s", session.role.value, log_safe(session.username))
    await services.audit.record(
        "logout",
        actor_kind=actor_kind(session),
        actor_id=session.username,
        client_address=client_address(request),
    )
    return response


async def me(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    return await _me(services, session)


async def history(request: web.Request) -> web.StreamResponse:
    """The patient's earlier consultations, for the doctor who took this one; audited."""
    services = request.app[SERVICES]
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    consultation_id = request.match_info["consultation_id"]
    address = client_address(request)
    record = None
    if len(consultation_id) <= 64 and session.role is AccountRole.DOCTOR:
        record = await services.storage.consultation(consultation_id)
    if record is None or record.doctor != session.username:
        log.warning(
            "hub.history_refused %s=%s address=%s",
            session.role.value,
            log_safe(session.username),
            log_safe(address),
        )
        await services.audit.record(
            "history.denied",
            actor_kind=actor_kind(session),
            actor_id=session.username,
            consultation_id=None if record is None else record.consultation_id,
            client_address=address,
        )
        return json_error(403, "forbidden")
    found = await services.switchboard.patient_history(record)
    await services.audit.record(
        "history.read",
        actor_kind=ActorKind.DOCTOR,
        actor_id=session.username,
        consultation_id=record.consultation_id,
        client_address=address,
    )
    return web.Response(body=wire.encode(found), content_type="application/json")


async def health(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def unknown_api(_request: web.Request) -> web.StreamResponse:
    return json_error(404, "not found")


def _console_file(console_dir: Path, relative: str) -> Path | None:
    root = console_dir.resolve()
    try:
        path = (root / relative).resolve()
        found = path.is_relative_to(root) and path.is_file()
    except (OSError, RuntimeError, ValueError):  # a name too long, a loop of links, a NUL
        return None
    return path if found else None


def _file_response(path: Path) -> web.StreamResponse:
    content_type = _CONSOLE_TYPES.get(path.suffix.lower())
    if content_type is None:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.FileResponse(
        path, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
    )


async def console_index(request: web.Request) -> web.StreamResponse:
    path = _console_file(request.app[SERVICES].console_dir, "index.html")
    if path is None:
        return web.Response(status=404, text="the console is not installed")
    return _file_response(path)


async def console_file(request: web.Request) -> web.StreamResponse:
    path = _console_file(request.app[SERVICES].console_dir, request.match_info["path"])
    if path is None:
        return web.Response(status=404, text="not found")
    return _file_response(path)


async def agent_index(request: web.Request) -> web.StreamResponse:
    path = _console_file(request.app[SERVICES].agent_dir, "index.html")
    if path is None:
        return web.Response(status=404, text="the agents' page is not installed")
    return _file_response(path)


async def agent_file(request: web.Request) -> web.StreamResponse:
    path = _console_file(request.app[SERVICES].agent_dir, request.match_info["path"])
    if path is None:
        return web.Response(status=404, text="not found")
    return _file_response(path)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", console_index)
    app.router.add_get("/console/{path:.+}", console_file)
    app.router.add_get("/agent", agent_index)
    app.router.add_get("/agent/", agent_index)
    app.router.add_get("/agent/{path:.+}", agent_file)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_post("/api/account/password", change_password)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/consultations/{consultation_id}/history", history)
    app.router.add_get("/api/health", health)
    app.router.add_route("*", "/api/{rest:.*}", unknown_api)
