"""The cabin's configuration: TOML, validated once at start, with messages a person can act on.

The embedded defaults (``default_config.toml``, shipped in the package) describe the demo cabin.
A configuration file overrides them table by table, so a real cabin's file names only what
differs. Every value is checked before anything starts; a wrong one stops the cabin with a
message that names the file, the key and what was expected.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import argon2
import msgspec

from devices.models import UNVERIFIED_MODELS, resolve_model
from kiosk.errors import ConfigError

Identifier = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
Language = Literal["fr", "en"]


class CabinSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Identifier
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    default_language: Language = "fr"


class StoreSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    path: Annotated[str, msgspec.Meta(min_length=1)]
    key_file: Annotated[str, msgspec.Meta(min_length=1)]
    key_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "CABIN_DB_KEY"
    credential: Identifier = "cabin-db-key"
    max_size_mb: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 2048


class HubSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(pattern=r"^(https?|wss?)://[^\s/]+(/\S*)?$")]
    # The cabin's credential (python -m hub provision-cabin prints it): this environment
    # variable, else this systemd credential, else this file (mode 0600).
    credential_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "CABIN_HUB_TOKEN"
    credential: Identifier = "cabin-hub-token"
    credential_file: str = "hub.token"
    # The idle screen tells patients that no doctor can be reached once the link has been down
    # this long (a blip of a few seconds says nothing), or this long after the start.
    offline_notice_after_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 60.0


class CallSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # "synthetic": the simulators' scene and a spoken sound file (demo, tests); otherwise a
    # V4L2 device (/dev/video0) and an ALSA capture device ("default").
    camera: Annotated[str, msgspec.Meta(min_length=1)] = "synthetic"
    microphone: Annotated[str, msgspec.Meta(min_length=1)] = "synthetic"
    # "null": the doctor's voice is received and dropped (a machine with no sound card);
    # otherwise the ALSA playback device aplay writes to.
    speaker: Annotated[str, msgspec.Meta(min_length=1)] = "default"
    # Only 127.0.0.1 ICE candidates: the demo and the tests never send a packet off the machine.
    loopback_only: bool = False
    width: Annotated[int, msgspec.Meta(ge=160, le=1920)] = 640
    height: Annotated[int, msgspec.Meta(ge=120, le=1080)] = 480
    fps: Annotated[int, msgspec.Meta(ge=5, le=30)] = 15
    max_video_kbps: Annotated[int, msgspec.Meta(ge=100, le=4000)] = 350


class PrinterSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: Literal["pdf-folder", "cups"]
    folder: str = "printed"
    queue: str = ""
    # CUPS: its local socket (/run/cups/cups.sock) or host:port; empty: the system default
    server: str = ""
    page_size: Literal["A5", "A4"] = "A5"
    # how long one document may take before the cabin gives up, cancels it and alerts the agent
    job_timeout_s: Annotated[float, msgspec.Meta(ge=5, le=900)] = 120.0

    def __post_init__(self) -> None:
        if self.kind == "cups" and not self.queue:
            raise ValueError("a CUPS printer needs `queue` (the CUPS queue name)")
        if self.kind == "pdf-folder" and not self.folder:
            raise ValueError("a PDF-folder printer needs `folder`")


class SessionSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    inactivity_timeout_s: PositiveSeconds = 90.0
    still_there_countdown_s: PositiveSeconds = 30.0
    assistant_timeout_s: PositiveSeconds = 120.0


class AssistantSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The PIN-protected assistant mode. ``pin_hash`` is an argon2 encoded hash (make one with
    ``python -m kiosk.assistant set-pin``); empty, the mode cannot be opened."""

    pin_hash: str = ""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5  # wrong PINs in a row...
    lockout_s: PositiveSeconds = 300.0  # ...then locked for this long

    def __post_init__(self) -> None:
        if self.pin_hash:
            try:
                argon2.extract_parameters(self.pin_hash)
            except argon2.exceptions.InvalidHashError:
                raise ValueError(
                    "`pin_hash` is not an argon2 hash; make one with"
                    " `python -m kiosk.assistant set-pin`"
                ) from None


class SelfTestSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The cabin's self-test (``kiosk/selftest``): at start, every night, and when asked."""

    # local time of the nightly run (it waits until no patient is in the cabin)
    nightly_at: Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "03:30"
    # its time zone (an IANA name, e.g. "Europe/Paris"); empty: the system's
    timezone: str = ""
    # free space on the data folder's disk: a warning below the first, a failure below the second
    disk_warning_mb: Annotated[int, msgspec.Meta(ge=1)] = 2048
    disk_failed_mb: Annotated[int, msgspec.Meta(ge=1)] = 500
    # how long one check may take before it is failed
    check_timeout_s: Annotated[float, msgspec.Meta(ge=1, le=120)] = 15.0

    def __post_init__(self) -> None:
        if self.disk_failed_mb > self.disk_warning_mb:
            raise ValueError("`disk_failed_mb` must not exceed `disk_warning_mb`")
        if self.timezone:
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"`timezone` {self.timezone!r} is not a known time zone") from None


class DistressSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Distress detection (``kiosk/distress``): everything is analysed in the cabin."""

    enabled: bool = True
    camera: bool = True  # fall, stillness, absence
    microphone: bool = True  # calls for help
    analysis_fps: Annotated[float, msgspec.Meta(ge=2, le=30)] = 10.0
    # a person present but motionless this long during a session raises an alert
    stillness_after_s: Annotated[float, msgspec.Meta(ge=10, le=3600)] = 60.0
    # nobody in view this long during a session: the patient left, the session ends
    absence_after_s: Annotated[float, msgspec.Meta(ge=5, le=3600)] = 20.0
    # the panic button's serial board: a device path, "simulated", or "" (none)
    panic_button: str = ""
    # NEWS2 red bands: a value at or past one asks for a new measurement, a second one alerts
    spo2_red_percent: Annotated[float, msgspec.Meta(ge=70, le=99)] = 91.0
    systolic_red_low_mmhg: Annotated[float, msgspec.Meta(ge=50, le=120)] = 90.0
    systolic_red_high_mmhg: Annotated[float, msgspec.Meta(ge=160, le=300)] = 220.0
    pulse_red_low_bpm: Annotated[float, msgspec.Meta(ge=20, le=60)] = 40.0
    pulse_red_high_bpm: Annotated[float, msgspec.Meta(ge=100, le=220)] = 131.0
    temperature_red_low_c: Annotated[float, msgspec.Meta(ge=30, le=36.5)] = 35.0
    confirm_within_s: Annotated[float, msgspec.Meta(ge=30, le=3600)] = 600.0


class InstrumentSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Identifier
    kind: Literal["blood_pressure", "thermometer", "pulse_oximeter"]
    transport: Literal["serial", "ble"]
    # A serial device path (/dev/ttyUSB0, /dev/serial/by-id/...), a BLE address or name, or
    # "simulated": the composition root then starts the matching simulator.
    address: Annotated[str, msgspec.Meta(min_length=1)]
    model: str = ""
    # A model whose protocol no manufacturer document confirms (devices.models'
    # UNVERIFIED_MODELS, e.g. "and-ua767") is refused unless the entry says so here.
    unverified: bool = False

    def __post_init__(self) -> None:
        model = resolve_model(self.kind, self.transport, self.model)
        if model in UNVERIFIED_MODELS and not self.unverified:
            raise ValueError(
                f"model {model!r} speaks a protocol that no manufacturer document confirms (its "
                "readings may be wrong); choose another model, or set unverified = true on this "
                "instrument to use it anyway"
            )


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration. Every table refuses unknown keys: a typo must not pass."""

    cabin: CabinSection
    store: StoreSection
    hub: HubSection
    call: CallSection = CallSection()
    printer: PrinterSection
    session: SessionSection
    assistant: AssistantSection
    distress: DistressSection = DistressSection()
    selftest: SelfTestSection = SelfTestSection()
    instruments: list[InstrumentSection] = []

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for instrument in self.instruments:
            if instrument.id in seen:
                raise ValueError(f"two instruments have the id {instrument.id!r}")
            seen.add(instrument.id)

    def resolve(self, data_dir: Path, relative: str) -> Path:
        """A path of the configuration, relative ones taken inside the data folder."""
        path = Path(relative)
        return path if path.is_absolute() else data_dir / path


def default_toml() -> str:
    """The embedded defaults, as shipped in the package."""
    return resources.files("kiosk").joinpath("default_config.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (values, arrays of tables) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: this is not valid TOML ({exc})") from exc


def _readable_path(message: str) -> tuple[str, str]:
    """Split msgspec's "... - at `$.a.b[0].c`" into ("a.b[0].c", "...")."""
    head, sep, where = message.rpartition(" - at `$")
    if not sep:
        return "", message
    return where.rstrip("`").lstrip("."), head


def _value_at(data: Any, key: str) -> Any:
    """The value at a dotted path such as ``instruments[0].transport``, or None."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            index = int(part[1:-1])
            data = data[index] if isinstance(data, list) and index < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def parse_config(text: str, origin: str = "configuration") -> Config:
    """Validate a configuration file's text laid over the embedded defaults."""
    data = _merge(_parse(default_toml(), "embedded defaults"), _parse(text, origin))
    try:
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        key, problem = _readable_path(str(exc))
        value = _value_at(data, key) if key else None
        given = f" (given: {value!r})" if value is not None and not isinstance(value, dict) else ""
        where = f"{origin}: {key}" if key else origin
        raise ConfigError(f"{where}: {problem}{given}") from exc


def load_config(path: Path | None) -> Config:
    """The embedded defaults, overridden by the file at ``path`` when one is given."""
    if path is None:
        return parse_config("", "embedded defaults")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: the configuration file does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: the configuration file cannot be read ({exc})") from exc
    return parse_config(text, str(path))
