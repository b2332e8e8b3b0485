"""Hostile input of every kind, generated, on every websocket and every HTTP route of one real
hub: the hub answers an error (or closes a websocket with a code that says why), keeps serving,
and logs no traceback and nothing at ERROR. A fixed number of examples keeps it bounded."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wire
from tests.hub.hub_rig import PASSWORDS, TIMEOUT_S, Rig, new_id, running_hub
from tests.hub.raw_client import (
    BINARY,
    CLOSE,
    TEXT,
    RawResponse,
    RawWebSocket,
    close_code,
    http_request,
    raw_request,
)
from tests.hub.test_hostile_input import assert_no_traceback

T = TypeVar("T")
EXAMPLES = 60
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CLOSES_THAT_SAY_WHY = {1002, 1007, 1009, 4400, 4401}
"""Protocol error, text not UTF-8, too big; the hub's own refusals. Not 1011 (internal error)
nor a connection dropped without a close frame."""


class RecordsKept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class HubInThread:
    """One hub for all the examples, on its own event loop (hypothesis calls the test
    synchronously, once per example)."""

    def __init__(self, tmp_path: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failed: BaseException | None = None
        self.rig: Rig | None = None
        self._thread = threading.Thread(target=self._run, args=(tmp_path,), daemon=True)
        self._thread.start()
        if not self._ready.wait(TIMEOUT_S) or self._failed is not None or self.rig is None:
            raise RuntimeError(f"the hub did not start: {self._failed!r}")
        self.csrf: dict[str, str] = self.call(self._sign_in())

    def _run(self, tmp_path: Path) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(tmp_path))
        except BaseException as exc:  # reported to the test's thread
            self._failed = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self, tmp_path: Path) -> None:
        self._stop = asyncio.Event()
        async with running_hub(tmp_path, login_attempts_per_minute=10_000) as rig:
            await rig.add_agent("agent.x")
            self.rig = rig
            self._ready.set()
            await self._stop.wait()

    async def _sign_in(self) -> dict[str, str]:
        """Session cookies and CSRF tokens of a doctor and an agent."""
        assert self.rig is not None
        found: dict[str, str] = {}
        for who, password in [("dr.a", PASSWORDS["dr.a"]), ("agent.x", "password-of-an-agent")]:
            response = await self.rig.login_response(who, password)
            assert response.status == 200
            cookie = response.cookies
            found[who] = "; ".join(f"{name}={morsel.value}" for name, morsel in cookie.items())
            found[f"{who}.csrf"] = (await response.json())["csrf_token"]
        return found

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(TIMEOUT_S * 2)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT_S)


@pytest.fixture(scope="module")
def logs() -> Iterator[RecordsKept]:
    kept = RecordsKept()
    root = logging.getLogger()
    level = root.level
    root.addHandler(kept)
    root.setLevel(logging.DEBUG)
    try:
        yield kept
    finally:
        root.removeHandler(kept)
        root.setLevel(level)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, logs: RecordsKept) -> Iterator[HubInThread]:
    running = HubInThread(tmp_path_factory.mktemp("hostile-hub"))
    try:
        yield running
    finally:
        running.stop()


def without_traceback(logs: RecordsKept, action: Callable[[], None]) -> None:
    start = len(logs.records)
    action()
    assert_no_traceback(logs.records[start:])


# --- what is sent --------------------------------------------------------------------------

HUGE_NUMBERS = st.sampled_from(
    [2**64, -(2**63) - 1, 10**400, 1e308, -1e308, 5e-324, float("nan"), float("inf")]
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\ud800",
            "\udfff",
            "line\nforged=1",
            "\r\n",
            "\x1b[31mred",
            "\u202etxt.exe",
            "../../etc/passwd",
            "%00",
            "<script>alert(1)</script>",
            "'; DROP TABLE consultations; --",
            "x" * 70_000,
        ]
    ),
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    HUGE_NUMBERS,
    HOSTILE_TEXT,
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELD_NAMES = sorted(
    {name for cls in wire.TAGS.values() for name in cls.__struct_fields__} | {"type", "x"}
)


def _json(value: object) -> bytes:
    """JSON as an attacker writes it: NaN and Infinity allowed, lone surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def hostile_messages(draw: st.DrawFn) -> dict[str, object]:
    """An object shaped like a message (a known or unknown `type`, known field names) whose
    values are anything."""
    message: dict[str, object] = {
        "type": draw(st.sampled_from(sorted(wire.TAGS)) | HOSTILE_TEXT),
        "msg_id": draw(st.just("m-1") | HOSTILE_TEXT),
    }
    for name in draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=6)):
        message[name] = draw(JSON_VALUES)
    return message


