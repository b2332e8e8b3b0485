"""Doctors', agents' and cabins' accounts: create them, check their credentials.

A doctor, or an agent (a nurse, a town hall's agent: they see the alerts of the cabins they
look after), signs in with a password (argon2id, hashed and verified on the hasher's own threads),
and a code of an authenticator app (TOTP) if an operator requires it. Wrong passwords lock the
name for the address they come from, with exponential backoff (see `PasswordChecker` for why
per address); names that do not exist are counted and locked the same way, in the database, so
that neither the answers nor a restart tell whether a name exists. An operator resets a
password, disables an account, requires or resets its second factor (``python -m hub``).

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
from dataclasses import dataclass
from datetime import datetime

import wire
from hub import totp
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
    LoginAccount,
    LoginAttempt,
    OperatorRecord,
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
    coordinator: bool = False,
) -> AgentRecord:
    """Create an agent's account, who looks after `cabins` (or every cabin: `all_cabins`);
    a `coordinator` opens the coordinator's page too (``/coordination``).
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
        coordinator=coordinator,
    )
    await storage.add_agent(record)
    log.info("hub.agent_created username=%s cabins=%d", log_safe(username), len(record.cabins))
    return record


async def create_operator(
    storage: Storage,
    *,
    username: str,
    password: str,
    display_name: str,
    argon2_cost: Argon2Cost = "standard",
    clock: Clock | None = None,
) -> OperatorRecord:
    """Create an operator's account: signs in like a doctor or an agent (the hub's one login)
    and opens the fleet page (``/flotte``). Raises `AccountError` for a taken or malformed
    username or a short password."""
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "the username must be 2 to 63 characters: lower-case letters, digits and ._-"
        )
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(
            f"the password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
    record = OperatorRecord(
        username=username,
        password_hash=await PasswordHasher(argon2_cost).hash(password),
        display_name=_check_text(display_name, "the display name"),
        failed_attempts=0,
        locked_until=None,
        created_at=(clock or SystemClock()).now(),
    )
    await storage.add_operator(record)
    log.info("hub.operator_created username=%s", log_safe(username))
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


DEMO_TOKEN_PREFIX = "demo-"  # noqa: S105 - a published prefix, not a secret
"""How the demo hub's cabin tokens begin (`hub.demo.seed_demo`), and no other: a real cabin
given one refuses to start (``kiosk.production``, whose ``DEMO_HUB_TOKEN_PREFIX`` is the same)."""


async def provision_cabin(
    storage: Storage,
    *,
    cabin_id: str,
    name: str,
    clock: Clock | None = None,
    demo: bool = False,
) -> str:
    """Register a cabin (or give a known one a new token: the old one stops working) and
    return its token. The token is shown once and never stored. The demo's begins with
    `DEMO_TOKEN_PREFIX`; any other never does."""
    if not CABIN_ID.fullmatch(cabin_id):
        raise AccountError("the cabin id must be 1 to 64 characters: letters, digits and ._-")
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    while token.startswith(DEMO_TOKEN_PREFIX):  # about once in a billion
        token = secrets.token_urlsafe(_TOKEN_BYTES)
    if demo:
        token = DEMO_TOKEN_PREFIX + token
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


def check_password_length(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(
            f"the password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
    return password


async def set_password(
    storage: Storage, hasher: PasswordHasher, *, username: str, password: str
) -> list[str]:
    """Give the account a new password (an operator's reset, or the doctor's own change) and
    close all its sessions: the token hashes of those closed. `AccountError` if there is no
    such account or the password is too short or too long."""
    check_password_length(password)
    if await storage.doctor(username) is None and await storage.agent(username) is None:
        raise AccountError(f"there is no account named {username!r}")
    await storage.set_password_hash(username, await hasher.hash(password))
    log.info("hub.password_set username=%s", log_safe(username))
    return await storage.delete_sessions_of(username)


async def set_disabled(storage: Storage, *, username: str, disabled: bool) -> list[str]:
    """Disable (or enable again) an account; disabling closes its sessions (their token
    hashes are returned). A disabled account's right password is refused like a wrong one."""
    if not await storage.set_account_disabled(username, disabled):
        raise AccountError(f"there is no account named {username!r}")
    log.info("hub.account_disabled username=%s disabled=%s", log_safe(username), disabled)
    return await storage.delete_sessions_of(username) if disabled else []


async def require_totp(storage: Storage, *, username: str, required: bool) -> None:
    """Require (or no longer require) a second factor of this account: at its next sign-in
    with the right password, the hub shows a new secret to enrol in an authenticator app.
    Doctors only: the agents' page does not ask for a code."""
    if required and await storage.doctor(username) is None:
        raise AccountError(
            f"there is no doctor named {username!r} (a second factor is for doctors)"
        )
    if not await storage.set_totp_required(username, required):
        raise AccountError(f"there is no account named {username!r}")
    log.info("hub.totp_required username=%s required=%s", log_safe(username), required)


async def reset_totp(storage: Storage, *, username: str) -> list[str]:
    """Forget the account's second factor (a lost phone) and close its sessions: if it is
    required, the next sign-in enrols a new one."""
    if not await storage.set_totp(username, secret=None, pending_secret=None):
        raise AccountError(f"there is no account named {username!r}")
    log.info("hub.totp_reset username=%s", log_safe(username))
    return await storage.delete_sessions_of(username)


class LoginResult(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    LOCKED = "locked"
    SECOND_FACTOR = "second_factor"
    """The password is right; the code of the enrolled authenticator app is needed."""
    ENROL_SECOND_FACTOR = "enrol_second_factor"
    """The password is right; a second factor is required and not enrolled yet: the code of
    `totp_secret`, once typed into an app, is needed."""


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    result: LoginResult
    account: tuple[str, AccountRole] | None = None
    """The username and the role of the account signed in; None if refused."""
    retry_after_s: int | None = None
    totp_secret: str | None = None
    """The secret to enrol (with `LoginResult.ENROL_SECOND_FACTOR`)."""
    enrolled: bool = False
    """Accepted with the first code of a secret just enrolled."""


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Per typed name and client address: `max_failures` wrong passwords in a row lock the
    name for that client `first_lock_s`, each further one doubling it up to `max_lock_s`."""

    max_failures: int
    first_lock_s: float
    max_lock_s: float


class PasswordChecker:
    """Checks doctors' and agents' passwords (and second factors) with the lockout.

    The lockout is kept per typed name *and* client address, with exponential backoff: an
    attacker at one address gets `max_failures` guesses, then one per minute, two, four...
    up to one per `max_lock_s`, while the doctor, at their own address, is never locked out by
    them (usernames are not secret: they appear in records and the waiting room, so a lock
    per account would let anyone keep a doctor out with five wrong passwords every quarter of
    an hour). The price: guesses spread over many addresses are slowed only by the per-address
    rate limit, the argon2id cost and the 12-character minimum (and the second factor, where
    an operator requires it).

    Each attempt is counted, in one storage transaction, *before* its password is hashed
    (the success clears it), so that concurrent attempts cannot all pass the lock while the
    slow hash runs. Unknown names are counted in the same table, the same way, and their
    attempts take the same path (one storage round trip, one hash against a decoy): neither
    the answers, nor a restart, nor the time tell whether a name exists.
    """

    def __init__(
        self, storage: Storage, hasher: PasswordHasher, policy: LockoutPolicy, clock: Clock
    ) -> None:
        self._storage = storage
        self.hasher = hasher
        self._policy = policy
        self._clock = clock
        self._decoy_hash = ""

    async def start(self) -> None:
        """Make the decoy hash verified for unknown names (same cost as a real one)."""
        self._decoy_hash = await self.hasher.hash(secrets.token_urlsafe(16))

    async def check(
        self, username: str, password: str, client: str, totp_code: str | None = None
    ) -> LoginOutcome:
        """Sign-in: the password, then the second factor if the account has or needs one.
        Raises `HasherBusy` when too many sign-ins are under way."""
        with self.hasher.admitted():
            now = self._clock.now()
            attempt, account = await self._password(username, password, client, now)
            if account is None:
                return self._refused(attempt, now)
            second = await self._second_factor(account, totp_code, now)
            if second is not None and (
                second.result is LoginResult.REFUSED or attempt.locks_until is not None
            ):
                return self._refused(attempt, now)
            if second is not None:
                return second
            await self._accepted(account, password, client)
            enrolled = account.totp_secret is None and account.totp_required
            return LoginOutcome(
                LoginResult.ACCEPTED, account=(username, account.role), enrolled=enrolled
            )

    async def confirm(self, username: str, password: str, client: str) -> LoginOutcome:
        """The password of a signed-in account (to change it), with the same lockout."""
        with self.hasher.admitted():
            now = self._clock.now()
            attempt, account = await self._password(username, password, client, now)
            if account is None:
                return self._refused(attempt, now)
            await self._accepted(account, password, client)
            return LoginOutcome(LoginResult.ACCEPTED, account=(username, account.role))

    async def _password(
        self, username: str, password: str, client: str, now: datetime
    ) -> tuple[LoginAttempt, LoginAccount | None]:
        """The attempt, counted; and the account if the password is right and it is enabled."""
        password = password[:MAX_PASSWORD_CHARS]
        attempt = await self._storage.begin_login(
            username,
            client,
            now=now,
            free_failures=self._policy.max_failures,
            first_lock_s=self._policy.first_lock_s,
            max_lock_s=self._policy.max_lock_s,
        )
        if attempt.blocked_until is not None:
            return attempt, None
        account = attempt.account
        stored = self._decoy_hash if account is None else account.password_hash
        matches = await self.hasher.verify(stored, password)
        if account is None or not matches or account.disabled:
            return attempt, None
        return attempt, account

    async def _second_factor(
        self, account: LoginAccount, code: str | None, now: datetime
    ) -> LoginOutcome | None:
        """None if the second factor is satisfied (or not needed), else what to answer."""
        if account.totp_secret is not None:
            if not code:
                return LoginOutcome(LoginResult.SECOND_FACTOR)
            step = totp.matching_step(account.totp_secret, code, now)
            if step is None or not await self._storage.use_totp_step(account.username, step):
                return LoginOutcome(LoginResult.REFUSED)
            return None
        if not account.totp_required:
            return None
        pending = account.totp_pending_secret
        if pending is None:
            pending = totp.new_secret()
            await self._storage.set_totp(account.username, secret=None, pending_secret=pending)
        step = None if not code else totp.matching_step(pending, code, now)
        if step is None:
            return LoginOutcome(LoginResult.ENROL_SECOND_FACTOR, totp_secret=pending)
        await self._storage.set_totp(account.username, secret=pending, pending_secret=None)
        await self._storage.use_totp_step(account.username, step)
        log.info("hub.totp_enrolled username=%s", account.username)
        return None

    async def _accepted(self, account: LoginAccount, password: str, client: str) -> None:
        await self._storage.end_login(account.username, client)
        if self.hasher.needs_rehash(account.password_hash):
            await self._storage.set_password_hash(
                account.username, await self.hasher.hash(password[:MAX_PASSWORD_CHARS])
            )

    def _refused(self, attempt: LoginAttempt, now: datetime) -> LoginOutcome:
        until = attempt.blocked_until or attempt.locks_until
        if until is None:
            return LoginOutcome(LoginResult.REFUSED)
        if attempt.locks_until is not None:
            log.warning("hub.login_locked_out until=%s", until.isoformat())
        retry = max(1, math.ceil((until - now).total_seconds()))
        return LoginOutcome(LoginResult.LOCKED, retry_after_s=retry)
