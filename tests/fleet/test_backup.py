"""The restore drill of deploy/hub/README.md, on a real PostgreSQL: a database with rows is
backed up by the script the nightly timer runs (deploy/hub/hub-backup, as the read-only backup
role), restored by deploy/hub/hub-restore into a new database, and the two are the same."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.servers import PG_BIN, PostgresServer, postgres

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "hub"
MARKER = "Quelennec-Éléonore-backup-marker"
TIMEOUT_S = 120

SCHEMA = f"""
CREATE TABLE consultations (
    consultation_id text PRIMARY KEY,
    cabin_id text NOT NULL,
    started_at timestamptz NOT NULL,
    notes bytea
);
CREATE TABLE prescriptions (
    number bigserial PRIMARY KEY,
    consultation_id text NOT NULL REFERENCES consultations ON DELETE CASCADE,
    lines jsonb NOT NULL,
    UNIQUE (consultation_id, lines)
);
INSERT INTO consultations
    SELECT 'c-' || n, 'cabin-' || (n % 7),
           '2026-12-01T08:00:00Z'::timestamptz + n * interval '1 min', decode(md5(n::text), 'hex')
    FROM generate_series(1, 500) AS n;
INSERT INTO consultations VALUES ('c-marker', '{MARKER}', now(), NULL);
INSERT INTO prescriptions (consultation_id, lines)
    SELECT 'c-' || n, jsonb_build_array(jsonb_build_object('drug', 'Paracétamol', 'n', n))
    FROM generate_series(1, 500, 3) AS n;
CREATE ROLE hub_backup LOGIN PASSWORD 'backup:pass\\word' IN ROLE pg_read_all_data;
"""


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with postgres() as running:
        yield running


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )


def _backup_key(folder: Path, name: str) -> tuple[Path, Path]:
    """A gpg key pair as the README makes it (without a passphrase here): public, private."""
    home = folder / f"gnupg-{name}"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--quiet", "--passphrase", "", "--pinentry-mode", "loopback"]
    user = f"Cabin hub backups {name}"
    made = _run([*gpg, "--quick-gen-key", user, "future-default", "default", "never"], env)
    assert made.returncode == 0, made.stderr
    public, private = folder / f"{name}.pub.asc", folder / f"{name}.secret.asc"
    exported = _run([*gpg, "--armor", "--output", str(public), "--export", user], env)
    assert exported.returncode == 0, exported.stderr
    secret = _run([*gpg, "--armor", "--output", str(private), "--export-secret-keys", user], env)
    assert secret.returncode == 0, secret.stderr
    # gpg started an agent for this keyring, which outlives the test (and the run) otherwise
    stopped = _run(["gpgconf", "--kill", "gpg-agent"], env)
    assert stopped.returncode == 0, stopped.stderr
    return public, private


def _comparable(dump: bytes) -> list[bytes]:
    """A plain dump without the random key of its ``\\restrict`` guard (PostgreSQL 15.14+)."""
    return [
        line for line in dump.splitlines() if not line.startswith((b"\\restrict", b"\\unrestrict"))
    ]


def _pg_env(server: PostgresServer, user: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "CREDENTIALS"))}
    return {
        **env,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGUSER": user,
        "PG_BIN": str(PG_BIN),
    }


def test_a_backup_is_encrypted_and_restores_to_the_same_database(
    server: PostgresServer, tmp_path: Path
) -> None:
    server.create_database("hub_live")
    server.psql(SCHEMA, "hub_live")
    public, private = _backup_key(tmp_path, "site")
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "hub-backup-db-password").write_text("backup:pass\\word")
    backups = tmp_path / "backups"

    backup_env = {
        **_pg_env(server, "hub_backup"),
        "PGDATABASE": "hub_live",
        "BACKUP_DIR": str(backups),
        "BACKUP_RECIPIENT_FILE": str(public),
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    made = _run([str(DEPLOY / "hub-backup")], backup_env)
    assert made.returncode == 0, made.stderr
    [backup] = backups.iterdir()
    assert backup.name.startswith("hub-hub_live-") and backup.name.endswith(".dump.gpg")
    assert f"wrote {backup}" in made.stdout
    assert backup.stat().st_mode & 0o077 == 0
    content = backup.read_bytes()
    assert MARKER.encode() not in content and b"PGDMP" not in content  # nothing legible

    # the drill: into a new database, with the private key kept away from the server
    server.create_database("hub_restored")
    restore_env = {**_pg_env(server, "postgres"), "BACKUP_SECRET_KEY_FILE": str(private)}
    restored = _run([str(DEPLOY / "hub-restore"), str(backup), "hub_restored"], restore_env)
    assert restored.returncode == 0, restored.stderr
    assert _comparable(server.dump("hub_restored")) == _comparable(server.dump("hub_live"))
    assert server.psql("SELECT count(*) FROM consultations", "hub_restored").strip() == "501"
    assert MARKER in server.psql("SELECT cabin_id FROM consultations", "hub_restored")

    # another key opens nothing, and the target is left empty
    _, stranger = _backup_key(tmp_path, "stranger")
    server.create_database("hub_wrong_key")
    refused = _run(
        [str(DEPLOY / "hub-restore"), str(backup), "hub_wrong_key"],
        {**restore_env, "BACKUP_SECRET_KEY_FILE": str(stranger)},
    )
    assert refused.returncode != 0
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert server.psql(tables, "hub_wrong_key").strip() == "0"


def test_old_backups_are_deleted_and_a_failed_dump_leaves_no_file(
    server: PostgresServer, tmp_path: Path
) -> None:
    public, _ = _backup_key(tmp_path, "site")
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "hub-hub_old-20250101T023000Z.dump.gpg"
    old.write_bytes(b"old")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    server.create_database("hub_old")
    env = {
        **_pg_env(server, "postgres"),
        "PGDATABASE": "hub_old",
        "BACKUP_DIR": str(backups),
        "BACKUP_RECIPIENT_FILE": str(public),
    }
    made = _run([str(DEPLOY / "hub-backup")], env)
    assert made.returncode == 0, made.stderr
    assert not old.exists() and "deleted old" in made.stdout
    assert len(list(backups.iterdir())) == 1
    failed = _run([str(DEPLOY / "hub-backup")], {**env, "PGDATABASE": "no_such_database"})
    assert failed.returncode != 0
    assert not [path for path in backups.iterdir() if "no_such_database" in path.name]
