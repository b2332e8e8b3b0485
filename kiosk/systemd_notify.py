"""The cabin tells systemd how it is: ready, alive, stopping (sd_notify, in pure Python).

Under ``cabin.service`` (``Type=notify``, ``WatchdogSec=``; deploy/cabin/systemd/cabin.service)
systemd gives the process ``$NOTIFY_SOCKET``, a datagram socket (a leading ``@`` is Linux's
abstract namespace), and ``$WATCHDOG_USEC``. The cabin sends:

- ``READY=1`` once its idle screen is painted (the cabin is the service's main process:
  deploy/cabin/cabin-session starts cage beside it, then execs it);
- ``WATCHDOG=1`` every ``WATCHDOG_USEC / 3``, from a callback of the asyncio loop (Qt's main
  thread, through qasync): a loop that freezes stops the pings, and systemd kills and restarts the
  cabin after ``WatchdogSec``. Never from a thread, which would keep pinging for a frozen cabin;
- ``STATUS=<text>``, shown by ``systemctl status cabin``;
- ``STOPPING=1`` on a clean stop.

``$WATCHDOG_PID``, when set, names the process that must ping: another one does not (its parent's
watchdog is not its own). Without ``$NOTIFY_SOCKET``
(the demo, the tests, a developer's terminal) every call does nothing.

A datagram that cannot be sent (the socket gone, its queue full) is logged once and dropped: the
cabin never stops for its supervisor; systemd notices the missing pings by itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

PINGS_PER_WATCHDOG_PERIOD = 3
"""Pings per ``WatchdogSec``: one late ping (a loaded machine) never trips the watchdog."""

NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class ServiceNotifier:
    """The cabin's messages to systemd; a no-op when systemd is not listening."""

    def __init__(self, address: str | None, watchdog_interval_s: float | None) -> None:
        """``address``: the notification socket (``@name`` for the abstract namespace), or None.
        ``watchdog_interval_s``: the time between two pings, or None for no watchdog."""
        self._address = _socket_address(address) if address else None
        self._socket: socket.socket | None = None
        self._failed = False
        self._ping: asyncio.TimerHandle | None = None
        self.watchdog_interval_s = watchdog_interval_s if self._address else None

    @classmethod
    def from_environment(
        cls, env: MutableMapping[str, str] | None = None, pid: int | None = None
    ) -> ServiceNotifier:
        """The notifier systemd's variables describe. They are removed from ``env`` (by default
        ``os.environ``): a child process (espeak-ng, aplay) must not talk to systemd for us."""
        env = os.environ if env is None else env
        values = {name: env.pop(name, None) for name in NOTIFY_VARIABLES}
        address = values["NOTIFY_SOCKET"] or None
        interval_s = _watchdog_interval_s(
            values["WATCHDOG_USEC"], values["WATCHDOG_PID"], os.getpid() if pid is None else pid
        )
        return cls(address, interval_s)

    @property
    def active(self) -> bool:
        """True when systemd listens (``$NOTIFY_SOCKET`` was set)."""
        return self._address is not None

    def send(self, *fields: str) -> bool:
        """Send ``fields`` ("READY=1", "STATUS=...") as one datagram; True if it went."""
        if self._address is None:
            return False
        message = "\n".join(fields).encode("utf-8", errors="replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)  # Python's sockets are close-on-exec already
            self._socket.sendto(message, self._address)
        except OSError as exc:
            if not self._failed:
                log.warning("systemd.notify_failed %s (further failures are not logged)", exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str) -> None:
        """The cabin is up: READY=1 and a status line; then the watchdog pings start from the
        running asyncio loop."""
        if not self.active:
            return
        self.send("READY=1", f"STATUS={status}")
        log.info("systemd.ready watchdog_interval_s=%s", self.watchdog_interval_s)
        self.start_watchdog()

    def status(self, text: str) -> None:
        """A line for ``systemctl status cabin`` (never patient data)."""
        self.send(f"STATUS={text}")

    def stopping(self, status: str = "stopping") -> None:
        """A clean stop has begun: STOPPING=1. The pings go on until the loop ends: systemd
        still watches a service that takes its time to close."""
        self.send("STOPPING=1", f"STATUS={status}")

    def start_watchdog(self) -> None:
        """Ping now and every `watchdog_interval_s`, from the running loop's callbacks."""
        if self.watchdog_interval_s is None or self._ping is not None:
            return
        self._ping_and_rearm(asyncio.get_running_loop())

    def _ping_and_rearm(self, loop: asyncio.AbstractEventLoop) -> None:
        interval_s = self.watchdog_interval_s
        if interval_s is None:
            return
        self.send("WATCHDOG=1")
        self._ping = loop.call_later(interval_s, self._ping_and_rearm, loop)

    def close(self) -> None:
        """Stop the pings and close the socket."""
        if self._ping is not None:
            self._ping.cancel()
            self._ping = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _socket_address(address: str) -> str:
    """``@name`` is a name in Linux's abstract namespace: a leading NUL byte on the wire."""
    return "\0" + address[1:] if address.startswith("@") else address


def _watchdog_interval_s(usec: str | None, watchdog_pid: str | None, pid: int) -> float | None:
    """The time between two pings, or None: no watchdog, a bad value, or another process's."""
    if not usec:
        return None
    try:
        period_us = int(usec)
    except ValueError:
        log.warning("systemd.bad_watchdog_usec %r: no watchdog pings", usec)
        return None
    if period_us <= 0:
        return None
    if watchdog_pid:
        try:
            owner = int(watchdog_pid)
        except ValueError:
            log.warning("systemd.bad_watchdog_pid %r: no watchdog pings", watchdog_pid)
            return None
        if owner != pid:
            log.info("systemd.watchdog_not_ours watchdog_pid=%d pid=%d", owner, pid)
            return None
    return period_us / 1_000_000 / PINGS_PER_WATCHDOG_PERIOD
