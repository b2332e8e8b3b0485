"""The patient's match key keeps every script (issue 15, item 4): two patients whose names are
written in Cyrillic and in Chinese, born the same day, are two patients, not one; accents,
case and separators still do not split one patient in two; the keys stored before are
recomputed once when the hub starts."""

from __future__ import annotations

import logging
import sqlite3
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wire
from hub.patients import match_key, normalise_name
from hub.records import rekey_patients
from hub.sqlite_migrations import MIGRATIONS
from hub.sqlite_storage import SqliteStorage
from tests.hub.hub_key import TEST_KEY, connect
from tests.hub.hub_rig import FakeClock, decode_as, new_id, patient, record_upload, run, running_hub
from tests.hub.test_history import _consultation

BORN = date(1961, 4, 12)
IVANOV = patient("Иванов", "Иван", BORN)
WANG = patient("王", "伟", BORN)

_CYRILLIC = st.characters(min_codepoint=0x0430, max_codepoint=0x044F)  # the 32 small letters
_ARABIC = st.characters(min_codepoint=0x0628, max_codepoint=0x063A) | st.characters(
    min_codepoint=0x0641, max_codepoint=0x064A
)
_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
_SCRIPT_WORDS = st.one_of(
    st.text(_CYRILLIC, min_size=1, max_size=12),
    st.text(_ARABIC, min_size=1, max_size=12),
    st.text(_CJK, min_size=1, max_size=6),
)
_LATIN_ACCENTS = st.characters(min_codepoint=0x0300, max_codepoint=0x036F)


def test_names_in_other_scripts_keep_their_letters() -> None:
    assert match_key(IVANOV) != match_key(WANG)
    assert match_key(IVANOV) == match_key(patient("ИВАНОВ", "иван", BORN))
    assert normalise_name("Иванов Иван") == "иванов иван"
    assert normalise_name("王 伟") == "王 伟"
    assert normalise_name("محمد") != normalise_name("أحمد")
    assert normalise_name("مُحَمَّد") == normalise_name("محمد")  # harakat are optional
    assert normalise_name("Йод") != normalise_name("Иод")  # й is a letter, not и with a mark


def test_french_accents_case_and_separators_do_not_split_a_patient() -> None:
    assert normalise_name("Éloïse") == normalise_name("Eloise") == "eloise"
    assert match_key(patient("Le Gall-Éon", "Anne Marie", BORN)) == match_key(
        patient("LE GALL EON", "anne-marie", BORN)
    )
    assert normalise_name("Œdipe") == "oedipe"
    assert normalise_name("  D'Arc  ") == "d arc"
    assert normalise_name("Ｌｅｅ") == "lee"  # full width  # noqa: RUF001
    assert normalise_name("a|b") == "a b"  # the key's separator cannot be forged


def test_the_four_turkish_i_match() -> None:
    """Dotted capital, I, dotless small and i: one letter for the key, so that a
    Turkish name typed on a French keyboard is the same patient (see `hub.patients`)."""
    spellings = ["İsmail", "ISMAIL", "ısmail", "ismail"]  # noqa: RUF001
    assert {normalise_name(name) for name in spellings} == {"ismail"}
    assert normalise_name("Işık") == normalise_name("ISIK") == "isik"  # noqa: RUF001


@settings(max_examples=200, deadline=None)
@given(st.lists(_SCRIPT_WORDS, min_size=1, max_size=4), st.lists(_SCRIPT_WORDS, min_size=1))
def test_distinct_names_in_one_script_never_share_a_key(
    first: list[str], second: list[str]
) -> None:
    one, other = " ".join(first), " ".join(second)
    assert normalise_name(one) == one  # lower case, no marks: nothing to fold
    assert (normalise_name(one) == normalise_name(other)) == (one == other)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=20))
def test_a_name_of_letters_never_reduces_to_nothing(name: str) -> None:
    assert normalise_name(name) != ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_normalising_twice_changes_nothing(name: str) -> None:
    once = normalise_name(name)
    assert normalise_name(once) == once
    assert "|" not in once


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")),
            st.lists(_LATIN_ACCENTS, max_size=2),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([" ", "-", "  ", " - ", "'"]),
)
def test_latin_accents_case_and_separators_fold_away(
    letters: list[tuple[str, list[str], bool]], separator: str
) -> None:
    plain = "".join(letter for letter, _, _ in letters)
    accented = unicodedata.normalize(
        "NFC",
        "".join(
            (letter.upper() if upper else letter) + "".join(marks)
            for letter, marks, upper in letters
        ),
    )
    assert normalise_name(accented) == plain
    assert normalise_name(f"{separator}{accented}{separator}{accented}") == f"{plain} {plain}"


