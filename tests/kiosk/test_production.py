"""A real cabin refuses the demo's settings and a missing database key, naming each
(``kiosk.production``); ``python -m kiosk check-config`` and ``python -m ui run`` say so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import argon2
import pytest

from hub.accounts import DEMO_TOKEN_PREFIX, provision_cabin
from hub.demo import seed_demo
from hub.sqlite_storage import SqliteStorage
from kiosk.demo_settings import DEMO_HUB_TOKEN_PREFIX, DEMO_PIN
from kiosk.production import Problem, check_file
from kiosk.store import DatabaseKey
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import run

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "deploy" / "cabin.example.toml"
KEY = DatabaseKey.generate()
OWN_PIN_HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("913570")
DEMO_PIN_REHASHED = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(DEMO_PIN)

# A real cabin's configuration that passes: every demo default overridden.
GOOD = f"""
[cabin]
id = "mairie-murat"
name = "Cabine de Murat"

[store]
path = "/var/lib/cabin/cabin.db"
key_file = "/etc/cabin/db.key"

[assistant]
pin_hash = "{OWN_PIN_HASH}"

[hub]
url = "https://hub.cabines-cantal.fr"
credential_file = "/etc/cabin/hub.token"

[call]
camera = "/dev/video0"
microphone = "default"
speaker = "default"
loopback_only = false

[printer]
kind = "cups"
queue = "cabin"

[distress]
panic_button = "/dev/serial/by-id/usb-FTDI_panic-if00-port0"

