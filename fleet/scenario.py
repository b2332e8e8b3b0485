"""The scripted consultation played through a fleet, with a replica killed in the middle of the
call (``./cabin fleet``).

The fleet (`fleet.rig`: PostgreSQL, Redis, two replicas, HAProxy with TLS) runs on loopback; the
cabin is the real one in a process of its own (`fleet.cabin_process`), the doctor is played in
Debian's Chromium (`simulators.doctor.BrowserDoctor`), both through the proxy's https address.
Once the video flows both ways, the replica that holds the cabin's socket is killed (SIGKILL);
the scenario then measures and checks what the issue promises of such a loss:

- the cabin's hub link is back, through the other replica, in 5 s or less;
- the call's media went on: the doctor's decoded frames and the cabin's shown frames kept
  growing through the kill, and the picture is not blank;
- the console kept showing the call, with at most a short "reconnecting";
- the blood pressure asked for after the kill reaches the console; the prescription written
  after the kill reaches the cabin exactly once, and is printed;
- the consultation and its record are filed exactly once in PostgreSQL;
- nothing of the patient is in the clear in a ``pg_dump``.

`play` returns a `FleetReport`: every step with its time, the numbers measured, each guarantee
held or not, and the screenshots and PDFs it left in the output folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.cancellation import within
from fleet.cabin_process import EVENT_PREFIX, parse_events
from fleet.replicas import Replica
from fleet.rig import DATABASE, Fleet

CABIN_ID = "cabin-1"
DOCTOR = "dr.a"
FAILOVER_TARGET_S = 5.0
"""The issue's bound: from the kill to the cabin's hub link back online."""
MEDIA_STALL_LIMIT_S = 2.0
"""The longest the call's frames may stop growing, on either side, for the media to have gone
on (it is peer to peer: the kill should not touch it at all; a loaded machine stalls a little)."""
RECONNECTING_LIMIT_S = 5.0
"""How long the console may say "reconnecting" (its socket, or the call) for it to be short."""
WATCH_BEFORE_S = 2.0
WATCH_AFTER_S = 8.0
SAMPLE_EVERY_S = 0.2
STEP_TIMEOUT_S = 120.0
"""The bound on any one wait: a hang becomes a failure, a slow machine only a slow run."""
NOTES = "Toux sèche depuis 3 jours, sans fièvre. Tension normale."
NOT_IN_CLEAR: tuple[str, ...] = (
    "Martin-Lebreton",
    "Lebreton",
    "Jeanne",
    "1941-03-12",
    "12/03/1941",
    "Toux sèche",
    "Buvez beaucoup",
    "Paracétamol",
)
"""The patient (ui.scripted_demo.DEMO_PATIENT), the doctor's note, advice and prescription."""

# The console's call as the doctor sees it: the call view, its link and call states, the banner
# of a lost socket and the overlay of a call reconnecting.
_CONSOLE_PROBE = """
() => {
  const pick = (id) => document.getElementById(id);
  const shown = (el) => !!el && !el.hidden && el.offsetParent !== null;
  const banner = pick("ws-banner");
  return {
    call_view: shown(pick("call-view")),
    link: pick("link-state")?.dataset.state ?? null,
    call: pick("call-state")?.dataset.state ?? null,
    banner: shown(banner) ? (banner.dataset.state ?? "shown") : null,
    overlay: shown(pick("link-overlay")),
  };
}
"""


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A consultation's id, as the cabin makes it: safe to put in the SQL text given to psql."""


_CHECK_URL = re.compile(r"https://\S+?(?P<path>/rx/\S+)")
"""The check page's address, as printed under the prescription's QR code."""


