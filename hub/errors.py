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


class DatabaseKeyError(StorageError):
    """The database key does not open the database file (a wrong key, or not a hub database);
    the file was left untouched."""


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


class RecordContradicted(InvalidRecord):
    """A cabin's record contradicts what the hub knows of the consultation (another cabin's,
    or dates outside the hub's own)."""


class RecordOfAnotherCabin(RecordContradicted):
    """A cabin's record of a consultation another cabin held."""


class RecordLimited(HubError):
    """A cabin sent more records, or more bytes of records, than its quota allows; or the hub
    is reading too many records at once. The cabin keeps the record and sends it again later."""

    def __init__(self, text: str, *, retry_after_s: float) -> None:
        super().__init__(text)
        self.retry_after_s = retry_after_s
