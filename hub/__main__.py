"""The hub's command line: serve, and manage doctors', agents' and cabins' accounts.

python -m hub serve [--config FILE] [--data DIR] [--port N] [--demo]
python -m hub create-doctor USERNAME --name "Dr Claire Martin" --specialty "..." [--rpps N]
                            [--address TEXT] [--phone TEXT] [--email TEXT]
                            [--photo FILE] [--password-stdin]
python -m hub set-details USERNAME [--rpps N] [--address TEXT] [--phone TEXT] [--email TEXT]
python -m hub set-photo USERNAME FILE | --remove
python -m hub create-agent USERNAME --name "Mairie de ..." (--cabin CABIN_ID ... | --all-cabins)
                           [--coordinator] [--password-stdin]
python -m hub create-operator USERNAME --name "..." [--password-stdin]   (alias add-operator:
                           runs the fleet, signs in to the fleet page /flotte)
python -m hub provision-cabin CABIN_ID --name "Cabine de ..."   (prints the token, once)
python -m hub list-doctors
python -m hub list-agents
python -m hub clear-alerts CABIN_ID [--by NAME]   (dismiss a cabin's open alerts, audited)
python -m hub reset-password USERNAME [--password-stdin]      (closes the account's sessions)
python -m hub disable-account USERNAME | enable-account USERNAME
python -m hub revoke-sessions USERNAME
python -m hub require-totp USERNAME [--off]    (a second factor, enrolled at next sign-in)
python -m hub reset-totp USERNAME              (a lost phone: enrol again)
python -m hub new-data-keys [--print]          (PostgreSQL: the data keys, once)
python -m hub rotate-data-key NEW_ID           (PostgreSQL: a new current data key)
python -m hub data-keys [--reseal]             (PostgreSQL: which keys seal what)
python -m hub export-bookings FILE [--days N]  (every booking and the rota as FHIR R4, audited)
python -m hub new-operator-token NAME          (prints a token for GET /api/operator/export/
                                                bookings, once; a new one for NAME ends the old)
python -m hub revoke-operator-token NAME
Every account command is audited (actor: the operator's system user).
Every command opens the encrypted database with its key: $HUB_DB_KEY, the systemd credential
hub-db-key, or the file hub-db.key in the data folder (mode 0600); `serve --demo` makes that
file on its first run. With `[storage] backend = "postgresql"`, the data keys instead:
$HUB_DATA_KEYS, the credential hub-data-keys, or the file hub-data.keys (mode 0600).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.accounts import (
    MIN_PASSWORD_CHARS,
    create_agent,
    create_doctor,
    create_operator,
    provision_cabin,
    require_totp,
    reset_totp,
    set_disabled,
    set_doctor_details,
    set_doctor_photo,
    set_password,
)
from hub.app import open_storage, start_hub
from hub.audit import AuditLog
from hub.bookings import BOOKING_DESK
from hub.clock import SystemClock
from hub.config import HubConfig, load_hub_config
from hub.database_key import HubDatabaseKey, load_database_key
from hub.demo import seed_demo, seed_demo_bookings
from hub.errors import AccountError, HubError
from hub.fhir_booking import build_export_bundle, collect_export
from hub.operator_export import PATH as EXPORT_PATH
from hub.operator_export import new_operator_token
from hub.passwords import PasswordHasher
from hub.postgres_storage import PostgresStorage
from hub.sealing import new_ring_text
from hub.storage import ActorKind, Storage
from hub.storage_credentials import add_data_key, data_keys_file, load_data_keys, write_private

log = logging.getLogger("hub")

EXIT_ERROR = 1
MAX_PHOTO_FILE_BYTES = 1024 * 1024


def _config(args: argparse.Namespace) -> HubConfig:
    overrides: dict[str, Any] = {}
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    return load_hub_config(args.config, data_dir=args.data, overrides=overrides)


def _database_key(config: HubConfig, *, create: bool) -> HubDatabaseKey | None:
    """The SQLCipher key (none for PostgreSQL: its data keys are read by `open_storage`)."""
    if config.storage.backend == "postgresql":
        return None
    return load_database_key(config, os.environ, create=create)


async def _with_storage(config: HubConfig, work: Callable[[Storage], Awaitable[int]]) -> int:
    await asyncio.to_thread(config.data_path.mkdir, mode=0o700, parents=True, exist_ok=True)
    key = _database_key(config, create=False)
    storage = await open_storage(config, key=key, env=os.environ)
    try:
        return await work(storage)
    finally:
        await storage.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise HubError("the two passwords differ")
    return password


def _read_photo(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_PHOTO_FILE_BYTES:
            raise HubError(f"{path}: the photo file is too large")
        return path.read_bytes()
    except OSError as exc:
        raise HubError(f"{path}: cannot read the photo ({exc})") from exc


async def _serve(args: argparse.Namespace) -> int:
    config = _config(args)
    await asyncio.to_thread(config.data_path.mkdir, mode=0o700, parents=True, exist_ok=True)
    key = _database_key(config, create=args.demo)
    data_keys = None
    if config.storage.backend == "postgresql":
        data_keys = load_data_keys(config, os.environ, create=args.demo)
    hub = await start_hub(config, key=key, data_keys=data_keys)
    try:
        if args.demo:
            accounts = await seed_demo(hub.storage, argon2_cost=config.argon2_cost)
            await seed_demo_bookings(hub.app[BOOKING_DESK], hub.storage, datetime.now(UTC))
            if args.demo_token_file is not None:
                _write_secret(args.demo_token_file, accounts.cabin_token)
                log.info("hub.demo_token_written path=%s", args.demo_token_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"hub: serving on {hub.url}", flush=True)  # a SIGTERM from now on stops it cleanly
        await stop.wait()
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second one: no more waiting
            loop.add_signal_handler(signum, hub.hurry)
    finally:
        await hub.stop()
    return 0


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    path.chmod(0o600)


async def _create_doctor(args: argparse.Namespace) -> int:
    config = _config(args)
    photo = None if args.photo is None else _read_photo(args.photo)
    password = _read_password(args.password_stdin)

    async def work(storage: Storage) -> int:
        await create_doctor(
            storage,
            username=args.username,
            password=password,
            display_name=args.name,
            specialty=args.specialty,
            registration_number=args.rpps,
            photo=photo,
            address=_address(args.address),
            phone=args.phone or "",
            email=args.email or "",
            argon2_cost=config.argon2_cost,
        )
        print(f"hub: doctor {args.username} created")
        return 0

    return await _with_storage(config, work)


async def _create_agent(args: argparse.Namespace) -> int:
    config = _config(args)
    password = _read_password(args.password_stdin)

    async def work(storage: Storage) -> int:
        await create_agent(
            storage,
            username=args.username,
            password=password,
            display_name=args.name,
            cabins=tuple(args.cabin or ()),
            all_cabins=args.all_cabins,
            argon2_cost=config.argon2_cost,
            coordinator=args.coordinator,
        )
        print(f"hub: agent {args.username} created")
        return 0

    return await _with_storage(config, work)


async def _create_operator(args: argparse.Namespace) -> int:
    config = _config(args)
    password = _read_password(args.password_stdin)

    async def work(storage: Storage) -> int:
        await create_operator(
            storage,
            username=args.username,
            password=password,
            display_name=args.name,
            argon2_cost=config.argon2_cost,
        )
        print(f"hub: operator {args.username} created")
        return 0

    return await _with_storage(config, work)


async def _list_agents(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        for agent in await storage.agents():
            locked = await _state(storage, agent.username)
            cabins = "*" if agent.all_cabins else ",".join(agent.cabins)
            role = "coordinator" if agent.coordinator else "agent"
            print("\t".join((agent.username, agent.display_name, cabins, role, locked)))
        return 0

    return await _with_storage(config, work)


async def _state(storage: Storage, username: str) -> str:
    """What an operator decided of the account: ``disabled``, ``totp`` (enrolled),
    ``totp-required`` (not yet enrolled), comma-separated; ``-`` for none."""
    account = await storage.login_account(username)
    if account is None:
        return "-"
    words = ["disabled"] if account.disabled else []
    if account.totp_secret is not None:
        words.append("totp")
    elif account.totp_required:
        words.append("totp-required")
    return ",".join(words) or "-"


def _address(text: str | None) -> str:
    """The address as typed: ``--address "12 rue X\\n15100 Saint-Flour"`` (a literal
    backslash-n) or a real line break both separate lines."""
    return "" if text is None else text.replace("\\n", "\n")


async def _set_details(args: argparse.Namespace) -> int:
    config = _config(args)
    given = (args.rpps, args.address, args.phone, args.email)
    if all(value is None for value in given):
        raise HubError("give at least one of --rpps, --address, --phone, --email")

    async def work(storage: Storage) -> int:
        doctor = await set_doctor_details(
            storage,
            username=args.username,
            registration_number=args.rpps,
            address=None if args.address is None else _address(args.address),
            phone=args.phone,
            email=args.email,
        )
        print(f"hub: details of {doctor.username} set")
        return 0

    return await _with_storage(config, work)


async def _set_photo(args: argparse.Namespace) -> int:
    config = _config(args)
    if (args.photo is None) == (not args.remove):
        raise HubError("give a photo file, or --remove")
    photo = None if args.remove else _read_photo(args.photo)

    async def work(storage: Storage) -> int:
        await set_doctor_photo(storage, username=args.username, photo=photo)
        print(f"hub: photo of {args.username} {'removed' if photo is None else 'set'}")
        return 0

    return await _with_storage(config, work)


async def _provision_cabin(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        token = await provision_cabin(storage, cabin_id=args.cabin_id, name=args.name)
        print(token)
        print(
            f"hub: cabin {args.cabin_id} provisioned; this token is shown once: put it in the"
            " cabin's hub credential file (mode 0600)",
            file=sys.stderr,
        )
        return 0

    return await _with_storage(config, work)


async def _list_doctors(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        for doctor in await storage.doctors():
            locked = await _state(storage, doctor.username)
            photo = "photo" if doctor.photo is not None else "-"
            print(
                "\t".join(
                    (
                        doctor.username,
                        doctor.display_name,
                        doctor.specialty,
                        doctor.registration_number or "-",
                        photo,
                        locked,
                        doctor.address.replace("\n", ", ") or "-",
                        doctor.phone or "-",
                        doctor.email or "-",
                    )
                )
            )
        return 0

    return await _with_storage(config, work)


_OPERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
"""What `--by` may be: it goes to the pages as `acknowledged_by` (a wire id)."""


async def _clear_alerts(args: argparse.Namespace) -> int:
    config = _config(args)
    by = args.by or getpass.getuser()
    if not _OPERATOR_NAME.fullmatch(by):
        raise HubError("--by: 1 to 64 letters, digits and ._:- (starting with a letter or digit)")

    async def work(storage: Storage) -> int:
        clock = SystemClock()
        if await storage.cabin(args.cabin_id) is None:
            raise HubError(f"no cabin {args.cabin_id!r}")
        cleared = await storage.clear_alerts(args.cabin_id, by=by, at=clock.now())
        audit = AuditLog(storage, clock)
        for record in cleared:
            await audit.record(
                "alert.cleared",
                actor_kind=ActorKind.OPERATOR,
                actor_id=by,
                consultation_id=record.consultation_id,
                alert_id=record.alert_id,
            )
        heads = sum(1 for record in cleared if record.merged_into is None)
        print(
            f"hub: {len(cleared)} open alerts of cabin {args.cabin_id} dismissed by {by}"
            f" ({heads} shown, the others merged into them); a running hub tells the pages"
            f" within {config.alert_resync_s:g} s"
        )
        return 0

    return await _with_storage(config, work)


def _operator() -> str:
    """Who runs the command, for the audit log: the system user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