[[instruments]]
id = "bp-1"
kind = "blood_pressure"
transport = "ble"
address = "UA-651BLE"
"""


def _with(text: str, table: str, key: str, value: str) -> str:
    """``GOOD`` with ``table.key = value`` (the key replaced, or added to its table)."""
    lines = text.splitlines()
    start = lines.index(f"[[{table}]]" if table == "instruments" else f"[{table}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start + 1, end):
        if lines[i].split("=")[0].strip() == key:
            lines[i] = f"{key} = {value}"
            break
    else:
        lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _without(text: str, table: str, key: str) -> str:
    return "\n".join(
        line
        for line in text.splitlines()
        if not (line.split("=")[0].strip() == key and _table_of(text, line) == table)
    )


def _table_of(text: str, wanted: str) -> str:
    table = ""
    for line in text.splitlines():
        if line.startswith("["):
            table = line.strip("[]")
        if line == wanted:
            return table
    return ""


def check(
    tmp_path: Path,
    text: str,
    env: dict[str, str] | None = None,
    *,
    stores: tuple[Path, ...] = (),
    data_dir: Path | None = None,
) -> list[Problem]:
    path = tmp_path / "cabin.toml"
    path.write_text(text, encoding="utf-8")
    environment = {"CABIN_DB_KEY": KEY.hex()} if env is None else env
    _config, found = check_file(
        path, data_dir or tmp_path / "data", environment, credential_stores=stores
    )
    return found


def keys(found: list[Problem]) -> list[str]:
    return [p.key for p in found]


def test_a_real_cabins_configuration_passes(tmp_path: Path) -> None:
    assert check(tmp_path, GOOD) == []


def test_an_empty_pin_hash_keeps_the_mode_closed_and_passes(tmp_path: Path) -> None:
    assert check(tmp_path, _with(GOOD, "assistant", "pin_hash", '""')) == []


@pytest.mark.parametrize(
    ("table", "key", "value", "refused"),
    [
        ("cabin", "id", '"demo-cabin"', "cabin.id"),
        ("assistant", "pin_hash", f'"{DEMO_PIN_REHASHED}"', "assistant.pin_hash"),
        ("distress", "panic_button", '"simulated"', "distress.panic_button"),
        ("call", "camera", '"synthetic"', "call.camera"),
        ("call", "camera", '"scene:fall"', "call.camera"),
        ("call", "microphone", '"synthetic"', "call.microphone"),
        ("call", "microphone", '"sound:help"', "call.microphone"),
        ("call", "speaker", '"null"', "call.speaker"),
        ("call", "loopback_only", "true", "call.loopback_only"),
        ("printer", "kind", '"pdf-folder"', "printer.kind"),
        ("hub", "url", '"http://hub.cabines-cantal.fr"', "hub.url"),
        ("hub", "url", '"https://127.0.0.1:8765"', "hub.url"),
        ("hub", "url", '"wss://localhost"', "hub.url"),
        ("hub", "url", '"https://[::1]:8443"', "hub.url"),
        ("hub", "url", '"https://hub.example.invalid"', "hub.url"),
        ("hub", "url", '"https://hub.example.com"', "hub.url"),
        ("hub", "credential_file", '"hub.token"', "hub.credential_file"),
        ("instruments", "address", '"simulated"', "instruments[0].address"),
    ],
)
def test_each_demo_setting_is_refused_and_named(
    tmp_path: Path, table: str, key: str, value: str, refused: str
) -> None:
    found = check(tmp_path, _with(GOOD, table, key, value))
    assert keys(found) == [refused]
    assert not found[0].from_defaults  # the file set it
    line = found[0].describe("/etc/cabin/cabin.toml")
    assert line.startswith(f"/etc/cabin/cabin.toml: {refused}: ")


def test_the_embedded_demo_pin_is_refused_when_the_file_leaves_it_out(tmp_path: Path) -> None:
    found = check(tmp_path, _without(GOOD, "assistant", "pin_hash"))
    assert keys(found) == ["assistant.pin_hash"]
    assert found[0].from_defaults
    assert "the demo PIN (2468)" in found[0].describe("cabin.toml")
    assert "embedded demo default" in found[0].describe("cabin.toml")


def test_a_credential_file_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    text = _with(GOOD, "hub", "credential_file", f'"{data / "hub.token"}"')
    assert keys(check(tmp_path, text, data_dir=data)) == ["hub.credential_file"]


@pytest.fixture
def demo_token(tmp_path: Path) -> str:
    """A token the demo hub really issued."""

    async def seeded() -> str:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            accounts = await seed_demo(storage, argon2_cost="test")
        finally:
            await storage.close()
        return accounts.cabin_token

    token: str = run(seeded())
    return token


def test_the_demo_hub_issues_recognisable_tokens_and_no_other_hub_does(tmp_path: Path) -> None:
    assert DEMO_TOKEN_PREFIX == DEMO_HUB_TOKEN_PREFIX

    async def tokens() -> tuple[str, list[str]]:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            demo = (await seed_demo(storage, argon2_cost="test")).cabin_token
            real = [await provision_cabin(storage, cabin_id="c", name="C") for _ in range(50)]
            return demo, real
        finally:
            await storage.close()

    demo, real = run(tokens())
    assert demo.startswith(DEMO_HUB_TOKEN_PREFIX)
    assert not any(token.startswith(DEMO_HUB_TOKEN_PREFIX) for token in real)


def test_the_demo_hub_token_is_refused_wherever_the_cabin_would_take_it(
    tmp_path: Path, demo_token: str
) -> None:
    # In the environment.
    env = {"CABIN_DB_KEY": KEY.hex(), "CABIN_HUB_TOKEN": demo_token}
    found = check(tmp_path, GOOD, env)
    assert keys(found) == ["hub.credential_env"]
    assert demo_token not in found[0].describe("x")  # named, never shown
    # In the systemd credential.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "cabin-hub-token").write_text(demo_token + "\n", encoding="ascii")
    env = {"CABIN_DB_KEY": KEY.hex(), "CREDENTIALS_DIRECTORY": str(credentials)}
    assert keys(check(tmp_path, GOOD, env)) == ["hub.credential"]
    # In the credential file.
    token_file = tmp_path / "etc" / "hub.token"
    token_file.parent.mkdir()
    token_file.write_text(demo_token, encoding="ascii")
    text = _with(GOOD, "hub", "credential_file", f'"{token_file}"')
    assert keys(check(tmp_path, text)) == ["hub.credential_file"]
    # A token of the fleet's hub passes.
    token_file.write_text("x" * 43, encoding="ascii")
    assert check(tmp_path, text) == []


def test_no_database_key_is_refused(tmp_path: Path) -> None:
    found = check(tmp_path, GOOD, env={})
    assert keys(found) == ["store.key_file"]
    assert "no database key" in found[0].message
    assert "never makes one" in found[0].message


def test_the_database_key_from_each_source_passes(tmp_path: Path) -> None:
    key_file = tmp_path / "etc" / "db.key"
    key_file.parent.mkdir()
    text = _with(GOOD, "store", "key_file", f'"{key_file}"')
    # A systemd credential, inside the service...
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "cabin-db-key").write_text(KEY.hex(), encoding="ascii")
    assert check(tmp_path, text, {"CREDENTIALS_DIRECTORY": str(credentials)}) == []
    # ...or in the credential store, for check-config from a shell.
    assert check(tmp_path, text, {}, stores=(credentials,)) == []
    # A key file, readable by its owner only.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, KEY.hex().encode())
    os.close(fd)
    assert check(tmp_path, text, {}) == []
    key_file.chmod(0o644)
    found = check(tmp_path, text, {})
    assert keys(found) == ["store.key_file"]
    assert "mode 0644" in found[0].message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """A file that sets little gets the demo's defaults: each is named, none hides another."""
    text = '[cabin]\nid = "mairie-murat"\nname = "Murat"\n\n[call]\nspeaker = "null"\n'
    found = check(tmp_path, text, env={})
    assert keys(found) == [
        "assistant.pin_hash",
        "instruments[0].address",
        "instruments[1].address",
        "instruments[2].address",
        "distress.panic_button",
        "call.camera",
        "call.microphone",
        "call.speaker",
        "call.loopback_only",
        "printer.kind",
        "hub.url",
        "hub.url",
        "hub.credential_file",
        "store.key_file",
    ]
    set_by_file = {p.key for p in found if not p.from_defaults}
    assert set_by_file == {"call.speaker"}


