"""`/healthz` says the process serves; `/readyz` says whether it may take new sockets (its
database and shared store answer). Both open to anyone, plain, and out of the access log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.hub.hub_rig import run, running_hub


def test_alive_and_ready_then_not_ready_when_the_database_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            http = rig.client()
            with caplog.at_level(logging.INFO):
                for _ in range(3):
                    async with http.get(f"{rig.url}/healthz") as alive:
                        assert (alive.status, await alive.text()) == (200, "alive\n")
                    async with http.get(f"{rig.url}/readyz") as ready:
                        assert (ready.status, await ready.text()) == (200, "ready\n")
                # the database closed (as a PostgreSQL that went away would fail its check)
                await rig.hub.storage.close()
                async with http.get(f"{rig.url}/readyz") as ready:
                    assert ready.status == 503
                    assert await ready.text() == "storage unreachable\n"
                    assert ready.content_type == "text/plain"
                async with http.get(f"{rig.url}/healthz") as alive:
                    assert alive.status == 200  # alive: not restarted for a database's fault
                async with http.get(f"{rig.url}/readyz") as ready:
                    assert ready.status == 503
            access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
            assert not [line for line in access if "healthz" in line or "readyz" in line]
            changes = [r.getMessage() for r in caplog.records if r.name == "hub.health"]
            assert changes == ["hub.not_ready reason=storage_unreachable"]  # once, not per check

    run(scenario())


def test_health_needs_no_session_and_keeps_the_security_headers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig, rig.client().get(f"{rig.url}/readyz") as ready:
            assert ready.status == 200
            assert ready.headers["X-Content-Type-Options"] == "nosniff"
            assert "Set-Cookie" not in ready.headers

    run(scenario())
