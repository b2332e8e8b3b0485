"""The PostgreSQL storage's own guarantees, on a real server: its migrations, its data keys, what
a dump shows, two replicas racing, re-encryption after a rotation, and PostgreSQL going away.

Behaviour shared with SQLite is the conformance suite's (`tests/hub/storage_conformance`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

import wire
from fleet.servers import PostgresServer, postgres, start_postgres_again, stop_postgres
from hub.config import HubConfig, load_hub_config
from hub.errors import ConfigError, DatabaseKeyError, StorageError
from hub.patients import match_key
from hub.postgres_migrations import MIGRATIONS
from hub.postgres_storage import SEALED, PostgresStorage
from hub.sealing import DataKeyring
from hub.storage import (
    AdviceRecord,
    ConsultationRecordUpload,
    ReadingRecord,
)
from hub.storage_credentials import load_postgres_password
from tests.hub.hub_rig import TIMEOUT_S, new_id, running_hub, until
from tests.hub.pg_backend import (
    INDEX_HEX,
    K1_HEX,
    K2_HEX,
    ROTATED_RING_TEXT,
    TEST_RING_TEXT,
    fresh_database,
    keyring_of,
    open_postgres_storage,
    postgres_server,
)
from tests.hub.storage_conformance.samples import alert, consultation, doctor, prescription
from wire.fhir_record import RecordInput, build_bundle, record_id_for

__all__ = ["postgres_server"]  # the module's server fixture

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FAMILY, GIVEN, BORN = "Le Gall-Quéméner", "Éloïse Anne-Gaëlle", date(1947, 3, 9)
NOTE = "Souffle systolique 2/6 au foyer aortique, à réévaluer"
ADVICE = "Reposez-vous et buvez beaucoup d'eau chaque jour"
REASON = "Essoufflement à l'effort depuis trois semaines"


def _run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def _dump(server: PostgresServer, name: str) -> bytes:
    """The dump without its random `\\restrict` token (the same database, the same dump)."""
    return re.sub(rb"(?m)^\\(un)?restrict \S+$", b"", server.dump(name))


def _version(server: PostgresServer, name: str) -> str:
    return server.psql("SELECT coalesce(max(version), 0) FROM schema_version", name).strip()


def _exists(server: PostgresServer, name: str, table: str) -> bool:
    return server.psql(f"SELECT to_regclass('{table}') IS NOT NULL", name).strip() == "t"


# migrations


def test_a_fresh_database_is_migrated_to_the_last_version_once(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server)

    async def scenario() -> None:
        for _ in range(2):
            storage = await open_postgres_storage(dsn)
            await storage.check()
            await storage.close()

    _run(scenario())
    assert _version(postgres_server, name) == str(len(MIGRATIONS))
    assert postgres_server.psql("SELECT count(*) FROM schema_version", name).strip() == "1"
    for table in SEALED:
        assert _exists(postgres_server, name, table)


def test_a_migration_that_fails_half_way_leaves_nothing_of_itself(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server)
    first_fails = ((*MIGRATIONS[0], "SELECT 1 / 0"),)
    with pytest.raises(StorageError, match="division by zero"):
        _run(PostgresStorage.open(dsn, keyring_of(), migrations=first_fails))
    assert not _exists(postgres_server, name, "doctors")
    assert not _exists(postgres_server, name, "schema_version")

    _run(_open_and_close(dsn))
    half_done = (
        "CREATE TABLE half_done (x integer)",
        "INSERT INTO half_done VALUES (1)",
        "ALTER TABLE consultations ADD COLUMN half_done integer",
        "SELECT no_such_function()",
    )
    with pytest.raises(StorageError, match="no_such_function"):
        _run(PostgresStorage.open(dsn, keyring_of(), migrations=(*MIGRATIONS, half_done)))
    assert not _exists(postgres_server, name, "half_done")
    columns = postgres_server.psql(
        "SELECT count(*) FROM information_schema.columns WHERE column_name = 'half_done'", name
    )
    assert columns.strip() == "0"
    assert _version(postgres_server, name) == str(len(MIGRATIONS))
    _run(_open_and_close(dsn))  # this hub's version still opens it


async def _open_and_close(dsn: str, keyring: DataKeyring | None = None) -> None:
    storage = await open_postgres_storage(dsn, keyring)
    await storage.close()


def test_a_database_of_a_newer_hub_is_refused_naming_both_versions(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server)
    _run(_open_and_close(dsn))
    newer = len(MIGRATIONS) + 1
    postgres_server.psql(f"UPDATE schema_version SET version = {newer}", name)
    with pytest.raises(StorageError) as refused:
        _run(_open_and_close(dsn))
    assert f"schema version {newer}, newer than this hub knows ({len(MIGRATIONS)})" in str(
        refused.value
    )
    assert "replicas of different versions" in str(refused.value)
    assert _version(postgres_server, name) == str(newer)


# data keys


def test_a_wrong_data_key_refuses_to_start_and_touches_nothing(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server)

    async def fill() -> None:
        storage = await open_postgres_storage(dsn)
        await storage.add_doctor(doctor())
        await storage.open_consultation(consultation("c-1"))
        await storage.close()

    _run(fill())
    before = _dump(postgres_server, name)
    wrong_k1 = DataKeyring.parse(f"index {INDEX_HEX}\nk1 {K2_HEX}\n", "/etc/hub/data.keys")
    with pytest.raises(DatabaseKeyError, match=r"/etc/hub/data\.keys: the data key 'k1' is not"):
        _run(_open_and_close(dsn, wrong_k1))
    without_k1 = DataKeyring.parse(f"index {INDEX_HEX}\nk2 {K2_HEX}\n", "$HUB_DATA_KEYS")
    with pytest.raises(DatabaseKeyError, match=r"\$HUB_DATA_KEYS: .*'k1', which the ring lacks"):
        _run(_open_and_close(dsn, without_k1))
    wrong_index = DataKeyring.parse(f"index {K2_HEX}\nk1 {K1_HEX}\n", "credential hub-data-keys")
    with pytest.raises(DatabaseKeyError, match="credential hub-data-keys: the index key"):
        _run(_open_and_close(dsn, wrong_index))
    assert _dump(postgres_server, name) == before

    async def still_readable() -> None:
        storage = await open_postgres_storage(dsn)
        stored = await storage.consultation("c-1")
        assert stored == consultation("c-1")
        await storage.close()

    _run(still_readable())


def test_a_value_moved_to_another_row_does_not_open(postgres_server: PostgresServer) -> None:
    name, dsn = fresh_database(postgres_server)

    async def fill() -> None:
        storage = await open_postgres_storage(dsn)
        await storage.open_consultation(consultation("c-1"))
        await storage.open_consultation(consultation("c-2"))
        await storage.set_notes("c-1", NOTE)
        await storage.close()

    _run(fill())
    postgres_server.psql(
        "UPDATE consultations SET notes = (SELECT notes FROM consultations"
        " WHERE consultation_id = 'c-1') WHERE consultation_id = 'c-2'",
        name,
    )

    async def read() -> None:
        storage = await open_postgres_storage(dsn)
        try:
            assert (await storage.consultation("c-1")) is not None
            with pytest.raises(StorageError, match=r"consultations\.notes does not open"):
                await storage.consultation("c-2")
        finally:
            await storage.close()

    _run(read())


# what a dump shows


def _full_record(consultation_id: str, who: wire.PatientSummary) -> bytes:
    vitals = (
        wire.Vital(
            kind=wire.VitalKind.BLOOD_PRESSURE,
            measured_at=NOW,
            device_id="bp-1",
            systolic_mmhg=141,
            diastolic_mmhg=87,
        ),
    )
    signed = prescription("2026-000042", consultation_id)
    message = wire.PrescriptionMessage(
        msg_id=signed.msg_id,
        prescription_id=signed.prescription_id,
        consultation_id=consultation_id,
        issued_at=signed.issued_at,
        prescriber=signed.prescriber,
        lines=list(signed.lines),
        key_id=signed.key_id,
        signature=signed.signature,
        patient=who,
    )
    pdf = f"%PDF-1.4 Ordonnance pour {FAMILY} {GIVEN}, née le 09/03/1947".encode()
    return build_bundle(
        RecordInput(
            record_id=record_id_for(consultation_id),
            consultation_id=consultation_id,
            cabin_id="cabin-1",
            cabin_name="Cabine de Plœmeur",
            patient_local_id="patient-7",
            patient=who,
            language=wire.Language.FR,
            started_at=NOW,
            ended_at=NOW + timedelta(minutes=20),
            end_reason="completed",
            reason=REASON,
            doctor=signed.prescriber,
            doctor_id="dr.e",
            vitals=vitals,
            prescriptions=(message,),
            prescription_pdfs={signed.prescription_id: pdf},
            summary_pdf=pdf,
            advice=ADVICE,
        )
    )


def _forbidden_texts() -> list[bytes]:
    """The patient's name, birth date (every common way of writing it), notes and advice."""
    words = [*re.split(r"[\s-]+", FAMILY), *re.split(r"[\s-]+", GIVEN)]
    names = [w for w in words if len(w) > 3]
    dates = [
        BORN.isoformat(),
        BORN.strftime("%d/%m/%Y"),
        BORN.strftime("%d.%m.%Y"),
        BORN.strftime("%d-%m-%Y"),
        BORN.strftime("%m/%d/%Y"),
        BORN.strftime("%Y%m%d"),
        BORN.strftime("%d%m%Y"),
        "9 mars 1947",
        "09 mars 1947",
        "March 9, 1947",
    ]
    texts = [*names, *(n.upper() for n in names), FAMILY, GIVEN, *dates, NOTE, ADVICE, REASON]
    texts += ["Paracétamol", "Souffle systolique", "systolic", "Ordonnance pour"]
    texts += ["quemener", "eloise", "le gall"]  # the normalised match key
    encoded = [t.encode() for t in texts]
    # as JSON escapes and base64 would write them, too
    encoded += [msgspec.json.encode(t)[1:-1] for t in texts]
    encoded += [base64.b64encode(t.encode())[:16] for t in (FAMILY, GIVEN, NOTE)]
    return sorted(set(encoded))


