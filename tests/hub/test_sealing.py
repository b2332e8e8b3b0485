"""Sealing health data for PostgreSQL: what a sealed value is bound to, the keyring, the blind
index, and where the keys come from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.sealing import (
    DataKeyError,
    DataKeyring,
    Place,
    SealedValueError,
    new_ring_text,
    sealed_key_id,
)
from hub.storage_credentials import add_data_key
from tests.hub.pg_backend import INDEX_HEX, K1_HEX, K2_HEX, ROTATED_RING_TEXT, keyring_of

PLACE = Place("consultations", "notes", ("c-1",))


def test_a_value_opens_where_it_was_sealed_and_nowhere_else() -> None:
    ring = keyring_of()
    sealed = ring.seal(b"Douleur thoracique", PLACE)
    assert ring.open(sealed, PLACE) == b"Douleur thoracique"
    assert b"Douleur" not in sealed
    for elsewhere in (
        Place("consultations", "notes", ("c-2",)),
        Place("consultations", "advice", ("c-1",)),
        Place("alerts", "notes", ("c-1",)),
        Place("consultations", "notes", ("c", "-1")),
    ):
        with pytest.raises(SealedValueError, match="does not open"):
            ring.open(sealed, elsewhere)


def test_the_layout_is_key_id_nonce_ciphertext_and_a_changed_byte_does_not_open() -> None:
    ring = keyring_of()
    sealed = ring.seal(b"x" * 10, PLACE)
    assert sealed[:3] == b"\x02k1"
    assert len(sealed) == 1 + 2 + 12 + 10 + 16
    assert sealed_key_id(sealed) == "k1"
    assert ring.seal(b"x" * 10, PLACE) != sealed  # a fresh nonce each time
    for index in (3, 15, len(sealed) - 1):
        changed = bytearray(sealed)
        changed[index] ^= 1
        with pytest.raises(SealedValueError):
            ring.open(bytes(changed), PLACE)


def test_a_renamed_key_id_does_not_open_even_with_the_same_key() -> None:
    same_key_other_id = DataKeyring.parse(f"index {INDEX_HEX}\nk9 {K1_HEX}\n", "tests")
    sealed = keyring_of().seal(b"note", PLACE)
    renamed = b"\x02k9" + sealed[3:]
    with pytest.raises(SealedValueError):
        same_key_other_id.open(renamed, PLACE)


def test_every_key_of_the_ring_opens_and_the_first_seals() -> None:
    old, rotated = keyring_of(), keyring_of(ROTATED_RING_TEXT)
    sealed_old = old.seal(b"note", PLACE)
    assert rotated.current_id == "k2"
    assert rotated.open(sealed_old, PLACE) == b"note"
    resealed = rotated.reseal(sealed_old, PLACE)
    assert resealed is not None and sealed_key_id(resealed) == "k2"
    assert rotated.reseal(resealed, PLACE) is None
    with pytest.raises(SealedValueError, match=r"k2.*lacks"):
        old.open(resealed, PLACE)


def test_the_blind_index_is_keyed_and_never_the_match_key() -> None:
    ring = keyring_of()
    key = "le gall eon|anne marie|1950-02-03"
    index = ring.blind_index(key)
    assert index == keyring_of(ROTATED_RING_TEXT).blind_index(key)  # data keys: no matter
    assert len(index) == 64 and "gall" not in index
    assert index != ring.blind_index("le gall eon|anne marie|1950-02-04")
    other = DataKeyring.parse(f"index {K2_HEX}\nk1 {K1_HEX}\n", "tests")
    assert other.blind_index(key) != index


@given(st.binary(max_size=2000), st.text(max_size=40), st.text(max_size=40))
def test_any_value_comes_back_from_any_place(data: bytes, table: str, row: str) -> None:
    ring = keyring_of()
    place = Place(table, "c", (row,))
    assert ring.open(ring.seal(data, place), place) == data


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"k1 {K1_HEX}", "no `index"),
        (f"index {INDEX_HEX}", "no data key"),
        (f"index {INDEX_HEX}\nk1 {K1_HEX[:-2]}", "entry 2"),
        (f"index {INDEX_HEX}\nk1 {K1_HEX}\nk1 {K2_HEX}", "twice"),
        (f"index {INDEX_HEX}\nk/1 {K1_HEX}", "key id"),
    ],
)
def test_a_malformed_ring_is_refused_naming_its_source_never_a_key(text: str, problem: str) -> None:
    with pytest.raises(DataKeyError, match=problem) as refused:
        DataKeyring.parse(text, "$HUB_DATA_KEYS")
    assert "$HUB_DATA_KEYS" in str(refused.value)
    assert K1_HEX not in str(refused.value) and INDEX_HEX not in str(refused.value)


def test_the_ring_comes_from_a_variable_a_credential_or_a_private_file(tmp_path: Path) -> None:
    text = new_ring_text()
    env = {"HUB_DATA_KEYS": text.replace("\n", ";")}
    ring = DataKeyring.load(
        env=env, env_name="HUB_DATA_KEYS", credential="hub-data-keys", key_file=tmp_path / "none"
    )
    assert ring.source == "$HUB_DATA_KEYS" and "HUB_DATA_KEYS" not in env
    assert "<hidden>" in repr(ring) and text.split()[1] not in repr(ring)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hub-data-keys").write_text(text)
    ring = DataKeyring.load(
        env={"CREDENTIALS_DIRECTORY": str(credentials)},
        env_name="HUB_DATA_KEYS",
        credential="hub-data-keys",
        key_file=tmp_path / "none",
    )
    assert ring.source.endswith("hub-data-keys")
    key_file = tmp_path / "hub-data.keys"
    key_file.write_text(text)
    key_file.chmod(0o644)
    with pytest.raises(DataKeyError, match="chmod 600"):
        DataKeyring.load(env={}, env_name="HUB_DATA_KEYS", credential="x", key_file=key_file)
    with pytest.raises(DataKeyError, match="no data keys: set \\$HUB_DATA_KEYS"):
        DataKeyring.load(
            env={}, env_name="HUB_DATA_KEYS", credential="x", key_file=tmp_path / "missing"
        )


def test_rotating_puts_a_new_current_key_first_and_keeps_the_others(tmp_path: Path) -> None:
    key_file = tmp_path / "hub-data.keys"
    key_file.write_text(f"# the hub's keys\nindex {INDEX_HEX}\nk1 {K1_HEX}\n")
    key_file.chmod(0o600)
    add_data_key(key_file, "k2")
    ring = DataKeyring.load(env={}, env_name="X", credential="x", key_file=key_file)
    assert ring.key_ids[0] == "k2" and set(ring.key_ids) == {"k1", "k2"}
    assert ring.open(keyring_of().seal(b"old", PLACE), PLACE) == b"old"
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    with pytest.raises(DataKeyError, match="already has"):
        add_data_key(key_file, "k1")


def test_an_appointment_code_index_is_keyed_and_apart_from_match_keys() -> None:
    ring = keyring_of()
    index = ring.code_index("042917")
    assert index == keyring_of(ROTATED_RING_TEXT).code_index("042917")  # data keys: no matter
    assert len(index) == 64 and "042917" not in index
    assert index != ring.code_index("042918")
    assert index != ring.blind_index("042917")  # a domain of its own
    other = DataKeyring.parse(f"index {K2_HEX}\nk1 {K1_HEX}\n", "tests")
    assert other.code_index("042917") != index
