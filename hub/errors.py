"""Exception types of the hub.

Each error carries a message a person can act on (an operator reading the journal, the doctor's
console showing a refusal). None of them ever holds patient data or a secret.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error raised by the hub."""


class ConfigError(HubError):
    """The configuration file is missing, unreadable or holds a wrong value."""


class StorageError(HubError):
    """The database could not do what was asked."""


class CorruptRecord(StorageError):
    """A stored row no longer decodes as what the hub wrote (changed outside the hub)."""


class AccountError(HubError):
    """An account cannot be created or changed as asked (a duplicate name, a bad photo...)."""


class SigningKeyError(HubError):
    """The prescription signing key is missing, unreadable or too open."""


class InvalidPrescription(HubError):
    """A prescription's signature does not match its content, or its key is unknown."""


class InvalidRecord(HubError):
    """A cabin's consultation record (FHIR bundle) cannot be read, or contradicts its upload."""