def _old_key(who: wire.PatientSummary) -> str:
    """The key as the hub made it before (ASCII letters only): what older databases hold."""
    return f"||{who.birth_date.isoformat()}" if who in (IVANOV, WANG) else match_key(who)


def test_a_cyrillic_patients_notes_are_not_shown_to_a_chinese_patients_doctor(
    tmp_path: Path,
) -> None:
    """The attack: Ivanov's consultation, then Wang's (born the same day), each read their
    history. With names reduced to ASCII both keys were "||1961-04-12": Wang's doctor read
    Ivanov's notes."""

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin_1, cabin_2 = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")
            doctor_a, doctor_b = await rig.login("dr.a"), await rig.login("dr.b")
            console_a, console_b = await doctor_a.console(), await doctor_b.console()
            await _consultation(
                rig, clock, cabin_1, console_a, "c-ivanov", IVANOV, notes="notes-of-ivanov"
            )
            await rig.join(cabin_2, "c-wang", WANG)
            await console_b.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-wang"))
            await console_b.expect(wire.CallAccepted)
            response = await doctor_b.history("c-wang")
            assert response.status == 200
            history = decode_as(await response.read(), wire.PatientHistory)
            assert history.entries == []
            assert b"notes-of-ivanov" not in await response.read()

    run(scenario())


def test_keys_stored_before_are_recomputed_once_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database of before (schema 8, keys of ASCII letters only): when the hub starts, the
    consultations' and records' keys are computed again, once, with a log line; Ivanov's and
    Wang's histories are apart and each still finds its own earlier visits."""
    data_dir = tmp_path / "hub-data"
    data_dir.mkdir()
    db = sqlite3.connect(data_dir / "hub.db")
    for number, statements in enumerate(MIGRATIONS[:8], start=1):
        for statement in statements:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    earlier = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    stamp = earlier.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for consultation_id, who, notes in [
        ("c-old-ivanov", IVANOV, "notes-of-ivanov"),
        ("c-old-wang", WANG, "notes-of-wang"),
    ]:
        db.execute(
            "INSERT INTO consultations (consultation_id, cabin_id, patient, match_key, reason,"
            " sex, language, status, joined_at, ended_at, notes)"
            " VALUES (?, 'cabin-1', ?, ?, 'toux', 'unknown', 'fr', 'ended', ?, ?, ?)",
            (consultation_id, msgspec.json.encode(who), _old_key(who), stamp, stamp, notes),
        )
    later = datetime(2026, 11, 9, 10, 0, tzinfo=UTC)  # a visit while the cabin was offline
    offline = record_upload("c-offline-ivanov", who=IVANOV, started_at=later)
    db.execute(
        "INSERT INTO records VALUES (?, 'c-offline-ivanov', 'cabin-1', ?, ?, ?, ?, ?)",
        (offline.record_id, stamp, stamp, bytes(offline.bundle), _old_key(IVANOV), stamp),
    )
    db.commit()
    db.close()

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            seen: dict[str, list[str]] = {}
            for consultation_id, who in [("c-wang", WANG), ("c-ivanov", IVANOV)]:
                await rig.join(cabin, consultation_id, who)
                await console.send(
                    wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id)
                )
                await console.expect(wire.CallAccepted)
                response = await doctor.history(consultation_id)
                history = decode_as(await response.read(), wire.PatientHistory)
                seen[consultation_id] = [e.consultation_id for e in history.entries]
                await console.send(
                    wire.CallEnd(
                        msg_id=new_id(),
                        consultation_id=consultation_id,
                        reason=wire.CallEndReason.COMPLETED,
                    )
                )
                await cabin.expect(wire.CallEnd)
            assert seen == {
                "c-wang": ["c-old-wang"],
                "c-ivanov": ["c-offline-ivanov", "c-old-ivanov"],
            }
        with connect(rig.database) as check:
            assert check.execute("SELECT count(*) FROM patient_rekey").fetchone() == (0,)
        check.close()
        storage = await SqliteStorage.open(rig.database, TEST_KEY)
        try:
            assert await rekey_patients(storage) == 0  # started again: nothing left to do
        finally:
            await storage.close()

    with caplog.at_level(logging.INFO, logger="hub"):
        run(scenario())
    logged = [r.getMessage() for r in caplog.records]
    migrated = [line for line in logged if "hub.match_keys_migrated" in line]
    assert migrated == ["hub.match_keys_migrated consultations=2"]
    assert "hub.records_indexed count=1" in logged
    for secret in ["Иванов", "иванов", "王", "1961"]:
        assert not [line for line in logged if secret in line]
