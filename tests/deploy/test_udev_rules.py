"""deploy/cabin/udev/70-cabin-instruments.rules, matched by the real udev (udevadm test) against a
device umockdev plays: a CMS50D+ pulse oximeter's CP2102 bridge on a USB port, as sysfs shows it
(tests/deploy/cp2102-cms50d.umockdev, written in umockdev-record's format: no hardware here),
and the same device carrying each other bridge's ids. Nothing touches this machine's /dev or
/run: tests/deploy/udev_sandbox.sh runs udevadm in a mount namespace of its own."""

from __future__ import annotations

import grp
import os
import re
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, needs, run

RULES = DEPLOY / "cabin" / "udev" / "70-cabin-instruments.rules"
RECORDING = Path(__file__).parent / "cp2102-cms50d.umockdev"
SANDBOX = Path(__file__).parent / "udev_sandbox.sh"
TTY = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0"


def recording_with(tmp_path: Path, vendor: str, product: str, product_string: str) -> Path:
    """The recorded CP2102, with another bridge's USB ids and product string."""
    text = RECORDING.read_text()
    text = text.replace("A: idVendor=10c4", f"A: idVendor={vendor}")
    text = text.replace("A: idProduct=ea60", f"A: idProduct={product}")
    text = text.replace("10c4/ea60/100", f"{vendor}/{product}/100")
    text = text.replace(
        "A: product=CP2102 USB to UART Bridge Controller", f"A: product={product_string}"
    )
    path = tmp_path / f"{vendor}-{product}.umockdev"
    path.write_text(text)
    return path


def udev_test(tmp_path: Path, recording: Path) -> dict[str, str]:
    """The properties udev gives the tty, and the rules' actions it logged."""
    if os.geteuid() != 0:
        pytest.skip("a mount namespace for udevadm test: root only")
    needs("udevadm", "umockdev-run", "unshare")
    work = tmp_path / "sandbox"
    work.mkdir()
    done = run(["unshare", "-m", SANDBOX, RULES, recording, TTY, work])
    assert done.status == 0, done.output
    properties = dict(re.findall(r"^([A-Z_]+)=(.*)$", done.output, re.MULTILINE))
    properties["log"] = done.output
    return properties


@pytest.mark.parametrize(
    ("vendor", "product", "link"),
    [
        ("10c4", "ea60", "oximeter"),  # the CMS50D+ cable's Silicon Labs CP2102
        ("0403", "6015", "panic-button"),  # the panic board's FTDI FT230X
        ("0403", "6001", "blood-pressure"),  # the serial cuff's FTDI FT232R cable
        ("1a86", "7523", "thermometer"),  # the IR module's WCH CH340
    ],
)
def test_each_bridge_gets_its_stable_name_group_and_mode(
    tmp_path: Path, vendor: str, product: str, link: str
) -> None:
    recording = (
        RECORDING
        if (vendor, product) == ("10c4", "ea60")
        else recording_with(tmp_path, vendor, product, "USB Serial")
    )
    udev = udev_test(tmp_path, recording)
    assert udev["DEVNAME"] == "/dev/ttyUSB0"
    assert udev["DEVLINKS"].split() == [f"/dev/cabin/{link}"]
    assert udev["ID_MM_DEVICE_IGNORE"] == "1"
    log = udev["log"]
    dialout = grp.getgrnam("dialout").gr_gid
    assert re.search(rf"70-cabin-instruments\.rules:\d+ GROUP {dialout}\b", log), log
    assert re.search(r"70-cabin-instruments\.rules:\d+ MODE 0660\b", log), log


def test_a_new_product_string_changes_nothing(tmp_path: Path) -> None:
    """A maker's new batch renames the bridge: the ids are what counts."""
    recording = recording_with(tmp_path, "10c4", "ea60", "CMS50D+ 2026 edition")
    assert udev_test(tmp_path, recording)["DEVLINKS"].split() == ["/dev/cabin/oximeter"]


def test_an_unknown_bridge_gets_no_cabin_name(tmp_path: Path) -> None:
    recording = recording_with(tmp_path, "067b", "2303", "USB-Serial Controller")  # Prolific
    udev = udev_test(tmp_path, recording)
    assert "cabin/" not in udev.get("DEVLINKS", "")
    assert "Reading rules file: /etc/udev/rules.d/70-cabin-instruments.rules" in udev["log"]
    assert not re.search(r"70-cabin-instruments\.rules:\d+", udev["log"])  # no rule applied


def test_every_rule_matches_on_ids_never_on_a_product_string() -> None:
    rules = [
        line
        for line in RULES.read_text().splitlines()
        if line.strip() and not line.startswith("#") and "SYMLINK" in line
    ]
    assert len(rules) == 4
    for rule in rules:
        assert re.search(r'ATTRS\{idVendor\}=="[0-9a-f]{4}"', rule), rule
        assert re.search(r'ATTRS\{idProduct\}=="[0-9a-f]{4}"', rule), rule
        assert "ATTRS{product}" not in rule
        assert 'GROUP="dialout"' in rule
        assert 'MODE="0660"' in rule
    links = [re.search(r'SYMLINK\+="cabin/([a-z-]+)"', rule) for rule in rules]
    assert len({m.group(1) for m in links if m}) == 4


def test_the_example_configuration_uses_the_udev_names() -> None:
    example = (DEPLOY / "cabin.example.toml").read_text()
    assert 'panic_button = "/dev/cabin/panic-button"' in example
    assert 'address = "/dev/cabin/oximeter"' in example
