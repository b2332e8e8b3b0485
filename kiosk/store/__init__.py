"""The encrypted store (SQLCipher) and its key."""

from kiosk.store.async_store import AsyncStore
from kiosk.store.key import DatabaseKey, create_key_file, load_key
from kiosk.store.store import (
    ConsultationFile,
    OutboxItem,
    PrintJob,
    Store,
    StoredReading,
)

__all__ = [
    "AsyncStore",
    "ConsultationFile",
    "DatabaseKey",
    "OutboxItem",
    "PrintJob",
    "Store",
    "StoredReading",
    "create_key_file",
    "load_key",
]
