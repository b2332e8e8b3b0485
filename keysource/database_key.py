"""A SQLCipher key, where it comes from, and how it is kept out of sight.

A key is 32 random bytes, written as 64 hexadecimal characters. It is given to SQLCipher as a
raw key (no passphrase derivation: it is already full-entropy), so opening costs microseconds.
Sources, in order: an environment variable (read once, then removed from this process's
environment so no child inherits it), a systemd credential (``LoadCredential=`` puts it in
``$CREDENTIALS_DIRECTORY``), then a key file that only its owner may read (mode 0600 or 0400).
The key never appears in a log line, an exception, a repr or the database.

Each user of a key (the cabin's store, the hub's database) subclasses `DatabaseKey` to name the
error it raises when a key is missing or malformed.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import MutableMapping
from pathlib import Path
from typing import ClassVar, Self

from keysource.secret_source import read_secret

_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


class DatabaseKey:
    """A 256-bit SQLCipher key. Prints as ``DatabaseKey(<hidden>)``."""

    __slots__ = ("_raw", "source")
    error: ClassVar[type[Exception]] = ValueError
    """What a missing or malformed key raises (each user's own error type)."""

    def __init__(self, raw: bytes, source: str) -> None:
        if len(raw) != 32:
            raise self.error(f"{source}: a database key is 32 bytes")
        self._raw = raw
        self.source = source

    @classmethod
    def from_hex(cls, text: str, source: str) -> Self:
        text = text.strip()
        if not _HEX_KEY.match(text):
            raise cls.error(f"{source}: the database key must be 64 hexadecimal characters")
        return cls(bytes.fromhex(text), source)

    @classmethod
    def generate(cls) -> Self:
        return cls(secrets.token_bytes(32), "generated")

    @classmethod
    def load(
        cls,
        *,
        env: MutableMapping[str, str],
        env_name: str,
        credential: str,
        key_file: Path,
    ) -> Self:
        """Find the key (environment, systemd credential, key file), or say what is missing."""
        text, source = read_secret(
            env=env,
            env_name=env_name,
            credential=credential,
            file=key_file,
            what="database key",
            error=cls.error,
        )
        return cls.from_hex(text, source)

    @classmethod
    def create_file(cls, key_file: Path) -> Self:
        """Write a new random key, readable by its owner only (written and synced before this
        returns); refuses to replace an existing one (`FileExistsError`)."""
        key = cls.generate()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        return cls(key._raw, str(key_file))

    def pragma(self) -> str:
        """The ``PRAGMA key`` statement for this raw key (hex digits only: no quoting issue)."""
        return f"PRAGMA key = \"x'{self._raw.hex()}'\""

    def sql_value(self) -> str:
        """The key as SQLCipher reads a raw key given as a value (``ATTACH ... KEY ?``)."""
        return f"x'{self._raw.hex()}'"

    def hex(self) -> str:
        return self._raw.hex()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<hidden>, source={self.source})"

    __str__ = __repr__
