"""The demo's hub, in a process of its own, as a real hub would be.

``python -m hub serve --demo`` seeds the demo doctors and the demo cabin's credential, then
serves on loopback; it prints one line ``hub: serving on <url>`` once it listens. The demo cabin
reads its credential from the file the hub wrote (mode 0600), as a real cabin reads its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from devices.cancellation import cancel_and_wait, within

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    display_name: str


# The demo doctors that `python -m hub serve --demo` creates (hub/demo.py).
DEMO_DOCTOR = DemoLogin("dr.martin", "demo-docteur-2468", "Dr Claire Martin")
SECOND_DOCTOR = DemoLogin("dr.durand", "demo-docteur-1357", "Dr Paul Durand")
# The demo's on-site agent (the town hall's desk), at the hub's /agent page.
DEMO_AGENT = DemoLogin("agent.mairie", "demo-agent-2468", "Accueil de la mairie")
# The coordinator who takes bookings by phone, at the hub's /coordination page.
DEMO_COORDINATOR = DemoLogin(
    "coord.cantal", "demo-coord-2468", "Coordination des cabines du Cantal"
)
# The operator who runs the fleet, at the hub's fleet page /flotte.
DEMO_OPERATOR = DemoLogin("operateur.demo", "demo-operateur-2468", "Exploitation des cabines")

READY = re.compile(rb"hub: serving on (?P<url>\S+)")
START_TIMEOUT_S = 60.0
"""The demo hub seeds its doctors, agents, coordinator and operator first, each password hashed
with argon2id at the standard cost: 2 to 3 s each on a 2-core machine at load 13, where 20 s once
ran out before it listened (the scripted demo then had no hub)."""


class DemoHubError(RuntimeError):
    """The demo hub did not start."""


@dataclass
class DemoHub:
    url: str
    process: asyncio.subprocess.Process
    _drain: asyncio.Task[None]

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await within(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await cancel_and_wait(self._drain)


SCRIPTED_BOOKING: dict[str, object] = {
    "noshow_after_min": 1,  # the caller who does not come is a no-show a minute after the slot
    "noshow_check_s": 3,
    "bookings_per_client_per_hour": 1000,  # every booking comes from 127.0.0.1
    "bookings_per_phone_per_day": 1000,
}
"""The scripted demo's `[booking]`: its few minutes see a no-show happen."""


def scripted_hub_config(mail: dict[str, object], sms: dict[str, object] | None = None) -> str:
    """The scripted demo hub's configuration file (TOML): e-mail to the demo's local mailbox
    (`DemoMailbox.hub_mail_config`), SMS to its recorder, the outbox worked every second, and
    `SCRIPTED_BOOKING`."""
    sections: dict[str, dict[str, object]] = {
        "mail": mail,
        "notifications": {"poll_s": 1},
        "booking": SCRIPTED_BOOKING,
    }
    if sms is not None:
        sections["sms"] = sms
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f"{key} = {json.dumps(str(value))}")
        lines.append("")
    return "\n".join(lines)


SCRIPTED_HUB_FOLDER = "hub-scripted"
"""The scripted demo's hub data, beside the interactive demo's ``hub``: new at each run
(`fresh_hub_folder`)."""


def fresh_hub_folder(data_dir: Path) -> Path:
    """An empty folder for the scripted demo's hub, new at each run (its database, its keys).
    Each run books the first slots of a day that opens a minute after the hub starts
    (`hub.demo.seed_demo_bookings`), which a run a few minutes earlier would still hold; and a
    hub's prescription numbers go with its database and its signing key, so both go together
    (the cabin keeps the earlier run's prescriptions: a number issued again would clash)."""
    folder = data_dir / SCRIPTED_HUB_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    return folder


