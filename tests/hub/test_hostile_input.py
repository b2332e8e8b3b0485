"""Input that does not decode gets a clean refusal and one log line, never a 500 or a traceback:
the reported cases (issue 15, item 12), each played against a real hub."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import wire
from tests.hub.hub_rig import PASSWORDS, Rig, new_id, patient, run, running_hub
from tests.hub.raw_client import (
    BINARY,
    CLOSE,
    TEXT,
    RawWebSocket,
    close_code,
    http_request,
    raw_request,
)

DEEP = ("[" * 1000 + "]" * 1000).encode()
DEEP_INSIDE = b'{"type":"ack","msg_id":"deep-1","ack_of":' + b"[" * 5000 + b"]" * 5000 + b"}"
NOT_UTF8 = [b"\xff\xfe", b'{"type":"ack","msg_id":"\xff","ack_of":"x"}', b'{"type":"\xc3"}']


def assert_no_traceback(records: list[logging.LogRecord]) -> None:
    for record in records:
        where = f"{record.name}: {record.getMessage()[:300]}"
        assert record.exc_info is None, where
        assert record.levelno < logging.ERROR, where
        assert "Traceback" not in record.getMessage(), where


def refused_lines(records: list[logging.LogRecord], event: str) -> list[str]:
    return [r.getMessage() for r in records if r.getMessage().startswith(event)]


async def _hello_frame(rig: Rig) -> bytes:
    hello = wire.CabinHello(
        msg_id=new_id("hello"),
        cabin_id="cabin-1",
        token=rig.tokens["cabin-1"],
        software_version="0.1.0",
    )
    return wire.encode(hello)


async def _error_then_close(ws: RawWebSocket) -> tuple[wire.ErrorMessage, int | None]:
    opcode, payload = await ws.receive()
    assert opcode == TEXT, (opcode, payload)
    error = wire.decode(payload, allowed=wire.ErrorMessage)
    assert isinstance(error, wire.ErrorMessage)
    opcode, payload = await ws.receive()
    assert opcode == CLOSE
    return error, close_code(payload)


def test_a_cabin_that_has_not_said_who_it_is_gets_an_error_for_what_does_not_decode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            with caplog.at_level(logging.DEBUG):
                for opcode, frame in [(TEXT, DEEP), (TEXT, DEEP_INSIDE)] + [
                    (BINARY, data) for data in NOT_UTF8
                ]:
                    ws = await RawWebSocket.connect(rig.url, "/ws/cabin")
                    ws.send_frame(opcode, frame)
                    error, code = await _error_then_close(ws)
                    assert error.code is wire.ErrorCode.MALFORMED, frame[:40]
                    assert code == 4401
                    await ws.close()
                # text that is not UTF-8: aiohttp closes with 1007 (invalid frame payload data)
                ws = await RawWebSocket.connect(rig.url, "/ws/cabin")
                ws.send_frame(TEXT, b'{"type":"cabin_hello","msg_id":"\xff"}')
                opcode, payload = await ws.receive()
                assert (opcode, close_code(payload)) == (CLOSE, 1007)
                await ws.close()
            assert_no_traceback(caplog.records)
            assert len(refused_lines(caplog.records, "hub.message_refused")) == 6

    run(scenario())


def test_a_connected_cabin_gets_an_error_for_what_does_not_decode_and_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            ws = await RawWebSocket.connect(rig.url, "/ws/cabin")
            ws.send_text(await _hello_frame(rig))
            opcode, payload = await ws.receive()
            assert isinstance(wire.decode(payload, allowed=wire.HubToCabin), wire.Welcome)
            with caplog.at_level(logging.DEBUG):
                for kind, frame in [(TEXT, DEEP), (TEXT, DEEP_INSIDE)] + [
                    (BINARY, data) for data in NOT_UTF8
                ]:
                    ws.send_frame(kind, frame)
                    opcode, payload = await ws.receive()
                    error = wire.decode(payload, allowed=wire.HubToCabin)
                    assert isinstance(error, wire.ErrorMessage), frame[:40]
                    assert error.code is wire.ErrorCode.MALFORMED
                # still served: a message that does decode is answered
                ws.send_text('{"type":"nope","msg_id":"probe-1"}')
                opcode, payload = await ws.receive()
                answer = wire.decode(payload, allowed=wire.HubToCabin)
                assert isinstance(answer, wire.ErrorMessage)
                assert answer.in_reply_to == "probe-1"
                ws.send_frame(TEXT, b"\xff")
                opcode, payload = await ws.receive()
                assert (opcode, close_code(payload)) == (CLOSE, 1007)
            await ws.close()
            assert_no_traceback(caplog.records)
            broken = refused_lines(caplog.records, "hub.message_refused")
            assert len(broken) == 7
            assert "code=bad_frame close_code=1007" in broken[-1]

    run(scenario())


def test_a_login_that_is_not_utf8_is_a_bad_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            origin = {"Origin": rig.url}
            with caplog.at_level(logging.DEBUG):
                http = rig.client()
                for body, content_type in [
                    (b'{"username":"dr.a\xff","password":"x"}', "application/json"),
                    (b'{"username":"dr.a","password":"\xc3("}', "application/json"),
                    (b"username=dr.a%ff&password=\xff", "application/x-www-form-urlencoded"),
                ]:
                    response = await http.post(
                        f"{rig.url}/api/login",
                        data=body,
                        headers={**origin, "Content-Type": content_type},
                    )
                    assert 400 <= response.status < 500, (body, response.status)
                    assert "error" in await response.json()
                nested = json.dumps({"username": "dr.a", "password": "p" * 5}).encode()
                nested = nested[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
                response = await http.post(
                    f"{rig.url}/api/login",
                    data=nested,
                    headers={**origin, "Content-Type": "application/json"},
                )
                assert response.status == 400
            assert_no_traceback(caplog.records)
            # the hub still signs people in
            assert (await rig.login_response("dr.a", PASSWORDS["dr.a"])).status == 200

    run(scenario())


def test_a_nul_in_a_file_path_is_not_found(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            with caplog.at_level(logging.DEBUG):
                for target in [
                    b"/console/%00",
                    b"/console/app.js%00.html",
                    b"/agent/%00",
                    b"/console/%ff%fe",
                    b"/console/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
                    b"/console/" + b"a/" * 2000,
                ]:
                    response = await raw_request(rig.url, http_request("GET", target))
                    assert response.status in (400, 404, 414, 431), (target, response.status)
            assert_no_traceback(caplog.records)

    run(scenario())


def test_sql_in_what_a_cabin_sends_is_stored_as_text(tmp_path: Path) -> None:
    """Every query is parameterised: SQL in a name or a reason is data, not a command."""
    injected = "x'); DROP TABLE consultations; --"
    name = 'Robert"); DELETE FROM doctors WHERE ("1"="1'

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-sql", patient(family=name, given=injected), reason=injected)
            stored = await rig.hub.storage.consultation("c-sql")
            assert stored is not None
            assert (stored.reason, stored.patient.family_name) == (injected, name)
            assert await rig.hub.storage.doctor("dr.a") is not None
            assert (await rig.login_response("dr.b", PASSWORDS["dr.b"])).status == 200

    run(scenario())
