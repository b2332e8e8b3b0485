"""Faults a simulated instrument can be told to commit, on the device side of the link."""

from __future__ import annotations

import enum


class Fault(enum.Enum):
    GARBAGE = "garbage"  # random bytes between frames
    TRUNCATED = "truncated"  # frames cut short
    BAD_CHECKSUM = "bad_checksum"  # frames whose checksum (or sync bits) is wrong
    SILENCE = "silence"  # the device stops talking, the link stays up
    LOW_BATTERY = "low_battery"  # the device reports a low battery
    OUT_OF_RANGE = "out_of_range"  # impossible values (a broken sensor)
    CUFF_ERROR = "cuff_error"  # the measurement is aborted by the device
    NO_FINGER = "no_finger"  # the oximeter has no finger in its clip
    # The link drops the moment the cabin asks for a measurement, before the device answers
    # (a loose USB plug, a cuff at the edge of range), once. Serial: the cable is out until
    # ``plug()``; BLE: the device drops the link and can be reached again at once.
    DROP_ON_START = "drop_on_start"
