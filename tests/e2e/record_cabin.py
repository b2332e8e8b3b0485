"""A cabin process for the record tests: the real core on a real SQLCipher file, with its hub
link and record sender, and consultations played through the same calls the screen makes.

``python -m tests.e2e.record_cabin --data D --hub URL [--make N]`` plays N consultations (each
ends and files its record), prints ``filed N``, then waits until the hub has acknowledged every
record in the outbox, prints ``sent``, and exits 0. The tests kill it with SIGKILL on the way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec

from demo.root import start_core
from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import EndReason
from kiosk.store import DatabaseKey, Store

KEY = DatabaseKey(bytes(range(32)), "tests")
CABIN_ID = "cabin-records"
PATIENT = PatientIdentity("Kerhervé", "Maëlle Anne", date(1944, 2, 29), Sex.FEMALE)


def reading(index: int) -> Reading:
    return Reading(
        "bp-1",
        ReadingKind.BLOOD_PRESSURE,
        (
            Value(Quantity.SYSTOLIC_MMHG, 120.0 + index),
            Value(Quantity.DIASTOLIC_MMHG, 80.0),
            Value(Quantity.PULSE_BPM, 70.0),
        ),
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC) + timedelta(minutes=index),
    )


async def cabin_core(data: Path, hub_url: str, token: str) -> KioskCore:
    """The demo configuration, on this hub, as cabin ``CABIN_ID``; its credential in a file."""
    config = load_config(None)
    config = msgspec.structs.replace(
        config,
        cabin=msgspec.structs.replace(config.cabin, id=CABIN_ID),
        hub=msgspec.structs.replace(config.hub, url=hub_url),
    )
    _write_token(data, token)
    return await start_core(config, data, env={"CABIN_DB_KEY": KEY.hex()}, instruments={})


def _write_token(data: Path, token: str) -> None:
    data.mkdir(parents=True, exist_ok=True)
    token_file = data / "hub.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)


async def play_consultations(core: KioskCore, count: int, first: int = 0) -> list[str]:
    """``count`` consultations of the same patient: identify, consent, a blood pressure, then
    the patient leaves (no doctor needed: a record is made for every consultation)."""
    ids: list[str] = []
    for index in range(first, first + count):
        consultation = core.consultation
        await consultation.start("fr")
        await consultation.choose_identify()
        await consultation.identify(PATIENT)
        await consultation.consent(True)
        consultation_id = core.session.context.consultation_id
        assert consultation_id is not None
        await consultation.record_reading(reading(index))
        core.session.end(EndReason.ABANDONED)
        await consultation.settled()
        await consultation.cleaning_done("agent")
        ids.append(consultation_id)
    return ids


async def pending(core: KioskCore) -> int:
    return await core.store.run(Store.outbox_pending)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--make", type=int, default=0)
    args = parser.parse_args(argv)
    core = await cabin_core(args.data, args.hub, args.token)
    try:
        await play_consultations(core, args.make)
        print(f"filed {await pending(core)}", flush=True)
        while await pending(core):  # noqa: ASYNC110 - the store is the truth, not an event
            await asyncio.sleep(0.05)
        print("sent", flush=True)
    finally:
        await core.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
