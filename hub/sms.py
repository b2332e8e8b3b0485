"""Text messages to patients through an SMS provider's HTTP API.

`SmsProvider` is what the outbox worker (`hub.notifications`) needs: send a text to a number,
get the provider's id for it. `HttpSmsProvider` speaks the simplest form most providers offer
(or a small adapter in front of one does): a JSON POST ``{"to", "text", "client_ref"}`` with a
bearer token, the notification's id as ``client_ref`` and as the ``Idempotency-Key`` header, so
that a message resent after a crash between the provider's answer and the outbox's record can
be recognised by the provider. Any answer but 2xx is an error carrying the status.

No provider is reachable from the project's machines: the tests and the demo use
`simulators.sms_recorder`, a local HTTP process that records what it receives.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import MutableMapping
from pathlib import Path
from typing import Protocol

import aiohttp

from hub.config import HubConfig
from hub.errors import ConfigError, HubError
from keysource import read_secret

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet: a message in it fits 160 characters in one SMS."""
GSM7_EXTENDED = frozenset("^{}\\[~]|€")
"""Characters that take two of the 160 (an escape, then the character)."""
SMS_SEGMENT_CHARS = 160


class SmsError(HubError):
    """The provider did not take the message. `status`: its HTTP status, if it answered;
    `permanent`: trying again will not help (4xx but 408 and 429)."""

    def __init__(self, text: str, *, status: int | None = None, permanent: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.permanent = permanent


class SmsProvider(Protocol):
    async def send(self, to_e164: str, text: str, client_ref: str) -> str:
        """Send `text` to the number `to_e164` (``+33612345678``); the provider's id of the
        message. `client_ref` is ours (the notification's id): the same on every try."""
        ...

    async def close(self) -> None:
        """Release the provider's connections (the hub stops)."""
        ...


def gsm7(text: str) -> str:
    """`text` in the GSM 7-bit alphabet, so that it costs one SMS per 160 characters (one
    character outside it makes the whole message UCS-2, 70 per SMS): a letter with an accent
    the alphabet lacks (ê, â, î, ô, û, ç, ï...) loses its accent, typographic quotes and
    dashes become plain ones, and anything else left is replaced by "?"."""
    out = []
    for char in text.replace("\u2019", "'").replace("\u2013", "-").replace("\u00a0", " "):
        if char in GSM7_BASIC or char in GSM7_EXTENDED:
            out.append(char)
            continue
        base = unicodedata.normalize("NFD", char)[0]
        out.append(base if base in GSM7_BASIC else "?")
    return "".join(out)


def gsm7_length(text: str) -> int:
    """How many of a segment's 160 septets `text` takes (extended characters count twice);
    -1 if it is not GSM 7-bit text."""
    length = 0
    for char in text:
        if char in GSM7_BASIC:
            length += 1
        elif char in GSM7_EXTENDED:
            length += 2
        else:
            return -1
    return length


class HttpSmsProvider:
    """`SmsProvider` over a JSON HTTP API (see the module's docstring)."""

    def __init__(
        self, url: str, *, token: str | None, sender: str = "", timeout_s: float = 10.0
    ) -> None:
        self._url = url
        self._token = token
        self._sender = sender
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, config: HubConfig, env: MutableMapping[str, str]) -> HttpSmsProvider:
        section = config.sms
        return cls(
            section.url,
            token=load_sms_token(config, env),
            sender=section.sender,
            timeout_s=section.timeout_s,
        )

    async def send(self, to_e164: str, text: str, client_ref: str) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body: dict[str, str] = {"to": to_e164, "text": text, "client_ref": client_ref}
        if self._sender:
            body["sender"] = self._sender
        headers = {"Idempotency-Key": client_ref}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with self._session.post(self._url, json=body, headers=headers) as response:
                payload = await response.read()
                status = response.status
        except TimeoutError:
            raise SmsError(f"sms provider timed out after {self._timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise SmsError(f"sms provider unreachable ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise SmsError(
                f"sms provider answered {status}",
                status=status,
                permanent=400 <= status < 500 and status not in (408, 425, 429),
            )
        return _message_id(payload)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _message_id(payload: bytes) -> str:
    """The provider's id in its answer (``{"id": "..."}``, or ``message_id``), or ""."""
    try:
        answer = json.loads(payload)
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    for key in ("id", "message_id"):
        value = answer.get(key)
        if isinstance(value, str | int):
            return str(value)[:200]
    return ""


def load_sms_token(config: HubConfig, env: MutableMapping[str, str]) -> str | None:
    """The provider's API token from its sources, or None when none holds one (a provider
    that knows the hub by its address)."""
    section = config.sms
    credentials = env.get("CREDENTIALS_DIRECTORY")
    token_file = config.resolve(section.token_file)
    in_credential = (
        bool(credentials) and (Path(credentials or "") / section.token_credential).exists()
    )
    if not (section.token_env in env or in_credential or token_file.exists()):
        return None
    text, _ = read_secret(
        env=env,
        env_name=section.token_env,
        credential=section.token_credential,
        file=token_file,
        what="SMS provider token",
        error=ConfigError,
    )
    return text.strip()
