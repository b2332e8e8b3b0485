"""The cabin's websocket: the hello, and what becomes of messages that are not right."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

import wire
from tests.hub.hub_rig import Peer, Rig, new_id, patient, record_upload, run, running_hub


async def _raw_cabin(rig: Rig) -> Peer:
    ws = await rig.client().ws_connect(f"{rig.url}/ws/cabin")
    return Peer(ws, wire.HubToCabin)


def _hello(cabin_id: str, token: str, **kwargs: Any) -> wire.CabinHello:
    return wire.CabinHello(
        msg_id=new_id("hello"), cabin_id=cabin_id, token=token, software_version="0.1.0", **kwargs
    )


def test_a_good_hello_is_welcomed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await _raw_cabin(rig)
            await cabin.send(_hello("cabin-1", rig.tokens["cabin-1"]))
            welcome = await cabin.receive()
            assert isinstance(welcome, wire.Welcome)
            assert welcome.protocol_version == wire.PROTOCOL_VERSION

    run(scenario())


def test_a_bad_token_is_refused_with_4401(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            for cabin_id, token in [
                ("cabin-1", "W" * 43),  # wrong token
                ("cabin-9", rig.tokens["cabin-1"]),  # unknown cabin
                ("cabin-2", rig.tokens["cabin-1"]),  # another cabin's token
            ]:
                cabin = await _raw_cabin(rig)
                hello = _hello(cabin_id, token)
                await cabin.send(hello)
                error = await cabin.receive()
                assert isinstance(error, wire.ErrorMessage)
                assert error.code is wire.ErrorCode.UNAUTHORIZED
                assert error.in_reply_to == hello.msg_id
                assert await cabin.closed() == 4401

    run(scenario())


def test_a_cabin_must_say_hello_first_and_fast(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Long enough for the rude cabin's first message to beat it on a busy machine.
        async with running_hub(tmp_path, cabin_hello_timeout_s=2.0) as rig:
            silent = await _raw_cabin(rig)
            assert await silent.closed() == 4408

            rude = await _raw_cabin(rig)
            await rude.send(
                wire.QueueJoin(
                    msg_id=new_id(),
                    consultation_id="c-1",
                    language=wire.Language.FR,
                    patient=patient(),
                )
            )
            error = await rude.receive()
            assert isinstance(error, wire.ErrorMessage)
            assert error.code is wire.ErrorCode.UNAUTHORIZED
            assert await rude.closed() == 4401

    run(scenario())


def test_another_protocol_version_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await _raw_cabin(rig)
            await cabin.send(_hello("cabin-1", rig.tokens["cabin-1"], protocol_version=2))
            error = await cabin.receive()
            assert isinstance(error, wire.ErrorMessage)
            assert error.code is wire.ErrorCode.UNSUPPORTED_PROTOCOL
            assert await cabin.closed() == 4400

    run(scenario())


def test_a_malformed_message_is_refused_logged_without_its_value_and_the_link_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            bad = (
                '{"type":"reading","msg_id":"r-1","consultation_id":"c-1","reading":'
                '{"kind":"blood_pressure","measured_at":"2026-11-23T08:00:00Z",'
                '"device_id":"bp-1","systolic_mmhg":987654,"diastolic_mmhg":80}}'
            )
            with caplog.at_level(logging.WARNING, logger="hub"):
                await cabin.ws.send_str(bad)
                error = await cabin.expect(wire.ErrorMessage)
            assert error.code is wire.ErrorCode.MALFORMED
            assert error.in_reply_to == "r-1"
            lines = [r.getMessage() for r in caplog.records if "hub.message_refused" in r.message]
            assert len(lines) == 1
            assert "peer=cabin:cabin-1" in lines[0]
            assert "path=$.reading.systolic_mmhg" in lines[0]
            assert "987654" not in caplog.text

            await cabin.ws.send_str('{"type":"no_such_thing","msg_id":"u-1"}')
            unknown = await cabin.expect(wire.ErrorMessage)
            assert unknown.code is wire.ErrorCode.UNKNOWN_MESSAGE
            assert unknown.in_reply_to == "u-1"

            await cabin.ws.send_str("this is not json")
            garbage = await cabin.expect(wire.ErrorMessage)
            assert garbage.code is wire.ErrorCode.MALFORMED
            assert garbage.in_reply_to is None

            # a console's message on the cabin's socket is unknown here
            await cabin.send(wire.TakeConsultation(msg_id="t-1", consultation_id="c-1"))
            wrong_side = await cabin.expect(wire.ErrorMessage)
            assert wrong_side.code is wire.ErrorCode.UNKNOWN_MESSAGE

            # still connected and served
            await rig.join(cabin, "c-ok")

    run(scenario())


def test_an_oversized_message_closes_the_link_with_1009(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, max_message_bytes=4096) as rig:
            cabin = await rig.cabin()
            with caplog.at_level(logging.WARNING, logger="hub"):
                await cabin.ws.send_str('{"type":"ack","msg_id":"a","ack_of":"' + "x" * 5000)
                assert await cabin.closed() == 1009
            assert any(
                "hub.message_refused" in r.message and "oversized" in r.message
                for r in caplog.records
            )

    run(scenario())


def test_an_oversized_message_on_the_console_closes_it_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            with caplog.at_level(logging.WARNING, logger="hub"):
                await console.ws.send_str("x" * (2 * 1024 * 1024 + 1))
                assert await console.closed() == 1009
            assert "peer=console:dr.a code=oversized" in caplog.text

    run(scenario())


def test_a_newer_connection_of_the_same_cabin_replaces_the_older(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            first = await rig.cabin()
            second = await rig.cabin()
            assert await first.closed() == 4409
            await rig.join(second, "c-1")
            assert rig.switchboard.is_cabin_online("cabin-1")

    run(scenario())


def test_a_cabin_alert_reaches_the_console_in_a_call_with_it_and_its_ack_the_cabin(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            console = await (await rig.login("dr.a")).console()
            await rig.join(cabin, "c-alert")
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-alert"))
            await console.expect(wire.CallAccepted)
            alert = wire.AlertMessage(
                msg_id=new_id(),
                alert_id="al-1",
                cabin_id="cabin-1",
                kind=wire.AlertKind.FALL,
                severity=wire.AlertSeverity.CRITICAL,
                raised_at=datetime.now(UTC),
            )
            await cabin.send(alert)
            assert (await cabin.expect(wire.Ack)).ack_of == alert.msg_id
            assert (await console.expect(wire.AlertMessage)).alert_id == "al-1"
            ack = wire.AlertAck(
                msg_id=new_id(),
                alert_id="al-1",
                acknowledged_by="someone-else",
                acknowledged_at=alert.raised_at,
            )
            await console.send(ack)
            relayed = await cabin.expect(wire.AlertAck)
            assert relayed.acknowledged_by == "dr.a"
            assert (await console.expect(wire.Ack)).ack_of == ack.msg_id

    run(scenario())


def test_a_record_upload_is_stored_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            upload = record_upload("c-1")
            await cabin.send(upload)
            first = await cabin.expect(wire.RecordAck)
            await cabin.send(msgspec.structs.replace(upload, msg_id=new_id()))
            second = await cabin.expect(wire.RecordAck)
            assert (first.record_id, first.duplicate) == (upload.record_id, False)
            assert (second.record_id, second.duplicate) == (upload.record_id, True)

    run(scenario())


def test_the_hub_refuses_a_browser_on_the_cabin_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            try:
                await rig.client().ws_connect(f"{rig.url}/ws/cabin", headers={"Origin": rig.url})
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 403
            else:
                raise AssertionError("upgraded")

    run(scenario())
