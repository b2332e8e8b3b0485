"""Health data sealed by the hub before it reaches PostgreSQL: AES-256-GCM, a keyring, a blind
index.

A sealed value is one ``bytea``, laid out as::

    len(key_id) (1 byte) || key_id (ASCII, 1-16 bytes) || nonce (12 random bytes)
        || AES-256-GCM ciphertext || tag (16 bytes)

The associated data (authenticated, not stored) binds the value to where it lives::

    b"hub-sealed-v1" 0x00 key_id 0x00 table 0x00 column 0x00 row

where ``row`` is the row's identity (its primary key, or the unique pair that names it), each
part preceded by its length. A value copied to another row, column or table, or its key id
changed, does not open: `SealedValueError`.

The keyring holds data keys, each with a short id: the first is the current one (it seals), every
one opens. Rotation: put a new key first; new values are sealed with it and the hub re-seals the
old ones in the background (`hub.postgres_storage.PostgresStorage.reseal`); a key may be removed
from the ring once no value uses it (``python -m hub data-keys`` says which). With several
replicas, rotate in two rolling restarts: first add the new key *after* the current one on every
replica (each can then open what the others will seal), then move it first.

The blind index key is not rotated (that would mean recomputing every index from the sealed
match keys): it only ever yields HMACs, never plaintext.

Finding a patient's earlier consultations needs no clear identity in the database: the blind
index of a match key (`hub.patients.match_key`) is HMAC-SHA256 under a separate index key,
hex-encoded. It is deterministic (the same patient, the same index), so it says which rows are
the same patient, never who.

The ring comes from a credential, like the SQLCipher key (`keysource`): the environment
variable ``data_keys_env`` (``HUB_DATA_KEYS``), the systemd credential ``data_keys_credential``
(``hub-data-keys``), or the file ``data_keys_file`` (``hub-data.keys``, mode 0600). Its text is
one key a line (``;`` separates them too, for an environment variable)::

    index <64 hex digits>      # the blind index key (the id ``index`` is reserved for it)
    k2 <64 hex digits>         # the current data key: the first other line
    k1 <64 hex digits>         # an older one, still opening what it sealed

``#`` starts a comment. No key ever appears in a log line, an error or a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import ConfigError, StorageError
from keysource import read_secret

INDEX_KEY_ID = "index"
"""The id of the blind index key in a keyring's text."""
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
_AAD_PREFIX = b"hub-sealed-v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
_CHECK_TEXT = b"hub data key check"
_INDEX_CHECK_TEXT = b"hub blind index check"


class SealedValueError(StorageError):
    """A sealed value does not open: not sealed by this ring's keys, changed, or moved."""


class DataKeyError(ConfigError):
    """The data keys are missing, malformed, or not the ones the database was sealed with."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a sealed value lives: its table, its column and its row's identity."""

    table: str
    column: str
    row: tuple[str, ...]

    def associated_data(self, key_id: str) -> bytes:
        parts = [key_id.encode("ascii"), self.table.encode(), self.column.encode()]
        row = b"".join(len(p).to_bytes(4, "big") + p for p in (r.encode() for r in self.row))
        return b"\x00".join([_AAD_PREFIX, *parts, row])


