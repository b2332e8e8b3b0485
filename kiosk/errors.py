"""Exception types of the cabin core.

Each error carries a message a person can act on (an operator reading the journal, an agent
reading the assistant screen). None of them ever holds patient data.
"""

from __future__ import annotations


class KioskError(Exception):
    """Base of every error raised by the cabin core."""


class ConfigError(KioskError):
    """The configuration file is missing, unreadable or holds a wrong value."""


class IllegalTransition(KioskError):  # noqa: N818 - the name says what happened
    """A session transition that the state machine does not allow was requested."""


class StoreError(KioskError):
    """The encrypted store could not do what was asked."""


class WrongKeyError(StoreError):  # noqa: N818
    """The database key does not open the existing database file."""


class KeyUnavailableError(StoreError):  # noqa: N818
    """No usable database key was found (missing, unreadable or too open a key file)."""


class StoreFullError(StoreError):  # noqa: N818
    """The disk (or the database's page quota) is full; the transaction was rolled back."""


class StoreCorruptError(StoreError):  # noqa: N818
    """The database file fails its integrity check."""
