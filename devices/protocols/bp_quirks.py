"""Blood-pressure cuffs that break the Blood Pressure Service, and how: one set of quirks per
model, chosen by the Device Information strings the cuff gives at connection.

Every cuff is decoded strictly (``STRICT``: ``PROTOCOLS.md`` section 2) unless its manufacturer
name (0x2A29) and model number (0x2A24) name a model listed here; then, and only then, its
Blood Pressure Measurement (0x2A35) is read in that model's shape. A quirk never widens what a
strict decoder accepts for other cuffs: a cuff with no Device Information, or one that is not
listed, is refused when its frames are broken, as before.

**Beurer BM85** (``BEURER_BM85``). Source: derdilla/blood-pressure-monitor-fl, pull requests
#735 ("Add quirks for some Beurer devices (tested with BM85)": the BM85 sends the pulse and the
measurement status byte-swapped, following a list of non-conforming devices in Beurer's own
app), #737 (the status field big-endian, recorded from a BM85) and #740 (the list cut down to
the one device tested, the BM85); the frames recorded from a BM85 are test vectors in that
repository's ``app/test/features/bluetooth/logic/characteristics/ble_measurement_data_test.dart``
and in ``tests/devices/protocols/test_bp_quirks.py`` here. Their shape, e.g.
``56 6A 00 47 00 00 00 EA 07 08 0B 12 1F 00 00 3F 00 00 00``:

- flags 0x56: timestamp, pulse rate, measurement status, the reserved bit 6, and **not** the
  user id flag (bit 3), although the user id byte is there (19 bytes, one more than the flags
  announce);
- systolic, diastolic as SFLOAT little-endian, as the profile says; the mean arterial pressure
  is ``00 00``, i.e. not measured (read as NaN here, or it would fail the plausibility check);
- the timestamp little-endian, as the profile says;
- the pulse rate SFLOAT **big-endian** (``00 3F`` = 63 bpm);
- the user id byte (0 or 1 for the cuff's two users);
- the measurement status u16 **big-endian** (``00 04`` = irregular pulse).

Not confirmed: the exact Device Information strings a BM85 gives (the app above matches the
advertised name). Matching here ignores case, spaces and punctuation: a manufacturer name
containing "BEURER" and a model number "BM85" (optionally followed by letters, as "BM85-BT"). The
same app once listed the BM48, BM59 and Elite 900 too, then removed them untested: they stay
strict. Which Intermediate Cuff Pressure frames (0x2A36) a BM85 sends is not known either: the
driver does not fail a measurement on one it cannot read from a quirky cuff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BpQuirks:
    """How a model's Blood Pressure Measurement departs from the profile (all off: strict)."""

    name: str = "strict"
    pulse_rate_big_endian: bool = False
    status_big_endian: bool = False
    user_id_without_flag: bool = False  # the user id byte is always sent, its flag never set
    zero_mean_arterial_is_absent: bool = False  # MAP 0 means "not measured"
    reserved_flag_bits: int = 0  # reserved flag bits the model sets (written by the encoder)

    @property
    def strict(self) -> bool:
        return self == STRICT


STRICT = BpQuirks()
BEURER_BM85 = BpQuirks(
    name="beurer-bm85",
    pulse_rate_big_endian=True,
    status_big_endian=True,
    user_id_without_flag=True,
    zero_mean_arterial_is_absent=True,
    reserved_flag_bits=0x40,
)

# (manufacturer token, model pattern, quirks); both matched on upper-case letters and digits only.
_MODELS: tuple[tuple[str, re.Pattern[str], BpQuirks], ...] = (
    ("BEURER", re.compile(r"BM85(?![0-9])"), BEURER_BM85),
)


def _letters_and_digits(text: str | None) -> str:
    return re.sub(r"[^0-9A-Z]", "", (text or "").upper())


def bp_quirks_for(manufacturer: str | None, model: str | None) -> BpQuirks:
    """The quirks of the cuff whose Device Information strings these are (``STRICT`` for every
    cuff not listed, and for a cuff that gives no such strings)."""
    maker, number = _letters_and_digits(manufacturer), _letters_and_digits(model)
    for token, pattern, quirks in _MODELS:
        if token in maker and pattern.match(number):
            return quirks
    return STRICT
