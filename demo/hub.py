"""The demo's hub, in a process of its own (``simulators.demo_hub``), started when the cabin's
warm-up first asks where the hub is; and the scripted demo's mailbox for the patients' e-mail and
text messages."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from kiosk.config import Config
from simulators import demo_hub
from simulators.demo_hub import DEMO_DOCTOR, DemoHub, DemoMailbox


async def start_mailbox(out: Path) -> DemoMailbox:
    """The scripted demo's mailbox and SMS recorder, writing into ``out/mail`` (emptied)."""
    folder = out / "mail"
    await asyncio.to_thread(shutil.rmtree, folder, True)
    return await demo_hub.start_demo_mailbox(folder)


class DemoHubOnDemand:
    """The demo's hub, started when the core's warm-up first asks where the hub is (after the
    first screen is painted), and stopped with the cabin. `url` is the wiring's
    ``hub_address``."""

    def __init__(self, data_dir: Path, config: Config, mailbox: DemoMailbox | None = None) -> None:
        self._data_dir = data_dir
        self._token_file = config.resolve(data_dir, config.hub.credential_file)
        self._mailbox = mailbox
        """The scripted demo's: its hub sends e-mail there, and starts on an empty database."""
        self._starting: asyncio.Task[DemoHub] | None = None

    async def url(self) -> str:
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        # Shielded: a warm-up cancelled meanwhile lets the start end, and `stop` stops the hub.
        hub = await asyncio.shield(self._starting)
        return hub.url

    async def _start(self) -> DemoHub:
        hub_dir = self._data_dir / "hub"
        config_file = None
        if self._mailbox is None:
            await asyncio.to_thread(hub_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        else:  # the scripted demo: a hub of its own, new each run
            hub_dir = await asyncio.to_thread(demo_hub.fresh_hub_folder, self._data_dir)
            config_file = self._data_dir / "hub-scripted.toml"
            mailbox = self._mailbox
            text = demo_hub.scripted_hub_config(mailbox.hub_mail_config(), mailbox.hub_sms_config())
            await asyncio.to_thread(config_file.write_text, text, encoding="utf-8")
        hub = await demo_hub.start_demo_hub(
            hub_dir,
            self._token_file,
            log_file=self._data_dir / "hub.log",
            config_file=config_file,
        )
        announce_console(hub.url)
        return hub

    async def stop(self) -> None:
        starting = self._starting
        if starting is None:
            return
        await asyncio.wait({starting})  # a start under way ends by itself: it has a deadline
        if starting.cancelled() or starting.exception() is not None:
            return  # it did not start (the warm-up's log says why): nothing to stop
        await starting.result().stop()


def announce_console(url: str) -> None:
    """Tell the person running the demo where the doctor's console is, and how to log in."""
    print(
        f"\n  Doctor's console: {url}/\n"
        f"  Log in as {DEMO_DOCTOR.username} / {DEMO_DOCTOR.password}"
        f" ({DEMO_DOCTOR.display_name}); the hub's log is in the data folder.\n",
        flush=True,
    )
