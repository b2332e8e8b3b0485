"""Prescriptions: numbered, signed with the hub's Ed25519 key, stored, and checked again.

The number reads ``RX-2026-000123-7KQ4``: the year, a sequence that never repeats within it, and
four check characters (Crockford base32 of an HMAC keyed by the signing key) so that a number
cannot be guessed from its neighbours, nor mistyped into another valid one unnoticed.

The signature covers the *canonical JSON* of the `PrescriptionMessage` without ``msg_id``,
``signature`` and ``check_url``: every other field present (``null`` included), keys sorted at
every level, no whitespace, UTF-8 (the same bytes as RFC 8785 gives for these values).
``issued_at`` is to the second. ``key_id`` names the key: the first 16 hexadecimal digits of the
SHA-256 of the raw public key. The private key is made on the hub's first start, in the data
folder (mode 0600), unless the systemd credential ``hub-signing-key`` gives it (a fleet: every
replica signs with the same key); the public key sits in the data folder for whoever checks
prescriptions (and the hub serves it at ``/rx/public-key.pem``).

``check_url`` is not signed because it is made from the signature: it is the hub's check page
for this prescription, ``<public_url>/rx/<number>?k=<code>``, where the code is the first 16
characters of the Crockford base32 of the SHA-256 of the raw signature bytes. Knowing the number
alone (it is printed in clear) does not open the page; the code comes with the paper's QR code.

The signature covers the patient too (``patient``: names, birth date, sex, as the hub knew them
from the waiting room), so the check page shows the pharmacist whom the doctor prescribed for.

Prescriptions signed before the prescriber's address, phone and e-mail existed were signed
without those three keys in ``prescriber`` (and without ``patient``): `verify_prescription`
accepts that form too when they are empty, so that a prescription still on its way to the
pharmacy keeps verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import wire
from hub.accounts import doctor_info
from hub.clock import Clock
from hub.errors import InvalidPrescription, SigningKeyError
from hub.message_ids import new_msg_id
from hub.storage import DoctorRecord, PrescriptionRecord, Storage

log = logging.getLogger(__name__)

PRIVATE_KEY_FILE = "prescription-signing.key"
PUBLIC_KEY_FILE = "prescription-signing.pub"
SIGNING_KEY_CREDENTIAL = "hub-signing-key"
"""The systemd credential (``LoadCredentialEncrypted=``) holding the signing key, in PEM
(``openssl genpkey -algorithm ed25519``): the same on every replica of a fleet."""
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHECK_CHARS = 4
CHECK_CODE_CHARS = wire.messages.CHECK_CODE_CHARS
_UNSIGNED = ("msg_id", "signature", "check_url")
_LATER_PRESCRIBER_FIELDS = ("address", "phone", "email")
"""Fields of `DoctorInfo` that prescriptions signed before they existed do not have."""


def canonical_bytes(prescription: wire.PrescriptionMessage, *, legacy: bool = False) -> bytes:
    """The bytes the signature covers. `legacy`: as a hub signed them before the prescriber
    had an address, a phone and an e-mail (those three keys left out when empty)."""
    fields: dict[str, Any] = msgspec.to_builtins(prescription)
    for name in _UNSIGNED:
        fields.pop(name, None)
    if legacy:
        if fields.get("patient") is None:
            fields.pop("patient", None)
        prescriber = fields["prescriber"]
        for name in _LATER_PRESCRIBER_FIELDS:
            if prescriber.get(name) == "":
                del prescriber[name]
    return msgspec.json.encode(fields, order="sorted")


def check_code(signature: str) -> str:
    """`wire.check_code` (the cabin prints the same code); `InvalidPrescription` if the
    signature is not base64."""
    try:
        return wire.check_code(signature)
    except wire.MalformedMessage:
        raise InvalidPrescription("the signature is not base64") from None


def normalise_check_code(text: str) -> str:
    """A code as someone may type it (lower case, O for 0, I or L for 1, hyphens), in the form
    `check_code` gives; at most 32 characters are looked at."""
    text = text[: 2 * CHECK_CODE_CHARS].upper().replace("-", "").replace(" ", "")
    return text.replace("O", "0").replace("I", "1").replace("L", "1")


def check_url(public_url: str, prescription_id: str, signature: str) -> str:
    """The address of the prescription's check page (what its QR code holds)."""
    return f"{public_url.rstrip('/')}/rx/{prescription_id}?k={check_code(signature)}"


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_prescription(
    prescription: wire.PrescriptionMessage, public_keys: Mapping[str, Ed25519PublicKey]
) -> None:
    """Check the signature with the key `key_id` names; raises `InvalidPrescription`."""
    key = public_keys.get(prescription.key_id)
    if key is None:
        raise InvalidPrescription(f"unknown signing key {prescription.key_id!r}")
    try:
        signature = base64.b64decode(prescription.signature, validate=True)
    except binascii.Error:
        raise InvalidPrescription("the signature is not base64") from None
    try:
        key.verify(signature, canonical_bytes(prescription))
    except InvalidSignature:
        pass
    else:
        return
    try:
        key.verify(signature, canonical_bytes(prescription, legacy=True))
    except InvalidSignature:
        raise InvalidPrescription("the signature does not match the prescription") from None


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key written by `PrescriptionSigner` (PEM)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"{path}: not a readable public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: not an Ed25519 public key")
    return key


