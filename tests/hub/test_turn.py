"""coturn REST credentials."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import wire
from hub.config import load_hub_config
from hub.errors import ConfigError
from hub.turn import IceServers, turn_credential


def test_the_credential_is_coturns_hmac_sha1_of_expiry_and_name() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    credential = turn_credential("north", who="cabin-1", now=now, ttl_s=3600)
    assert credential.username == f"{int(now.timestamp()) + 3600}:cabin-1"
    # computed independently:
    # printf %s "1795428000:cabin-1" | openssl dgst -sha1 -hmac north -binary | base64
    assert credential.username == "1795428000:cabin-1"
    assert credential.credential == "bdActWw3S98jRUEfsNKxgFMz3vk="


def test_no_ice_server_without_configuration(tmp_path: Path) -> None:
    servers = IceServers.from_config(load_hub_config(None, data_dir=tmp_path))
    assert servers.for_peer("cabin-1", datetime.now(UTC)) == []
    assert servers.policy is wire.IceTransportPolicy.ALL


def test_the_secret_may_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "turn.secret").write_text("from-a-file\n")
    config = load_hub_config(
        None,
        data_dir=tmp_path,
        overrides={"turn": {"urls": ["turns:t.example:5349"], "secret_file": "turn.secret"}},
    )
    servers = IceServers.from_config(config)
    assert servers.secret == "from-a-file"
    (server,) = servers.for_peer("dr.a", datetime.now(UTC))
    assert server.urls == ["turns:t.example:5349"]
    (tmp_path / "turn.secret").unlink()
    with pytest.raises(ConfigError, match=r"turn\.secret_file"):
        IceServers.from_config(config)
