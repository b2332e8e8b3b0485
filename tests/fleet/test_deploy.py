"""deploy/hub's files are what their programs accept: systemd's own checker on the units (in a
root of their own, where the programs they start exist), the offline security score, and the
hub's configuration loader on hub.toml."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from fleet.servers import free_port
from hub.app import SHUTDOWN_TIMEOUT_S
from hub.config import load_hub_config
from hub.peers import CLOSE_TIMEOUT_S
from hub.prescriptions import SIGNING_KEY_CREDENTIAL

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "hub"
UNITS = ("hub@.service", "hub-backup.service", "hub-backup.timer")
TIMEOUT_S = 120
NO_RETRY = Retry(NoBackoff(), 0)
"""A refused password is an answer, not a fault to retry (redis-py retries it with backoff)."""


def _root(tmp_path: Path) -> Path:
    """A root holding systemd's units of this machine, ours in /etc/systemd/system, and a
    stand-in at each path our units run (`verify` checks that each is executable)."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for name in UNITS:
        shutil.copy(DEPLOY / name, units / name)
    for name in UNITS:
        for line in (DEPLOY / name).read_text().splitlines():
            if re.match(r"^Exec\w+=", line):
                program = Path(line.split("=", 1)[1].split()[0].lstrip("-+!@:"))
                stand_in = root / program.relative_to("/")
                stand_in.parent.mkdir(parents=True, exist_ok=True)
                stand_in.write_text("#!/bin/sh\n")
                stand_in.chmod(0o755)
    return root


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, check=False, timeout=TIMEOUT_S
    )


@pytest.mark.parametrize("unit", ["hub@8001.service", "hub-backup.service", "hub-backup.timer"])
def test_systemd_accepts_the_units(tmp_path: Path, unit: str) -> None:
    checked = _analyze("verify", f"--root={_root(tmp_path)}", unit)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip() == "", checked.stderr  # not even a warning


@pytest.mark.parametrize("unit", ["hub@8001.service", "hub-backup.service"])
def test_the_services_are_sandboxed(tmp_path: Path, unit: str) -> None:
    scored = _analyze("security", "--offline=true", f"--root={_root(tmp_path)}", unit)
    assert scored.returncode == 0, scored.stderr
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", scored.stdout)
    assert exposure is not None, scored.stdout
    assert float(exposure.group(1)) <= 2.0, scored.stdout  # systemd calls it "OK" below 2.0


def test_the_replicas_configuration_loads(tmp_path: Path) -> None:
    config = load_hub_config(DEPLOY / "hub.toml", data_dir=tmp_path)
    assert config.trusted_proxies == ["127.0.0.1"]
    assert config.public_origin.startswith("https://")
    assert config.turn.secret_file == "turn-secret"
    assert config.storage.backend == "postgresql"
    assert config.storage.dsn == "postgresql://cabin_hub@127.0.0.1:5432/cabin_hub"
    assert config.cluster.backend == "redis"
    assert config.cluster.redis_url == "redis://hub@127.0.0.1:6379/0"
    assert config.drain_s > 0  # behind HAProxy: say "draining" before closing the sockets


def _unit_credentials() -> set[str]:
    unit = (DEPLOY / "hub@.service").read_text()
    return set(re.findall(r"^LoadCredentialEncrypted=([^:\s]+):", unit, re.MULTILINE))


