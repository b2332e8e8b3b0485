"""A real cabin refuses the demo's settings, and names each one.

The embedded defaults (``kiosk/default_config.toml``) are the demo's: a configuration file that
leaves a key out gets the demo's value. ``python -m ui run`` (a real cabin) and ``python -m kiosk
check-config`` look at the whole configuration before anything starts and report every problem
at once, each with its TOML key, and whether the value came from the file or from the embedded
defaults:

- the demo PIN (2468), found by verifying it against the configured argon2 hash (so a re-hashed
  demo PIN is caught too);
- a simulated instrument or panic button board, a drawn camera or a recorded voice;
- the demo hub's credential: its file in the data folder (``hub.token``, which the demo hub
  writes at each start), or a token the demo hub issued (they begin with ``demo-``);
- no database key (a real cabin never makes one: a new key would not open its database);
- the rest of the demo's wiring: its cabin id, a hub on loopback or in clear (``http://``) or an
  example host, ICE on loopback only, no loudspeaker, a folder of PDF files for a printer.

A missing hub credential is no refusal: a cabin without its hub still measures and alerts on
site, and says why it has no hub (``core.no_hub``).
"""

from __future__ import annotations

import ipaddress
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import argon2

from kiosk.config import Config, load_config
from kiosk.demo_settings import (
    DEMO_CABIN_ID,
    DEMO_HUB_TOKEN_PREFIX,
    DEMO_PIN,
    SIMULATED,
    is_demo_camera,
    is_demo_microphone,
)
from kiosk.errors import ConfigError

CREDENTIAL_STORES = (Path("/etc/credstore.encrypted"), Path("/etc/credstore"))
"""Where an installed cabin's systemd credentials are kept (``LoadCredentialEncrypted=NAME:
/etc/credstore.encrypted/NAME``); ``check-config``, run from a shell, looks there, since
``$CREDENTIALS_DIRECTORY`` exists only inside the service."""

EXAMPLE_DOMAINS = ("invalid", "example", "test", "localhost")
"""Top-level domains that never name a real host (RFC 2606, RFC 6761)."""
EXAMPLE_HOSTS = ("example.com", "example.net", "example.org")


@dataclass(frozen=True, slots=True)
class Problem:
    """One setting a real cabin refuses."""

    key: str
    """The TOML key (``assistant.pin_hash``, ``instruments[0].address``)."""
    message: str
    """What is wrong, and what to put instead."""
    from_defaults: bool = False
    """The file does not set it: the embedded (demo) default applies."""

    def describe(self, origin: str) -> str:
        where = " (not set in the file: the embedded demo default)" if self.from_defaults else ""
        return f"{origin}: {self.key}{where}: {self.message}"