def test_a_dump_of_a_full_consultation_holds_no_name_no_birth_date_and_no_note(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server)
    who = wire.PatientSummary(
        family_name=FAMILY, given_names=GIVEN, birth_date=BORN, sex=wire.Sex.FEMALE
    )

    async def consultation_of_the_demo() -> None:
        storage = await open_postgres_storage(dsn)
        await storage.add_doctor(doctor())
        record = dataclasses.replace(
            consultation("c-demo", who=who, match_key=match_key(who)), reason=REASON
        )
        await storage.open_consultation(record)
        assert await storage.mark_taken("c-demo", doctor="dr.é", at=NOW)
        await storage.add_reading(
            ReadingRecord(
                "c-demo",
                "m-1",
                wire.Vital(
                    kind=wire.VitalKind.TEMPERATURE,
                    measured_at=NOW,
                    device_id="thermo-1",
                    temperature_c=38.7,
                ),
                NOW,
            )
        )
        await storage.set_notes("c-demo", NOTE)
        advice = await storage.set_advice("c-demo", ADVICE, msg_id="advice-1", at=NOW)
        assert isinstance(advice, AdviceRecord)
        signed = dataclasses.replace(prescription("2026-000042", "c-demo"), patient=who)
        await storage.add_prescription(signed)
        bundle = _full_record("c-demo", who)
        upload = ConsultationRecordUpload(
            record_id=record_id_for("c-demo"),
            consultation_id="c-demo",
            cabin_id="cabin-1",
            created_at=NOW,
            received_at=NOW,
            bundle=bundle,
            match_key=match_key(who),
            started_at=NOW,
            digest=msgspec.json.encode({"reason": REASON, "advice": ADVICE}),
        )
        assert await storage.add_record(upload)
        await storage.add_alert(
            dataclasses.replace(alert("alert-1"), detail=f"{FAMILY} est tombée")
        )
        # everything reads back
        stored = await storage.consultation("c-demo")
        assert stored is not None and stored.patient == who and stored.notes == NOTE
        assert await storage.record_bundle("cabin-1", upload.record_id) == bundle
        earlier = await storage.earlier_records(
            match_key(who), before=NOW + timedelta(days=1), exclude="", limit=5
        )
        assert [r.record_id for r in earlier] == [upload.record_id]
        await storage.close()

    _run(consultation_of_the_demo())
    dump = postgres_server.dump(name)
    # ids, usernames and a cabin's name are in the clear: the search does see text
    assert b"c-demo" in dump and b"dr.\xc3\xa9" in dump and "Plœmeur".encode() in dump
    found = [text for text in _forbidden_texts() if text.lower() in dump.lower()]
    assert found == []