def test_the_unit_loads_the_credentials_the_hub_reads_and_the_readme_makes_them(
    tmp_path: Path,
) -> None:
    config = load_hub_config(DEPLOY / "hub.toml", data_dir=tmp_path)
    read = {
        config.storage.password_credential,
        config.storage.data_keys_credential,
        config.cluster.redis_password_credential,
        SIGNING_KEY_CREDENTIAL,
    }
    default = load_hub_config(None, data_dir=tmp_path)
    # hub.toml writes the hub's default names out; they are what an operator finds elsewhere
    assert read == {
        default.storage.password_credential,
        default.storage.data_keys_credential,
        default.cluster.redis_password_credential,
        SIGNING_KEY_CREDENTIAL,
    }
    # the TURN secret: a credential linked as the file [turn] secret_file names
    unit = (DEPLOY / "hub@.service").read_text()
    turn = re.search(r"ln -sfn %d/(\S+) %S/cabin-hub/%i/(\S+)", unit)
    assert turn is not None and turn.group(2) == config.turn.secret_file
    assert _unit_credentials() == read | {turn.group(1)}
    readme = (DEPLOY / "README.md").read_text()
    made = re.search(r"for name in ([^;]+); do", readme)
    assert made is not None
    assert set(made.group(1).replace("\\", " ").split()) - {"hub-backup-db-password"} == (
        _unit_credentials()
    )
    for name in _unit_credentials():  # the account commands load the same ones
        assert f"LoadCredentialEncrypted={name}:" in readme or name in (
            "hub-redis-password",
            turn.group(1),
        )


def test_the_unit_waits_for_the_drain(tmp_path: Path) -> None:
    config = load_hub_config(DEPLOY / "hub.toml", data_dir=tmp_path)
    unit = (DEPLOY / "hub@.service").read_text()
    stop = re.search(r"^TimeoutStopSec=(\d+)s$", unit, re.MULTILINE)
    assert stop is not None
    # the drain, then at most CLOSE_TIMEOUT_S to close the sockets and SHUTDOWN_TIMEOUT_S for
    # their handlers, before systemd's SIGKILL
    assert int(stop.group(1)) > config.drain_s + CLOSE_TIMEOUT_S + SHUTDOWN_TIMEOUT_S


def test_redis_with_the_deploy_settings_serves_the_hub_user_only(tmp_path: Path) -> None:
    """redis-server runs with redis-hub.conf (its password hash filled in, a free port): nobody
    without the password, the hub's user may do what the replicas do and no administration."""
    password = "a-redis-password-for-the-test"
    digest = hashlib.sha256(password.encode()).hexdigest()
    settings = (DEPLOY / "redis-hub.conf").read_text()
    assert "#REPLACE-WITH-SHA256-OF-THE-PASSWORD" in settings
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(
        settings.replace("#REPLACE-WITH-SHA256-OF-THE-PASSWORD", f"#{digest}")
        + f"\nport {port}\ndir {tmp_path}\ndaemonize no\nlogfile {tmp_path / 'redis.log'}\n"
    )
    server = subprocess.Popen(["redis-server", str(conf)])
    try:
        asyncio.run(_redis_checks(port, password, server))
    finally:
        server.kill()
        server.wait(timeout=TIMEOUT_S)


async def _redis_checks(port: int, password: str, server: subprocess.Popen[bytes]) -> None:
    hub = aioredis.Redis(port=port, username="hub", password=password)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                assert server.poll() is None, "redis-server refused its configuration"
                try:
                    await hub.ping()
                    break
                except redis.ConnectionError:
                    await asyncio.sleep(0.05)
        anonymous = aioredis.Redis(port=port, retry=NO_RETRY)
        with pytest.raises(redis.AuthenticationError):
            await anonymous.ping()
        await anonymous.aclose()
        intruder = aioredis.Redis(port=port, username="hub", password="wrong", retry=NO_RETRY)
        with pytest.raises(redis.AuthenticationError):
            await intruder.ping()
        await intruder.aclose()

        assert await hub.set("replica:a", b"1", ex=10)
        assert await hub.get("replica:a") == b"1"
        assert await hub.eval("return redis.call('INCR', KEYS[1])", 1, "counter") == 1
        listener = hub.pubsub()
        await listener.subscribe("signals")
        assert await hub.publish("signals", b"re-read") == 1
        await listener.aclose()
        forbidden: list[Callable[[], Awaitable[object]]] = [
            lambda: hub.config_get("save"),
            hub.flushall,
            hub.shutdown,
            lambda: hub.acl_setuser("default", enabled=True),
        ]
        for command in forbidden:
            with pytest.raises(redis.exceptions.NoPermissionError):
                await command()
    finally:
        await hub.aclose()
