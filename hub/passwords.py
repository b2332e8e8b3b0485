"""Doctors' password hashes: argon2id, computed on worker threads so the loop never stalls.

The hub's hasher has its own threads (``password_hash_workers``) and admits a bounded number of
sign-ins at once (the workers and ``password_hash_queue`` waiting): a flood of logins waits for
those threads only, never in front of a cabin's record, and the sign-in beyond the bound is
refused at once (`HasherBusy`, a 503) instead of queueing for minutes.

``standard`` is RFC 9106's second recommended option for argon2id (64 MiB, 3 passes, 4 lanes;
argon2-cffi's ``RFC_9106_LOW_MEMORY`` profile). ``test`` is cheap, for the test suite only;
a hash made with either is verified with the parameters it carries, and a doctor's hash is
upgraded to the configured cost at their next successful sign-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.config import Argon2Cost
from hub.errors import HubError

T = TypeVar("T")

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


class HasherBusy(HubError):
    """As many sign-ins as the hasher admits are already hashing or waiting."""


class PasswordHasher:
    """Hash and verify passwords off the event loop.

    With `workers`, on threads of its own, closed by `close`; without (the command line, the
    tests' accounts), on asyncio's default threads."""

    def __init__(self, cost: Argon2Cost, *, workers: int | None = None, queue: int = 0) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(_PROFILES[cost])
        self._executor = (
            None
            if workers is None
            else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub-argon2")
        )
        self._capacity = (workers or 1) + queue
        self._admitted = 0

    @property
    def executor(self) -> ThreadPoolExecutor | None:
        """The hasher's own threads (None: asyncio's default ones)."""
        return self._executor

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold one of the places of sign-ins; `HasherBusy` at once when none is free."""
        if self._admitted >= self._capacity:
            raise HasherBusy("too many sign-ins at once")
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def _run(self, work: Callable[[], T]) -> T:
        if self._executor is None:
            return await asyncio.to_thread(work)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def hash(self, password: str) -> str:
        return await self._run(lambda: self._hasher.hash(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if `password` matches; False for a wrong password or an unreadable hash."""
        return await self._run(lambda: self._verify(password_hash, password))

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

    def close(self) -> None:
        """Stop the hasher's threads (a hash under way finishes)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
