"""E-mail to patients through an SMTP server: their confirmations and reminders.

The standard library's `smtplib` does the talking, in a worker thread (`asyncio.to_thread`),
every socket operation bounded by the configured timeout: a hub sends a few messages a minute,
and a blocking client that has been right for decades beats another dependency. The server may
be plain (a relay on loopback), STARTTLS (port 587) or implicit TLS (port 465), the server's
certificate checked; a username signs in with the password from the hub's secret sources
(environment variable, systemd credential, or a 0600 file), never from the configuration.

A `MailError` never holds an address, a name or the message: only the SMTP status code and the
kind of failure, so that it can be logged and shown on the coordinator's page.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal, Protocol

from hub.config import HubConfig
from hub.errors import ConfigError, HubError
from keysource import read_secret

Security = Literal["none", "starttls", "tls"]


class MailError(HubError):
    """The SMTP server did not take the message. `permanent`: trying again will not help (the
    server refused the recipient or the message for good, a 5xx answer)."""

    def __init__(self, text: str, *, permanent: bool = False) -> None:
        super().__init__(text)
        self.permanent = permanent


class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand `message` (its From, To and Message-ID set) to the server; `MailError` if
        it was not taken."""
        ...


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    security: Security = "none"
    username: str = ""
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 15.0


class SmtpSender:
    """`MailSender` over `smtplib`, one connection per message (a few a minute)."""

    def __init__(self, settings: SmtpSettings, *, tls: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._tls = tls

    @classmethod
    def from_config(cls, config: HubConfig, env: MutableMapping[str, str]) -> SmtpSender:
        section = config.mail
        security: Security = "tls" if section.tls else "starttls" if section.starttls else "none"
        return cls(
            SmtpSettings(
                host=section.host,
                port=section.port,
                security=security,
                username=section.username,
                password=load_smtp_password(config, env),
                timeout_s=section.timeout_s,
            )
        )

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _send(self, message: EmailMessage) -> None:
        settings = self._settings
        try:
            client: smtplib.SMTP
            if settings.security == "tls":
                client = smtplib.SMTP_SSL(
                    settings.host,
                    settings.port,
                    timeout=settings.timeout_s,
                    context=self._context(),
                )
            else:
                client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
            with client:
                client.ehlo()
                if settings.security == "starttls":
                    client.starttls(context=self._context())
                    client.ehlo()
                if settings.username:
                    client.login(settings.username, settings.password or "")
                refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise MailError(
                f"smtp recipient refused (status {codes})", permanent=all(c >= 500 for c in codes)
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"smtp authentication refused (status {exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"smtp {type(exc).__name__} (status {exc.smtp_code})",
                permanent=500 <= exc.smtp_code < 600 and exc.smtp_code != 530,
            ) from None
        except smtplib.SMTPException as exc:
            raise MailError(f"smtp {type(exc).__name__}") from None
        except ssl.SSLError as exc:
            raise MailError(f"smtp tls failed ({exc.reason or type(exc).__name__})") from None
        except TimeoutError:
            raise MailError(f"smtp timed out after {settings.timeout_s:g} s") from None
        except OSError as exc:
            raise MailError(
                f"smtp server unreachable ({exc.strerror or type(exc).__name__})"
            ) from None
        except ValueError as exc:  # an address smtplib cannot put on the wire (UnicodeError)
            raise MailError(
                f"smtp message refused ({type(exc).__name__})", permanent=True
            ) from None
        if refused:
            codes = sorted({code for code, _ in refused.values()})
            raise MailError(f"smtp recipient refused (status {codes})", permanent=True)


def load_smtp_password(config: HubConfig, env: MutableMapping[str, str]) -> str | None:
    """The SMTP password when `[mail] username` is set (then required), else None."""
    section = config.mail
    if not section.username:
        return None
    text, _ = read_secret(
        env=env,
        env_name=section.password_env,
        credential=section.password_credential,
        file=config.resolve(section.password_file),
        what="SMTP password",
        error=ConfigError,
    )
    return text.rstrip("\r\n")
