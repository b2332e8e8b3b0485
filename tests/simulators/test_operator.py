"""`simulators.operator`, the scripted demo's operator, against a real hub: it signs in at the
fleet page in Chromium, finds the cabin online with its last self-test, and writes what it saw
(``fleet-page.png``, ``operator.json``) as the scripted demo's report reads it."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import wire
from hub.accounts import create_operator
from hub.app import CONSOLE_DIR
from simulators.doctor import CHROMIUM
from tests.hub.hub_rig import running_hub
from tests.hub.test_fleet import report, status

PASSWORD = "password-of-the-operator"


def test_the_demo_operator_finds_the_cabin_and_writes_what_it_saw(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"no Chromium at {CHROMIUM}")
    out = tmp_path / "out"
    secret = tmp_path / "operator.password"
    secret.write_text(PASSWORD + "\n")

    async def scenario() -> tuple[int, bytes]:
        async with running_hub(tmp_path, fleet={"check_s": 3600}) as rig:
            # the rig's stand-in console lacks the modules the page shares with the console
            for module in CONSOLE_DIR.glob("*.js"):
                shutil.copy(module, tmp_path / "console" / module.name)
            await create_operator(
                rig.hub.storage,
                username="operateur.demo",
                password=PASSWORD,
                display_name="Exploitation",
                argon2_cost="test",
            )
            cabin = await rig.cabin("cabin-1")
            await cabin.send(status("2.0.1"))
            selftest = report("r-1", failed=None)
            await cabin.send(selftest)
            await cabin.expect(wire.Ack)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "simulators.operator", "--hub", rig.url,
                "--username", "operateur.demo", "--password-file", str(secret),
                "--cabin", "cabin-1", "--out", str(out), "--selftest-wait", "20",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            async with asyncio.timeout(90):
                output, _ = await process.communicate()
            await cabin.close()
            return process.returncode or 0, output

    code, output = asyncio.run(scenario())
    assert code == 0, output.decode(errors="replace")
    seen = json.loads((out / "operator.json").read_text(encoding="utf-8"))
    assert seen["logged_in"] and seen["cabin_found"]
    assert seen["cabin_state"] == "online" and seen["version"] == "2.0.1"
    assert seen["has_selftest"] and seen["selftest"].startswith("Réussi")
    assert seen["cabins"] == 2  # the rig's two cabins
    assert "Europe/Paris" in seen["detail"]
    assert (out / "fleet-page.png").stat().st_size > 10_000
    assert seen["screenshots"] == ["fleet-page.png", "fleet-page-detail.png"]
