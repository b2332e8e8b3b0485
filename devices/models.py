"""The instrument models a configuration may name, by kind and transport: names only.

The configuration checks its entries against these while the cabin starts (and
``kiosk check-config`` without starting anything), so this module imports no driver:
``devices.registry`` maps the names to driver classes.
"""

from __future__ import annotations

DEFAULT_MODELS = {
    ("pulse_oximeter", "serial"): "cms50d-plus",
    ("blood_pressure", "serial"): "and-ua767",
    ("thermometer", "serial"): "ir-uart",
    ("blood_pressure", "ble"): "bps",
    ("thermometer", "ble"): "hts",
    ("pulse_oximeter", "ble"): "plxs",
}
PAIRING_MODELS = frozenset({"bps"})  # cuffs must be bonded before they share a reading
# The A&D UA-767 layout comes from one public source that calls its own sample "fake data";
# A&D's documentation of the UA-767PC/PBT serial protocol could not be found
# (devices.protocols.and_bp).
UNVERIFIED_MODELS = frozenset({"and-ua767"})


def resolve_model(kind: str, transport: str, model: str) -> str:
    """The model an entry names, or the default model for its kind and transport."""
    return model or DEFAULT_MODELS.get((kind, transport), "")
