"""Errors raised when bytes from the network are not a valid message.

Their text names the problem and the field path, never a field's value: a message may carry health
data, and these errors end up in logs.
"""

from __future__ import annotations


class WireError(Exception):
    """Base of the errors raised by the `wire` package."""


class MalformedMessage(WireError):
    """The data is not JSON, or does not match the message's schema."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        where = f" at `{path}`" if path else ""
        super().__init__(f"malformed message{where}: {reason}")
        self.reason = reason
        self.path = path


class UnknownMessage(WireError):
    """The `type` tag is missing, unknown, or not accepted on this channel."""

    def __init__(self, reason: str, *, tag: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = tag
        """The tag when it names a known message that is not accepted here, else None."""
