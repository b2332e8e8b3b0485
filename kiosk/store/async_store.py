"""The store on a thread of its own, awaited from the asyncio/Qt thread.

One worker thread owns the connection: calls run one after the other in the order they were
made, and the main thread never waits for a disk (a ``synchronous=FULL`` commit is an fsync).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from kiosk.store.key import DatabaseKey
from kiosk.store.store import Store

P = ParamSpec("P")
T = TypeVar("T")


class AsyncStore:
    def __init__(self, store: Store, executor: ThreadPoolExecutor) -> None:
        self._store = store
        self._executor = executor

    @classmethod
    async def open(
        cls, path: Path, key: DatabaseKey, *, max_size_bytes: int | None = None
    ) -> AsyncStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        loop = asyncio.get_running_loop()
        try:
            store = await loop.run_in_executor(
                executor, lambda: Store.open(path, key, max_size_bytes=max_size_bytes)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(store, executor)

    async def run(
        self, operation: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation(store, *args, **kwargs)`` on the store's thread, e.g.
        ``await astore.run(Store.add_reading, consultation_id, reading)``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: operation(self._store, *args, **kwargs)
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=True)
