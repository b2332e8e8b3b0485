"""Keeping a cabin working (issue 18): its self-test, its heartbeat and its calls' quality.

``attach(core)`` is the one hook in the composition root (``kiosk.app``): called when the warm-up
begins, it returns an ``Upkeep`` that
- wraps the call factory (``metered``) so that each call's quality goes to the hub;
- once the warm-up is over (every part up, or known not to come), loads the self-test off the
  Qt thread, runs it at start (once the cabin is idle), every night and when an agent asks
  (``Assistant.selftest``), and sends the reports; and starts the heartbeat (``CabinStatus``)
  when the cabin has a hub.
This module is light: aiortc, PyAV and numpy load with ``kiosk.selftest.checks``, on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import TYPE_CHECKING, Protocol

import wire
from devices.cancellation import cancel_and_wait
from kiosk.errors import HubError, KioskError
from kiosk.events import CorePart

if TYPE_CHECKING:
    from kiosk.app import KioskCore
    from kiosk.cabin_status import CabinStatusSender
    from kiosk.call_quality import MeteredCalls
    from kiosk.hub_link import HubLink
    from kiosk.selftest.service import SelfTest, SelfTestParts
    from kiosk.teleconsultation import CallFactory

log = logging.getLogger(__name__)


class SelfTestRefused(KioskError):
    """A self-test was asked when it must not run (a patient is in the cabin)."""


_HEAVY = ("kiosk.selftest.service", "kiosk.cabin_status")


class _Media(Protocol):
    media: object


class Upkeep:
    def __init__(self, core: KioskCore, software_version: str) -> None:
        self._core = core
        self._version = software_version
        self.selftest: SelfTest | None = None
        self.status: CabinStatusSender | None = None
        self.calls: MeteredCalls | None = None
        self._task: asyncio.Task[None] | None = None

    def metered(self, factory: CallFactory) -> CallFactory:
        """The call factory, each call measured (``kiosk.call_quality``); needs the hub."""
        from kiosk.call_quality import MeteredCalls  # noqa: PLC0415 - with the hub's modules

        hub = self._core.hub
        if hub is None:
            return factory

        async def send(message: object) -> None:
            assert hub is not None
            await hub.send(message)  # type: ignore[arg-type]

        self.calls = MeteredCalls(send, hub.new_id)
        return self.calls.wrap(factory)

    def begin(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._start(), name="upkeep")

    async def _start(self) -> None:
        try:
            await self._begin()
        except Exception:  # the cabin works on without its upkeep; the log says why
            log.exception("upkeep.failed")

    async def _begin(self) -> None:
        await self._core.warmed_up()
        for name in _HEAVY:
            await asyncio.to_thread(importlib.import_module, name)
        from kiosk.cabin_status import CabinStatusSender  # noqa: PLC0415 - loaded above
        from kiosk.selftest.service import SelfTest  # noqa: PLC0415

        core = self._core
        self.selftest = SelfTest(parts_of(core, self.calls))
        core.assistant.selftest = self.selftest
        self.selftest.start(at_start=True)
        if core.hub is not None:
            paperwork = core.paperwork

            def problem() -> object:
                status = paperwork.printer_status if paperwork is not None else None
                return None if status is None else status.problem

            self.status = CabinStatusSender(
                core.hub,
                core.bus,
                core.measurements.instruments,
                software_version=self._version,
                data_dir=core.data_dir,
                printer_problem=problem,  # type: ignore[arg-type]
                sheets_left=core.assistant.sheets_left,
            )
            self.status.start()
        log.info("upkeep.started hub=%s", core.hub is not None)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self.selftest is not None:
            await self.selftest.stop()
        if self.status is not None:
            await self.status.stop()


def parts_of(core: KioskCore, calls: MeteredCalls | None) -> SelfTestParts:
    from kiosk.selftest import checks  # noqa: PLC0415 - loaded off the Qt thread by the caller
    from kiosk.selftest.service import SelfTestParts  # noqa: PLC0415

    media = core.cabin_media
    why = "the camera and microphone are not open"
    failure = core.failures.get(CorePart.MEDIA)
    if failure is not None:
        why += f" ({type(failure).__name__}: {failure})"[:300]
    paperwork = core.paperwork
    return SelfTestParts(
        store=core.store,
        session=core.session,
        instruments=core.measurements.instruments,
        data_dir=core.data_dir,
        settings=core.config.selftest,
        media=media,
        media_missing=why,
        printer_status=paperwork.check_printer if paperwork is not None else None,
        printer_name=paperwork.printer.name if paperwork is not None else "",
        sheets_left=core.assistant.sheets_left,
        hub=core.hub,
        ice_servers=lambda: ice_servers_of(core.hub, calls, core.config.selftest.check_timeout_s),
        loopback_only=core.config.call.loopback_only,
        disk_usage=checks.disk_usage,
        media_held=contextlib.nullcontext if core.media_power is None else core.media_power.held,
    )


async def ice_servers_of(
    hub: HubLink | None, calls: MeteredCalls | None, timeout_s: float
) -> list[wire.IceServer] | None:
    """The hub's ICE servers with TURN credentials fresh from now (``IceServersAsk``); else
    those the hub gave with the last call (a hub that does not answer the question); None
    when the cabin has had neither."""
    from kiosk.hub_link import HubLinkState  # noqa: PLC0415 - loaded with the hub's modules

    if hub is not None and hub.state is HubLinkState.ONLINE:
        try:
            answer = await hub.ask(wire.IceServersAsk(msg_id=hub.new_id("ice")), timeout_s / 2)
        except HubError as exc:
            log.warning("selftest.ice_servers_unanswered error=%s", exc)
        else:
            if isinstance(answer, wire.IceServersGiven):
                return list(answer.ice_servers)
            log.warning("selftest.ice_servers_refused answer=%s", type(answer).__name__)
    return calls.ice_servers if calls is not None else None


def attach_upkeep(core: KioskCore, software_version: str) -> Upkeep:
    """The cabin's upkeep, started: it waits for the warm-up's end by itself."""
    upkeep = Upkeep(core, software_version)
    upkeep.begin()
    return upkeep
