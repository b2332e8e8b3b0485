"""The JSON Schema of the messages, for the doctor's console and the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import msgspec

from wire.messages import PROTOCOL_VERSION, Message

SCHEMA_PATH: Final = Path(__file__).with_name("schema.json")
"""Where the generated schema is kept in the source tree."""


def json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of any `Message`, discriminated by its `type` field."""
    schema: dict[str, object] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Cabin wire message",
        "description": f"Any message of the cabin protocol, version {PROTOCOL_VERSION}.",
    }
    schema.update(msgspec.json.schema(Message))
    return schema


def render_schema() -> str:
    """`json_schema()` as text: indented, keys sorted, newline-terminated."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
