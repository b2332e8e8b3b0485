"""`python -m hub`: accounts made on the command line work on the running hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp

import wire
from hub.app import start_hub
from hub.config import load_hub_config
from tests.hub.hub_key import TEST_KEY, key_env
from tests.hub.hub_rig import Peer, new_id, run

ROOT = Path(__file__).resolve().parents[2]


def _hub(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "hub.toml"
    config.write_text('argon2_cost = "test"\n')
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            *args,
            "--config",
            str(config),
            "--data",
            str(tmp_path / "data"),
        ],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=key_env(),
        timeout=60,
        check=False,
    )


def test_help_names_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    commands = ["serve", "create-doctor", "set-details", "set-photo", "provision-cabin"]
    for command in [*commands, "list-doctors", "clear-alerts"]:
        assert command in result.stdout


def test_create_doctor_and_provision_cabin_round_trip(tmp_path: Path) -> None:
    created = _hub(
        tmp_path,
        "create-doctor",
        "dr.cli",
        "--name",
        "Dr Line Commande",
        "--specialty",
        "Médecine générale",
        "--rpps",
        "10101010103",
        "--address",
        "Cabinet médical\\n12 rue des Lacs\\n15100 Saint-Flour",
        "--phone",
        "04 71 60 12 34",
        "--email",
        "dr.cli@cabinet.example",
        "--photo",
        str(ROOT / "hub" / "demo" / "doctor.png"),
        "--password-stdin",
        stdin="a-password-from-stdin\n",
    )
    assert created.returncode == 0, created.stderr
    assert "a-password-from-stdin" not in created.stdout + created.stderr

    again = _hub(
        tmp_path,
        "create-doctor",
        "dr.cli",
        "--name",
        "X",
        "--specialty",
        "Y",
        "--password-stdin",
        stdin="a-password-from-stdin\n",
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr

    provisioned = _hub(tmp_path, "provision-cabin", "cabin-cli", "--name", "Cabine de la mairie")
    assert provisioned.returncode == 0, provisioned.stderr
    token = provisioned.stdout.strip()
    assert len(token) >= 43 and "\n" not in token

    listed = _hub(tmp_path, "list-doctors")
    assert listed.returncode == 0
    assert listed.stdout.rstrip("\n").split("\t") == [
        "dr.cli",
        "Dr Line Commande",
        "Médecine générale",
        "10101010103",
        "photo",
        "-",
        "Cabinet médical, 12 rue des Lacs, 15100 Saint-Flour",
        "04 71 60 12 34",
        "dr.cli@cabinet.example",
    ]

    # set-details changes what it is given, and only that
    changed = _hub(tmp_path, "set-details", "dr.cli", "--rpps", "10003841722", "--email", "")
    assert changed.returncode == 0, changed.stderr
    listed = _hub(tmp_path, "list-doctors")
    assert listed.stdout.rstrip("\n").split("\t")[3:] == [
        "10003841722",
        "photo",
        "-",
        "Cabinet médical, 12 rue des Lacs, 15100 Saint-Flour",
        "04 71 60 12 34",
        "-",
    ]
    nothing = _hub(tmp_path, "set-details", "dr.cli")
    assert nothing.returncode == 1
    assert "--rpps" in nothing.stderr
    wrong = _hub(tmp_path, "set-details", "dr.cli", "--phone", "call me maybe")
    assert wrong.returncode == 1
    assert "phone" in wrong.stderr
    unknown = _hub(tmp_path, "set-details", "dr.nobody", "--phone", "04 71 60 12 34")
    assert unknown.returncode == 1
    assert "no doctor" in unknown.stderr

    async def scenario() -> None:
        config = load_hub_config(
            tmp_path / "hub.toml", data_dir=tmp_path / "data", overrides={"port": 0}
        )
        hub = await start_hub(config, key=TEST_KEY)
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                login = await http.post(
                    f"{hub.url}/api/login",
                    json={"username": "dr.cli", "password": "a-password-from-stdin"},
                    headers={"Origin": hub.url},
                )
                assert login.status == 200
                ws = await http.ws_connect(f"{hub.url}/ws/cabin")
                cabin = Peer(ws, wire.HubToCabin)
                await cabin.send(
                    wire.CabinHello(
                        msg_id=new_id(), cabin_id="cabin-cli", token=token, software_version="1.0.0"
                    )
                )
                assert isinstance(await cabin.receive(), wire.Welcome)
                await ws.close()
        finally:
            await hub.stop()

    run(scenario())


def test_a_short_password_is_refused(tmp_path: Path) -> None:
    result = _hub(
        tmp_path,
        "create-doctor",
        "dr.short",
        "--name",
        "Dr S",
        "--specialty",
        "MG",
        "--password-stdin",
        stdin="short\n",
    )
    assert result.returncode == 1
    assert "password" in result.stderr
