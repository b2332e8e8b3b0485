"""Where a secret comes from: an environment variable, a systemd credential, or a file.

The cabin's database key and hub credential, and the hub's database key, are found the same way,
in that order. A variable is
removed once read (no child process inherits it); a file must be readable by its owner only.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import MutableMapping
from pathlib import Path

log = logging.getLogger(__name__)


def check_private(path: Path, error: type[Exception]) -> None:
    """Refuse a secret file that others can read, or that another user owns."""
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise error(
            f"{path}: the file can be read by others (mode {stat.S_IMODE(info.st_mode):04o});"
            f" run: chmod 600 {path}"
        )
    if info.st_uid != os.geteuid():
        raise error(f"{path}: the file belongs to another user")


def read_secret(
    *,
    env: MutableMapping[str, str],
    env_name: str,
    credential: str,
    file: Path,
    what: str,
    error: type[Exception],
) -> tuple[str, str]:
    """The secret's text and where it came from; ``error`` says what is missing, never the value."""
    if env_name in env:
        log.info("secret.found what=%s source=environment", what)
        return env.pop(env_name), f"${env_name}"
    credentials_dir = env.get("CREDENTIALS_DIRECTORY")
    if credentials_dir:
        path = Path(credentials_dir) / credential
        if path.exists():
            log.info("secret.found what=%s source=systemd-credential", what)
            return path.read_text(encoding="ascii"), str(path)
    try:
        check_private(file, error)
        text = file.read_text(encoding="ascii")
    except FileNotFoundError:
        raise error(
            f"no {what}: set ${env_name}, provide the systemd credential {credential!r},"
            f" or create {file} (mode 0600)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{file}: the {what} cannot be read ({exc})") from exc
    log.info("secret.found what=%s source=file", what)
    return text, str(file)
