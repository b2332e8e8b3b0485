"""A client cannot write a log line of its own (issue 15, item 13): what it chose (a path, a
username, an address) is escaped where it reaches a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.log_safe import MAX_LOG_CHARS, log_safe
from tests.hub.hub_rig import run, running_hub
from tests.hub.raw_client import http_request, raw_request

FORGED = "hub.login doctor=dr.a address=10.0.0.1"
LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _one_line_each(records: list[logging.LogRecord]) -> list[str]:
    """The messages, each checked to be one line a terminal shows as it is."""
    messages = [record.getMessage() for record in records]
    for message in messages:
        assert message.isprintable(), repr(message)
        assert not any(mark in message for mark in LINE_BREAKS), repr(message)
        assert not message.startswith("hub.login "), message
    return messages


def test_a_path_cannot_write_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    forged = FORGED.replace(" ", "%20").encode()
    cases = [
        # (request, how many log lines it makes, whether the forged text is shown)
        (http_request("GET", b"/x%0a" + forged), 1, True),  # access line
        (http_request("GET", b"/console/x%0d%0a" + forged), 1, True),
        (http_request("GET", b"/x%1b[2J%1b[31m" + forged), 1, True),
        (http_request("GET", b"/x%e2%80%a8" + forged + b"%e2%80%ae"), 1, True),
        # refused by the Origin check, which logs the (decoded) path too
        (http_request("POST", b"/api/x%0a" + forged, headers={"Origin": "http://evil"}), 2, True),
        # the parser refuses raw control bytes: its line and the access line
        (http_request("GET", b"/x\x1b[31m\x0b" + forged.replace(b"%20", b"")), 2, False),
    ]

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            for request, lines, shown in cases:
                caplog.clear()
                with caplog.at_level(logging.DEBUG):
                    response = await raw_request(rig.url, request)
                assert response.status in (400, 403, 404), response.status
                hub_lines = [r for r in caplog.records if r.getMessage().startswith("hub.")]
                assert len(hub_lines) == lines, [r.getMessage() for r in hub_lines]
                assert len(caplog.records) == lines, [r.getMessage() for r in caplog.records]
                logged = _one_line_each(caplog.records)
                assert any("doctor=dr.a" in message for message in logged) is shown, logged

    run(scenario())


def test_a_username_with_a_newline_writes_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, login_max_failures=2) as rig:
            with caplog.at_level(logging.DEBUG, logger="hub"):
                for username in [f"nobody\n{FORGED}", f"dr.a\r\n{FORGED}", "dr.a\x1b[1A"]:
                    response = await rig.login_response(username, "wrong password")
                    assert response.status in (401, 429)
            refused = [r for r in caplog.records if r.getMessage().startswith("hub.login")]
            assert len(refused) == 3
            _one_line_each(caplog.records)

    run(scenario())


def test_log_safe_escapes_what_could_forge_a_line_and_leaves_identifiers_alone() -> None:
    assert log_safe("cabin-1") == "cabin-1"
    assert log_safe("127.0.0.1") == "127.0.0.1"
    assert log_safe("/console/app.js") == "/console/app.js"
    assert log_safe("a\nb") == "a\\x0ab"
    assert log_safe("a\r\nb") == "a\\x0d\\x0ab"
    assert log_safe("\x1b[31mred") == "\\x1b[31mred"
    assert log_safe("\u2028\u202e\x00\x7f\x85") == "\\u2028\\u202e\\x00\\x7f\\x85"
    assert log_safe("\ud800") == "\\ud800"
    assert log_safe("a\\x0ab") == "a\\x5cx0ab"  # an escape cannot be forged
    assert log_safe("x status=200") == '"x status=200"'
    assert log_safe('say "hi"') == '"say \\"hi\\""'
    assert log_safe("") == '""'
    assert log_safe(ValueError("bad value")) == '"bad value"'
    assert log_safe("é日本") == "é日本"
    long = log_safe("a" * 10_000)
    assert long == "a" * MAX_LOG_CHARS + "..."


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_log_safe_is_always_one_bounded_printable_token(text: str) -> None:
    safe = log_safe(text)
    assert not any(mark in safe for mark in LINE_BREAKS)
    assert "\x1b" not in safe
    assert len(safe) <= 6 * MAX_LOG_CHARS + 10
    if " " in safe or "=" in safe:
        assert safe.startswith('"') and safe.endswith('"')
