"""Errors of the cabin's call client."""

from __future__ import annotations

from kiosk.errors import KioskError


class CallError(KioskError):
    """The call cannot do what was asked (not started, already ended, another consultation)."""
