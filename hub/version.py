"""The hub's software version, as `Welcome` announces it."""

from __future__ import annotations

import functools
import importlib.metadata

_UNKNOWN = "0.0.0"


@functools.cache
def hub_version() -> str:
    try:
        return importlib.metadata.version("cabin")
    except importlib.metadata.PackageNotFoundError:
        return _UNKNOWN
