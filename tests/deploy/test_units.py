"""The systemd units and settings the installer ships: systemd-analyze verify on an installed
root, the hardening the issue names, systemd-analyze security's score (printed), and every key
of the logind/journald/system.conf drop-ins known to systemd 252."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, install, needs, run

UNIT = DEPLOY / "cabin" / "systemd" / "cabin.service"
SECURITY_EXPOSURE_MAX = 2.5
"""systemd-analyze security's "overall exposure" (0 safe .. 10 unsafe) must not grow past this:
1.8 when written ("OK"); see deploy/README.md for what is left exposed and why."""


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every Key=value of a unit file, in order (a key may come several times)."""
    settings: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture
def installed_root(debian_root: Path) -> Path:
    done = install(debian_root, "--hub-token-file", DEPLOY / "cabin.example.toml")
    assert done.status == 0, done.output
    return debian_root


@pytest.mark.parametrize("headless", [False, True], ids=["cabin", "headless"])
def test_systemd_analyze_verify_is_clean(debian_root: Path, headless: bool) -> None:
    needs("systemd-analyze")
    options = ["--headless"] if headless else []
    assert install(debian_root, *options).status == 0
    units = ["cabin.service"]
    # apt's timers with the cabin's night-time drop-ins (where apt ships them)
    units += [
        timer
        for timer in ("apt-daily.timer", "apt-daily-upgrade.timer")
        if (debian_root / "usr/lib/systemd/system" / timer).exists()
    ]
    done = run(["systemd-analyze", "verify", f"--root={debian_root}", *units])
    print(f"systemd-analyze verify {' '.join(units)}: status {done.status}\n{done.output}")
    assert done.status == 0
    assert done.output.strip() == ""


def test_the_unit_has_the_settings_the_issue_names() -> None:
    settings = unit_settings(UNIT.read_text())

    def one(key: str) -> str:
        assert key in settings, f"{key}= missing"
        assert len(settings[key]) == 1, f"{key}= set {len(settings[key])} times"
        return settings[key][0]

    # kiosk: cage on tty1, the cabin's own user; the seat from seatd, never a PAM session, which
    # would move the processes out of the unit's cgroup (and systemd would ignore READY=1)
    assert one("ExecStart") == "/opt/cabin/deploy/cabin/cabin-session"
    assert one("User") == "cabin"
    assert "PAMName" not in settings
    assert "LIBSEAT_BACKEND=seatd" in settings["Environment"]
    assert "seatd.service" in " ".join(settings["Wants"])
    assert "getty@tty1.service" in one("Conflicts")
    # readiness and the watchdog
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"  # the cabin is the main process (cabin-session)
    assert one("WatchdogSec") == "15s"
    assert one("Restart") == "always"
    assert one("RestartSec") == "1s"
    assert one("KillMode") == "mixed"
    # hardening
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "CapabilityBoundingSet": "",
        "DevicePolicy": "closed",
        "StateDirectory": "cabin",
        "UMask": "0077",
    }.items():
        assert one(key) == value, key
    assert set(one("SupplementaryGroups").split()) == {"dialout", "video", "audio"}
    assert set(one("RestrictAddressFamilies").split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    }
    assert settings["SystemCallFilter"] == ["@system-service", "~@privileged"]
    allowed = {value.split()[0] for value in settings["DeviceAllow"]}
    assert allowed == {
        "char-drm",
        "char-input",
        "char-ttyUSB",
        "char-ttyACM",
        "char-video4linux",
        "char-alsa",
    }


def test_the_credentials_drop_in_names_the_credentials_kiosk_config_reads(
    installed_root: Path,
) -> None:
    from kiosk.config import load_config  # noqa: PLC0415

    dropin = installed_root / "etc/systemd/system/cabin.service.d/50-credentials.conf"
    settings = unit_settings(dropin.read_text())
    names = {value.split(":")[0] for value in settings["LoadCredentialEncrypted"]}
    config = load_config(DEPLOY / "cabin.example.toml")
    store_credential, hub_credential = config.store.credential, config.hub.credential
    assert names == {store_credential, hub_credential}


def test_systemd_analyze_security_score(installed_root: Path) -> None:
    needs("systemd-analyze")
    done = run(
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            f"--root={installed_root}",
            "--no-pager",
            "cabin.service",
        ]
    )
    print(done.output)  # what the unit still exposes, for the record (pytest -s)
    match = re.search(r"Overall exposure level for cabin\.service: (\d+\.\d+)", done.output)
    assert match, done.output
    assert float(match.group(1)) <= SECURITY_EXPOSURE_MAX


@pytest.mark.parametrize(
    ("dropin", "reference"),
    [
        ("logind.conf", "/etc/systemd/logind.conf"),
        ("journald.conf", "/etc/systemd/journald.conf"),
        ("watchdog.conf", "/etc/systemd/system.conf"),
    ],
)
def test_every_key_of_a_drop_in_is_one_systemd_knows(dropin: str, reference: str) -> None:
    """Debian's own file lists every key of its section, commented out: a key of ours that is
    not there is a typo systemd would ignore with a mere warning."""
    reference_path = Path(reference)
    if not reference_path.exists():
        pytest.skip(f"no {reference} here")
    known = set(re.findall(r"^#?([A-Za-z]+)=", reference_path.read_text(), re.MULTILINE))
    ours = unit_settings((DEPLOY / "cabin" / "conf" / dropin).read_text())
    unknown = set(ours) - known
    assert unknown == set(), f"{dropin}: not in {reference}: {sorted(unknown)}"


def test_logind_ignores_every_key_a_patient_could_press() -> None:
    settings = unit_settings((DEPLOY / "cabin" / "conf" / "logind.conf").read_text())
    handles = {key: value for key, value in settings.items() if key.startswith("Handle")}
    assert handles
    assert all(value == ["ignore"] for value in handles.values()), handles
    assert settings["NAutoVTs"] == ["0"]
    assert settings["ReserveVT"] == ["0"]


def test_unattended_upgrades_take_security_updates_only_and_reboot_at_night() -> None:
    needs("apt-config")
    conf = DEPLOY / "cabin" / "apt" / "52cabin-unattended-upgrades"
    done = run(["apt-config", "-c", conf, "dump"])
    assert done.status == 0, done.output
    patterns = re.findall(r'^Unattended-Upgrade::Origins-Pattern:: "(.*)";$', done.output, re.M)
    assert patterns
    assert all("label=Debian-Security" in pattern for pattern in patterns)
    assert 'Unattended-Upgrade::Automatic-Reboot "true";' in done.output
    reboot = re.search(r'Unattended-Upgrade::Automatic-Reboot-Time "(\d\d):(\d\d)";', done.output)
    assert reboot
    assert 0 <= int(reboot.group(1)) < 6  # before any town hall opens
