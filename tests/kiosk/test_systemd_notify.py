"""kiosk.systemd_notify against a real datagram socket, as systemd's would receive it."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.systemd_notify import PINGS_PER_WATCHDOG_PERIOD, ServiceNotifier

WATCHDOG_USEC = 150_000
"""A short WatchdogSec (0.15 s): pings every 0.05 s."""


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    """systemd's side: a datagram socket in the abstract namespace, and its $NOTIFY_SOCKET."""
    name = f"cabin-test-notify-{secrets.token_hex(6)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        yield sock, "@" + name
    finally:
        sock.close()


def fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def drain(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting, without waiting for more."""
    received = []
    sock.setblocking(False)
    try:
        while True:
            received.append(sock.recv(4096))
    except BlockingIOError:
        return received
    finally:
        sock.settimeout(2.0)


def test_ready_sends_ready_and_status_and_clears_the_environment(listener):
    sock, address = listener
    env = {"NOTIFY_SOCKET": address, "LANG": "fr_FR.UTF-8"}
    notifier = ServiceNotifier.from_environment(env)
    assert env == {"LANG": "fr_FR.UTF-8"}  # espeak-ng and aplay do not inherit it

    async def main() -> None:
        notifier.ready("idle screen shown")

    asyncio.run(main())
    message = fields(sock.recv(4096))
    assert message == {"READY": "1", "STATUS": "idle screen shown"}
    assert notifier.watchdog_interval_s is None
    assert drain(sock) == []  # no watchdog configured: no pings
    notifier.close()


def test_a_socket_path_in_the_file_system_works_too(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": str(path)})
    try:
        notifier.status("warming up")
        notifier.stopping("restart asked by the assistant")
        assert fields(sock.recv(4096)) == {"STATUS": "warming up"}
        assert fields(sock.recv(4096)) == {
            "STOPPING": "1",
            "STATUS": "restart asked by the assistant",
        }
    finally:
        notifier.close()
        sock.close()


def test_the_watchdog_is_pinged_from_the_loop_and_not_while_it_is_blocked(listener):
    sock, address = listener
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    notifier = ServiceNotifier.from_environment(env)
    assert notifier.watchdog_interval_s == pytest.approx(
        WATCHDOG_USEC / 1e6 / PINGS_PER_WATCHDOG_PERIOD
    )
    period_s = WATCHDOG_USEC / 1e6

    async def main() -> tuple[list[bytes], list[bytes], list[bytes]]:
        notifier.ready("idle screen shown")
        await asyncio.sleep(4 * period_s)  # the loop runs: it pings
        running = drain(sock)
        # The loop freezes (a blocking call on Qt's thread) for 4 watchdog periods: nothing
        # may reach systemd meanwhile, or a frozen cabin would never be restarted.
        time.sleep(4 * period_s)  # noqa: ASYNC251 - the freeze is the point
        blocked = drain(sock)
        await asyncio.sleep(2 * period_s)  # it runs again: the pings come back
        return running, blocked, drain(sock)

    running, blocked, after = asyncio.run(main())
    notifier.close()
    pings = [d for d in running if fields(d) == {"WATCHDOG": "1"}]
    assert fields(running[0])["READY"] == "1"
    # 4 periods of 3 pings each while the loop ran; a loaded machine may delay a few
    assert len(pings) >= 4
    assert blocked == []
    assert any(fields(d) == {"WATCHDOG": "1"} for d in after)


def test_pings_stop_when_the_notifier_is_closed(listener):
    sock, address = listener
    notifier = ServiceNotifier.from_environment(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    )

    async def main() -> list[bytes]:
        notifier.ready("idle screen shown")
        await asyncio.sleep(WATCHDOG_USEC / 1e6)
        notifier.close()
        drain(sock)
        await asyncio.sleep(2 * WATCHDOG_USEC / 1e6)
        return drain(sock)

    assert asyncio.run(main()) == []


@pytest.mark.parametrize(
    ("watchdog_pid", "pings"),
    [(None, True), ("self", True), ("1", False), ("not-a-pid", False)],
)
def test_watchdog_pid_names_the_process_that_pings(listener, watchdog_pid, pings):
    sock, address = listener
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    if watchdog_pid is not None:
        env["WATCHDOG_PID"] = str(os.getpid()) if watchdog_pid == "self" else watchdog_pid
    notifier = ServiceNotifier.from_environment(env)
    assert (notifier.watchdog_interval_s is not None) is pings

    async def main() -> list[bytes]:
        notifier.ready("idle screen shown")
        await asyncio.sleep(2 * WATCHDOG_USEC / 1e6)
        return drain(sock)

    received = asyncio.run(main())
    notifier.close()
    assert fields(received[0])["READY"] == "1"  # READY goes in any case
    assert any(fields(d) == {"WATCHDOG": "1"} for d in received) is pings


@pytest.mark.parametrize("usec", ["", "0", "-5", "fifteen"])
def test_no_watchdog_without_a_usable_period(listener, usec):
    _sock, address = listener
    notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": usec})
    assert notifier.watchdog_interval_s is None
    notifier.close()


def test_without_systemd_every_call_does_nothing():
    notifier = ServiceNotifier.from_environment({})
    assert not notifier.active
    assert notifier.send("READY=1") is False

    async def main() -> None:
        notifier.ready("idle screen shown")
        notifier.status("x")
        notifier.stopping()

    asyncio.run(main())
    notifier.close()


def test_a_vanished_socket_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.active
    assert notifier.send("WATCHDOG=1") is False
    assert notifier.send("WATCHDOG=1") is False
    failures = [r for r in caplog.records if "systemd.notify_failed" in r.getMessage()]
    assert len(failures) == 1
    notifier.close()
