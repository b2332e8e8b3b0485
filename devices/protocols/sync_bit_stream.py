"""Framing shared by the serial protocols whose first byte of a frame, and only it, has bit 7 set
(the old Contec CMS50 stream, Nonin Data Format 8): the sync bit is how a reader finds its place
again after noise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from devices.errors import DecodeError

SYNC_BIT = 0x80

F = TypeVar("F")


class SyncBitStreamDecoder(Generic[F]):
    """Cuts a byte stream into fixed-size frames on the sync bit; keeps a partial frame between
    calls. A byte with the sync bit always starts a new frame (an unfinished one is dropped);
    bytes without it outside a frame are skipped. ``discarded_bytes`` counts every byte not in a
    returned frame, ``bad_frames`` the unfinished or undecodable frames. Never raises.
    """

    def __init__(self, frame_size: int, decode: Callable[[bytes], F]) -> None:
        self._frame_size = frame_size
        self._decode = decode
        self._frame = bytearray()
        self.discarded_bytes = 0
        self.bad_frames = 0

    def _drop_frame(self) -> None:
        self.bad_frames += 1
        self.discarded_bytes += len(self._frame)
        self._frame.clear()

    def feed(self, data: bytes) -> list[F]:
        frames: list[F] = []
        for byte in bytes(data):
            if byte & SYNC_BIT:
                if self._frame:
                    self._drop_frame()
                self._frame.append(byte)
            elif not self._frame:
                self.discarded_bytes += 1
            else:
                self._frame.append(byte)
                if len(self._frame) == self._frame_size:
                    try:
                        frames.append(self._decode(bytes(self._frame)))
                    except DecodeError:
                        self._drop_frame()
                    else:
                        self._frame.clear()
        return frames