async def _audited(storage: Storage, action: str, username: str) -> None:
    await AuditLog(storage, SystemClock()).record(
        action, actor_kind=ActorKind.OPERATOR, actor_id=_operator(), subject=username
    )


async def _reset_password(args: argparse.Namespace) -> int:
    config = _config(args)
    password = _read_password(args.password_stdin)

    async def work(storage: Storage) -> int:
        hasher = PasswordHasher(config.argon2_cost)
        closed = await set_password(storage, hasher, username=args.username, password=password)
        await _audited(storage, "account.password_reset", args.username)
        print(f"hub: password of {args.username} reset; {len(closed)} session(s) closed")
        return 0

    return await _with_storage(config, work)


async def _set_disabled(args: argparse.Namespace) -> int:
    config = _config(args)
    disabled = args.command == "disable-account"

    async def work(storage: Storage) -> int:
        closed = await set_disabled(storage, username=args.username, disabled=disabled)
        action = "account.disabled" if disabled else "account.enabled"
        await _audited(storage, action, args.username)
        state = "disabled" if disabled else "enabled"
        print(f"hub: {args.username} {state}; {len(closed)} session(s) closed")
        return 0

    return await _with_storage(config, work)


async def _revoke_sessions(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        if (
            await storage.doctor(args.username) is None
            and await storage.agent(args.username) is None
        ):
            raise AccountError(f"there is no account named {args.username!r}")
        closed = await storage.delete_sessions_of(args.username)
        await _audited(storage, "account.sessions_revoked", args.username)
        print(f"hub: {len(closed)} session(s) of {args.username} closed")
        return 0

    return await _with_storage(config, work)


async def _require_totp(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        await require_totp(storage, username=args.username, required=not args.off)
        action = "account.totp_not_required" if args.off else "account.totp_required"
        await _audited(storage, action, args.username)
        state = "no longer requires" if args.off else "requires"
        print(f"hub: {args.username} {state} a second factor")
        return 0

    return await _with_storage(config, work)


async def _reset_totp(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        closed = await reset_totp(storage, username=args.username)
        await _audited(storage, "account.totp_reset", args.username)
        print(f"hub: second factor of {args.username} reset; {len(closed)} session(s) closed")
        return 0

    return await _with_storage(config, work)


async def _new_data_keys(args: argparse.Namespace) -> int:
    config = _config(args)
    key_file = data_keys_file(config)
    if args.print:
        print(new_ring_text(), end="")
        return 0
    if key_file.exists():
        raise HubError(f"{key_file} already exists: rotate with `rotate-data-key NEW_ID`")
    await asyncio.to_thread(write_private, key_file, new_ring_text())
    print(f"hub: data keys written to {key_file} (mode 0600); keep a copy apart from backups")
    return 0


async def _rotate_data_key(args: argparse.Namespace) -> int:
    config = _config(args)
    key_file = data_keys_file(config)
    if not key_file.exists():
        raise HubError(
            f"{key_file}: no ring file; with keys in a variable or a credential, put this"
            f" line first among the data keys there: `python -m hub new-data-keys --print`"
            f" gives one ({args.key_id} instead of k1)"
        )
    await asyncio.to_thread(add_data_key, key_file, args.key_id)
    print(
        f"hub: {args.key_id} is the current data key in {key_file}; restart the hub's replicas"
        " (one at a time): new values are sealed with it and old ones re-sealed in the"
        " background; `python -m hub data-keys` says when the old keys are unused"
    )
    return 0


async def _data_keys(args: argparse.Namespace) -> int:
    config = _config(args)
    if config.storage.backend != "postgresql":
        raise HubError('data keys are for `[storage] backend = "postgresql"`')

    async def work(storage: Storage) -> int:
        assert isinstance(storage, PostgresStorage)
        if args.reseal:
            resealed = await storage.reseal()
            print(f"hub: {resealed} values sealed again with the current key")
        unused = set(await storage.retire_unused_keys())
        for key_id, count in sorted((await storage.key_usage()).items()):
            state = "unused: may leave the ring" if key_id in unused else f"{count} values"
            print(f"{key_id}\t{state}")
        return 0

    return await _with_storage(config, work)


async def _export_bookings(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        clock = SystemClock()
        export = await collect_export(storage, now=clock.now(), days_ahead=args.days)
        data = build_export_bundle(export)
        await asyncio.to_thread(_write_private_bytes, args.file, data)
        await _audited(storage, "bookings.exported", "bookings")
        print(
            f"hub: {len(export.appointments)} appointments, {len(export.shifts)} shifts and"
            f" {len(export.slots)} slots of {len(export.calendars)} cabins written to {args.file}"
            " (FHIR R4 Bundle; it holds patients' names: mode 0600)"
        )
        return 0

    return await _with_storage(config, work)


async def _new_operator_token(args: argparse.Namespace) -> int:
    config = _config(args)

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", args.name):
        raise HubError("an operator token's name is 1-64 letters, digits, '.', '_', '@' or '-'")

    async def work(storage: Storage) -> int:
        token, digest = new_operator_token()
        await storage.put_operator_token(args.name, digest, at=SystemClock().now())
        await _audited(storage, "operator_token.created", args.name)
        print(token)
        print(
            f"hub: operator token {args.name} for GET {EXPORT_PATH} (Authorization: Bearer ...);"
            " shown once, the hub keeps only its SHA-256",
            file=sys.stderr,
        )
        return 0

    return await _with_storage(config, work)


async def _revoke_operator_token(args: argparse.Namespace) -> int:
    config = _config(args)

    async def work(storage: Storage) -> int:
        if not await storage.revoke_operator_token(args.name):
            raise HubError(f"there is no operator token {args.name}")
        await _audited(storage, "operator_token.revoked", args.name)
        print(f"hub: operator token {args.name} revoked")
        return 0

    return await _with_storage(config, work)


def _write_private_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    path.chmod(0o600)


def _export_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    export = commands.add_parser(
        "export-bookings",
        parents=[common],
        help="write every appointment, the rota and the coming slots as a FHIR R4 Bundle",
    )
    export.add_argument("file", type=Path, help="the JSON file to write (mode 0600)")
    export.add_argument(
        "--days", type=int, help="slots for this many days (default: each cabin's bookable days)"
    )
    export.set_defaults(run=_export_bookings)
    new_token = commands.add_parser(
        "new-operator-token",
        parents=[common],
        help="print a new token for the operator's export endpoint (once; audited)",
    )
    new_token.add_argument("name", help="whose token (a town, an archive service)")
    new_token.set_defaults(run=_new_operator_token)
    revoke = commands.add_parser(
        "revoke-operator-token", parents=[common], help="end an operator token (audited)"
    )
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke_operator_token)


def _data_key_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    new = commands.add_parser(
        "new-data-keys",
        parents=[common],
        help="make the PostgreSQL backend's data keys (an index key and k1) in data_keys_file",
    )
    new.add_argument("--print", action="store_true", help="print them instead (for a credential)")
    new.set_defaults(run=_new_data_keys)
    rotate = commands.add_parser(
        "rotate-data-key",
        parents=[common],
        help="put a new current data key first in data_keys_file (the old ones stay)",
    )
    rotate.add_argument("key_id", help="its id: k2, k3... (1 to 16 letters, digits, _ or -)")
    rotate.set_defaults(run=_rotate_data_key)
    usage = commands.add_parser(
        "data-keys",
        parents=[common],
        help="how many values each data key seals; which may leave the ring",
    )
    usage.add_argument(
        "--reseal", action="store_true", help="first seal every old value with the current key"
    )
    usage.set_defaults(run=_data_keys)


def _account_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    _operator_command(commands, common)
    reset = commands.add_parser(
        "reset-password", parents=[common], help="give an account a new password"
    )
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    reset.set_defaults(run=_reset_password)
    for name, text in (
        ("disable-account", "refuse an account's sign-ins and close its sessions"),
        ("enable-account", "let a disabled account sign in again"),
    ):
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("username")
        command.set_defaults(run=_set_disabled)
    revoke = commands.add_parser(
        "revoke-sessions", parents=[common], help="close an account's sessions"
    )
    revoke.add_argument("username")
    revoke.set_defaults(run=_revoke_sessions)
    require = commands.add_parser(
        "require-totp", parents=[common], help="require a second factor (TOTP) of an account"
    )
    require.add_argument("username")
    require.add_argument("--off", action="store_true", help="no longer require it")
    require.set_defaults(run=_require_totp)
    reset_second = commands.add_parser(
        "reset-totp", parents=[common], help="forget an account's second factor (lost phone)"
    )
    reset_second.add_argument("username")
    reset_second.set_defaults(run=_reset_totp)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="a TOML file over the embedded defaults")
    common.add_argument("--data", type=Path, help="the data folder (database, signing key)")

    parser = argparse.ArgumentParser(prog="python -m hub", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the hub")
    serve.add_argument("--port", type=int, help="listen on this port (0: any free one)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="create the demo doctors, agent and cabin at start",
    )
    serve.add_argument(
        "--demo-token-file", type=Path, help="with --demo: write the demo cabin's token here"
    )
    serve.set_defaults(run=_serve)

    doctor = commands.add_parser("create-doctor", parents=[common], help="add a doctor")
    doctor.add_argument("username", help="lower-case letters, digits and ._-")
    doctor.add_argument("--name", required=True, help='as patients see it: "Dr Claire Martin"')
    doctor.add_argument("--specialty", required=True, help='"Médecine générale"')
    _detail_arguments(doctor)
    doctor.add_argument("--photo", type=Path, help="a PNG or JPEG portrait (at most 160 KiB)")
    doctor.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password (at least {MIN_PASSWORD_CHARS} characters) from the first"
        " line of standard input instead of asking",
    )
    doctor.set_defaults(run=_create_doctor)

    details = commands.add_parser(
        "set-details",
        parents=[common],
        help="change a doctor's RPPS number, address, phone or e-mail (as prescriptions print"
        " them); those not given stay, an empty value removes one",
    )
    details.add_argument("username")
    _detail_arguments(details)
    details.set_defaults(run=_set_details)

    photo = commands.add_parser("set-photo", parents=[common], help="set a doctor's photo")
    photo.add_argument("username")
    photo.add_argument("photo", type=Path, nargs="?", help="a PNG or JPEG portrait")
    photo.add_argument("--remove", action="store_true", help="remove the photo")
    photo.set_defaults(run=_set_photo)

    cabin = commands.add_parser(
        "provision-cabin",
        parents=[common],
        help="register a cabin (or give it a new token) and print its token once",
    )
    cabin.add_argument("cabin_id")
    cabin.add_argument("--name", required=True, help="where the cabin is")
    cabin.set_defaults(run=_provision_cabin)

    listing = commands.add_parser("list-doctors", parents=[common], help="list the doctors")
    listing.set_defaults(run=_list_doctors)

    agent = commands.add_parser(
        "create-agent",
        parents=[common],
        help="add an agent (nurse, town hall): signs in to the alert page (/agent)",
    )
    agent.add_argument("username", help="lower-case letters, digits and ._-")
    agent.add_argument("--name", required=True, help='as the page shows it: "Mairie de Murat"')
    agent.add_argument(
        "--cabin",
        action="append",
        metavar="CABIN_ID",
        help="a cabin whose alerts this agent gets (give it once per cabin)",
    )
    agent.add_argument(
        "--all-cabins", action="store_true", help="this agent gets every cabin's alerts"
    )
    agent.add_argument(
        "--coordinator",
        action="store_true",
        help="this agent also books, moves and cancels appointments and edits the rota of"
        " their cabins, on the coordinator's page (/coordination)",
    )
    agent.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password (at least {MIN_PASSWORD_CHARS} characters) from the first"
        " line of standard input instead of asking",
    )
    agent.set_defaults(run=_create_agent)

    agents = commands.add_parser("list-agents", parents=[common], help="list the agents")
    agents.set_defaults(run=_list_agents)

    clear = commands.add_parser(
        "clear-alerts",
        parents=[common],
        help="dismiss every open alert of a cabin (a cabin that raised a flood of them);"
        " written to the audit log",
    )
    clear.add_argument("cabin_id")
    clear.add_argument(
        "--by", help="who dismisses them, as the pages show it (default: your login name)"
    )
    clear.set_defaults(run=_clear_alerts)
    _account_commands(commands, common)
    _data_key_commands(commands, common)
    _export_commands(commands, common)
    return parser


def _operator_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    operator = commands.add_parser(
        "create-operator",
        aliases=["add-operator"],
        parents=[common],
        help="add an operator (runs the fleet): signs in to the fleet page (/flotte)",
    )
    operator.add_argument("username", help="lower-case letters, digits and ._-")
    operator.add_argument("--name", required=True, help='as the page shows it: "Exploitation"')
    operator.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password (at least {MIN_PASSWORD_CHARS} characters) from the first"
        " line of standard input instead of asking",
    )
    operator.set_defaults(run=_create_operator)


def _detail_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpps", help="the RPPS registration number (11 digits)")
    parser.add_argument(
        "--address",
        help='the practice\'s postal address; lines apart by "\\n":'
        ' "Cabinet médical\\n12 rue ...\\n15100 Saint-Flour"',
    )
    parser.add_argument("--phone", help='the practice\'s phone: "04 71 60 12 34"')
    parser.add_argument("--email", help="the e-mail address printed on prescriptions")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(run(args))
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
