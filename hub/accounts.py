"""Doctors', agents' and cabins' accounts: create them, check their credentials.

A doctor, or an agent (a nurse, a town hall's agent: they see the alerts of the cabins they
look after), signs in with a password (argon2id, hashed and verified on a worker thread). Five wrong
passwords in a row lock the account for 15 minutes; the right password is refused while it is
locked. Usernames that do not exist are counted and locked the same way, in memory, so that the
answers never tell whether a name exists.

A cabin proves who it is with a token of 32 random bytes, given once when it is provisioned.
Only its SHA-256 is stored: with 256 bits of entropy nothing can be guessed, so a slow hash would
buy no safety and would cost CPU at every reconnection of every cabin of a fleet. Tokens are
compared in constant time.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import logging
import math
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import wire
from hub.clock import Clock, SystemClock
from hub.config import Argon2Cost
from hub.errors import AccountError
from hub.log_safe import log_safe
from hub.passwords import MAX_PASSWORD_CHARS, PasswordHasher
from hub.storage import (
    AccountRole,
    AgentRecord,
    CabinRecord,
    DoctorDetails,
    DoctorRecord,
    Storage,
)

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
CABIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REGISTRATION_NUMBER = re.compile(r"^[A-Za-z0-9]{1,64}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{3,38}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_ADDRESS_CHARS = 500
MAX_ADDRESS_LINES = 4
MAX_EMAIL_CHARS = 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MIN_PASSWORD_CHARS = 12
MAX_PHOTO_BYTES = 160 * 1024  # base64: about 214 KiB, well under the message limit
MAX_NAME_CHARS = 200
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_TOKEN_BYTES = 32
_UNKNOWN_NAMES_KEPT = 10_000


def _check_text(value: str, what: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= MAX_NAME_CHARS:
        raise AccountError(f"{what} must have 1 to {MAX_NAME_CHARS} characters")
    return value


def check_details(
    *, registration_number: str | None, address: str, phone: str, email: str
) -> DoctorDetails:
    """The prescriber's details, tidied (spaces trimmed, empty address lines dropped), or
    `AccountError` saying which one is wrong. Empty strings (and no RPPS) are allowed."""
    rpps = (registration_number or "").strip() or None
    if rpps is not None and not REGISTRATION_NUMBER.fullmatch(rpps):
        raise AccountError("the registration (RPPS) number must be letters and digits only")
    lines = [" ".join(line.split()) for line in address.replace("\r\n", "\n").split("\n")]
    tidy_address = "\n".join(line for line in lines if line)
    if len(tidy_address) > MAX_ADDRESS_CHARS or tidy_address.count("\n") >= MAX_ADDRESS_LINES:
        raise AccountError(
            f"the address must fit in {MAX_ADDRESS_LINES} lines of {MAX_ADDRESS_CHARS} characters"
        )
    if _CONTROL.search(tidy_address.replace("\n", "")):
        raise AccountError("the address must not hold control characters")
    phone = phone.strip()
    if phone and not PHONE.fullmatch(phone):
        raise AccountError('the phone number must be digits, spaces and +().- ("04 71 60 12 34")')
    email = email.strip()
    if email and (len(email) > MAX_EMAIL_CHARS or not EMAIL.fullmatch(email)):
        raise AccountError('the e-mail address must read "name@domain.fr"')
    return DoctorDetails(registration_number=rpps, address=tidy_address, phone=phone, email=email)


def check_photo(photo: bytes) -> bytes:
    """The photo if it is a PNG or JPEG image small enough to travel in `DoctorInfo`."""
    if not photo.startswith((_PNG, _JPEG)):
        raise AccountError("the photo must be a PNG or JPEG image")
    if len(photo) > MAX_PHOTO_BYTES:
        raise AccountError(f"the photo must be at most {MAX_PHOTO_BYTES // 1024} KiB")
    return photo


async def create_doctor(
    storage: Storage,
    *,
    username: str,
    password: str,
    display_name: str,
    specialty: str,
    registration_number: str | None = None,
    photo: bytes | None = None,
    address: str = "",
    phone: str = "",
    email: str = "",
    argon2_cost: Argon2Cost = "standard",
    clock: Clock | None = None,
) -> DoctorRecord:
    """Create a doctor's account. Raises `AccountError` for a taken or malformed username, a
    short password, a bad registration number, address, phone, e-mail or photo."""
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "the username must be 2 to 63 characters: lower-case letters, digits and ._-"
        )
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(
            f"the password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
    details = check_details(
        registration_number=registration_number, address=address, phone=phone, email=email
    )
    record = DoctorRecord(
        username=username,
        password_hash=await PasswordHasher(argon2_cost).hash(password),
        display_name=_check_text(display_name, "the display name"),
        specialty=_check_text(specialty, "the specialty"),
        registration_number=details.registration_number,
        photo=None if photo is None else check_photo(photo),
        failed_attempts=0,
        locked_until=None,
        created_at=(clock or SystemClock()).now(),
        address=details.address,
        phone=details.phone,
        email=details.email,
    )
    await storage.add_doctor(record)
    log.info("hub.doctor_created username=%s", log_safe(username))
    return record


async def create_agent(
    storage: Storage,
    *,
    username: str,
    password: str,
    display_name: str,
    cabins: tuple[str, ...] = (),
    all_cabins: bool = False,
    argon2_cost: Argon2Cost = "standard",
    clock: Clock | None = None,
) -> AgentRecord:
    """Create an agent's account, who looks after `cabins` (or every cabin: `all_cabins`).
    Raises `AccountError` for a taken (by a doctor too) or malformed username, a short
    password, a malformed cabin id, or neither cabins nor `all_cabins`."""
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "the username must be 2 to 63 characters: lower-case letters, digits and ._-"
        )
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(
            f"the password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
    for cabin_id in cabins:
        if not CABIN_ID.fullmatch(cabin_id):
            raise AccountError(f"{cabin_id!r} is not a cabin id (letters, digits and ._-)")
    if all_cabins == bool(cabins):
        raise AccountError("give the cabins the agent looks after, or all of them (not both)")
    if await storage.doctor(username) is not None:
        raise AccountError(f"a doctor named {username!r} already exists")
    record = AgentRecord(
        username=username,
        password_hash=await PasswordHasher(argon2_cost).hash(password),
        display_name=_check_text(display_name, "the display name"),
        cabins=tuple(dict.fromkeys(cabins)),
        all_cabins=all_cabins,
        failed_attempts=0,
        locked_until=None,
        created_at=(clock or SystemClock()).now(),
    )
    await storage.add_agent(record)
    log.info("hub.agent_created username=%s cabins=%d", log_safe(username), len(record.cabins))
    return record


async def set_doctor_photo(storage: Storage, *, username: str, photo: bytes | None) -> None:
    """Set (or, with None, remove) a doctor's photo."""
    if not await storage.set_doctor_photo(username, None if photo is None else check_photo(photo)):
        raise AccountError(f"there is no doctor named {username!r}")
    log.info("hub.doctor_photo_set username=%s", log_safe(username))


