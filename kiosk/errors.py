"""Exception types of the cabin core.

Each error carries a message a person can act on (an operator reading the journal, an agent
reading the assistant screen). None of them ever holds patient data.
"""

from __future__ import annotations


class KioskError(Exception):
    """Base of every error raised by the cabin core."""


class ConfigError(KioskError):
    """The configuration file is missing, unreadable or holds a wrong value."""


class IllegalTransition(KioskError):
    """A session transition that the state machine does not allow was requested."""


class StoreError(KioskError):
    """The encrypted store could not do what was asked."""


class WrongKeyError(StoreError):
    """The database key does not open the existing database file."""


class KeyUnavailableError(StoreError):
    """No usable database key was found (missing, unreadable or too open a key file)."""


class StoreFullError(StoreError):
    """The disk (or the database's page quota) is full; the transaction was rolled back."""


class StoreCorruptError(StoreError):
    """The database file fails its integrity check."""


class HubError(KioskError):
    """The hub could not be reached, refused the cabin, or sent what the cabin cannot use."""
