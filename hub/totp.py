"""Time-based one-time passwords (RFC 6238): the second factor an operator may require.

The code is HOTP (RFC 4226) of the 30-second step since the Unix epoch: HMAC-SHA1 of the step
as 8 big-endian bytes, dynamically truncated to 6 decimal digits -- what every authenticator
app (FreeOTP, Aegis, Google Authenticator...) computes from the secret the doctor types or
scans. A code is accepted for its step and the one on either side (a phone's clock a little
off), and only once (`hub.accounts` records the last step used).

Written here rather than taken from ``pyotp``, which is not among the project's locked
dependencies: it is 30 lines, checked against RFC 6238's own test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
SECRET_BYTES = 20
"""160 bits: RFC 4226's recommended length for HMAC-SHA1."""
DRIFT_STEPS = 1
ISSUER = "Cabine"


def new_secret() -> str:
    """A random secret, in the base32 that authenticator apps take (no padding)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    text = secret.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226's HOTP value of `counter`, as `digits` decimal digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    (number,) = struct.unpack(">I", mac[offset : offset + 4])
    return str((number & 0x7FFFFFFF) % 10**digits).zfill(digits)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_S


def code_at(secret: str, moment: datetime) -> str:
    """The code an app shows at `moment` (for the tests, and a doctor's first check)."""
    return hotp(_key(secret), step_at(moment))


def matching_step(secret: str, code: str, moment: datetime) -> int | None:
    """The step (within the drift allowed around `moment`) whose code is `code`; None if
    none is. Every candidate is compared, in constant time."""
    code = code.replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = _key(secret)
    now = step_at(moment)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(hotp(key, step).encode("ascii"), code.encode("ascii")):
            found = step
    return found


def otpauth_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://totp/...`` address an app takes (typed, or as a QR code)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_S,
        }
    )
    return f"otpauth://totp/{label}?{query}"
