"""Configuration: the embedded defaults, overrides, and a clear message for each wrong value."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import load_config, parse_config
from kiosk.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_embedded_defaults_describe_the_demo_cabin() -> None:
    config = load_config(None)
    assert config.cabin.id == "demo-cabin"
    assert config.cabin.default_language == "fr"
    assert config.printer.kind == "pdf-folder"
    assert config.hub.url.startswith("http://127.0.0.1")
    assert {i.kind for i in config.instruments} == {
        "blood_pressure",
        "thermometer",
        "pulse_oximeter",
    }
    assert all(i.address == "simulated" for i in config.instruments)
    assert config.resolve(Path("/data"), config.store.path) == Path("/data/cabin.db")
    assert config.resolve(Path("/data"), "/abs/db") == Path("/abs/db")


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "cabin.toml"
    path.write_text('[cabin]\nid = "mairie-lanvollon"\n[session]\ninactivity_timeout_s = 45\n')
    config = load_config(path)
    assert config.cabin.id == "mairie-lanvollon"
    assert config.cabin.name == "Cabine de démonstration"  # kept from the defaults
    assert config.session.inactivity_timeout_s == 45
    assert config.session.still_there_countdown_s == 30


def test_instruments_in_a_file_replace_the_default_list() -> None:
    config = parse_config(
        '[[instruments]]\nid = "ox"\nkind = "pulse_oximeter"\ntransport = "serial"\n'
        'address = "/dev/serial/by-id/usb-contec"\nmodel = "cms50d-plus"\n'
    )
    assert [i.id for i in config.instruments] == ["ox"]


def test_the_deploy_example_is_valid() -> None:
    config = load_config(REPO / "deploy" / "cabin.example.toml")
    assert config.printer.kind == "cups"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[session]\ninactivity_timeout_s = -5", "session.inactivity_timeout_s: Expected"),
        ("[session]\ninactivity_timeout_s = -5", "(given: -5)"),
        ("[session]\ninactivity_timeout_s = 'soon'", "session.inactivity_timeout_s"),
        ('[cabin]\nid = "Mairie de X"', "cabin.id"),
        ('[cabin]\ndefault_language = "de"', "cabin.default_language"),
        ("[session]\ninactivty_timeout_s = 5", "unknown field `inactivty_timeout_s`"),
        ('[printer]\nkind = "cups"', "a CUPS printer needs `queue`"),
        ('[printer]\nkind = "fax"', "printer.kind"),
        ('[hub]\nurl = "not a url"', "hub.url"),
        ('[store]\nkey_env = "lower"', "store.key_env"),
        ("[store]\nmax_size_mb = 0", "store.max_size_mb"),
        (
            '[[instruments]]\nid = "a"\nkind = "thermometer"\ntransport = "usb"\naddress = "x"',
            "instruments[0].transport",
        ),
        (
            '[[instruments]]\nid = "a"\nkind = "thermometer"\ntransport = "ble"\naddress = "x"\n'
            '[[instruments]]\nid = "a"\nkind = "thermometer"\ntransport = "ble"\naddress = "y"',
            "two instruments have the id 'a'",
        ),
        ("[session\n", "not valid TOML"),
    ],
)
def test_a_wrong_value_gets_a_message_naming_the_file_and_the_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/etc/cabin/cabin.toml")
    message = str(caught.value)
    assert message.startswith("/etc/cabin/cabin.toml")
    assert expected in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cabin.toml"
    path.write_bytes(b"\xff\xfe\x00 not utf-8")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(path)


UA767 = (
    '[[instruments]]\nid = "bp-serial"\nkind = "blood_pressure"\ntransport = "serial"\n'
    'address = "/dev/ttyUSB1"\n'
)


@pytest.mark.parametrize("model", ['model = "and-ua767"\n', ""])  # named, or the default
def test_an_unverified_instrument_model_needs_an_explicit_opt_in(model: str) -> None:
    """No manufacturer document confirms the A&D UA-767 protocol the driver speaks: a cabin
    must not pick it believing it works."""
    with pytest.raises(ConfigError) as caught:
        parse_config(UA767 + model, "/etc/cabin/cabin.toml")
    message = str(caught.value)
    assert "instruments[0]" in message
    assert "and-ua767" in message
    assert "unverified = true" in message


def test_an_unverified_model_is_accepted_when_the_entry_says_so() -> None:
    config = parse_config(UA767 + 'model = "and-ua767"\nunverified = true\n')
    assert config.instruments[0].unverified is True
    assert config.instruments[0].model == "and-ua767"
