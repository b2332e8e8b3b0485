"""Where secrets at rest come from, shared by the cabin and the hub: a secret read from an
environment variable, a systemd credential or a private file, and the SQLCipher key found so."""

from keysource.database_key import DatabaseKey
from keysource.secret_source import check_private, read_secret

__all__ = ["DatabaseKey", "check_private", "read_secret"]
