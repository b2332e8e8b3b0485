"""Exception types of printing."""

from __future__ import annotations


class PrintError(Exception):
    """A document could not be printed (or written); nothing of it is left half-done."""


class DocumentError(PrintError):
    """A document cannot be made from what was given (a missing field, a missing font)."""
