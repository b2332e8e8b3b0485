"""The encrypted store (SQLCipher) and its key."""

from kiosk.store.async_store import AsyncStore
from kiosk.store.key import DatabaseKey, create_key_file, load_key
from kiosk.store.store import OutboxItem, Store, StoredReading

__all__ = [
    "AsyncStore",
    "DatabaseKey",
    "OutboxItem",
    "Store",
    "StoredReading",
    "create_key_file",
    "load_key",
]
