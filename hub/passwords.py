"""Doctors' password hashes: argon2id, computed on a worker thread so the loop never stalls.

``standard`` is RFC 9106's second recommended option for argon2id (64 MiB, 3 passes, 4 lanes;
argon2-cffi's ``RFC_9106_LOW_MEMORY`` profile). ``test`` is cheap, for the test suite only;
a hash made with either is verified with the parameters it carries, and a doctor's hash is
upgraded to the configured cost at their next successful sign-in.
"""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.config import Argon2Cost

_PROFILES: dict[Argon2Cost, argon2.Parameters] = {
    "standard": argon2.profiles.RFC_9106_LOW_MEMORY,
    "test": argon2.Parameters(
        type=argon2.Type.ID,
        version=19,
        salt_len=16,
        hash_len=32,
        time_cost=1,
        memory_cost=8,
        parallelism=1,
    ),
}

MAX_PASSWORD_CHARS = 1024


class PasswordHasher:
    """Hash and verify passwords off the event loop."""

    def __init__(self, cost: Argon2Cost) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(_PROFILES[cost])

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if `password` matches; False for a wrong password or an unreadable hash."""
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
