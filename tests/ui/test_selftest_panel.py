"""The assistant mode's self-test, by taps: the PIN, the section, the button, the report with
failures first; refused while a patient is in the cabin. Screenshots in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel

import wire
from demo.root import start_core
from kiosk.config import load_config
from kiosk.selftest import SelfTestRefused
from kiosk.session_states import Overlay, SessionState
from kiosk.store import DatabaseKey, Store
from tests.kiosk.test_session import FakeClock
from tests.ui.conftest import Runner
from tests.ui.test_journey import Finger
from ui.kiosk_window import KioskWindow, LanguageSwitcher

KEY = DatabaseKey.generate()
SECTION_S = 90.0


def test_the_agent_runs_the_self_test_and_reads_it_failures_first(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        core = await start_core(
            load_config(None), tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, clock=FakeClock()
        )
        languages = LanguageSwitcher(qapp)
        window = KioskWindow(core, languages)
        window.resize(1080, 1920)
        window.show()
        f = Finger(window, core, screens_dir)
        try:
            # The run at start (the demo cabin has no hub credential here: the hub fails).
            await f.until(
                lambda: (
                    core.upkeep is not None
                    and core.upkeep.selftest is not None
                    and core.upkeep.selftest.last is not None
                ),
                "the self-test at start",
                SECTION_S,
            )
            assert core.upkeep is not None and core.upkeep.selftest is not None
            selftest = core.upkeep.selftest
            at_start = selftest.last
            assert at_start is not None and at_start.trigger is wire.SelfTestTrigger.START
            for language in ("en", "fr"):
                languages.set(language)
                await f.tap("agent")
                await f.keys("2468")
                await f.tap("primary")
                await f.until(lambda: core.session.overlay is Overlay.ASSISTANT, "the mode")
                await f.tap("tab_selftest")
                await f.until(lambda: f._shown("selftest_failed", QLabel), "the last report")
                await f.tap("run_selftest")
                await f.until(
                    lambda: (
                        selftest.last is not None
                        and selftest.last.trigger is wire.SelfTestTrigger.AGENT
                        and f._shown("selftest_passed", QLabel)
                    ),
                    "the agent's report shown",
                    SECTION_S,
                )
                page = window.page
                assert page is not None
                lines = [
                    w.objectName()
                    for w in page.findChildren(QLabel)
                    if w.isVisible() and w.objectName().startswith("selftest_")
                ]
                outcomes = [n.removeprefix("selftest_") for n in lines if n != "selftest_summary"]
                assert outcomes[0] == "failed"  # failures first
                order = {"failed": 0, "warning": 1, "skipped": 2, "passed": 3}
                assert [order[o] for o in outcomes] == sorted(order[o] for o in outcomes)
                shown = " ".join(w.text() for w in page.findChildren(QLabel) if w.isVisible())
                if language == "fr":
                    assert "ÉCHEC" in shown and "Haut-parleur" in shown
                else:
                    assert "FAILED" in shown and "Speaker" in shown
                f.shot(f"selftest-{language}")
                await f.tap("leave")
                await f.until(lambda: core.session.overlay is Overlay.NONE, "the mode closed")
            stored = await core.store.run(Store.count, "selftest_reports")
            assert stored == 3  # at start, and the agent's two
            # A patient comes in: an agent's request is refused, nothing runs.
            await f.tap("primary")
            assert core.session.state is SessionState.WELCOME
            with pytest.raises(SelfTestRefused, match="patient"):
                await selftest.request()
            assert await core.store.run(Store.count, "selftest_reports") == 3
        finally:
            window.close()
            await window.intents.drain()
            await core.aclose()
            languages.set("en")

    run(scenario())