async def set_doctor_details(
    storage: Storage,
    *,
    username: str,
    registration_number: str | None = None,
    address: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> DoctorRecord:
    """Change what prescriptions say of a doctor: each detail given replaces the stored one
    (an empty string removes it), those left to None stay. The doctor as now stored."""
    doctor = await storage.doctor(username)
    if doctor is None:
        raise AccountError(f"there is no doctor named {username!r}")
    details = check_details(
        registration_number=(
            doctor.registration_number if registration_number is None else registration_number
        ),
        address=doctor.address if address is None else address,
        phone=doctor.phone if phone is None else phone,
        email=doctor.email if email is None else email,
    )
    if not await storage.set_doctor_details(username, details):
        raise AccountError(f"there is no doctor named {username!r}")
    log.info("hub.doctor_details_set username=%s", log_safe(username))
    updated = await storage.doctor(username)
    if updated is None:
        raise AccountError(f"there is no doctor named {username!r}")
    return updated


def doctor_info(doctor: DoctorRecord, *, with_photo: bool) -> wire.DoctorInfo:
    """The doctor as the patient and the prescription see them: name, specialty, RPPS number,
    the practice's address, phone and e-mail (and the photo, for the patient's screen)."""
    photo = None
    if with_photo and doctor.photo is not None:
        photo = base64.b64encode(doctor.photo).decode("ascii")
    return wire.DoctorInfo(
        display_name=doctor.display_name,
        specialty=doctor.specialty,
        registration_number=doctor.registration_number,
        photo=photo,
        address=doctor.address,
        phone=doctor.phone,
        email=doctor.email,
    )


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def provision_cabin(
    storage: Storage, *, cabin_id: str, name: str, clock: Clock | None = None
) -> str:
    """Register a cabin (or give a known one a new token: the old one stops working) and
    return its token. The token is shown once and never stored."""
    if not CABIN_ID.fullmatch(cabin_id):
        raise AccountError("the cabin id must be 1 to 64 characters: letters, digits and ._-")
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    await storage.put_cabin(
        CabinRecord(
            cabin_id=cabin_id,
            name=_check_text(name, "the cabin's name"),
            token_sha256=token_sha256(token),
            provisioned_at=(clock or SystemClock()).now(),
        )
    )
    log.info("hub.cabin_provisioned cabin=%s", log_safe(cabin_id))
    return token


async def verify_cabin_token(storage: Storage, *, cabin_id: str, token: str) -> bool:
    """True if `token` is the current token of `cabin_id` (constant-time comparison)."""
    cabin = await storage.cabin(cabin_id)
    expected = cabin.token_sha256 if cabin is not None else token_sha256(secrets.token_hex(16))
    matches = hmac.compare_digest(expected.encode("ascii"), token_sha256(token).encode("ascii"))
    return matches and cabin is not None


class LoginResult(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    result: LoginResult
    doctor: DoctorRecord | None = None
    """The doctor signed in (None for an agent)."""
    retry_after_s: int | None = None
    agent: AgentRecord | None = None
    """The agent signed in (None for a doctor)."""

    @property
    def account(self) -> tuple[str, AccountRole] | None:
        """The username and the role of the account signed in; None if refused."""
        if self.doctor is not None:
            return self.doctor.username, AccountRole.DOCTOR
        if self.agent is not None:
            return self.agent.username, AccountRole.AGENT
        return None


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int
    lockout_s: float


class PasswordChecker:
    """Checks doctors' and agents' passwords with the per-account lockout."""

    def __init__(
        self, storage: Storage, hasher: PasswordHasher, policy: LockoutPolicy, clock: Clock
    ) -> None:
        self._storage = storage
        self._hasher = hasher
        self._policy = policy
        self._clock = clock
        self._decoy_hash = ""
        self._unknown: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()

    async def start(self) -> None:
        """Make the decoy hash verified for unknown names (same cost as a real one)."""
        self._decoy_hash = await self._hasher.hash(secrets.token_urlsafe(16))

    async def check(self, username: str, password: str) -> LoginOutcome:
        now = self._clock.now()
        if len(password) > MAX_PASSWORD_CHARS:
            password = password[:MAX_PASSWORD_CHARS]
        doctor = await self._storage.doctor(username)
        agent = None if doctor is not None else await self._storage.agent(username)
        account = doctor or agent
        if account is None:
            return await self._check_unknown(username, password, now)
        if account.locked_until is not None and account.locked_until > now:
            return self._locked(account.locked_until, now)
        if await self._hasher.verify(account.password_hash, password):
            await self._storage.clear_login_failures(username)
            if self._hasher.needs_rehash(account.password_hash):
                await self._storage.set_password_hash(username, await self._hasher.hash(password))
            return LoginOutcome(LoginResult.ACCEPTED, doctor=doctor, agent=agent)
        locked_until = await self._storage.record_login_failure(
            username,
            now=now,
            max_failures=self._policy.max_failures,
            lockout_until=now + timedelta(seconds=self._policy.lockout_s),
        )
        if locked_until is not None:
            log.warning("hub.account_locked username=%s", log_safe(username))
            return self._locked(locked_until, now)
        return LoginOutcome(LoginResult.REFUSED)

    async def _check_unknown(self, username: str, password: str, now: datetime) -> LoginOutcome:
        """Spend the same time and give the same answers as for an existing account."""
        failures, locked_until = self._unknown.pop(username.casefold(), (0, None))
        if locked_until is not None and locked_until > now:
            self._remember(username, failures, locked_until)
            return self._locked(locked_until, now)
        await self._hasher.verify(self._decoy_hash, password)
        failures += 1
        if failures >= self._policy.max_failures:
            locked_until = now + timedelta(seconds=self._policy.lockout_s)
            self._remember(username, 0, locked_until)
            return self._locked(locked_until, now)
        self._remember(username, failures, None)
        return LoginOutcome(LoginResult.REFUSED)

    def _remember(self, username: str, failures: int, locked_until: datetime | None) -> None:
        self._unknown[username.casefold()] = (failures, locked_until)
        while len(self._unknown) > _UNKNOWN_NAMES_KEPT:
            self._unknown.popitem(last=False)

    @staticmethod
    def _locked(until: datetime, now: datetime) -> LoginOutcome:
        retry = max(1, math.ceil((until - now).total_seconds()))
        return LoginOutcome(LoginResult.LOCKED, retry_after_s=retry)