# two replicas


def test_fifty_takes_of_one_patient_from_two_replicas_one_wins_every_time(
    postgres_server: PostgresServer,
) -> None:
    _, dsn = fresh_database(postgres_server)

    async def scenario() -> None:
        replica_a = await open_postgres_storage(dsn)
        replica_b = await open_postgres_storage(dsn)
        try:
            await replica_a.add_doctor(doctor("dr.a"))
            await replica_a.add_doctor(doctor("dr.b"))
            for round_number in range(10):
                consultation_id = f"c-race-{round_number}"
                await replica_a.open_consultation(consultation(consultation_id))
                takes = [
                    (replica_a if i % 2 else replica_b).mark_taken(
                        consultation_id, doctor="dr.a" if i % 2 else "dr.b", at=NOW
                    )
                    for i in range(50)
                ]
                won = await asyncio.gather(*takes)
                assert won.count(True) == 1, round_number
                stored = await replica_b.consultation(consultation_id)
                assert (
                    stored is not None
                    and stored.doctor == ("dr.a", "dr.b")[won.index(True) % 2 == 0]
                )
        finally:
            await replica_a.close()
            await replica_b.close()

    _run(scenario())


def test_the_same_alert_from_two_replicas_at_once_is_new_exactly_once(
    postgres_server: PostgresServer,
) -> None:
    _, dsn = fresh_database(postgres_server)

    async def scenario() -> None:
        replica_a = await open_postgres_storage(dsn)
        replica_b = await open_postgres_storage(dsn)
        try:
            for round_number in range(20):
                sent = alert(f"alert-{round_number}")
                results = await asyncio.gather(
                    *((replica_a, replica_b)[i % 2].add_alert(sent) for i in range(8))
                )
                assert [new for _, new in results].count(True) == 1
                assert all(stored == sent for stored, _ in results)
            assert len(await replica_a.open_alerts(since=NOW - timedelta(days=1))) == 20
        finally:
            await replica_a.close()
            await replica_b.close()

    _run(scenario())


