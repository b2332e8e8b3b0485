"""The cabin's database key: the shared `keysource.DatabaseKey`, raising `KeyUnavailableError`.

Sources, in order: ``$CABIN_DB_KEY`` (read once, then removed from this process's environment),
the systemd credential ``cabin-db-key``, then a key file only its owner may read (see
`keysource.database_key`). The key never appears in a log line, an exception, a repr or the
database.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from pathlib import Path

from keysource import DatabaseKey as SharedDatabaseKey
from kiosk.errors import KeyUnavailableError

log = logging.getLogger(__name__)


class DatabaseKey(SharedDatabaseKey):
    """A 256-bit SQLCipher key of the cabin's store. Prints as ``DatabaseKey(<hidden>)``."""

    __slots__ = ()
    error = KeyUnavailableError


def load_key(
    *,
    env: MutableMapping[str, str],
    env_name: str,
    credential: str,
    key_file: Path,
) -> DatabaseKey:
    """Find the key (environment, systemd credential, key file), or say what is missing."""
    return DatabaseKey.load(env=env, env_name=env_name, credential=credential, key_file=key_file)


def create_key_file(key_file: Path) -> DatabaseKey:
    """Write a new random key, readable by its owner only; refuses to replace an existing one."""
    key = DatabaseKey.create_file(key_file)
    log.info("store.key created")
    return key
