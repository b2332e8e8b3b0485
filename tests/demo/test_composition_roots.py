"""The product is not the demo: the product's composition root (``kiosk.app``,
``kiosk.call_setup``, ``ui.main``, ``ui.session_runner``) knows nothing of ``simulators`` nor of
the demo's root (``demo``), which wires the simulators into the product's injection points."""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from kiosk.app import PRODUCT, open_core
from kiosk.call_setup import open_media
from kiosk.config import Config, load_config
from kiosk.errors import ConfigError
from kiosk.store import DatabaseKey

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("kiosk", "devices", "printing", "wire", "hub", "ui")
DEMO_MODULES = frozenset({"ui/scripted_demo.py"})
"""The demo's modules inside the product's packages: the scripted demo's script (it plays the
simulators' cabin and the demo hub's doctors). Nothing else."""
DEMO_PACKAGES = ("simulators", "demo")
KEY = DatabaseKey.generate()


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an import statement names (inside functions and ``TYPE_CHECKING`` blocks
    too), and every literal that ``importlib.import_module`` or ``__import__`` is given."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: a relative import"
            found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                found.append((node.lineno, str(first.value)))
    return found


def _of(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _offences(
    packages: tuple[str, ...], forbidden: tuple[str, ...], exempt: frozenset[str] = frozenset()
) -> tuple[int, list[str]]:
    offences = []
    scanned = 0
    for package in packages:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if relative in exempt:
                continue
            scanned += 1
            tree = ast.parse(path.read_text(encoding="utf-8"), relative)
            offences += [
                f"{relative}:{line}: {module}"
                for line, module in _imported(tree)
                if _of(module, forbidden)
            ]
    return scanned, offences


def test_no_product_module_imports_the_simulators_or_the_demo_root() -> None:
    scanned, offences = _offences(PRODUCT_PACKAGES, DEMO_PACKAGES, DEMO_MODULES)
    assert scanned > 100  # the scan saw the packages
    assert offences == []


def test_the_demo_modules_listed_exist_and_are_the_demos() -> None:
    """The exemption list names real files that do use the demo: none is left over."""
    for relative in DEMO_MODULES:
        tree = ast.parse((REPO_ROOT / relative).read_text(encoding="utf-8"))
        assert any(_of(module, DEMO_PACKAGES) for _, module in _imported(tree)), relative


def test_the_simulators_import_nothing_of_the_cabin_the_screen_the_hub_or_the_demo() -> None:
    scanned, offences = _offences(("simulators",), ("kiosk", "ui", "hub", "demo"))
    assert scanned > 20
    assert offences == []


def test_the_scan_finds_every_kind_of_import() -> None:
    """The scanner is no test that cannot fail: each way of importing is seen."""
    code = (
        "import simulators.cabin\n"
        "def f():\n"
        "    from simulators import sounds\n"
        "if TYPE_CHECKING:\n"
        "    from demo.root import demo_wiring\n"
        "importlib.import_module('simulators.media')\n"
        "__import__('demo')\n"
        "import simulatorsx\n"
    )
    found = [m for _, m in _imported(ast.parse(code)) if _of(m, DEMO_PACKAGES)]
    assert found == ["simulators.cabin", "simulators", "demo.root", "simulators.media", "demo"]


PRODUCT_RUN = """
import asyncio, json, sys
from pathlib import Path
import msgspec
import ui.main, ui.session_runner, kiosk.app, kiosk.call_setup
from devices.registry import InstrumentSpec, build_instruments
from kiosk.config import load_config
from kiosk.events import CorePart

async def main(data):
    config = load_config(Path(sys.argv[2]))
    instruments = build_instruments(
        [InstrumentSpec("oximeter-1", "pulse_oximeter", "serial", "/dev/cabin-no-such-port", "")]
    )
    core = await kiosk.app.open_core(
        config, data, env={"CABIN_DB_KEY": sys.argv[3]}, instruments=instruments
    )
    try:
        core.start_warm_up({})
        await core.warmed_up()
        parts = {part.value: core.part_state(part).value for part in CorePart}
    finally:
        await core.aclose()
    return parts

parts = asyncio.run(main(Path(sys.argv[1])))
loaded = sorted(
    m for m in sys.modules if m.split(".")[0] in ("simulators", "demo")
)
print(json.dumps({"parts": parts, "loaded": loaded}))
"""

PRODUCT_CONFIG = """
[cabin]
id = "mairie-test"
name = "Cabine de test"

[call]
camera = "/dev/cabin-no-such-camera"
microphone = "cabin-no-such-microphone"
speaker = "null"

[distress]
panic_button = ""
"""


def test_a_core_built_by_the_product_loads_no_simulator(tmp_path: Path) -> None:
    """The product's entry points imported, a core built and warmed up with an instrument
    injected: no module of ``simulators`` nor of the demo's root is ever loaded."""
    config = tmp_path / "cabin.toml"
    config.write_text(PRODUCT_CONFIG, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", PRODUCT_RUN, str(tmp_path / "data"), str(config), KEY.hex()],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # It did warm up: the camera that is not there failed (logged), the printer came up.
    assert report["parts"] == {"media": "unavailable", "hub": "unavailable", "printer": "ready"}
    assert "core.part_failed part=media" in result.stderr
    assert report["loaded"] == []


def _product_config(**call: str) -> Config:
    config = load_config(None)
    return msgspec.structs.replace(
        config,
        instruments=[],
        distress=msgspec.structs.replace(config.distress, panic_button=""),
        call=msgspec.structs.replace(config.call, **call),
    )


def test_the_product_refuses_simulated_instruments_that_nothing_serves(tmp_path: Path) -> None:
    config = load_config(None)  # the embedded defaults: the demo's
    with pytest.raises(ConfigError, match=r'instruments\[0\]\.address = "simulated"'):
        asyncio.run(open_core(config, tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, wiring=PRODUCT))


def test_the_product_refuses_a_simulated_panic_button(tmp_path: Path) -> None:
    config = load_config(None)
    with pytest.raises(ConfigError, match=r'distress\.panic_button = "simulated"'):
        asyncio.run(open_core(config, tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, instruments={}))


@pytest.mark.parametrize(
    ("call", "key"),
    [
        ({"camera": "synthetic"}, "call.camera"),
        ({"camera": "scene:fall"}, "call.camera"),
        ({"camera": "/dev/null", "microphone": "synthetic"}, "call.microphone"),
        ({"camera": "/dev/null", "microphone": "sound:help"}, "call.microphone"),
    ],
)
def test_the_product_refuses_a_drawn_camera_or_a_recorded_voice(
    tmp_path: Path, call: dict[str, str], key: str
) -> None:
    with pytest.raises(OSError, match=rf"^{key} = .* is the demo's"):
        open_media(_product_config(**call), tmp_path)


def test_the_products_process_sends_the_demo_to_its_own_root() -> None:
    """``python -m ui`` is the product's: asked for the demo, it says where the demo is."""
    result = subprocess.run(
        [sys.executable, "-m", "ui", "demo", "--scripted"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "python -m demo" in result.stderr