class DataKeyring:
    """Data keys by id (the first seals), and the blind index key. Prints without its keys."""

    __slots__ = ("_index_key", "_keys", "current_id", "source")

    def __init__(
        self, keys: Mapping[str, bytes], current_id: str, index_key: bytes, source: str
    ) -> None:
        if current_id not in keys:
            raise DataKeyError(f"{source}: the current data key {current_id!r} is not in the ring")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id) or key_id == INDEX_KEY_ID:
                raise DataKeyError(
                    f"{source}: a data key id is 1 to 16 letters, digits, _ or - (not"
                    f" {INDEX_KEY_ID!r})"
                )
            if len(key) != KEY_BYTES:
                raise DataKeyError(f"{source}: the data key {key_id!r} is not 32 bytes")
        if len(index_key) != KEY_BYTES:
            raise DataKeyError(f"{source}: the index key is not 32 bytes")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._index_key = index_key
        self.current_id = current_id
        self.source = source

    # making and reading a ring

    @classmethod
    def parse(cls, text: str, source: str) -> DataKeyring:
        """A ring from its text (see the module); `DataKeyError` names the source and the line,
        never a key."""
        keys: dict[str, bytes] = {}
        current: str | None = None
        index: bytes | None = None
        for number, raw in enumerate(re.split(r"[\n;]", text), start=1):
            line = raw.partition("#")[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 2 or not _HEX_KEY.match(fields[1]):
                raise DataKeyError(
                    f"{source}: entry {number} is not `key_id <64 hexadecimal digits>`"
                )
            key_id, key = fields[0], bytes.fromhex(fields[1])
            if key_id == INDEX_KEY_ID:
                if index is not None:
                    raise DataKeyError(f"{source}: two index keys")
                index = key
                continue
            if not _KEY_ID.match(key_id):
                raise DataKeyError(
                    f"{source}: entry {number}: a key id is 1 to 16 letters, digits, _ or -"
                )
            if key_id in keys:
                raise DataKeyError(f"{source}: the key id {key_id!r} is given twice")
            keys[key_id] = key
            current = current or key_id
        if index is None:
            raise DataKeyError(f"{source}: no `{INDEX_KEY_ID} <hex>` line (the blind index key)")
        if current is None:
            raise DataKeyError(f"{source}: no data key (a line `k1 <hex>`)")
        return cls(keys, current, index, source)

    @classmethod
    def load(
        cls, *, env: MutableMapping[str, str], env_name: str, credential: str, key_file: Path
    ) -> DataKeyring:
        """The ring from the environment, a systemd credential or a private file."""
        text, source = read_secret(
            env=env,
            env_name=env_name,
            credential=credential,
            file=key_file,
            what="data keys",
            error=DataKeyError,
        )
        return cls.parse(text, source)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ring's data key ids, the current one first."""
        return (self.current_id, *(k for k in self._keys if k != self.current_id))

    def __repr__(self) -> str:
        return f"DataKeyring(<hidden>, current={self.current_id}, source={self.source})"

    __str__ = __repr__

    # sealing

    def prefix(self, key_id: str | None = None) -> bytes:
        """The bytes every value sealed with `key_id` (the current key) begins with."""
        raw = (key_id or self.current_id).encode("ascii")
        return bytes([len(raw)]) + raw

    def seal(self, plaintext: bytes, place: Place) -> bytes:
        key_id = self.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[key_id].encrypt(nonce, plaintext, place.associated_data(key_id))
        return self.prefix(key_id) + nonce + sealed

    def open(self, sealed: bytes, place: Place) -> bytes:
        """The plaintext; `SealedValueError` (naming the place, never the value) if it does
        not open."""
        key_id = sealed_key_id(sealed)
        if key_id is None:
            raise SealedValueError(f"a stored {place.table}.{place.column} is not a sealed value")
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise SealedValueError(
                f"a stored {place.table}.{place.column} is sealed with the data key {key_id!r},"
                f" which the ring ({self.source}) lacks: give the hub that key again"
            )
        start = 1 + len(key_id)
        nonce, body = sealed[start : start + NONCE_BYTES], sealed[start + NONCE_BYTES :]
        try:
            return cipher.decrypt(nonce, body, place.associated_data(key_id))
        except InvalidTag:
            raise SealedValueError(
                f"a stored {place.table}.{place.column} does not open: changed, or moved from"
                " another row"
            ) from None

    def seal_text(self, text: str, place: Place) -> bytes:
        return self.seal(text.encode("utf-8"), place)

    def open_text(self, sealed: bytes, place: Place) -> str:
        try:
            return self.open(sealed, place).decode("utf-8")
        except UnicodeDecodeError:
            raise SealedValueError(f"a stored {place.table}.{place.column} is not text") from None

    def reseal(self, sealed: bytes, place: Place) -> bytes | None:
        """The value sealed with the current key; None if it already is."""
        if sealed.startswith(self.prefix()):
            return None
        return self.seal(self.open(sealed, place), place)

    # the blind index

    def blind_index(self, match_key: str) -> str:
        """HMAC-SHA256 of the match key under the index key, in hex (64 characters)."""
        return hmac.new(
            self._index_key, b"match-key\x00" + match_key.encode("utf-8"), hashlib.sha256
        ).hexdigest()

    def code_index(self, code: str) -> str:
        """HMAC-SHA256 of an appointment's code under the index key, in hex: the appointment
        is found by its code without the code in the clear (a domain apart from match keys)."""
        return hmac.new(
            self._index_key, b"appointment-code\x00" + code.encode("utf-8"), hashlib.sha256
        ).hexdigest()

    # what the database keeps to tell a wrong ring at once

    def key_check(self, key_id: str) -> bytes:
        """A value sealed with `key_id`: opening it proves the ring holds that key."""
        cipher = self._keys[key_id]
        nonce = os.urandom(NONCE_BYTES)
        place = Place("data_keys", "key_check", (key_id,))
        return (
            self.prefix(key_id)
            + nonce
            + cipher.encrypt(nonce, _CHECK_TEXT, place.associated_data(key_id))
        )

    def opens_check(self, key_id: str, check: bytes) -> bool:
        if key_id not in self._keys or sealed_key_id(check) != key_id:
            return False
        try:
            return self.open(check, Place("data_keys", "key_check", (key_id,))) == _CHECK_TEXT
        except SealedValueError:
            return False

    def index_check(self) -> str:
        """The blind index key's fingerprint (an HMAC of a constant: reveals nothing of it)."""
        return hmac.new(self._index_key, _INDEX_CHECK_TEXT, hashlib.sha256).hexdigest()


def sealed_key_id(sealed: bytes) -> str | None:
    """The key id a sealed value names; None if it cannot be one."""
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES + 1:
        return None
    size = sealed[0]
    if not 1 <= size <= 16 or len(sealed) < 1 + size + NONCE_BYTES + TAG_BYTES:
        return None
    try:
        key_id = sealed[1 : 1 + size].decode("ascii")
    except UnicodeDecodeError:
        return None
    return key_id if _KEY_ID.match(key_id) else None


def new_key_line(key_id: str) -> str:
    """A line for a keyring: a new random key under `key_id`."""
    if not _KEY_ID.match(key_id) or key_id == INDEX_KEY_ID:
        raise DataKeyError(f"{key_id!r}: a key id is 1 to 16 letters, digits, _ or -")
    return f"{key_id} {secrets.token_hex(KEY_BYTES)}"


def new_ring_text(key_id: str = "k1") -> str:
    """The text of a new ring: an index key and one data key."""
    return f"{INDEX_KEY_ID} {secrets.token_hex(KEY_BYTES)}\n{new_key_line(key_id)}\n"