def test_the_example_configuration_passes_once_its_placeholders_are_filled(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    # As shipped: only the placeholders (the hub's URL, the key that is not on this machine).
    assert keys(check(tmp_path, text, env={})) == ["hub.url", "store.key_file"]
    filled = text.replace("https://hub.example.invalid", "https://hub.cabines-cantal.fr")
    assert check(tmp_path, filled) == []


def kiosk_tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("CABIN_DB_KEY",)}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_says_ok_names_each_problem_or_the_configuration_error(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    passed = kiosk_tool("check-config", str(good), env={"CABIN_DB_KEY": KEY.hex()})
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.strip() == "configuration OK"

    demoish = tmp_path / "demo-ish.toml"
    demoish.write_text('[cabin]\nid = "mairie-murat"\nname = "Murat"\n', encoding="utf-8")
    refused = kiosk_tool("check-config", str(demoish), "--credstore", str(tmp_path))
    assert refused.returncode == 1
    lines = refused.stdout.splitlines()
    assert len(lines) == 14
    assert all(line.startswith(f"{demoish}: ") for line in lines)
    for key in ("assistant.pin_hash", "instruments[2].address", "call.camera", "store.key_file"):
        assert any(f": {key} (not set in the file" in line for line in lines), key

    for text, expected in (
        ("[cabin\n", "this is not valid TOML"),
        ('[cabin]\nid = "mairie-murat"\nname = "M"\ncolour = "blue"\n', "unknown field `colour`"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text, encoding="utf-8")
        invalid = kiosk_tool("check-config", str(bad))
        assert invalid.returncode == 2
        assert expected in invalid.stderr
        assert "Traceback" not in invalid.stderr
    missing = kiosk_tool("check-config", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_set_pin_still_answers_at_its_place() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kiosk.assistant", "set-pin", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "set-pin" in result.stdout


RUN_CABIN = """
import atexit, sys
atexit.register(lambda: print("qt-loaded", "PySide6" in sys.modules, flush=True))
from ui.main import main
main(sys.argv[1:])
"""


def test_a_real_cabin_on_a_demo_ish_configuration_refuses_to_start_fast(tmp_path: Path) -> None:
    demoish = tmp_path / "demo-ish.toml"
    demoish.write_text('[cabin]\nid = "mairie-murat"\nname = "Murat"\n', encoding="utf-8")
    environment = {
        k: v for k, v in os.environ.items() if k not in ("CABIN_DB_KEY", "CREDENTIALS_DIRECTORY")
    }
    data = str(tmp_path / "data")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", RUN_CABIN, "run", "--config", str(demoish), "--data", data],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    print(f"refused in {time.monotonic() - started:.2f} s")
    assert result.returncode == 2
    assert result.stdout.strip() == "qt-loaded False"  # no window, no Qt at all
    refusals = [line for line in result.stderr.splitlines() if "cabin.production_refused" in line]
    assert len(refusals) == 14
    for key in ("assistant.pin_hash", "distress.panic_button", "call.microphone", "store.key_file"):
        assert any(f"{demoish}: {key}" in line for line in refusals), key
    assert not (tmp_path / "data").exists()  # nothing started, no key made
