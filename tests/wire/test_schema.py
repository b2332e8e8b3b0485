"""The JSON Schema of the messages, and the `python -m wire` command that keeps it in the tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wire import TAGS
from wire.__main__ import main
from wire.schema import SCHEMA_PATH, json_schema, render_schema


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema()
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == json_schema()
    assert main(["--check"]) == 0


def test_schema_defines_every_message_by_its_tag() -> None:
    schema = json_schema()
    defs: dict[str, Any] = schema["$defs"]  # type: ignore[assignment]
    discriminator: dict[str, Any] = schema["discriminator"]  # type: ignore[assignment]
    assert discriminator["propertyName"] == "type"
    assert set(discriminator["mapping"]) == set(TAGS)
    for tag, cls in TAGS.items():
        definition = defs[cls.__name__]
        assert definition["properties"]["type"] == {"enum": [tag]}
        assert {"type", "msg_id"} <= set(definition["required"])
        assert definition["additionalProperties"] is False
        assert discriminator["mapping"][tag] == f"#/$defs/{cls.__name__}"
    assert len(schema["anyOf"]) == len(TAGS)  # type: ignore[arg-type]


def test_schema_carries_the_constraints() -> None:
    defs: dict[str, Any] = json_schema()["$defs"]  # type: ignore[assignment]
    vital = defs["Vital"]["properties"]
    spo2 = next(s for s in vital["spo2_percent"]["anyOf"] if s.get("type") == "number")
    assert (spo2["minimum"], spo2["maximum"]) == (0, 100)
    temperature = next(s for s in vital["temperature_c"]["anyOf"] if s.get("type") == "number")
    assert (temperature["minimum"], temperature["maximum"]) == (20, 50)
    assert vital["measured_at"] == {"type": "string", "format": "date-time"}
    assert set(defs["VitalKind"]["enum"]) == {"blood_pressure", "temperature", "spo2", "pulse"}


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    assert main(["--check", "--path", str(path)]) == 1
    path.write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--path", str(path)]) == 1


def test_write_then_check(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    assert main(["--path", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert main(["--check", "--path", str(path)]) == 0
