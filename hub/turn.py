"""Short-lived TURN credentials in coturn's REST scheme (``use-auth-secret``).

The username is ``<expiry unix time>:<who>``; the credential is
``base64(HMAC-SHA1(shared secret, username))``. coturn checks both with the same secret and
refuses the username once its time has passed, so nothing has to be revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime

import wire
from hub.config import HubConfig
from hub.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TurnCredential:
    username: str
    credential: str


def turn_credential(secret: str, *, who: str, now: datetime, ttl_s: int) -> TurnCredential:
    """The credential for `who` (a cabin id or a doctor's username), valid `ttl_s` from now."""
    expiry = math.floor(now.timestamp()) + ttl_s
    username = f"{expiry}:{who}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode("ascii"))


@dataclass(frozen=True, slots=True)
class IceServers:
    """The ICE servers of the configuration, and the secret to sign TURN credentials with."""

    urls: tuple[str, ...]
    secret: str
    ttl_s: int
    policy: wire.IceTransportPolicy

    @classmethod
    def from_config(cls, config: HubConfig) -> IceServers:
        """Read the TURN secret (from the file if the configuration names one)."""
        turn = config.turn
        secret = turn.secret
        if turn.secret_file:
            path = config.resolve(turn.secret_file)
            try:
                secret = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"turn.secret_file: {path} cannot be read ({exc})") from exc
            if not secret:
                raise ConfigError(f"turn.secret_file: {path} is empty")
        return cls(
            urls=tuple(turn.urls),
            secret=secret,
            ttl_s=turn.credential_ttl_s,
            policy=wire.IceTransportPolicy(turn.ice_transport_policy),
        )

    def for_peer(self, who: str, now: datetime) -> list[wire.IceServer]:
        """The `IceServer` list of `CallAccepted` for `who`: empty when none is configured."""
        stun = [url for url in self.urls if url.startswith(("stun:", "stuns:"))]
        turn = [url for url in self.urls if url.startswith(("turn:", "turns:"))]
        servers: list[wire.IceServer] = []
        if stun:
            servers.append(wire.IceServer(urls=stun))
        if turn:
            credential = turn_credential(self.secret, who=who, now=now, ttl_s=self.ttl_s)
            servers.append(
                wire.IceServer(
                    urls=turn, username=credential.username, credential=credential.credential
                )
            )
        return servers
