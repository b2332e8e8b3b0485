"""Where the cabin's secrets come from (the database key, the hub credential): the shared
`keysource.secret_source`, so that the hub finds its own the same way."""

from keysource.secret_source import check_private, read_secret

__all__ = ["check_private", "read_secret"]
