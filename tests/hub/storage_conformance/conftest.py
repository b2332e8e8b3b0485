"""The storage under test: the SQLCipher file, or a fresh database on a real PostgreSQL server.

Every test of this package takes the `storage` fixture, parametrized over both backends, and
runs its scenario with `Backend.run` (one storage, closed at the end) or opens more than one
with `Backend.opened` (two replicas on the same database).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.servers import PostgresServer, postgres
from hub.sqlite_storage import SqliteStorage
from hub.storage import Storage
from tests.hub.hub_key import TEST_KEY
from tests.hub.pg_backend import open_postgres_storage

_databases = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Backend:
    """One backend's database for one test: opened as many times as the test wants."""

    name: str
    open: Callable[[], Awaitable[Storage]]

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[Storage]:
        storage = await self.open()
        try:
            yield storage
        finally:
            await storage.close()

    def run(self, scenario: Callable[[Storage], Awaitable[None]]) -> None:
        """Run `scenario` on a storage of this backend, closed after it."""

        async def main() -> None:
            async with self.opened() as storage:
                await scenario(storage)

        asyncio.run(main())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with postgres() as server:
        yield server


def _sqlite(tmp_path: Path) -> Backend:
    path = tmp_path / "hub.db"

    async def open_sqlite() -> Storage:
        return await SqliteStorage.open(path, TEST_KEY)

    return Backend("sqlite", open_sqlite)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield _sqlite(tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"conformance_{next(_databases)}"
    dsn = server.create_database(name)

    async def open_postgresql() -> Storage:
        return await open_postgres_storage(dsn)

    try:
        yield Backend("postgresql", open_postgresql)
    finally:
        server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