async def _pdf_text(pdf: Path) -> str:
    """The PDF's text, by Poppler's pdftotext (empty if it is missing or fails)."""
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        return ""
    process = await asyncio.create_subprocess_exec(
        pdftotext, str(pdf), "-", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await within(process.communicate(), 60)
    return out.decode(errors="replace")


def _check(url: str) -> str:
    """What a replica's check page says of a prescription: valid, invalid, or its error."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return type(exc).__name__
    return "valid" if body.get("valid") is True else "invalid"


class ScenarioFailed(Exception):
    """A step did not get through; the message says which and why, in one line."""


@dataclass
class Step:
    t_s: float
    """Seconds since the scenario started."""
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class FleetReport:
    ok: bool = False
    reason: str = ""
    seconds: float = 0.0
    folder: str = ""
    """Where the fleet ran (removed at the end)."""
    steps: list[Step] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)
    guarantees: dict[str, bool] = field(default_factory=dict)
    replicas: dict[str, str | None] = field(default_factory=dict)
    screenshots: list[str] = field(default_factory=list)
    pdfs: list[str] = field(default_factory=list)
    console_samples: list[dict[str, Any]] = field(default_factory=list)
    cabin_events: list[dict[str, Any]] = field(default_factory=list)


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def since(self, t: float | None = None) -> float:
        return round((time.monotonic() if t is None else t) - self.started, 3)


class CabinWatch:
    """The cabin process and what it says (`fleet.cabin_process.Events`)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            text = line.decode(errors="replace")
            if text.startswith(EVENT_PREFIX):
                self.events.extend(parse_events(iter([text])))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]

    def last(self, name: str) -> dict[str, Any] | None:
        found = self.named(name)
        return found[-1] if found else None

    async def wait(
        self, what: str, found: Callable[[], Any], timeout_s: float = STEP_TIMEOUT_S
    ) -> Any:
        """Until ``found()`` is truthy (its value); `ScenarioFailed` if the cabin failed, ended
        or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = found()
            if value:
                return value
            failed = self.last("failed")
            if failed is not None:
                raise ScenarioFailed(f"the cabin failed: {failed['reason']}")
            if self._reader.done() and self.process.returncode is not None:
                raise ScenarioFailed(f"the cabin exited ({self.process.returncode}) before {what}")
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
            await asyncio.sleep(0.05)

    async def wait_event(self, name: str, timeout_s: float = STEP_TIMEOUT_S) -> dict[str, Any]:
        result: dict[str, Any] = await self.wait(
            f"the cabin's {name!r}", lambda: self.last(name), timeout_s
        )
        return result

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await within(self.process.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def _write_config(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def cabin_config(url: str) -> str:
    """The cabin's configuration over its embedded defaults: its id and the proxy's address."""
    return f'[cabin]\nid = "{CABIN_ID}"\nname = "Cabine 1"\n\n[hub]\nurl = "{url}"\n'


@contextlib.asynccontextmanager
async def cabin_process(running: Fleet, work: Path, out: Path) -> AsyncIterator[CabinWatch]:
    """The real cabin, trusting the proxy's certificate, with its token from the rig."""
    config = work / "cabin.toml"
    await in_thread(lambda: _write_config(config, cabin_config(running.url)))
    environment = {
        **os.environ,
        "SSL_CERT_FILE": str(running.certificate),
        "CABIN_HUB_TOKEN": running.tokens[CABIN_ID],
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("DISPLAY", None)
    environment.pop("WAYLAND_DISPLAY", None)
    with (work / "cabin.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fleet.cabin_process",
            "--config",
            str(config),
            "--data",
            str(work / "data"),
            "--out",
            str(out),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=environment,
            start_new_session=True,
        )
    watch = CabinWatch(process)
    try:
        yield watch
    finally:
        await watch.stop()


def longest_stall(samples: list[tuple[float, int]]) -> float:
    """The longest time a growing counter stood still, from (time, count) samples."""
    stall, since, last = 0.0, None, None
    for t, count in samples:
        if last is None or count > last:
            since, last = t, count
        elif since is not None:
            stall = max(stall, t - since)
    return round(stall, 2)


def longest_true(samples: list[tuple[float, bool]]) -> float:
    """The longest run of True, from (time, flag) samples."""
    longest, since = 0.0, None
    for t, flag in samples:
        if flag and since is None:
            since = t
        elif not flag and since is not None:
            longest, since = max(longest, t - since), None
    if since is not None and samples:
        longest = max(longest, samples[-1][0] - since)
    return round(longest, 2)


async def in_thread(work: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(work)


class Scenario:
    def __init__(self, running: Fleet, out: Path, work: Path, clock: Clock) -> None:
        self.fleet = running
        self.out = out
        self.work = work
        self.clock = clock
        self.report = FleetReport()
        self.consultation_id = ""
        self.prescription_id = ""
        self.victim: Replica | None = None

    def step(self, name: str, **detail: Any) -> None:
        self.report.steps.append(Step(self.clock.since(), name, detail))
        shown = " ".join(f"{key}={value}" for key, value in detail.items())
        print(f"[fleet] {self.clock.since():7.2f} s  {name}  {shown}".rstrip(), flush=True)

    def hold(self, guarantee: str, held: bool, detail: str = "") -> None:
        self.report.guarantees[guarantee] = held
        mark = "ok  " if held else "FAIL"
        print(f"[fleet] {mark} {guarantee}{f' ({detail})' if detail else ''}", flush=True)

    async def play(self) -> None:
        self.step("fleet up", url=self.fleet.url, replicas=len(self.fleet.replicas))
        async with (
            cabin_process(self.fleet, self.work / "cabin", self.out) as cabin,
            console(self.fleet, self.work / "chromium", self.out) as doctor,
        ):
            try:
                await self._consultation(cabin, doctor)
            except BaseException:
                with contextlib.suppress(Exception):
                    await within(doctor.shot("failure"), 10)
                raise
        await self._check_page_on_every_replica()
        await self._database(self.consultation_id)
        await self._render_pdfs()

    async def _consultation(self, cabin: CabinWatch, doctor: Any) -> None:
        self.consultation_id = await self._until_call(cabin, doctor)
        await self._kill_mid_call(cabin, doctor)
        self.prescription_id = await self._after_the_kill(cabin, doctor)
        await self._closing(cabin)

    async def _until_call(self, cabin: CabinWatch, doctor: Any) -> str:
        """The doctor logs in, the patient comes to the waiting room, the doctor takes them:
        the consultation's id once the video flows both ways."""
        await doctor.login(DOCTOR, self.fleet.passwords[DOCTOR])
        await doctor.shot("login")
        self.step("doctor logged in", doctor=DOCTOR)
        online = await cabin.wait_event("online")
        holder = await in_thread(lambda: self.fleet.wait_cabin_on(CABIN_ID))
        self.step("cabin online", replica=holder.name, url=online["url"])
        waiting = await cabin.wait_event("waiting_room", timeout_s=2 * STEP_TIMEOUT_S)
        consultation_id: str = waiting["consultation_id"]
        self.step("patient in the waiting room", consultation_id=consultation_id)
        await doctor.wait_for_patient(consultation_id)
        await doctor.shot("waiting-room")
        clicked = await doctor.accept(consultation_id)
        await doctor.wait_for_video(since=clicked, timeout_s=STEP_TIMEOUT_S)
        await cabin.wait_event("call_video")
        await doctor.wait_link("connected", timeout_s=STEP_TIMEOUT_S)
        self.step("call: video both ways", accept_to_video_s=doctor.report.accept_to_video_s)
        await asyncio.sleep(1.0)
        await doctor.shot("call")
        return consultation_id

    async def _after_the_kill(self, cabin: CabinWatch, doctor: Any) -> str:
        """Through the replica left: the doctor asks for a blood pressure, the patient takes
        it, the doctor writes and sends a prescription and hangs up; its number."""
        from simulators.doctor import DEMO_ADVICE, DEMO_PRESCRIPTION  # noqa: PLC0415

        before = await doctor.count("systolic_mmhg")
        await doctor.request("blood_pressure")
        systolic = await doctor.wait_vital("systolic_mmhg", after=before)
        await doctor.shot("vitals")
        self.step("blood pressure in the console after the kill", systolic=systolic)
        self.hold("a reading asked for after the kill reached the console", True)
        await doctor.write_notes(NOTES)
        await doctor.write_advice(DEMO_ADVICE)
        number: str = await doctor.prescribe(DEMO_PRESCRIPTION)
        await doctor.wait_delivered(timeout_s=STEP_TIMEOUT_S)
        await doctor.shot("prescription")
        self.step("prescription sent and delivered", prescription_id=number)
        await cabin.wait_event("call_measured")
        await doctor.hang_up()
        await doctor.shot("after")
        self.step("doctor hung up")
        return number

    async def _closing(self, cabin: CabinWatch) -> None:
        """What the cabin received and printed, its record acknowledged, and its end."""
        closing = await cabin.wait_event("closing")
        received = [
            e for e in cabin.named("prescription") if e["prescription_id"] == self.prescription_id
        ]
        self.hold(
            "the prescription written after the kill reached the cabin exactly once",
            len(received) == 1 and closing["prescriptions_stored"] == 1,
            f"received {len(received)}, stored {closing['prescriptions_stored']}",
        )
        printed = closing["printed"]
        self.report.pdfs = sorted(printed.values())
        self.hold("the prescription was printed", "prescription" in printed)
        await cabin.wait_event("done")
        self.step("cabin back to idle", printed=sorted(printed))
        await cabin.wait_event("record_acknowledged")
        self.step("record acknowledged by the hub")
        await cabin.wait("the cabin to end", lambda: cabin.process.returncode is not None)
        self.step("cabin stopped", exit_status=cabin.process.returncode)
        self.report.cabin_events = [e for e in cabin.events if e["event"] != "frames"]

    async def _kill_mid_call(self, cabin: CabinWatch, doctor: Any) -> None:
        """Kill the cabin's replica while both sides watch; measure what each side saw."""
        victim = await in_thread(lambda: self.fleet.replica_of_cabin(CABIN_ID))
        if victim is None:
            raise ScenarioFailed("no running replica holds the cabin's socket")
        consoles = await in_thread(lambda: self.fleet.holders("console", DOCTOR))
        self.report.replicas["cabin_before"] = victim.name
        self.report.replicas["console_before"] = ",".join(r.name for r in consoles) or None
        samples: list[dict[str, Any]] = []

        async def sample() -> None:
            from simulators.doctor import _VIDEO_PROBE  # noqa: PLC0415

            while True:
                seen = await doctor.page.evaluate(_CONSOLE_PROBE)
                seen["video"] = await doctor.page.evaluate(_VIDEO_PROBE, "#remote-video")
                seen["t"] = time.monotonic()
                samples.append(seen)
                await asyncio.sleep(SAMPLE_EVERY_S)

        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            await asyncio.sleep(WATCH_BEFORE_S)
            kill_at = time.monotonic()
            await in_thread(victim.kill)
            self.victim = victim
            self.step("replica killed (SIGKILL)", replica=victim.name)
            await asyncio.sleep(1.0)
            await doctor.shot("failover")
            back = await cabin.wait(
                "the cabin's hub link back",
                lambda: next(
                    (e for e in cabin.named("hub") if e["online"] and e["t"] > kill_at),
                    None,
                ),
                timeout_s=STEP_TIMEOUT_S,
            )
            failover_s = round(back["t"] - kill_at, 2)
            self.report.numbers["failover_s"] = failover_s
            holder = await in_thread(lambda: self.fleet.wait_cabin_on(CABIN_ID))
            self.report.replicas["cabin_after"] = holder.name
            self.step("cabin's hub link back", failover_s=failover_s, replica=holder.name)
            self.hold(
                "the cabin reconnected through the proxy to another replica"
                f" in <= {FAILOVER_TARGET_S:.0f} s",
                failover_s <= FAILOVER_TARGET_S and holder is not victim,
                f"{failover_s} s, on {holder.name}",
            )
            await asyncio.sleep(max(0.0, kill_at + WATCH_AFTER_S - time.monotonic()))
            await doctor.shot("after-failover")
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        self._judge_media(cabin, samples, kill_at)

    def _judge_media(
        self, cabin: CabinWatch, samples: list[dict[str, Any]], kill_at: float
    ) -> None:
        until = kill_at + WATCH_AFTER_S
        after = [s for s in samples if kill_at <= s["t"] <= until]
        self.report.console_samples = [{**s, "t": round(s["t"] - kill_at, 2)} for s in samples]
        decoded = [
            (s["t"], s["video"]["frames"])
            for s in after
            if s["video"] is not None and s["video"]["frames"] is not None
        ]
        doctor_stall = longest_stall(decoded)
        grew = decoded[-1][1] - decoded[0][1] if len(decoded) > 1 else 0
        last_video = after[-1]["video"] if after else None
        not_blank = last_video is not None and last_video["variance"] >= 20.0
        shown = [(e["t"], e["shown"]) for e in cabin.named("frames") if kill_at <= e["t"] <= until]
        cabin_stall = longest_stall(shown)
        cabin_grew = shown[-1][1] - shown[0][1] if len(shown) > 1 else 0
        self.report.numbers.update(
            {
                "doctor_frames_after_kill": grew,
                "doctor_longest_stall_s": doctor_stall,
                "cabin_frames_after_kill": cabin_grew,
                "cabin_longest_stall_s": cabin_stall,
            }
        )
        self.hold(
            "the call's media went on through the kill (both ways)",
            grew > 0
            and cabin_grew > 0
            and not_blank
            and doctor_stall <= MEDIA_STALL_LIMIT_S
            and cabin_stall <= MEDIA_STALL_LIMIT_S,
            f"doctor +{grew} frames (stall {doctor_stall} s), cabin +{cabin_grew}"
            f" (stall {cabin_stall} s)",
        )
        reconnecting = [
            (
                s["t"],
                s["banner"] is not None
                or s["overlay"]
                or s["link"] not in ("connected", None)
                or s["call"] == "reconnecting",
            )
            for s in after
        ]
        reconnecting_s = longest_true(reconnecting)
        self.report.numbers["console_reconnecting_s"] = reconnecting_s
        always_call = bool(after) and all(s["call_view"] for s in after)
        self.hold(
            "the console kept showing the call (at most a short reconnecting)",
            always_call and reconnecting_s <= RECONNECTING_LIMIT_S,
            f"call view in {sum(s['call_view'] for s in after)}/{len(after)} samples,"
            f" reconnecting for {reconnecting_s} s",
        )
        links = [e["link"] for e in cabin.named("call_link") if kill_at <= e["t"] <= until]
        self.report.numbers["cabin_call_link_changes_after_kill"] = len(links)

    async def _check_page_on_every_replica(self) -> None:
        """The killed replica started again; the address printed under the prescription's QR
        code, asked of each replica directly, as the pharmacist's phone reaches either."""
        victim = self.victim
        if victim is None:
            raise ScenarioFailed("no replica was killed")
        await in_thread(lambda: self.fleet.restart(victim))
        self.step("killed replica started again", replica=victim.name)
        text = await _pdf_text(self.out / "prescription.pdf")
        found = _CHECK_URL.search(text)
        if found is None:
            self.hold("the printed prescription's check page answers from every replica", False)
            return
        path = found["path"]
        answers: dict[str, str] = {}
        for replica in self.fleet.replicas:
            answers[replica.name] = await asyncio.to_thread(_check, replica.url + path)
        self.step("prescription checked on each replica", answers=answers)
        self.hold(
            "the printed prescription's check page answers from every replica",
            bool(answers) and all(answer == "valid" for answer in answers.values()),
            ", ".join(f"{name}: {answer}" for name, answer in answers.items()),
        )

    async def _database(self, consultation_id: str) -> None:
        """What PostgreSQL holds, read with psql; a pg_dump grepped for the patient."""
        if not _UUID.fullmatch(consultation_id):
            raise ScenarioFailed(f"the cabin's consultation id is not a UUID: {consultation_id!r}")
        where = f"WHERE consultation_id = '{consultation_id}'"
        rows = await in_thread(
            lambda: self.fleet.psql(
                f"SELECT status FROM consultations {where};"  # noqa: S608 - a UUID, checked
                f"SELECT count(*) FROM records {where};"
                f"SELECT count(*), count(delivered_at) FROM prescriptions {where}"
            )
        )
        lines = rows.split()
        self.step("PostgreSQL read", rows=" ".join(lines))
        status = lines[0] if lines else None
        records = int(lines[1]) if len(lines) > 1 else -1
        prescriptions = lines[2] if len(lines) > 2 else ""
        self.hold(
            "the consultation is filed once in PostgreSQL, ended",
            status == "ended",
            f"status {status}",
        )
        self.hold(
            "the consultation's record is stored exactly once in PostgreSQL",
            records == 1,
            f"{records} record(s)",
        )
        self.hold(
            "the prescription is stored once and delivered",
            prescriptions == "1|1",
            f"count|delivered = {prescriptions}",
        )
        dump: bytes = await in_thread(lambda: self.fleet.postgres.dump(DATABASE))
        lowered = dump.lower()
        found = [word for word in NOT_IN_CLEAR if word.lower().encode() in lowered]
        # The consultation's id is stored in the clear: the dump is the right one, with it.
        holds_it = consultation_id.encode() in dump
        self.report.numbers["pg_dump_bytes"] = len(dump)
        self.hold(
            "nothing of the patient in clear in a pg_dump",
            not found and holds_it,
            f"found {found}"
            if found
            else f"{len(dump)} bytes with the consultation, none of {len(NOT_IN_CLEAR)} words"
            if holds_it
            else "the dump does not hold the consultation",
        )

    async def _render_pdfs(self) -> None:
        """A PNG of each printed PDF's first page, to look at beside the screenshots."""
        pdftoppm = shutil.which("pdftoppm")
        if pdftoppm is None:
            return
        for name in self.report.pdfs:
            process = await asyncio.create_subprocess_exec(
                pdftoppm,
                "-r",
                "80",
                "-png",
                "-singlefile",
                str(self.out / name),
                str(self.out / f"paper-{Path(name).stem}"),
            )
            await within(process.wait(), 60)


@contextlib.asynccontextmanager
async def console(running: Fleet, profile: Path, out: Path) -> AsyncIterator[Any]:
    """The doctor's console in Debian's Chromium, through the proxy, whose self-signed
    certificate it accepts (a browser the operator told to trust it)."""
    from playwright.async_api import async_playwright  # noqa: PLC0415

    from simulators.doctor import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, BrowserDoctor  # noqa: PLC0415

    await in_thread(lambda: profile.mkdir(parents=True, exist_ok=True))
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": 1440, "height": 900},
            locale="fr-FR",
            ignore_https_errors=True,
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield BrowserDoctor(page, running.url, out)
        finally:
            await context.close()
