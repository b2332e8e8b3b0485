"""The hub's configuration: defaults, a file over them, overrides, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_hub_config
from hub.errors import ConfigError


def test_the_defaults_are_a_loopback_hub_with_secure_settings(tmp_path: Path) -> None:
    config = load_hub_config(None, data_dir=tmp_path)
    assert config.host == "127.0.0.1"
    assert config.port == 8765
    assert config.data_path == tmp_path
    assert not config.tls_enabled
    assert config.login_max_failures == 5
    assert config.login_lockout_s == 900
    assert config.login_attempts_per_minute == 20
    assert config.cabin_offline_grace_s == 300
    assert config.max_message_bytes == 2 * 1024 * 1024
    assert config.argon2_cost == "standard"
    assert config.public_url == ""  # the hub's own address
    assert config.check_page_requests_per_minute == 30
    assert config.turn.urls == []
    assert config.turn.ice_transport_policy == "all"


def test_a_file_overrides_the_defaults_and_overrides_come_last(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        'port = 9000\ndata_dir = "relative/data"\n'
        '[turn]\nurls = ["turn:turn.example.fr:3478"]\nsecret_file = "turn.secret"\n'
    )
    config = load_hub_config(path, overrides={"port": 0, "turn": {"credential_ttl_s": 600}})
    assert config.port == 0
    assert config.turn.urls == ["turn:turn.example.fr:3478"]
    assert config.turn.credential_ttl_s == 600
    assert config.turn.secret_file == "turn.secret"
    assert Path(config.data_dir).is_absolute()
    assert config.resolve("turn.secret") == Path(config.data_dir) / "turn.secret"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1", "unknown field `prot`"),
        ("port = 70000", "port"),
        ('port = "eighty"', "port"),
        ("[turn]\nfoo = 1", "turn: Object contains unknown field `foo`"),
        ('[turn]\nurls = ["http://nope"]', "turn.urls[0]"),
        ('[turn]\nurls = ["turn:t.example:3478"]', "needs the shared `secret`"),
        ('[turn]\nice_transport_policy = "relay"', "needs at least one turn: url"),
        ('tls_cert = "hub.crt"', "both `tls_cert` and `tls_key`"),
        ('argon2_cost = "cheap"', "argon2_cost"),
        ('public_url = "ftp://hub.example.fr"', "public_url"),
        ('public_url = "https://hub.example.fr/rx?x=1"', "no query"),
        ('public_url = "https://hub example.fr"', "public_url"),
        ("check_page_requests_per_minute = 0", "check_page_requests_per_minute"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_a_wrong_value_is_refused_with_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"hub\.toml") as refused:
        load_hub_config(path)
    assert message in str(refused.value)


def test_a_secret_is_never_repeated_in_an_error(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("[turn]\nsecret = 12345678\n")
    with pytest.raises(ConfigError) as refused:
        load_hub_config(path)
    assert "turn.secret" in str(refused.value)
    assert "12345678" not in str(refused.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_hub_config(tmp_path / "nope.toml")