def _valid_templates() -> list[dict[str, Any]]:
    """Messages each socket accepts, to change one value of: reaches the handlers."""
    vital = {
        "kind": "blood_pressure",
        "measured_at": "2026-11-23T08:55:00Z",
        "device_id": "bp-1",
        "systolic_mmhg": 132,
        "diastolic_mmhg": 84,
    }
    return [
        {
            "type": "queue_join",
            "msg_id": "j-1",
            "consultation_id": "fz-1",
            "language": "fr",
            "patient": {
                "family_name": "Quelennec",
                "given_names": "Yvonne",
                "birth_date": "1938-05-02",
                "sex": "female",
            },
            "reason": "fièvre",
        },
        {"type": "reading", "msg_id": "r-1", "consultation_id": "fz-1", "reading": vital},
        {"type": "queue_leave", "msg_id": "l-1", "consultation_id": "fz-1", "reason": "gave_up"},
        {
            "type": "alert",
            "msg_id": "a-1",
            "alert_id": "al-1",
            "cabin_id": "cabin-1",
            "kind": "help_button",
            "severity": "critical",
            "raised_at": "2026-11-23T08:55:00Z",
            "detail": "x",
        },
        {"type": "take_consultation", "msg_id": "t-1", "consultation_id": "fz-1"},
        {"type": "sdp_offer", "msg_id": "o-1", "consultation_id": "fz-1", "sdp": "v=0"},
        {"type": "ice_candidate", "msg_id": "i-1", "consultation_id": "fz-1", "candidate": ""},
        {"type": "call_end", "msg_id": "e-1", "consultation_id": "fz-1", "reason": "completed"},
        {"type": "ack", "msg_id": "k-1", "ack_of": "x-1"},
        {"type": "consultation_notes", "msg_id": "n-1", "consultation_id": "fz-1", "text": ""},
    ]


@st.composite
def changed_templates(draw: st.DrawFn) -> dict[str, Any]:
    message = dict(draw(st.sampled_from(_valid_templates())))
    name = draw(st.sampled_from(sorted(message)))
    message[name] = draw(JSON_VALUES)
    return message