def check_file(
    path: Path,
    data_dir: Path,
    env: Mapping[str, str],
    *,
    credential_stores: Sequence[Path] = (),
) -> tuple[Config, list[Problem]]:
    """The configuration at ``path`` and every problem a real cabin has with it; a file that is
    no valid configuration raises `ConfigError` (as at start)."""
    config = load_config(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:  # load_config read it
        raise ConfigError(f"{path}: the configuration file cannot be read ({exc})") from exc
    return config, problems(config, raw, data_dir, env, credential_stores=credential_stores)


def problems(
    config: Config,
    raw: Mapping[str, Any],
    data_dir: Path,
    env: Mapping[str, str],
    *,
    credential_stores: Sequence[Path] = (),
) -> list[Problem]:
    """Every problem a real cabin has with ``config``. ``raw`` is the file's own TOML (what it
    sets, without the defaults); ``env`` its environment (only looked at: nothing is taken);
    ``credential_stores``: folders holding systemd credentials by name, beside
    ``$CREDENTIALS_DIRECTORY``."""
    found: list[Problem] = []

    def add(key: str, message: str) -> None:
        found.append(Problem(key, message, from_defaults=not _sets(raw, key)))

    if config.cabin.id == DEMO_CABIN_ID:
        add("cabin.id", f"{DEMO_CABIN_ID!r} is the demo's cabin: the id the hub provisioned")
    if _is_demo_pin(config.assistant.pin_hash):
        add(
            "assistant.pin_hash",
            f"the demo PIN ({DEMO_PIN}): make the cabin's own with"
            " `python -m kiosk.assistant set-pin` (empty keeps the assistant mode closed)",
        )
    for index, instrument in enumerate(config.instruments):
        if instrument.address == SIMULATED:
            add(
                f"instruments[{index}].address",
                f"{instrument.id} is simulated: name the device (a serial port such as"
                " /dev/serial/by-id/..., or the BLE address or name)",
            )
    if config.distress.panic_button == SIMULATED:
        add(
            "distress.panic_button",
            'the board is simulated: name its serial port (/dev/serial/by-id/...), or "" for none',
        )
    if is_demo_camera(config.call.camera):
        add(
            "call.camera",
            f"{config.call.camera!r} is the demo's drawn camera: name the V4L2 device",
        )
    if is_demo_microphone(config.call.microphone):
        add(
            "call.microphone",
            f"{config.call.microphone!r} is the demo's recorded voice: name the ALSA device",
        )
    if config.call.speaker == "null":
        add("call.speaker", '"null" drops the doctor\'s voice: name the ALSA device ("default")')
    if config.call.loopback_only:
        add("call.loopback_only", "true keeps the call on this machine: no doctor would be reached")
    if config.printer.kind == "pdf-folder":
        add(
            "printer.kind",
            '"pdf-folder" hands the patient no paper and leaves health data unencrypted on'
            ' disk: "cups"',
        )
    for key, message in _hub_problems(config, data_dir):
        add(key, message)
    for key, message in _demo_hub_tokens(config, data_dir, env):
        found.append(Problem(key, message))  # where the token is, whatever the file sets
    for key, message in _key_problems(config, data_dir, env, credential_stores):
        add(key, message)
    return found


def _sets(raw: Mapping[str, Any], key: str) -> bool:
    """Whether the file itself sets ``key`` (an instrument's: the file lists instruments)."""
    if key.startswith("instruments["):
        return "instruments" in raw
    table, _, name = key.partition(".")
    section = raw.get(table)
    return isinstance(section, dict) and name in section


def _is_demo_pin(pin_hash: str) -> bool:
    if not pin_hash:
        return False
    try:
        return argon2.PasswordHasher().verify(pin_hash, DEMO_PIN)
    except argon2.exceptions.VerificationError:
        return False  # a mismatch (or a hash that is not argon2's: the configuration refused it)


def _hub_problems(config: Config, data_dir: Path) -> list[tuple[str, str]]:
    hub = config.hub
    found: list[tuple[str, str]] = []
    parts = urlsplit(hub.url)
    host = (parts.hostname or "").lower()
    if parts.scheme in ("http", "ws"):
        found.append(
            (
                "hub.url",
                f"{parts.scheme}:// sends the credential and health data in clear: https://",
            )
        )
    if _is_loopback(host):
        found.append(("hub.url", f"{host} is this machine: the demo's hub; name the hub's host"))
    elif (
        host.rpartition(".")[2] in EXAMPLE_DOMAINS
        or host in EXAMPLE_HOSTS
        or any(host.endswith("." + h) for h in EXAMPLE_HOSTS)
    ):
        found.append(("hub.url", f"{host} is an example: name the hub's host"))
    token_file = config.resolve(data_dir, hub.credential_file)
    if not Path(hub.credential_file).is_absolute() or token_file.is_relative_to(data_dir):
        found.append(
            (
                "hub.credential_file",
                f"{token_file} is in the data folder, where the demo hub writes its token: take the"
                f" credential from the systemd credential {hub.credential!r}, or give a file"
                " outside the data folder (/etc/cabin/hub.token, mode 0600)",
            )
        )
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _demo_hub_tokens(
    config: Config, data_dir: Path, env: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Each place this process could take its hub credential from (as `kiosk.app.hub_token`
    looks) that holds a token the demo hub issued. The tokens are looked at, never logged."""
    hub = config.hub
    demo = "holds the demo hub's token: `python -m hub provision-cabin` makes the cabin's"
    found: list[tuple[str, str]] = []
    if env.get(hub.credential_env, "").strip().startswith(DEMO_HUB_TOKEN_PREFIX):
        found.append(("hub.credential_env", f"${hub.credential_env} {demo}"))
    credentials = env.get("CREDENTIALS_DIRECTORY")
    places = [("hub.credential", Path(credentials) / hub.credential)] if credentials else []
    places.append(("hub.credential_file", config.resolve(data_dir, hub.credential_file)))
    for key, path in places:
        try:
            token = path.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # absent or unreadable here: the cabin says so when it reads it
        if token.strip().startswith(DEMO_HUB_TOKEN_PREFIX):
            found.append((key, f"{path} {demo}"))
    return found


def _key_problems(
    config: Config, data_dir: Path, env: Mapping[str, str], credential_stores: Sequence[Path]
) -> list[tuple[str, str]]:
    """Where the database key comes from (as `kiosk.store.load_key` looks), or what is wrong."""
    store = config.store
    if env.get(store.key_env):
        return []
    credentials = env.get("CREDENTIALS_DIRECTORY")
    stores = [Path(credentials)] if credentials else []
    if any((folder / store.credential).is_file() for folder in [*stores, *credential_stores]):
        return []
    key_file = config.resolve(data_dir, store.key_file)
    try:
        info = key_file.stat()
    except FileNotFoundError:
        return [
            (
                "store.key_file",
                f"no database key: set ${store.key_env}, provide the systemd credential"
                f" {store.credential!r}, or create {key_file} (mode 0600); a real cabin never"
                " makes one (a new key would not open its database)",
            )
        ]
    except OSError as exc:
        return [("store.key_file", f"{key_file} cannot be read ({exc.strerror})")]
    if not stat.S_ISREG(info.st_mode):
        return [("store.key_file", f"{key_file} is not a file")]
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(info.st_mode)
        return [
            ("store.key_file", f"{key_file} can be read by others (mode {mode:04o}): chmod 600")
        ]
    return []
