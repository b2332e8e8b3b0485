"""Writes readings into a store until it is killed; prints each reading id once committed.

Used by ``test_store.py`` to kill a writer (SIGKILL) mid-stream:
``python -m tests.kiosk.store_writer DB_PATH``, the key's hex in ``$STORE_WRITER_KEY``.
The first line is ``consultation <id>``; then one reading id per line, printed and flushed only
after ``Store.add_reading`` has returned (the reading is committed).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.patient import PatientIdentity
from kiosk.store import DatabaseKey, Store

KEY_ENV = "STORE_WRITER_KEY"

VALUES_PER_KIND = {
    ReadingKind.BLOOD_PRESSURE: 3,
    ReadingKind.TEMPERATURE: 1,
    ReadingKind.PULSE_OXIMETRY: 2,
}
"""How many values each reading the writer makes holds (a half-written one would have fewer)."""


def reading_number(n: int) -> Reading:
    """The n-th reading of the stream: the three kinds in turn, values derived from n."""
    at = datetime.now(UTC)
    values: tuple[Value, ...]
    match n % 3:
        case 0:
            values = (
                Value(Quantity.SYSTOLIC_MMHG, 100.0 + n % 50),
                Value(Quantity.DIASTOLIC_MMHG, 60.0 + n % 30),
                Value(Quantity.PULSE_BPM, 50.0 + n % 40),
            )
            return Reading("bp-1", ReadingKind.BLOOD_PRESSURE, values, at)
        case 1:
            values = (Value(Quantity.TEMPERATURE_C, 36.0 + (n % 30) / 10),)
            return Reading("thermo-1", ReadingKind.TEMPERATURE, values, at)
        case _:
            values = (
                Value(Quantity.SPO2_PERCENT, 90.0 + n % 10),
                Value(Quantity.PULSE_BPM, 50.0 + n % 40),
            )
            return Reading("oximeter-1", ReadingKind.PULSE_OXIMETRY, values, at)


def main(argv: list[str]) -> int:
    path = Path(argv[1])
    key = DatabaseKey.from_hex(os.environ.pop(KEY_ENV), f"${KEY_ENV}")
    store = Store.open(path, key)
    patient_id = store.add_patient(PatientIdentity("Writer", "Stream", date(1970, 1, 1)))
    consultation_id = store.start_consultation(patient_id, "fr")
    sys.stdout.write(f"consultation {consultation_id}\n")
    sys.stdout.flush()
    n = 0
    while True:
        reading_id = store.add_reading(consultation_id, reading_number(n))
        sys.stdout.write(f"{reading_id}\n")
        sys.stdout.flush()
        n += 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
