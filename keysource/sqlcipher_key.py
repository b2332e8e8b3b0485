"""Opening a SQLCipher file with its key, and telling a wrong key from any other failure."""

from __future__ import annotations

import sqlcipher3

from keysource.database_key import DatabaseKey

SQLITE_NOTADB = 26


class KeyDoesNotOpen(Exception):
    """The key does not open the file: the wrong key, or a file that is not such a database.
    Nothing was written to it."""


def unlock(connection: sqlcipher3.Connection, key: DatabaseKey, *, existed: bool) -> None:
    """Give a fresh connection its key and read through it before anything is written:
    `KeyDoesNotOpen` if the key does not open the file (always so for a file that `existed`
    before: SQLCipher may report it as any database error); other errors as they come."""
    connection.execute("PRAGMA cipher_log_level = NONE")  # the caller's message says it better
    connection.execute(key.pragma())
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as exc:
        code = int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == SQLITE_NOTADB or existed:
            raise KeyDoesNotOpen from None
        raise