class PrescriptionSigner:
    """The hub's signing key, and what is made with it."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)
        raw = private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        self._numbering_key = hmac.new(raw, b"prescription-number", hashlib.sha256).digest()

    @classmethod
    def load_or_create(
        cls, data_dir: Path, credentials_dir: Path | None = None
    ) -> PrescriptionSigner:
        """The systemd credential `SIGNING_KEY_CREDENTIAL` in `credentials_dir` (every replica
        of a fleet is given the same one), else the key in `data_dir`, made there (mode 0600)
        on the first start. Blocking: call it on a worker thread. Refuses a key file that
        others than its owner may read."""
        path = data_dir / PRIVATE_KEY_FILE
        credential = None if credentials_dir is None else credentials_dir / SIGNING_KEY_CREDENTIAL
        if credential is not None and credential.exists():
            signer = cls(_read_credential(credential))
            log.info("hub.signing_key source=systemd-credential key_id=%s", signer.key_id)
        elif path.exists():
            signer = cls(_read_private_key(path))
        else:
            signer = cls(_create_private_key(path))
            log.info("hub.signing_key_created key_id=%s", signer.key_id)
        public_path = data_dir / PUBLIC_KEY_FILE
        public_pem = signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not public_path.exists() or public_path.read_bytes() != public_pem:
            public_path.write_bytes(public_pem)
        return signer

    @property
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {self.key_id: self.public_key}

    def number(self, year: int, sequence: int) -> str:
        """The prescription number of the `sequence`-th prescription of `year`."""
        stem = f"RX-{year:04d}-{sequence:06d}"
        return f"{stem}-{self._check(stem)}"

    def is_well_formed(self, prescription_id: str) -> bool:
        """True if the check characters match the rest of the number."""
        stem, _, check = prescription_id.rpartition("-")
        return bool(stem) and hmac.compare_digest(check.encode(), self._check(stem).encode())

    def _check(self, stem: str) -> str:
        digest = hmac.new(self._numbering_key, stem.encode("ascii"), hashlib.sha256).digest()
        value = int.from_bytes(digest[:4], "big") >> (32 - 5 * _CHECK_CHARS)
        chars = [_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(_CHECK_CHARS))]
        return "".join(chars)

    def sign(self, unsigned: wire.PrescriptionMessage) -> wire.PrescriptionMessage:
        """The message with this key's `key_id` and signature."""
        with_key = msgspec.structs.replace(unsigned, key_id=self.key_id, signature="AAAA")
        signature = self._key.sign(canonical_bytes(with_key))
        return msgspec.structs.replace(
            with_key, signature=base64.b64encode(signature).decode("ascii")
        )


