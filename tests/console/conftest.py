"""Fixtures of the console's browser tests: the real hub in a thread, two doctors, one headless
Chromium launched as shared/STACK.md says, and where the screenshots go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from simulators import doctor
from tests.console.harness import PATIENCE_MS, Hub
from tests.console.hub_thread import HubThread

CHROMIUM = Path(doctor.CHROMIUM)
CHROMIUM_ARGS = list(doctor.CHROMIUM_ARGS)  # as shared/STACK.md says, one list for every test

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

# Playwright's assertions wait 5 s by default: a loaded machine must not run into that.
expect.set_options(timeout=PATIENCE_MS)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    thread = HubThread()
    try:
        thread.start_hub(tmp_path_factory.mktemp("hub-data"))
        running = Hub(thread)
        running.create_doctors()
        yield running
    finally:
        thread.close()


# Per module, not per session: Playwright's sync API runs an event loop on the main thread for as
# long as it is open, and every later test's asyncio.run() would find it running.
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
            locale="fr-FR",
            timezone_id="Europe/Paris",
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A fresh tab, signed out; a script error in the page fails the test."""
    browser.clear_cookies()
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert errors == [], errors


@pytest.fixture(scope="session")
def screens_dir() -> Path:
    """Where the screenshots are left to be looked at (git-ignored)."""
    path = Path(__file__).resolve().parents[2] / "test-out" / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path
