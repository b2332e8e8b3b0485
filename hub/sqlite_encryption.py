"""A plaintext hub database (a hub from before SQLCipher) encrypted once, in place.

``sqlcipher_export`` copies every table, index and row into a new encrypted file beside the old
one (``hub.db.encrypting``, mode 0600); the copy is synced, then renamed over the plaintext in one
atomic step, and the folder synced. A crash before the rename leaves the plaintext file whole
(the half-made copy is thrown away at the next start, which begins again); after it, the
encrypted file is the database. The plaintext's write-ahead log is folded in before the copy.

The old file's blocks are freed, not overwritten: on a disk that matters, encrypt it before it
holds data, or wipe the free space after.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import sqlcipher3

from keysource import DatabaseKey

log = logging.getLogger(__name__)

PLAINTEXT_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of an unencrypted SQLite file (an encrypted one starts with its salt)."""
PARTIAL_SUFFIX = ".encrypting"


def partial_path(path: Path) -> Path:
    """Where the encrypted copy is made before it replaces ``path``."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


_WAL_FIRST_PAGE = 32 + 24
"""Where the first frame's page starts in a write-ahead log (after its header and the frame's)."""


def _starts_with_header(path: Path, offset: int = 0) -> bool | None:
    """Whether the file holds SQLite's plaintext header at ``offset``; None when it is missing
    or too short to tell."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            head = file.read(len(PLAINTEXT_HEADER))
    except FileNotFoundError:
        return None
    return None if len(head) < len(PLAINTEXT_HEADER) else head == PLAINTEXT_HEADER


def is_plaintext(path: Path) -> bool:
    """Whether ``path`` is an unencrypted SQLite database (False when it is missing). A file
    still empty, its pages all in the write-ahead log (a hub killed before its first
    checkpoint), is told by the log's first page."""
    in_file = _starts_with_header(path)
    if in_file is not None:
        return in_file
    return bool(_starts_with_header(path.with_name(path.name + "-wal"), _WAL_FIRST_PAGE))


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encrypt_plaintext(path: Path, key: DatabaseKey) -> bool:
    """Replace a plaintext database at ``path`` by an encrypted copy made with ``key``; False
    (and nothing done) when there is none. Raises `sqlcipher3.Error` or `OSError` on failure,
    the plaintext left as it was."""
    if not is_plaintext(path):
        return False
    partial = partial_path(path)
    if partial.exists():
        log.warning("hub.database_encryption_resumed partial=%s", partial)
    for leftover in (partial, partial.with_name(partial.name + "-journal")):
        leftover.unlink(missing_ok=True)  # a half-made copy: its journal must not be replayed
    plain = sqlcipher3.connect(str(path), isolation_level=None)
    try:
        plain.execute("PRAGMA journal_mode = DELETE")  # the WAL folded into the file, removed
        version = int(plain.execute("PRAGMA user_version").fetchone()[0])
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        plain.execute("ATTACH DATABASE ? AS encrypted KEY ?", (str(partial), key.sql_value()))
        plain.execute("SELECT sqlcipher_export('encrypted')")
        plain.execute(f"PRAGMA encrypted.user_version = {version:d}")  # not exported
        plain.execute("DETACH DATABASE encrypted")
    finally:
        plain.close()
    _fsync(partial)
    os.replace(partial, path)
    _fsync(path.parent)
    for suffix in ("-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    log.info("hub.database_encrypted path=%s schema=%d", path, version)
    return True
