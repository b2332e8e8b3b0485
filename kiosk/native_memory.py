"""glibc's malloc, as the cabin's process sees it: how many arenas it may keep, and what it holds.

A cabin runs for weeks: memory that Python does not see (FFmpeg's buffers, the video encoder's,
freed blocks kept in a thread's arena) is what grows. The cabin limits its arenas at start
(`limit_arenas`); the soak (`bench/bench_soak.py`) and the capture's leak test read the totals
(`malloc_totals`) and each arena (`arenas`). Where libc is not glibc, nothing is limited and the
totals are unknown (None).
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

M_ARENA_MAX: Final = -8  # mallopt's parameter number (glibc's malloc.h)
MB: Final = 1024 * 1024


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``: summed over every arena, and the blocks mapped apart."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@dataclass(frozen=True, slots=True)
class MallocTotals:
    in_use_bytes: int  # handed out and not given back: in the arenas, and mapped apart
    free_bytes: int  # freed, but kept in the arenas (not returned to the system)


def _glibc() -> ctypes.CDLL | None:
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    return libc


def limit_arenas(count: int) -> bool:
    """At most ``count`` malloc arenas from now on (call it before threads start); False where
    it could not be set."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, count))


def malloc_totals() -> MallocTotals | None:
    libc = _glibc()
    if libc is None:
        return None
    info = libc.mallinfo2()
    return MallocTotals(int(info.uordblks + info.hblkhd), int(info.fordblks))


def arenas(scratch: Path) -> list[tuple[float, float]]:
    """Each arena's size and the free bytes it keeps, in MB, from ``malloc_info``'s report
    (written to a file in ``scratch``: glibc writes it only to a ``FILE``)."""
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "malloc_info"):
        return []
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    path = scratch / "malloc-info.xml"
    handle = libc.fopen(str(path).encode(), b"w")
    if not handle:
        return []
    try:
        libc.malloc_info(0, handle)
    finally:
        libc.fclose(handle)
    found = []
    for heap in re.findall(r'<heap nr="\d+">(.*?)</heap>', path.read_text(), re.DOTALL):
        free = sum(
            int(n)
            for n in re.findall(r'<total type="(?:fast|rest)" count="\d+" size="(\d+)"', heap)
        )
        size = re.search(r'<system type="current" size="(\d+)"', heap)
        found.append((int(size[1]) / MB if size else 0.0, free / MB))
    return found