def _deep(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


FRAMES = st.one_of(
    st.tuples(st.just(TEXT), hostile_messages().map(_json)),
    st.tuples(st.just(TEXT), changed_templates().map(_json)),
    st.tuples(st.just(TEXT), JSON_VALUES.map(_json)),
    st.tuples(
        st.sampled_from([TEXT, BINARY]),
        st.builds(_deep, st.integers(1, 20_000), st.sampled_from(["array", "object"])),
    ),
    st.tuples(st.sampled_from([TEXT, BINARY]), st.binary(max_size=300)),
    st.tuples(st.just(BINARY), hostile_messages().map(_json)),
)


# --- websockets ----------------------------------------------------------------------------


async def _probe_or_close(ws: RawWebSocket, probe_id: str) -> int | None:
    """After a hostile frame: wait for the answer to a probe (None: served), or the close."""
    ws.send_text(f'{{"type":"nope","msg_id":"{probe_id}"}}')
    while True:
        opcode, payload = await ws.receive()
        if opcode == CLOSE:
            return close_code(payload)
        if opcode == TEXT:
            message = wire.decode(payload)
            if isinstance(message, wire.ErrorMessage) and message.in_reply_to == probe_id:
                return None


async def _open(hub: HubInThread, path: str) -> RawWebSocket:
    assert hub.rig is not None
    if path == "/ws/cabin":
        ws = await RawWebSocket.connect(hub.rig.url, path)
        hello = wire.CabinHello(
            msg_id=new_id("hello"),
            cabin_id="cabin-2",
            token=hub.rig.tokens["cabin-2"],
            software_version="0.1.0",
        )
        ws.send_text(wire.encode(hello))
        return ws
    who = "dr.a" if path == "/ws/console" else "agent.x"
    return await RawWebSocket.connect(
        hub.rig.url,
        f"{path}?csrf={hub.csrf[f'{who}.csrf']}",
        headers={"Origin": hub.rig.url, "Cookie": hub.csrf[who]},
    )


async def _play_on_socket(hub: HubInThread, path: str, frame: tuple[int, bytes]) -> None:
    ws = await _open(hub, path)
    try:
        assert await _probe_or_close(ws, "before") is None  # open and served
        ws.send_frame(*frame)
        code = await _probe_or_close(ws, "after")
        assert code is None or code in CLOSES_THAT_SAY_WHY, code
        if code == 1007:
            assert frame[0] == TEXT
    finally:
        await ws.close()


async def _play_before_hello(hub: HubInThread, frame: tuple[int, bytes]) -> None:
    assert hub.rig is not None
    ws = await RawWebSocket.connect(hub.rig.url, "/ws/cabin")
    try:
        ws.send_frame(*frame)
        while True:
            opcode, payload = await ws.receive()
            if opcode == CLOSE:
                assert close_code(payload) in CLOSES_THAT_SAY_WHY, payload
                return
            error = wire.decode(payload)
            assert isinstance(error, wire.ErrorMessage)
    finally:
        await ws.close()


@pytest.mark.parametrize("path", ["/ws/cabin", "/ws/console", "/ws/agent"])
@FUZZ
@given(frame=FRAMES)
def test_a_websocket_answers_hostile_frames_and_keeps_serving(
    hub: HubInThread, logs: RecordsKept, path: str, frame: tuple[int, bytes]
) -> None:
    without_traceback(logs, lambda: hub.call(_play_on_socket(hub, path, frame)))


@FUZZ
@given(frame=FRAMES)
def test_a_cabin_that_has_not_said_hello_is_refused_whatever_it_sends(
    hub: HubInThread, logs: RecordsKept, frame: tuple[int, bytes]
) -> None:
    without_traceback(logs, lambda: hub.call(_play_before_hello(hub, frame)))


# --- HTTP ----------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/"),
    ("GET", "/console/{}"),
    ("GET", "/agent"),
    ("GET", "/agent/{}"),
    ("POST", "/api/login"),
    ("POST", "/api/logout"),
    ("GET", "/api/me"),
    ("GET", "/api/consultations/{}/history"),
    ("GET", "/api/health"),
    ("POST", "/api/{}"),
    ("GET", "/rx/{}"),
    ("GET", "/rx/{}?k={}"),
    ("GET", "/.well-known/prescription-signing.pub"),
    ("GET", "/ws/cabin"),
    ("GET", "/{}"),
]
SEGMENTS = st.one_of(
    st.text(max_size=30).map(lambda text: "".join(f"%{b:02x}" for b in text.encode("utf-8"))),
    st.binary(max_size=20).map(lambda data: "".join(f"%{b:02X}" for b in data)),
    st.sampled_from(
        ["%", "%z", "%zz", "%f", "%00", "%0a", "%0d%0a", "..", "%2e%2e", "..%2f..%2f", "%c0%af"]
    ),
    st.integers(1, 20_000).map(lambda n: "a" * n),
    st.from_regex(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,40}", fullmatch=True),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json\x00",
        "",
    ]
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(_json),
    st.fixed_dictionaries({"username": LEAVES, "password": LEAVES}).map(_json),
    st.integers(1, 20_000).map(lambda depth: _deep(depth, "array")),
)


@st.composite
def requests(draw: st.DrawFn, hub: HubInThread) -> bytes:
    method, pattern = draw(st.sampled_from(ROUTES))
    method = draw(st.sampled_from([method, method, "PUT", "DELETE", "OPTIONS", "HEAD"]))
    target = pattern.format(*(draw(SEGMENTS) for _ in range(pattern.count("{}"))))
    assert hub.rig is not None
    headers: dict[str, str | bytes] = {}
    if draw(st.booleans()):  # signed in, with the hub's origin and a CSRF token
        headers["Origin"] = hub.rig.url
        headers["Cookie"] = hub.csrf["dr.a"]
        headers["X-CSRF-Token"] = hub.csrf["dr.a.csrf"]
    if draw(st.booleans()):
        headers["Content-Type"] = draw(CONTENT_TYPES)
    if draw(st.booleans()):
        headers["Accept"] = draw(st.sampled_from(["application/json", "text/html", "*/*"]))
    body = draw(BODIES) if method in ("POST", "PUT") else b""
    return http_request(method, target.encode("latin-1"), headers=headers, body=body)


async def _still_served(hub: HubInThread, request: bytes) -> RawResponse:
    assert hub.rig is not None
    response = await raw_request(hub.rig.url, request)
    health = await raw_request(hub.rig.url, http_request("GET", b"/api/health"))
    assert health.status == 200
    return response


@FUZZ
@given(data=st.data())
def test_no_http_route_answers_hostile_requests_with_a_500(
    hub: HubInThread, logs: RecordsKept, data: st.DataObject
) -> None:
    request = data.draw(requests(hub))

    def play() -> None:
        response = hub.call(_still_served(hub, request))
        assert response.status < 500, (request[:300], response.status, response.body[:300])

    without_traceback(logs, play)
