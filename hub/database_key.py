"""The hub's database key: where it comes from, and the demo's own.

The same sources as the cabin's (`keysource`), in order: the environment variable named by
``database_key_env`` (``HUB_DB_KEY``; read once, then removed from this process's environment),
the systemd credential ``database_key_credential`` (``hub-db-key``, in
``$CREDENTIALS_DIRECTORY``), then the key file ``database_key_file`` (``hub-db.key`` in the data
folder), readable by its owner only. The key never appears in a log line nor an error.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping

from hub.config import HubConfig
from hub.errors import ConfigError
from hub.sqlite_encryption import is_plaintext
from keysource import DatabaseKey

log = logging.getLogger(__name__)


class HubDatabaseKey(DatabaseKey):
    """The 256-bit SQLCipher key of the hub's database. Prints as ``HubDatabaseKey(<hidden>)``."""

    __slots__ = ()
    error = ConfigError


def load_database_key(
    config: HubConfig, env: MutableMapping[str, str], *, create: bool
) -> HubDatabaseKey:
    """The key from its sources; `ConfigError` says which are missing. With ``create`` (the
    demo), a first run writes a new key file, but never when an encrypted database is already
    there: a new key would not open it (a plaintext one is encrypted with the new key)."""
    key_file = config.resolve(config.database_key_file)
    try:
        return HubDatabaseKey.load(
            env=env,
            env_name=config.database_key_env,
            credential=config.database_key_credential,
            key_file=key_file,
        )
    except ConfigError:
        database = config.database_path
        if not create or key_file.exists():
            raise
        if database.exists() and database.stat().st_size > 0 and not is_plaintext(database):
            raise
    key = HubDatabaseKey.create_file(key_file)
    log.info("hub.database_key_created path=%s", key_file)
    return key
