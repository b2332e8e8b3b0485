"""deploy/install-cabin run inside the booted container, as on a fresh cabin PC with no hardware.

The container has no camera, no instrument, no printer queue, no hub and no network: the
configuration is a real cabin's all the same (``deploy/cabin.example.toml`` with a PIN hash of a
PIN that is not the demo's, the real device paths, a hub address), the database key is made by
the installer and the hub token is a provisioned-looking one, both stored as systemd credentials.
The installer runs with ``--offline --uv-cache`` (the host's uv cache, warmed for the root's
Python by ``tests/deploy/container.py prepare``) and ``--headless`` (no screen, no tty1); the one
thing added by hand is the GPU stand-in drop-in (``GPU_STANDIN_ENVIRONMENT``).
"""

from __future__ import annotations

import secrets
import subprocess

from tests.deploy.container import (
    GPU_STANDIN_ENVIRONMENT,
    REPO,
    SOURCE_IN_CONTAINER,
    UV_CACHE_IN_CONTAINER,
    Container,
)

UNIT = "cabin.service"
CABIN_USER = "cabin"
RUNTIME_DIR = "/run/cabin"
PIN = "739184"  # not the demo's
# A real-looking address (the product refuses example hosts); the container has no network but
# its own loopback (systemd-nspawn --private-network): the name never resolves, nothing leaves.
HUB_URL = "https://hub.cabines-cantal.fr"
INSTALL_TIMEOUT_S = 240.0
GPU_DROPIN = "/etc/systemd/system/cabin.service.d/70-container-gpu.conf"


def pin_hash(pin: str = PIN) -> str:
    """The argon2 hash ``python -m kiosk.assistant set-pin`` prints for the PIN."""
    from kiosk.assistant import hash_pin  # noqa: PLC0415 - argon2: only when a test needs it

    return hash_pin(pin)


def cabin_toml(pin_hash_text: str) -> str:
    """The example configuration, filled as a person installing a cabin fills it."""
    text = (REPO / "deploy" / "cabin.example.toml").read_text(encoding="utf-8")
    replacements = {
        'id = "mairie-exemple"': 'id = "murat-mairie"',
        'pin_hash = ""': f'pin_hash = "{pin_hash_text}"',
        'url = "https://hub.example.invalid"': f'url = "{HUB_URL}"',
    }
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"deploy/cabin.example.toml has no {old!r} any more")
        text = text.replace(old, new)
    return text


def install_command(*extra: str) -> list[str]:
    return [
        f"{SOURCE_IN_CONTAINER}/deploy/install-cabin",
        "--offline",
        "--uv",
        "/usr/local/bin/uv",
        "--uv-cache",
        UV_CACHE_IN_CONTAINER,
        "--headless",
        "--hub-token-file",
        "/root/hub.token",
        *extra,
    ]


def prepare_inputs(box: Container) -> None:
    """What the person installing brings: the filled configuration, the hub token's file."""
    box.run(["install", "-d", "-m", "0755", "/etc/cabin"])
    box.path("/etc/cabin/cabin.toml").write_text(cabin_toml(pin_hash()), encoding="utf-8")
    box.path("/root/hub.token").write_text(f"cab_{secrets.token_urlsafe(32)}\n", encoding="utf-8")
    box.run(["chmod", "0600", "/root/hub.token"])
    dropin = box.path(GPU_DROPIN)
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(
        "# tests/deploy: the container has no GPU (tests/deploy/drm_render_node_shim.c)\n"
        "[Service]\n"
        + "".join(f"Environment={key}={value}\n" for key, value in GPU_STANDIN_ENVIRONMENT.items()),
        encoding="utf-8",
    )


def run_installer(box: Container, *extra: str) -> subprocess.CompletedProcess[str]:
    return box.run(install_command(*extra), timeout_s=INSTALL_TIMEOUT_S, check=False)


def install(box: Container) -> subprocess.CompletedProcess[str]:
    """Inputs, then the installer with --start; raises with its output if it failed."""
    prepare_inputs(box)
    # The config file belongs to root, readable by the cabin's group (the installer's own mode).
    result = run_installer(box, "--start")
    if result.returncode != 0:
        raise AssertionError(
            f"install-cabin failed ({result.returncode}):\n{result.stdout}{result.stderr}\n"
            f"{box.journal(UNIT, 80)}"
        )
    box.run(["chown", f"root:{CABIN_USER}", "/etc/cabin/cabin.toml"])
    box.run(["chmod", "0640", "/etc/cabin/cabin.toml"])
    return result
