"""The test hub's database key, and a connection to a hub database made with it (a test reads
or changes rows behind the hub's back through it, as the hub would see them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlcipher3

from hub.database_key import HubDatabaseKey

TEST_KEY = HubDatabaseKey.from_hex("5e" * 32, "tests")
OTHER_KEY = HubDatabaseKey.from_hex("a7" * 32, "tests (another key)")


def connect(path: Path, key: HubDatabaseKey = TEST_KEY) -> Any:
    """A `sqlite3`-like connection to the encrypted hub database at ``path``."""
    db = sqlcipher3.connect(str(path))
    db.execute(key.pragma())
    return db


def write_key_file(data_dir: Path, key: HubDatabaseKey = TEST_KEY) -> Path:
    """The key in the data folder's key file (mode 0600), where `python -m hub ...` finds it;
    kept if it is already there."""
    key_file = data_dir / "hub-db.key"
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key.hex() + "\n")
    return key_file


def key_env(key: HubDatabaseKey = TEST_KEY) -> dict[str, str]:
    """This process's environment, with the key in ``$HUB_DB_KEY`` (for a `python -m hub`)."""
    return {**os.environ, "HUB_DB_KEY": key.hex()}
