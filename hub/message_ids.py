"""Ids of the messages the hub itself writes."""

from __future__ import annotations

import secrets


def new_msg_id() -> str:
    """A fresh `msg_id` (``hub-`` and 16 hexadecimal digits)."""
    return f"hub-{secrets.token_hex(8)}"
