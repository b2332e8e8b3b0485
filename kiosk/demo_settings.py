"""The demo's values in a cabin's configuration: what the demo's composition root (``demo``)
serves with its simulators, and what a real cabin refuses (``kiosk.production``).

The product knows these names only to recognise them; it serves none of them.
"""

from __future__ import annotations

from typing import Final

SIMULATED: Final = "simulated"
"""An instrument's address, or the panic button's board: the demo's simulators serve it."""

SYNTHETIC: Final = "synthetic"
"""The camera: the demo's live drawn cabin; the microphone: the demo patient's recorded voice."""

SCENE: Final = "scene:"
"""A camera that plays one of the simulators' scenes (``python -m simulators.scenes``)."""

SOUND: Final = "sound:"
"""A microphone that plays one of the simulators' sound scenes (``python -m simulators.sounds``)."""

DEMO_PIN: Final = "2468"
"""The assistant mode's PIN in the embedded defaults (``kiosk/default_config.toml``)."""

DEMO_CABIN_ID: Final = "demo-cabin"
"""The embedded defaults' cabin, the one the demo hub provisions."""

DEMO_HUB_TOKEN_PREFIX: Final = "demo-"  # noqa: S105 - a published prefix, not a secret
"""How every cabin token the demo hub issues begins (``hub.accounts.DEMO_TOKEN_PREFIX``), and
no other token does, so that a cabin given the demo's is recognised."""


def is_demo_camera(name: str) -> bool:
    return name == SYNTHETIC or name.startswith(SCENE)


def is_demo_microphone(name: str) -> bool:
    return name == SYNTHETIC or name.startswith(SOUND)
