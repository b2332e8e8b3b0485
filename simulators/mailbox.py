"""A real SMTP server on loopback that keeps what it receives: the patients' inbox in the tests
and the scripted demo.

`Mailbox` runs aiosmtpd (its `Controller`, in a thread of its own, so it serves whatever the
caller's loop is doing) on 127.0.0.1; each message it takes is parsed (`email.message`, the
modern policy), kept in memory in arrival order and, with a folder, written there as an
``.eml`` file. `fail_next` makes it answer the next messages with a temporary error (451), and
`stop` / `start` take it down and up again on the same port, so that the hub's retries meet a
real server's refusals. With a server TLS context it requires STARTTLS (or, `implicit_tls`,
speaks TLS from the first byte, port 465's way); with `credentials` it requires AUTH.

    python -m simulators.mailbox --port 2525 --folder /tmp/mails
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import re
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on now (aiosmtpd's Controller wants a fixed one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self._mailbox._received(envelope)


class Mailbox:
    """The SMTP server and what it received (see the module's docstring)."""

    def __init__(
        self,
        *,
        port: int = 0,
        folder: Path | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.host = HOST
        self.folder = folder
        self._tls = tls_context
        self._implicit_tls = implicit_tls
        self._credentials = credentials
        self.logins: list[tuple[str, bool]] = []
        """Each AUTH tried: the login and whether it was accepted."""
        self._messages: list[EmailMessage] = []
        self._recipients: list[list[str]] = []
        self._changed = threading.Condition()
        self._refuse = 0
        self._controller: Controller | None = None

    def start(self) -> Mailbox:
        if self._controller is None:
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
            options: dict[str, Any] = {}
            if self._tls is not None and self._implicit_tls:
                options["ssl_context"] = self._tls
            elif self._tls is not None:
                options.update(tls_context=self._tls, require_starttls=True)
            if self._credentials is not None:
                options.update(
                    authenticator=self._authenticate,
                    auth_required=True,
                    auth_require_tls=self._tls is not None,
                )
            controller = Controller(_Handler(self), hostname=self.host, port=self.port, **options)
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (a sender then finds the port closed); `start` again to come back."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Mailbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def hub_mail_config(self, from_address: str = "rendez-vous@demo.invalid") -> dict[str, Any]:
        """The hub's `[mail]` table that sends to this mailbox (plain SMTP on loopback):
        ``load_hub_config(overrides={"mail": mailbox.hub_mail_config()})``, or in a TOML file
        given to ``python -m hub serve --config``."""
        return {
            "enabled": True,
            "host": self.host,
            "port": self.port,
            "from_address": from_address,
        }

    @property
    def running(self) -> bool:
        return self._controller is not None

    def fail_next(self, count: int) -> None:
        """Answer the next `count` messages with ``451`` (a temporary error: try later)."""
        with self._changed:
            self._refuse = count

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message taken so far, in arrival order."""
        with self._changed:
            return list(self._messages)

    def recipients(self) -> list[list[str]]:
        """The envelope recipients (RCPT TO) of each message, in the same order."""
        with self._changed:
            return [list(r) for r in self._recipients]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived (`TimeoutError` after `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"the mailbox got {len(self._messages)} message(s), not {count},"
                        f" in {timeout_s:g} s"
                    )
                self._changed.wait(left)
            return list(self._messages)

    async def wait(self, count: int, timeout_s: float = 10.0) -> list[EmailMessage]:
        """`wait_for` for a coroutine: the event loop keeps running meanwhile."""
        async with asyncio.timeout(timeout_s):
            while True:
                with self._changed:
                    if len(self._messages) >= count:
                        return list(self._messages)
                await asyncio.sleep(0.02)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        accepted = False
        login = ""
        if isinstance(data, LoginPassword):
            login = data.login.decode("utf-8", "replace")
            given = (login, data.password.decode("utf-8", "replace"))
            accepted = given == self._credentials
        with self._changed:
            self.logins.append((login, accepted))
        return AuthResult(success=accepted, handled=False)

    def _received(self, envelope: Envelope) -> str:
        with self._changed:
            if self._refuse > 0:
                self._refuse -= 1
                return "451 4.3.0 Try again later (simulated)"
            content = envelope.original_content or envelope.content or b""
            raw = content if isinstance(content, bytes) else content.encode()
            message: Any = email.message_from_bytes(raw, policy=email.policy.default)
            self._messages.append(message)
            self._recipients.append([str(r) for r in envelope.rcpt_tos])
            number = len(self._messages)
            self._changed.notify_all()
        if self.folder is not None:
            (self.folder / f"{number:04d}.eml").write_bytes(raw)
        return "250 OK"


_CODE_IN_LINK = re.compile(r"/rendez-vous/annuler\?code=(\d{6})\b")


def appointment_code(message: EmailMessage) -> str:
    """The six-digit code of a confirmation or reminder, read from its cancel link (what
    the demo's patient types at the cabin); `ValueError` if the message has none."""
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    found = _CODE_IN_LINK.search(text if isinstance(text, str) else "")
    if found is None:
        raise ValueError("no appointment code in this message")
    return found.group(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.mailbox",
        description="A local SMTP server that writes each message it receives as an .eml file.",
    )
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--folder", type=Path, required=True)
    arguments = parser.parse_args(argv)
    with Mailbox(port=arguments.port, folder=arguments.folder):
        print(f"smtp://{HOST}:{arguments.port} -> {arguments.folder}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
