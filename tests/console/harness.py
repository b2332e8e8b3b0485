"""What the console's browser tests share: the accounts, the running hub, waiting on the page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from playwright.sync_api import Page

from hub.accounts import create_doctor, provision_cabin
from tests.console.hub_thread import HubThread

T = TypeVar("T")
PATIENCE_S = 30.0
"""How long a test waits for what the page or the hub does in well under a second: only a real
failure (or a hang) runs into it, never a loaded machine."""
PATIENCE_MS = int(PATIENCE_S * 1000)


@dataclass(frozen=True, slots=True)
class DoctorAccount:
    username: str
    password: str
    display_name: str
    specialty: str
    registration_number: str | None = None


DOCTOR = DoctorAccount(
    username="dr.durand",
    password="correct horse battery staple",
    display_name="Dr Claire Durand",
    specialty="Médecine générale",
    registration_number="10101234567",
)
OTHER_DOCTOR = DoctorAccount(
    username="dr.martin",
    password="another long passphrase",
    display_name="Dr Paul Martin",
    specialty="Médecine générale",
)


class Hub:
    """The running hub as the tests see it: its URL, and its loop to run things on."""

    def __init__(self, thread: HubThread) -> None:
        assert thread.hub is not None
        self.thread = thread
        self.running = thread.hub
        self.url = thread.hub.url.rstrip("/")
        self._cabins = 0

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return self.thread.run(coroutine, timeout_s)

    def call(self, function: Callable[[], T]) -> T:
        """Call `function` on the hub's loop (aiortc and aiohttp objects live there)."""

        async def call() -> T:
            return function()

        return self.thread.run(call())

    def until(self, predicate: Callable[[], object], timeout_s: float = PATIENCE_S) -> None:
        """Wait until `predicate`, evaluated on the hub's loop, is true."""

        async def poll() -> None:
            async with asyncio.timeout(timeout_s):
                while not predicate():  # noqa: ASYNC110 - state owned by aiortc callbacks
                    await asyncio.sleep(0.05)

        self.thread.run(poll(), timeout_s + 5)

    def create_doctors(self) -> None:
        async def create() -> None:
            for doctor in (DOCTOR, OTHER_DOCTOR):
                await create_doctor(
                    self.running.storage,
                    username=doctor.username,
                    password=doctor.password,
                    display_name=doctor.display_name,
                    specialty=doctor.specialty,
                    registration_number=doctor.registration_number,
                    argon2_cost="test",
                )

        self.run(create())

    def provision_cabin(self, name: str) -> tuple[str, str]:
        """A new cabin: its id and its token."""
        self._cabins += 1
        cabin_id = f"cabine-test-{self._cabins}"
        token = self.run(provision_cabin(self.running.storage, cabin_id=cabin_id, name=name))
        return cabin_id, token


def wait_js(page: Page, expression: str, timeout_s: float = PATIENCE_S) -> Any:
    """Poll `expression` until truthy. The console's CSP forbids eval, which
    `page.wait_for_function` needs; `page.evaluate` goes through the debugger instead."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(100)


def sign_in(page: Page, hub: Hub, password: str = DOCTOR.password) -> None:
    """Open the console and submit the login form."""
    page.goto(hub.url + "/")
    page.fill("#login-username", DOCTOR.username)
    page.fill("#login-password", password)
    page.click("#login-submit")
