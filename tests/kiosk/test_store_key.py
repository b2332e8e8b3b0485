"""Where the database key comes from, and that it never shows (repr, messages, logs)."""

from __future__ import annotations

import logging
import os
import stat
from datetime import date
from pathlib import Path

import pytest

from kiosk.errors import KeyUnavailableError, WrongKeyError
from kiosk.patient import PatientIdentity
from kiosk.store import DatabaseKey, Store, create_key_file, load_key

ENV_NAME = "CABIN_DB_KEY"
CREDENTIAL = "cabin-db-key"
KEY_A = "0f" * 16 + "a1" * 16
KEY_B = "9e" * 32
KEY_C = "c3" * 8 + "5d" * 24


def write_key(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="ascii")
    path.chmod(mode)
    return path


def load(env: dict[str, str], key_file: Path) -> DatabaseKey:
    return load_key(env=env, env_name=ENV_NAME, credential=CREDENTIAL, key_file=key_file)


def test_key_from_the_environment_is_removed_from_it(tmp_path: Path) -> None:
    env = {ENV_NAME: KEY_A, "OTHER": "kept"}
    key = load(env, tmp_path / "db.key")
    assert key.hex() == KEY_A
    assert key.source == f"${ENV_NAME}"
    assert env == {"OTHER": "kept"}


def test_key_from_the_environment_accepts_upper_case_and_a_newline(tmp_path: Path) -> None:
    key = load({ENV_NAME: KEY_A.upper() + "\n"}, tmp_path / "db.key")
    assert key.hex() == KEY_A


def test_key_from_a_systemd_credential(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    write_key(credentials / CREDENTIAL, KEY_B + "\n", 0o400)
    write_key(tmp_path / "db.key", KEY_C)
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    key = load(env, tmp_path / "db.key")
    assert key.hex() == KEY_B
    assert key.source == str(credentials / CREDENTIAL)


def test_sources_in_order_environment_credential_file(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    write_key(credentials / CREDENTIAL, KEY_B)
    key_file = write_key(tmp_path / "db.key", KEY_C)
    env = {ENV_NAME: KEY_A, "CREDENTIALS_DIRECTORY": str(credentials)}
    assert load(env, key_file).hex() == KEY_A
    assert load(env, key_file).hex() == KEY_B  # the variable was used up
    (credentials / CREDENTIAL).unlink()
    assert load(env, key_file).hex() == KEY_C


def test_key_from_a_private_file(tmp_path: Path) -> None:
    key_file = write_key(tmp_path / "db.key", KEY_C + "\n")
    key = load({}, key_file)
    assert key.hex() == KEY_C
    assert key.source == str(key_file)
    key_file.chmod(0o400)
    assert load({}, key_file).hex() == KEY_C


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_others_can_touch_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = write_key(tmp_path / "db.key", KEY_C, mode)
    with pytest.raises(KeyUnavailableError) as caught:
        load({}, key_file)
    message = str(caught.value)
    assert f"chmod 600 {key_file}" in message
    assert f"{mode:04o}" in message
    assert KEY_C not in message


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_key_file_of_another_user_is_refused(tmp_path: Path) -> None:
    key_file = write_key(tmp_path / "db.key", KEY_C)
    os.chown(key_file, 65534, 65534)
    with pytest.raises(KeyUnavailableError, match="another user"):
        load({}, key_file)


@pytest.mark.parametrize(
    "text",
    [
        KEY_A[:-2],  # 31 bytes
        KEY_A + "00",  # 33 bytes
        KEY_A[:-1] + "g",  # not hexadecimal
        "x'" + KEY_A + "'",  # SQL-quoted
        "",
        KEY_A[:32] + " " + KEY_A[32:],
    ],
)
def test_a_malformed_key_is_refused_everywhere(tmp_path: Path, text: str) -> None:
    env = {ENV_NAME: text}
    with pytest.raises(KeyUnavailableError, match="64 hexadecimal characters") as caught:
        load(env, tmp_path / "db.key")
    assert env == {}
    if text:
        assert text not in str(caught.value)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    write_key(credentials / CREDENTIAL, text)
    with pytest.raises(KeyUnavailableError, match="64 hexadecimal characters"):
        load({"CREDENTIALS_DIRECTORY": str(credentials)}, tmp_path / "db.key")
    key_file = write_key(tmp_path / "db.key", text)
    with pytest.raises(KeyUnavailableError, match=str(key_file)):
        load({}, key_file)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_a_raw_key_must_be_32_bytes(length: int) -> None:
    with pytest.raises(KeyUnavailableError, match="32 bytes"):
        DatabaseKey(b"\x01" * length, "test")


def test_a_key_never_prints() -> None:
    key = DatabaseKey.from_hex(KEY_A, "$CABIN_DB_KEY")
    for shown in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        assert KEY_A not in shown.lower()
        assert "<hidden>" in shown
    generated = DatabaseKey.generate()
    assert generated.hex() not in repr(generated)
    assert len(generated.hex()) == 64
    assert generated.hex() != DatabaseKey.generate().hex()
    assert key.pragma() == f"PRAGMA key = \"x'{KEY_A}'\""


def test_a_missing_key_names_the_three_ways_to_give_one(tmp_path: Path) -> None:
    key_file = tmp_path / "db.key"
    credentials = tmp_path / "credentials"
    credentials.mkdir()  # present but without the credential
    with pytest.raises(KeyUnavailableError) as caught:
        load({"CREDENTIALS_DIRECTORY": str(credentials)}, key_file)
    message = str(caught.value)
    assert f"${ENV_NAME}" in message
    assert CREDENTIAL in message
    assert str(key_file) in message


def test_create_key_file_is_private_and_never_overwrites(tmp_path: Path) -> None:
    key_file = tmp_path / "secrets" / "db.key"
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        key = create_key_file(key_file)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text(encoding="ascii") == key.hex() + "\n"
    assert key.source == str(key_file)
    assert load({}, key_file).hex() == key.hex()
    with pytest.raises(FileExistsError):
        create_key_file(key_file)
    assert key_file.read_text(encoding="ascii") == key.hex() + "\n"


def test_the_key_never_reaches_a_log_line_or_the_terminal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    write_key(credentials / CREDENTIAL, KEY_B)
    env = {ENV_NAME: KEY_A, "CREDENTIALS_DIRECTORY": str(credentials)}
    key_file = tmp_path / "db.key"
    db = tmp_path / "cabin.db"

    key = load(env, key_file)
    store = Store.open(db, key, max_size_bytes=1024 * 1024)
    store.add_patient(PatientIdentity("Martin", "Jean", date(1960, 5, 4)))
    store.close()
    other = load(env, key_file)  # the credential this time: not the database's key
    with pytest.raises(WrongKeyError):
        Store.open(db, other)
    created = create_key_file(key_file)
    with pytest.raises(WrongKeyError):
        Store.open(db, load({}, key_file))
    with pytest.raises(KeyUnavailableError):
        load({ENV_NAME: KEY_A[:-2]}, key_file)

    assert {r.getMessage() for r in caplog.records} >= {
        "secret.found what=database key source=environment",
        "secret.found what=database key source=systemd-credential",
        "store.key created",
        "secret.found what=database key source=file",
    }
    out, err = capfd.readouterr()
    for secret in (KEY_A, KEY_B, created.hex(), KEY_A[:-2]):
        for record in caplog.records:
            text = record.getMessage() + (record.exc_text or "") + repr(record.args)
            assert secret not in text.lower(), record.name
        assert secret not in caplog.text.lower()
        assert secret not in (out + err).lower()
