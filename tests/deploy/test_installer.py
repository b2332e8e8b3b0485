"""deploy/install-cabin and deploy/uninstall-cabin, run for real on a Debian root in a folder
(--root): every file they write, idempotence, the credentials, and the way back."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import (
    DEPLOY,
    FIXTURES,
    INSTALLER,
    UNINSTALLER,
    install,
    needs,
    run,
    uninstall,
)

SCRIPTS = [INSTALLER, UNINSTALLER, DEPLOY / "cabin" / "cabin-session"]


def manifest() -> list[tuple[str, str, str]]:
    rows = []
    for line in (DEPLOY / "cabin" / "files.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            source, dest, mode = line.split()
            rows.append((source, dest, mode))
    return rows


def decrypt(root: Path, name: str) -> str:
    """A credential of the root, decrypted with the root's own host key."""
    env = dict(
        os.environ, SYSTEMD_CREDENTIAL_SECRET=str(root / "var/lib/systemd/credential.secret")
    )
    done = subprocess.run(
        [
            "systemd-creds",
            "decrypt",
            f"--name={name}",
            str(root / "etc/credstore.encrypted" / name),
            "-",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_pass_shellcheck(script: Path) -> None:
    needs("bash", "shellcheck")
    assert os.access(script, os.X_OK), f"{script} is not executable"
    shell = "sh" if script.name == "cabin-session" else "bash"
    assert run([shell, "-n", script]).status == 0
    checked = run(["shellcheck", "--severity=style", script])
    assert checked.status == 0, checked.output


def test_a_fresh_install_writes_every_file_and_a_second_run_changes_nothing(
    debian_root: Path,
) -> None:
    first = install(debian_root)
    assert first.status == 0, first.output
    for source, dest, mode in manifest():
        target = debian_root / dest.lstrip("/")
        assert target.read_bytes() == (DEPLOY / source).read_bytes(), dest
        assert oct(target.stat().st_mode & 0o777) == oct(int(mode, 8)), dest
    etc = debian_root / "etc"
    # the user: a system user, no login shell, home /var/lib/cabin, in no other group
    entry = next(
        line for line in (etc / "passwd").read_text().splitlines() if line.startswith("cabin:")
    )
    _name, _pw, uid, _gid, _gecos, home, shell = entry.split(":")
    assert int(uid) < 1000
    assert (home, shell) == ("/var/lib/cabin", "/usr/sbin/nologin")
    members = [line for line in (etc / "group").read_text().splitlines() if "cabin" in line]
    assert members == [next(m for m in members if m.startswith("cabin:"))]
    # the software: the checkout's tracked files, nothing of .venv, .cache or .git
    opt = debian_root / "opt/cabin"
    assert (opt / "deploy/cabin/cabin-session").exists()
    assert (opt / "uv.lock").read_bytes() == (DEPLOY.parent / "uv.lock").read_bytes()
    assert not any((opt / name).exists() for name in (".venv", ".cache", ".git"))
    # the configuration: the example, and what still needs filling
    assert (etc / "cabin/cabin.toml").read_bytes() == (DEPLOY / "cabin.example.toml").read_bytes()
    assert "fill /etc/cabin/cabin.toml" in first.output
    assert "no hub token yet" in first.output
    # units enabled and masked through systemctl --root
    system = etc / "systemd/system"
    assert (system / "graphical.target.wants/cabin.service").is_symlink()
    for masked in ("getty@tty1.service", "ctrl-alt-del.target"):
        assert os.readlink(system / masked) == "/dev/null"

    second = install(debian_root)
    assert second.status == 0, second.output
    assert "changed:" not in second.output
    assert "nothing to do: this cabin is already installed" in second.output


def test_the_database_key_is_made_once_encrypted_and_never_again(debian_root: Path) -> None:
    assert install(debian_root).status == 0
    credential = debian_root / "etc/credstore.encrypted/cabin-db-key"
    assert oct(credential.stat().st_mode & 0o777) == "0o600"
    key = decrypt(debian_root, "cabin-db-key").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key not in credential.read_text()  # encrypted, not merely stored
    backup = debian_root / "root/cabin-db-key.backup"
    assert backup.read_text().strip() == key
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    dropin = debian_root / "etc/systemd/system/cabin.service.d/50-credentials.conf"
    assert (
        "LoadCredentialEncrypted=cabin-db-key:/etc/credstore.encrypted/cabin-db-key"
        in dropin.read_text()
    )
    ciphertext = credential.read_bytes()
    assert install(debian_root).status == 0
    assert credential.read_bytes() == ciphertext


def test_where_systemd_creds_cannot_encrypt_the_key_is_a_private_plain_credential(
    debian_root: Path, tmp_path: Path
) -> None:
    """The fallback (LoadCredential= from /etc/credstore, 0600), with a systemd-creds that
    refuses to encrypt as one does where it has neither a TPM2 nor a usable host key."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    failing = bin_dir / "systemd-creds"
    failing.write_text("#!/bin/sh\necho 'Failed to determine local credential key' >&2\nexit 1\n")
    failing.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    done = install(debian_root, env=env)
    assert done.status == 0, done.output
    plain = debian_root / "etc/credstore/cabin-db-key"
    assert re.fullmatch(r"[0-9a-f]{64}\n", plain.read_text())
    assert oct(plain.stat().st_mode & 0o777) == "0o600"
    assert oct(plain.parent.stat().st_mode & 0o777) == "0o700"
    assert not (debian_root / "etc/credstore.encrypted/cabin-db-key").exists()
    dropin = debian_root / "etc/systemd/system/cabin.service.d/50-credentials.conf"
    assert "LoadCredential=cabin-db-key:/etc/credstore/cabin-db-key" in dropin.read_text()
    assert "systemd-creds could not encrypt on this machine" in done.output
    # and it is kept as it is on the next run
    assert "nothing to do" in install(debian_root, env=env).output


def test_a_database_without_its_key_is_never_given_a_new_one(
    debian_root: Path, tmp_path: Path
) -> None:
    state = debian_root / "var/lib/cabin"
    state.mkdir(parents=True)
    (state / "cabin.db").write_bytes(b"SQLCipher pages")
    refused = install(debian_root)
    assert refused.status != 0
    assert "give the key it was made with (--db-key-file FILE)" in refused.output
    assert not (debian_root / "etc/credstore.encrypted/cabin-db-key").exists()

    key = secrets.token_hex(32)
    key_file = tmp_path / "db.key"
    key_file.write_text(key + "\n")
    assert install(debian_root, "--db-key-file", key_file).status == 0
    assert decrypt(debian_root, "cabin-db-key").strip() == key
    assert not (debian_root / "root/cabin-db-key.backup").exists()
    # the same key again is fine; another one is refused
    assert install(debian_root, "--db-key-file", key_file).status == 0
    key_file.write_text(secrets.token_hex(32))
    other = install(debian_root, "--db-key-file", key_file)
    assert other.status != 0
    assert "never replaces a key" in other.output


def test_the_hub_token_is_a_credential_replaced_only_by_another_token(
    debian_root: Path, tmp_path: Path
) -> None:
    token_file = tmp_path / "hub.token"
    token_file.write_text("first-token-0123456789\n")
    assert install(debian_root, "--hub-token-file", token_file).status == 0
    assert decrypt(debian_root, "cabin-hub-token").strip() == "first-token-0123456789"
    dropin = debian_root / "etc/systemd/system/cabin.service.d/50-credentials.conf"
    assert (
        "LoadCredentialEncrypted=cabin-hub-token:/etc/credstore.encrypted/cabin-hub-token"
        in dropin.read_text()
    )
    again = install(debian_root, "--hub-token-file", token_file)
    assert "nothing to do" in again.output
    token_file.write_text("second-token-9876543210\n")
    rotated = install(debian_root, "--hub-token-file", token_file)
    assert "changed: /etc/credstore.encrypted/cabin-hub-token" in rotated.output
    assert decrypt(debian_root, "cabin-hub-token").strip() == "second-token-9876543210"
    token_file.write_text("\n")
    assert install(debian_root, "--hub-token-file", token_file).status != 0


def test_an_existing_configuration_is_never_overwritten(debian_root: Path) -> None:
    config = debian_root / "etc/cabin/cabin.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[cabin]\nid = "murat"\n')
    assert install(debian_root).status == 0
    assert config.read_text() == '[cabin]\nid = "murat"\n'


def test_bluez_keys_are_set_in_debians_main_conf_and_the_original_comes_back(
    debian_root: Path,
) -> None:
    main_conf = debian_root / "etc/bluetooth/main.conf"
    original = main_conf.read_bytes()
    assert install(debian_root).status == 0
    text = main_conf.read_text()
    sections: dict[str, dict[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.lstrip().startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            assert key not in sections.setdefault(section, {}), f"{key} twice in [{section}]"
            sections[section][key] = value
    assert sections["General"]["FastConnectable"] == "true"
    assert sections["General"]["JustWorksRepairing"] == "always"
    assert sections["Policy"]["AutoEnable"] == "true"
    assert sections["Policy"]["ReconnectAttempts"] == "7"
    assert sections["Policy"]["ReconnectIntervals"] == "1,2,4,8,16,32,64"
    # only those lines changed
    changed = [
        (a, b)
        for a, b in zip(original.decode().splitlines(), text.splitlines(), strict=True)
        if a != b
    ]
    assert len(changed) == 5
    assert uninstall(debian_root).status == 0
    assert main_conf.read_bytes() == original


def test_cups_gets_the_cabins_cupsd_conf_and_the_original_comes_back(debian_root: Path) -> None:
    cupsd = debian_root / "etc/cups/cupsd.conf"
    original = cupsd.read_bytes()
    assert install(debian_root).status == 0
    assert cupsd.read_bytes() == (DEPLOY / "cups/cupsd.conf").read_bytes()
    assert uninstall(debian_root).status == 0
    assert cupsd.read_bytes() == original


def test_headless_adds_its_drop_in_and_a_normal_run_takes_it_away(debian_root: Path) -> None:
    dropin = debian_root / "etc/systemd/system/cabin.service.d/60-headless.conf"
    assert install(debian_root, "--headless").status == 0
    assert "WLR_BACKENDS=headless" in dropin.read_text()
    again = install(debian_root, "--headless")
    assert again.status == 0, again.output
    assert "nothing to do" in again.output
    assert install(debian_root).status == 0
    assert not dropin.exists()


def test_uninstall_removes_everything_but_the_data_and_purge_that_too(debian_root: Path) -> None:
    before = {
        p.relative_to(debian_root)
        for p in debian_root.rglob("*")
        if p.is_file() and "usr" not in p.parts
    }
    assert install(debian_root).status == 0
    removed = uninstall(debian_root)
    assert removed.status == 0, removed.output
    for _source, dest, _mode in manifest():
        assert not (debian_root / dest.lstrip("/")).exists(), dest
    etc = debian_root / "etc"
    assert not (debian_root / "opt/cabin").exists()
    assert not (etc / "systemd/system/cabin.service.d").exists()
    assert not (etc / "systemd/system/graphical.target.wants/cabin.service").exists()
    assert not (etc / "systemd/system/getty@tty1.service").exists()
    assert "cabin:" not in (etc / "passwd").read_text()
    assert (etc / "credstore.encrypted/cabin-db-key").exists()
    assert (etc / "cabin/cabin.toml").exists()
    assert "kept /var/lib/cabin" in removed.output

    again = uninstall(debian_root)
    assert "nothing to do" in again.output

    assert uninstall(debian_root, "--purge").status == 0
    after = {
        p.relative_to(debian_root)
        for p in debian_root.rglob("*")
        if p.is_file() and "usr" not in p.parts
    }
    # what is left: the files the root had, the host key systemd-creds made for it, and the
    # account files' lock and backups useradd/userdel leave
    leftovers = {
        p
        for p in after - before
        if p.name not in {".pwd.lock", "credential.secret"} and not p.name.endswith("-")
    }
    assert leftovers == set()


def test_fixtures_are_debian_12s_files() -> None:
    """The BlueZ and CUPS files the tests edit are the ones Debian 12's packages install."""
    assert "[Policy]" in (FIXTURES / "bluez-5.66-main.conf").read_text()
    assert "Listen /run/cups/cups.sock" in (FIXTURES / "cups-2.4.2-cupsd.conf").read_text()