# key rotation


def _count_sealed_with(server: PostgresServer, name: str, key_id: str) -> int:
    prefix = bytes([len(key_id)]) + key_id.encode()
    total = 0
    for table, (_, columns) in SEALED.items():
        for column in columns:
            total += int(
                server.psql(
                    f"SELECT count(*) FROM {table} WHERE substring({column} from 1 for"
                    f" {len(prefix)}) = '\\x{prefix.hex()}'::bytea",
                    name,
                )
            )
    return total


def test_a_new_key_seals_new_values_and_old_ones_are_resealed_in_the_background(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server)
    count = 40

    async def fill() -> None:
        storage = await open_postgres_storage(dsn)
        await storage.add_doctor(doctor())
        await storage.set_totp("dr.é", secret="JBSWY3DPEHPK3PXP", pending_secret=None)
        for i in range(count):
            await storage.open_consultation(consultation(f"c-{i:03}"))
            await storage.set_notes(f"c-{i:03}", f"{NOTE} {i}")
            await storage.add_reading(ReadingRecord(f"c-{i:03}", "m-1", _vital(i), NOW))
            await storage.add_alert(alert(f"alert-{i:03}"))
        await storage.add_prescription(prescription("2026-000001", "c-000"))
        await storage.close()

    _run(fill())
    old_values = _count_sealed_with(postgres_server, name, "k1")
    assert old_values > 4 * count

    async def rotate() -> None:
        rotated = keyring_of(ROTATED_RING_TEXT)
        replica_a = await open_postgres_storage(dsn, rotated)
        replica_b = await open_postgres_storage(dsn, rotated)
        try:
            await replica_a.set_notes("c-000", "written after the rotation")
            usage = await replica_a.key_usage()
            assert usage["k2"] == 1 and usage["k1"] == old_values - 1
            reads = 0
            stop = asyncio.Event()

            async def keep_reading() -> None:
                nonlocal reads
                while not stop.is_set():
                    for i in range(0, count, 7):
                        stored = await replica_b.consultation(f"c-{i:03}")
                        assert stored is not None and stored.notes.startswith(
                            "written" if i == 0 else NOTE
                        )
                        assert len(await replica_b.readings(f"c-{i:03}")) == 1
                    reads += 1
                    await asyncio.sleep(0)

            reader = asyncio.create_task(keep_reading())
            # both replicas re-encrypt at once, in small batches
            resealed = await asyncio.gather(replica_a.reseal(batch=7), replica_b.reseal(batch=5))
            stop.set()
            await reader
            assert reads >= 1
            assert sum(resealed) == 3 * count + 2  # the rows holding a k1 value
            assert await replica_a.key_usage() == {"k1": 0, "k2": old_values}
        finally:
            await replica_a.close()
            await replica_b.close()

    _run(rotate())
    assert _count_sealed_with(postgres_server, name, "k1") == 0
    assert (
        postgres_server.psql(
            "SELECT retired_at IS NOT NULL FROM data_keys WHERE key_id = 'k1'", name
        ).strip()
        == "t"
    )

    async def without_the_old_key() -> None:
        only_k2 = keyring_of(f"index {INDEX_HEX}\nk2 {K2_HEX}\n")
        storage = await open_postgres_storage(dsn, only_k2)
        try:
            for i in range(count):
                stored = await storage.consultation(f"c-{i:03}")
                assert stored is not None and stored.patient == consultation("c").patient
                assert (await storage.readings(f"c-{i:03}"))[0].vital == _vital(i)
                assert (await storage.alert(f"alert-{i:03}")) == alert(f"alert-{i:03}")
            account = await storage.login_account("dr.é")
            assert account is not None and account.totp_secret == "JBSWY3DPEHPK3PXP"
            assert await storage.prescription("2026-000001") == prescription("2026-000001", "c-000")
        finally:
            await storage.close()

    _run(without_the_old_key())