async def start_demo_hub(
    data_dir: Path,
    cabin_token_file: Path,
    *,
    port: int = 8765,
    log_file: Path | None = None,
    config_file: Path | None = None,
) -> DemoHub:
    """Start ``python -m hub serve --demo`` and wait until it listens; its log goes to
    ``log_file``; ``config_file``: a TOML file laid over the hub's defaults."""
    command = [
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--demo",
        "--data",
        str(data_dir),
        "--port",
        str(port),
        "--demo-token-file",
        str(cabin_token_file),
    ]
    if config_file is not None:
        command += ["--config", str(config_file)]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    sink = log_file.open("ab") if log_file is not None else None
    url: str | None = None
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while url is None:
                line = await process.stdout.readline()
                if not line:
                    break
                if sink is not None:
                    sink.write(line)
                match = READY.search(line)
                if match:
                    url = match["url"].decode()
    except TimeoutError:
        pass
    if url is None:
        process.kill()
        await process.wait()
        if sink is not None:
            sink.close()
        raise DemoHubError(
            "the demo hub did not start"
            + (f" (its log: {log_file})" if log_file is not None else "")
        )

    async def drain() -> None:
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                if sink is not None:
                    sink.write(line)
                    sink.flush()
        finally:
            if sink is not None:
                sink.close()

    log.info("demo_hub.ready url=%s", url)
    return DemoHub(url, process, asyncio.get_running_loop().create_task(drain()))


@dataclass
class DemoMailbox:
    """The patients' mailbox and phone in the scripted demo: `simulators.mailbox` (aiosmtpd)
    in a process of its own (its server thread cannot run a loop of its own under qasync's
    policy), writing each message it takes into `folder` as an ``.eml`` file; and
    `simulators.sms_recorder`, the SMS provider's stand-in, writing what it is given to
    `sms_file` (JSON lines)."""

    port: int
    folder: Path
    process: asyncio.subprocess.Process
    sms_url: str
    sms_file: Path
    sms_process: asyncio.subprocess.Process

    def hub_mail_config(self) -> dict[str, object]:
        """The demo hub's ``[mail]``: plain SMTP to this mailbox on loopback."""
        return {
            "enabled": True,
            "host": "127.0.0.1",
            "port": self.port,
            "from_address": "rendez-vous@demo.invalid",
        }

    def hub_sms_config(self) -> dict[str, object]:
        """The demo hub's ``[sms]``: the recorder's HTTP API."""
        return {"provider": "http", "url": self.sms_url, "sender": "BoxMedicale"}

    def messages(self) -> list[tuple[Path, EmailMessage]]:
        """The messages received so far, in arrival order (a file being written is left for
        the next look)."""
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            try:
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            except (OSError, ValueError):
                continue
            if isinstance(message, EmailMessage):
                found.append((path, message))
        return found

    def texts(self) -> list[dict[str, object]]:
        """The SMS the provider was given so far (``to``, ``text``...)."""
        try:
            lines = self.sms_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        found = []
        for line in lines:
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return found

    async def stop(self) -> None:
        for process in (self.process, self.sms_process):
            if process.returncode is None:
                process.terminate()
                try:
                    await within(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def _start_process(*command: str, ready: bytes) -> tuple[asyncio.subprocess.Process, bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        line = await within(process.stdout.readline(), START_TIMEOUT_S)
    except TimeoutError:
        line = b""
    if ready not in line:
        process.kill()
        await process.wait()
        raise DemoHubError(f"{command[0]} did not start")
    return process, line


async def start_demo_mailbox(folder: Path) -> DemoMailbox:
    """Start the mailbox and the SMS recorder on free loopback ports; when both listen."""
    from simulators.mailbox import free_port  # noqa: PLC0415 - aiosmtpd only when needed

    port = free_port()
    mail, _ = await _start_process(
        "simulators.mailbox", "--port", str(port), "--folder", str(folder), ready=b"smtp://"
    )
    sms_file = folder / "sms.jsonl"
    try:
        sms, line = await _start_process(
            "simulators.sms_recorder", "--port", "0", "--out", str(sms_file), ready=b"listening"
        )
    except DemoHubError:
        mail.kill()
        await mail.wait()
        raise
    url = line.decode().split()[-1]
    return DemoMailbox(port, folder, mail, url, sms_file, sms)
