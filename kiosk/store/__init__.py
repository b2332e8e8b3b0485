"""The encrypted store (SQLCipher) and its key."""

from kiosk.store.async_store import AsyncStore
from kiosk.store.key import DatabaseKey, create_key_file, load_key
from kiosk.store.store import (
    ConsultationAppointment,
    ConsultationFile,
    OutboxItem,
    PrintJob,
    Store,
    StoredReading,
    SyncedAppointment,
)

__all__ = [
    "AsyncStore",
    "ConsultationAppointment",
    "ConsultationFile",
    "DatabaseKey",
    "OutboxItem",
    "PrintJob",
    "Store",
    "StoredReading",
    "SyncedAppointment",
    "create_key_file",
    "load_key",
]
