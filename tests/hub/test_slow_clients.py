"""Clients that trickle a request byte by byte are disconnected after `request_read_timeout_s`,
and the hub keeps serving everyone else meanwhile (issue 15, item 14)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from tests.hub.hub_rig import TIMEOUT_S, run, running_hub
from tests.hub.raw_client import host_port, http_request, raw_request

READ_TIMEOUT_S = 1.0
TRICKLE_EVERY_S = 0.1
"""The attack itself: one more byte this often, forever (one header that never ends: aiohttp's
limit on the number of headers does not stop it)."""
CLIENTS = 40


async def _trickle(url: str, start: bytes, more: bytes) -> bytes:
    """Send `start`, then `more` every `TRICKLE_EVERY_S` until the hub closes the connection;
    what the hub sent before closing it. Fails the test if the hub never does."""
    reader, writer = await asyncio.open_connection(*host_port(url))
    writer.write(start)

    async def keep_sending() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(TRICKLE_EVERY_S)
                writer.write(more)
                await writer.drain()

    sender = asyncio.create_task(keep_sending())
    try:
        async with asyncio.timeout(TIMEOUT_S):
            return await reader.read()  # until EOF: the hub has closed it
    except ConnectionError:
        return b""
    finally:
        sender.cancel()
        writer.close()


def test_clients_trickling_headers_are_disconnected_and_others_served(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, request_read_timeout_s=READ_TIMEOUT_S) as rig:
            tricklers = [
                asyncio.create_task(
                    _trickle(rig.url, b"GET /api/health HTTP/1.1\r\nHost: hub\r\nX-A: ", b"b")
                )
                for _ in range(CLIENTS)
            ]
            # while they are held, a genuine request is served
            genuine = await raw_request(rig.url, http_request("GET", b"/api/health"))
            assert genuine.status == 200
            answers = await asyncio.gather(*tricklers)
            # closed without an answer: their request never ended
            assert all(answer == b"" for answer in answers), answers[:3]
            genuine = await raw_request(rig.url, http_request("GET", b"/api/health"))
            assert genuine.status == 200

    run(scenario())


def test_a_kept_alive_connection_that_trickles_its_next_request_is_disconnected(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, request_read_timeout_s=READ_TIMEOUT_S) as rig:
            first = b"GET /api/health HTTP/1.1\r\nHost: hub\r\n\r\n"
            answer = await _trickle(rig.url, first + b"GET /api/health HTTP/1.1\r\nX: ", b"y")
            assert answer.startswith(b"HTTP/1.1 200"), answer[:100]  # the first only
            assert answer.count(b"HTTP/1.1 ") == 1

    run(scenario())


def test_a_client_trickling_a_body_is_answered_408_and_disconnected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, request_read_timeout_s=READ_TIMEOUT_S) as rig:
            head = (
                f"POST /api/login HTTP/1.1\r\nHost: hub\r\nOrigin: {rig.url}\r\n"
                "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"
            ).encode()
            with caplog.at_level(logging.INFO, logger="hub"):
                tricklers = [
                    asyncio.create_task(_trickle(rig.url, head, b" ")) for _ in range(CLIENTS)
                ]
                genuine = await raw_request(rig.url, http_request("GET", b"/api/health"))
                assert genuine.status == 200
                answers = await asyncio.gather(*tricklers)
            # 408, or a reset: the hub closes while the client's bytes still arrive, and on a
            # loaded machine the reset may reach the client before it has read the 408
            assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
            slow = [r for r in caplog.records if "reason=slow_body" in r.getMessage()]
            assert len(slow) == CLIENTS

    run(scenario())
