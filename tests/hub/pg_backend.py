"""The PostgreSQL backend in tests: fixed test data keys, and a storage opened on a database.

The conformance suite (`tests/hub/storage_conformance`) and `test_postgres_storage` open their
PostgreSQL storages here, on a database of a real server (`fleet.servers.postgres`) that the
test made for itself (`PostgresServer.create_database`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from fleet.servers import PostgresServer, postgres
from hub.postgres_storage import PostgresStorage
from hub.sealing import DataKeyring

INDEX_HEX = "1f" * 32
K1_HEX = "2e" * 32
K2_HEX = "3d" * 32
TEST_RING_TEXT = f"index {INDEX_HEX}\nk1 {K1_HEX}\n"
"""The test hub's data keys: the blind index key and one data key, ``k1``."""
ROTATED_RING_TEXT = f"index {INDEX_HEX}\nk2 {K2_HEX}\nk1 {K1_HEX}\n"
"""The same after a rotation: ``k2`` is current, ``k1`` still opens."""

_names = itertools.count(1)


def keyring_of(text: str = TEST_RING_TEXT) -> DataKeyring:
    return DataKeyring.parse(text, "tests")


async def open_postgres_storage(dsn: str, keyring: DataKeyring | None = None) -> PostgresStorage:
    """A `PostgresStorage` on the database at `dsn` (migrated on first open), with the test
    data keys; as many may be open on one database as there are replicas."""
    return await PostgresStorage.open(
        dsn, keyring or keyring_of(), min_connections=1, max_connections=4
    )


def fresh_database(server: PostgresServer, prefix: str = "hub") -> tuple[str, str]:
    """A new empty database on `server`: its name and DSN."""
    name = f"{prefix}_{next(_names)}"
    return name, server.create_database(name)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for a test module (import this fixture into it)."""
    with postgres() as server:
        yield server
