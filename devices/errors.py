"""Exception types of the instrument drivers. None of them carries a patient's value."""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every error raised by ``devices``."""


class DecodeError(DeviceError, ValueError):
    """Bytes from an instrument do not form a valid message of its protocol."""


class EncodeError(DeviceError, ValueError):
    """A value cannot be represented in the protocol's format (e.g. out of the mantissa's range)."""


class TransportError(DeviceError):
    """The link to the instrument failed: unplugged, out of range, refused, timed out."""


class DeviceUnavailable(TransportError):
    """The instrument cannot be reached now; the driver keeps trying with backoff."""


class MeasurementFailed(DeviceError):
    """The instrument reported that it could not measure (cuff error, no finger, ...)."""
