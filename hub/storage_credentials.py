"""The PostgreSQL backend's secrets: its data keys and the database password.

Both come from the sources `keysource` reads for the SQLCipher key, in order: an environment
variable (read once, then removed from the hub's environment), a systemd credential, a file
readable by its owner only (inside the data folder when relative). Neither ever appears in a
log line nor an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path

from hub.config import HubConfig
from hub.errors import ConfigError
from hub.sealing import DataKeyError, DataKeyring, new_key_line, new_ring_text
from keysource import read_secret

log = logging.getLogger(__name__)


def data_keys_file(config: HubConfig) -> Path:
    return config.resolve(config.storage.data_keys_file)


def load_data_keys(
    config: HubConfig, env: MutableMapping[str, str], *, create: bool = False
) -> DataKeyring:
    """The data keys from their sources; `DataKeyError` says which are missing or what is
    wrong. With ``create`` (the demo), a first run writes a new ring file."""
    storage = config.storage
    key_file = data_keys_file(config)
    try:
        return DataKeyring.load(
            env=env,
            env_name=storage.data_keys_env,
            credential=storage.data_keys_credential,
            key_file=key_file,
        )
    except DataKeyError:
        if not create or key_file.exists():
            raise
    write_private(key_file, new_ring_text())
    log.info("hub.data_keys_created path=%s", key_file)
    return DataKeyring.load(
        env={}, env_name=storage.data_keys_env, credential="", key_file=key_file
    )


def load_postgres_password(config: HubConfig, env: MutableMapping[str, str]) -> str | None:
    """The database password, or None when no source has one and no file is configured."""
    storage = config.storage
    configured = storage.password_file
    in_env = storage.password_env in env
    credentials = env.get("CREDENTIALS_DIRECTORY")
    in_credential = (
        bool(credentials) and (Path(credentials or "") / storage.password_credential).exists()
    )
    if not (configured or in_env or in_credential):
        return None
    text, _ = read_secret(
        env=env,
        env_name=storage.password_env,
        credential=storage.password_credential,
        file=config.resolve(configured or "hub-pg.password"),
        what="PostgreSQL password",
        error=ConfigError,
    )
    return text.rstrip("\r\n")


def add_data_key(key_file: Path, key_id: str) -> None:
    """Put a new random data key first in the ring file `key_file` (it becomes the current
    one; the others stay, to open what they sealed). Rewritten whole, then renamed."""
    try:
        text = key_file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataKeyError(f"{key_file}: the data keys cannot be read ({exc})") from exc
    ring = DataKeyring.parse(text, str(key_file))
    if key_id in ring.key_ids:
        raise DataKeyError(f"{key_file}: the ring already has a key {key_id!r}; choose another id")
    lines = text.splitlines()
    first_data = next(
        i
        for i, line in enumerate(lines)
        if line.partition("#")[0].split()[:1] not in ([], ["index"])
    )
    lines.insert(first_data, new_key_line(key_id))
    temporary = key_file.with_name(key_file.name + ".new")
    write_private(temporary, "\n".join(lines) + "\n", replace=True)
    os.replace(temporary, key_file)


def write_private(path: Path, text: str, *, replace: bool = False) -> None:
    """Write `text` to a new file readable by its owner only, synced before this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