def test_the_hubs_background_reseal_runs_after_start_and_logs_its_progress(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    _, dsn = fresh_database(postgres_server)

    async def scenario() -> None:
        storage = await open_postgres_storage(dsn)
        for i in range(5):
            await storage.open_consultation(consultation(f"c-{i}"))
        await storage.close()
        rotated = await PostgresStorage.open(dsn, keyring_of(ROTATED_RING_TEXT))
        try:
            rotated.start_resealing()
            await until(lambda: "hub.rekey_done" in caplog.text, TIMEOUT_S, "the background reseal")
            assert (await rotated.key_usage())["k1"] == 0
        finally:
            await rotated.close()

    with caplog.at_level("INFO", logger="hub.postgres_storage"):
        _run(scenario())
    assert "hub.rekey_progress table=consultations resealed=5 key_id=k2" in caplog.text
    assert "unused_keys=k1" in caplog.text
    assert K1_HEX not in caplog.text and "Łukaszewska" not in caplog.text


def _vital(i: int) -> wire.Vital:
    return wire.Vital(
        kind=wire.VitalKind.SPO2, measured_at=NOW, device_id="ox-1", spo2_percent=90 + i % 10
    )


# PostgreSQL going away


def test_postgresql_stopped_is_a_storage_error_and_back_the_same_storage_works() -> None:
    with postgres() as server:
        _, dsn = fresh_database(server)

        async def scenario() -> None:
            storage = await PostgresStorage.open(dsn, keyring_of(), timeout_s=5)
            try:
                await storage.open_consultation(consultation("c-1"))
                await asyncio.to_thread(stop_postgres, server.folder / "data")
                with pytest.raises(StorageError) as down:
                    await storage.consultation("c-1")
                message = str(down.value)
                assert f"PostgreSQL at 127.0.0.1:{server.port}/" in message
                assert "cannot be reached" in message and "Traceback" not in message
                with pytest.raises(StorageError):
                    await storage.check()
                await asyncio.to_thread(start_postgres_again, server)
                await storage.check()
                assert await storage.consultation("c-1") == consultation("c-1")
                await storage.set_notes("c-1", NOTE)
            finally:
                await storage.close()

        _run(scenario())


def test_opening_a_database_that_is_not_there_says_where(
    postgres_server: PostgresServer,
) -> None:
    with pytest.raises(StorageError, match=r"PostgreSQL at 127\.0\.0\.1:1/hub cannot be reached"):
        _run(PostgresStorage.open("postgresql://hub@127.0.0.1:1/hub", keyring_of(), timeout_s=5))
    missing = postgres_server.dsn("no_such_database")
    with pytest.raises(StorageError, match=r"/no_such_database refused the connection: .*exist"):
        _run(PostgresStorage.open(missing, keyring_of(), timeout_s=5))


# a hub on PostgreSQL


def test_a_hub_on_postgresql_signs_a_doctor_in_and_queues_a_patient(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    _, dsn = fresh_database(postgres_server)
    data = tmp_path / "hub-data"
    data.mkdir(mode=0o700)
    key_file = data / "hub-data.keys"
    key_file.write_text(TEST_RING_TEXT)
    key_file.chmod(0o600)

    async def scenario() -> None:
        storage = {"backend": "postgresql", "dsn": dsn}
        async with running_hub(tmp_path, storage=storage) as rig:
            assert isinstance(rig.hub.storage, PostgresStorage)
            console = await (await rig.login("dr.a")).console()
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            room = await console.expect(wire.WaitingRoom)
            while not room.entries:
                room = await console.expect(wire.WaitingRoom)
            assert [entry.consultation_id for entry in room.entries] == ["c-1"]
            stored = await rig.hub.storage.consultation("c-1")
            assert stored is not None and stored.patient.family_name == "Quelennec"
            take = wire.TakeConsultation(msg_id=new_id("take"), consultation_id="c-1")
            await console.send(take)
            await console.expect(wire.CallAccepted)

    _run(scenario())
    _run(_open_and_close(dsn, keyring_of()))  # its keys recorded: the same ring opens it again


# the command line on PostgreSQL

ROOT = Path(__file__).resolve().parents[2]


def _cli_config(tmp_path: Path, dsn: str) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'argon2_cost = "test"\nport = 0\n[storage]\nbackend = "postgresql"\ndsn = "{dsn}"\n'
    )
    return config


def _cli(
    tmp_path: Path, config: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HUB_DB_KEY", "HUB_DATA_KEYS")}
    return subprocess.run(
        [sys.executable, "-m", "hub", *args, "--config", str(config), "--data", str(tmp_path)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_command_line_serves_and_rotates_keys_on_postgresql(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    _, dsn = fresh_database(postgres_server)
    config = _cli_config(tmp_path, dsn)
    made = _cli(tmp_path, config, "new-data-keys")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "hub-data.keys").stat().st_mode & 0o777 == 0o600
    created = _cli(
        tmp_path,
        config,
        "create-doctor",
        "dr.cli",
        "--name",
        "Dr Cli",
        "--specialty",
        "Médecine générale",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert created.returncode == 0, created.stderr
    listed = _cli(tmp_path, config, "list-doctors")
    assert listed.stdout.startswith("dr.cli\tDr Cli"), listed.stderr

    env = {k: v for k, v in os.environ.items() if k not in ("HUB_DB_KEY", "HUB_DATA_KEYS")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--config", str(config), "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert line.startswith("hub: serving on http://127.0.0.1:"), serve.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        _, errors = serve.communicate(timeout=TIMEOUT_S)
    assert serve.returncode == 0, errors
    assert "Traceback" not in errors

    rotated = _cli(tmp_path, config, "rotate-data-key", "k2")
    assert rotated.returncode == 0, rotated.stderr
    usage = _cli(tmp_path, config, "data-keys", "--reseal")
    assert usage.returncode == 0, usage.stderr
    assert "k1\tunused: may leave the ring" in usage.stdout
    assert re.search(r"^k2\t\d+ values$", usage.stdout, re.M), usage.stdout


def test_serve_with_the_wrong_data_keys_says_so_in_one_line(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    _, dsn = fresh_database(postgres_server)
    _run(_open_and_close(dsn))
    config = _cli_config(tmp_path, dsn)
    key_file = tmp_path / "hub-data.keys"
    key_file.write_text(f"index {INDEX_HEX}\nk1 {K2_HEX}\n")
    key_file.chmod(0o600)
    refused = _cli(tmp_path, config, "serve")
    assert refused.returncode == 1
    assert f"hub: {key_file}: the data key 'k1' is not the key this database knows" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr and K2_HEX not in refused.stderr


# the configuration


@pytest.mark.parametrize(
    ("storage", "problem"),
    [
        ({"backend": "postgresql"}, '`backend = "postgresql"` needs `dsn`'),
        (
            {"backend": "postgresql", "dsn": "postgresql://hub:s3cret@db/hub"},
            "`dsn` must not hold the password",
        ),
        ({"backend": "postgresql", "dsn": "mysql://db/hub"}, "must start with postgresql://"),
        ({"dsn": "postgresql://hub@db/hub"}, '`dsn` is for `backend = "postgresql"`'),
        ({"backend": "oracle"}, "storage.backend: Invalid enum value"),
        (
            {"backend": "postgresql", "dsn": "postgresql://db/hub", "min_connections": 20},
            "`min_connections` is more than `max_connections`",
        ),
    ],
)
def test_the_storage_table_is_checked_with_messages_a_person_can_act_on(
    storage: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_hub_config(None, overrides={"storage": storage})
    assert problem in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_the_database_password_comes_from_a_variable_a_credential_or_a_file(
    tmp_path: Path,
) -> None:
    def config(**storage: str) -> HubConfig:
        return load_hub_config(
            None,
            data_dir=tmp_path,
            overrides={
                "storage": {"backend": "postgresql", "dsn": "postgresql://hub@db/hub", **storage}
            },
        )

    assert load_postgres_password(config(), {}) is None  # peer or certificate authentication
    env = {"HUB_PG_PASSWORD": "from-the-environment"}
    assert load_postgres_password(config(), env) == "from-the-environment"
    assert env == {}
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hub-pg-password").write_text("from-a-credential\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    assert load_postgres_password(config(), env) == "from-a-credential"
    (tmp_path / "pg.password").write_text("from-a-file\n")
    (tmp_path / "pg.password").chmod(0o600)
    assert load_postgres_password(config(password_file="pg.password"), {}) == "from-a-file"
    with pytest.raises(ConfigError, match="no PostgreSQL password"):
        load_postgres_password(config(password_file="missing.password"), {})


def test_replicas_starting_at_once_on_a_new_database_migrate_it_once(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server)

    async def scenario() -> None:
        replicas = await asyncio.gather(*(open_postgres_storage(dsn) for _ in range(4)))
        for replica in replicas:
            await replica.check()
            await replica.close()

    _run(scenario())
    assert postgres_server.psql("SELECT count(*) FROM schema_version", name).strip() == "1"
    assert _version(postgres_server, name) == str(len(MIGRATIONS))


def test_repeats_of_an_alert_from_two_replicas_are_all_counted(
    postgres_server: PostgresServer,
) -> None:
    _, dsn = fresh_database(postgres_server)

    async def scenario() -> None:
        replica_a = await open_postgres_storage(dsn)
        replica_b = await open_postgres_storage(dsn)
        try:
            head, _ = await replica_a.add_alert(alert("alert-head"))
            repeats = [
                dataclasses.replace(alert(f"alert-r{i}"), raised_at=NOW + timedelta(seconds=i))
                for i in range(20)
            ]
            results = await asyncio.gather(
                *(
                    (replica_a, replica_b)[i % 2].add_repeat(
                        repeat, head_id=head.alert_id, keep=True
                    )
                    for i, repeat in enumerate(repeats)
                )
            )
            assert all(result is not None for result in results)
            stored = await replica_b.alert(head.alert_id)
            assert stored is not None and stored.repeat_count == 21
            assert stored.last_raised_at == NOW + timedelta(seconds=19)
            merged = await replica_a.merged_alert_ids(head.alert_id, limit=100)
            assert sorted(merged) == sorted(r.alert_id for r in repeats)
        finally:
            await replica_a.close()
            await replica_b.close()

    _run(scenario())
