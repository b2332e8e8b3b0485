"""Helpers shared by the codec tests: feeding stream decoders in pieces."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from hypothesis import strategies as st


class StreamDecoder(Protocol):
    discarded_bytes: int

    def feed(self, data: bytes) -> Any: ...


def feed_cut(decoder: StreamDecoder, data: bytes, cuts: Iterable[int]) -> list[Any]:
    """Feed ``data`` cut at the given offsets; return everything the decoder produced."""
    out: list[Any] = []
    start = 0
    for cut in sorted(cuts):
        out.extend(decoder.feed(data[start:cut]))
        start = cut
    out.extend(decoder.feed(data[start:]))
    return out


def check_every_split(
    make: Callable[[], StreamDecoder], data: bytes, expected: Sequence[Any]
) -> None:
    """Whole, cut in two at every offset, and byte by byte: always the same output."""
    assert feed_cut(make(), data, []) == list(expected)
    for cut in range(len(data) + 1):
        assert feed_cut(make(), data, [cut]) == list(expected), f"cut at {cut}"
    assert feed_cut(make(), data, range(len(data))) == list(expected)


def cuts_for(data: bytes) -> st.SearchStrategy[list[int]]:
    """Random cut offsets within ``data``."""
    return st.lists(st.integers(min_value=0, max_value=len(data)), max_size=8)


garbage = st.binary(max_size=40)
garbage_with_sync_bit = st.lists(st.integers(0x80, 0xFF), max_size=20).map(bytes)
garbage_without_sync_bit = st.lists(st.integers(0x00, 0x7F), max_size=20).map(bytes)
any_garbage = st.one_of(garbage, garbage_with_sync_bit, garbage_without_sync_bit)