def _create_private_key(path: Path) -> Ed25519PrivateKey:
    """A new key, written whole (mode 0600) beside `path` then linked to it: a crash never
    leaves a half-written key, and a key made meanwhile by another process is kept."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    draft = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return _read_private_key(path)
    except OSError as exc:
        raise SigningKeyError(f"{path}: the signing key cannot be created ({exc})") from exc
    finally:
        draft.unlink(missing_ok=True)
    return key


def _read_credential(path: Path) -> Ed25519PrivateKey:
    """A key systemd decrypted into the service's private credentials folder (which only the
    service's user can read: its mode is systemd's, not checked here)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: the signing key cannot be read ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 private key")
    return key


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningKeyError(
                f"{path}: the signing key may be read by others (mode {stat.filemode(mode)});"
                f" run `chmod 600 {path}`"
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: the signing key cannot be read ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 private key")
    return key


async def issue_prescription(
    storage: Storage,
    signer: PrescriptionSigner,
    clock: Clock,
    *,
    draft: wire.PrescriptionDraft,
    doctor: DoctorRecord,
    public_url: str,
    patient: wire.PatientSummary | None = None,
) -> wire.PrescriptionMessage:
    """Number, sign and store the doctor's draft; the signed message to send, with the address
    of its check page under `public_url`."""
    issued_at = clock.now().replace(microsecond=0)
    sequence = await storage.next_prescription_sequence(issued_at.year)
    prescription = signer.sign(
        wire.PrescriptionMessage(
            msg_id=new_msg_id(),
            prescription_id=signer.number(issued_at.year, sequence),
            consultation_id=draft.consultation_id,
            issued_at=issued_at,
            prescriber=doctor_info(doctor, with_photo=False),
            lines=list(draft.lines),
            key_id=signer.key_id,
            signature="AAAA",
            patient=patient,
        )
    )
    prescription = msgspec.structs.replace(
        prescription,
        check_url=check_url(public_url, prescription.prescription_id, prescription.signature),
    )
    await storage.add_prescription(
        PrescriptionRecord(
            prescription_id=prescription.prescription_id,
            consultation_id=prescription.consultation_id,
            doctor=doctor.username,
            issued_at=issued_at,
            prescriber=prescription.prescriber,
            lines=tuple(prescription.lines),
            key_id=prescription.key_id,
            signature=prescription.signature,
            msg_id=prescription.msg_id,
            check_url=prescription.check_url,
            patient=prescription.patient,
        )
    )
    log.info(
        "hub.prescription_issued consultation=%s prescription=%s key_id=%s",
        prescription.consultation_id,
        prescription.prescription_id,
        prescription.key_id,
    )
    return prescription


def prescription_from_record(record: PrescriptionRecord) -> wire.PrescriptionMessage:
    """The signed message again, from what was stored (to verify it, or send it again): under
    the id it was first sent with, which the cabin's Ack names."""
    return wire.PrescriptionMessage(
        msg_id=record.msg_id,
        prescription_id=record.prescription_id,
        consultation_id=record.consultation_id,
        issued_at=record.issued_at,
        prescriber=record.prescriber,
        lines=list(record.lines),
        key_id=record.key_id,
        signature=record.signature,
        check_url=record.check_url,
        patient=record.patient,
    )


def stored_prescription_verifies(
    record: PrescriptionRecord, public_keys: Mapping[str, Ed25519PublicKey]
) -> bool:
    """Whether what the hub stored of a prescription still matches the hub's signature (a
    patient's history shows as the hub's only the prescriptions for which it does)."""
    try:
        verify_prescription(prescription_from_record(record), public_keys)
    except InvalidPrescription:
        return False
    return True
