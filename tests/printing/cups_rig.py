"""A real cupsd for the printing tests, owned by the test and gone after it.

It runs ``cupsd -f`` on the cabin's own ``deploy/cups/cupsd.conf`` (a Unix socket and a free
loopback port of its own instead of ``/run/cups/cups.sock``, a debug log, and ``PreserveJobFiles
Yes`` so that only the kiosk's purge can empty the spool), in a temporary ServerRoot with its own
spool, log, cache and state folders. The machine's CUPS (``/etc/cups``, port 631) is not touched,
except for one cups-pdf instance file ``/etc/cups/cups-pdf-<instance>.conf`` (cups-pdf reads its
configuration from ``/etc/cups`` only), with a unique name, removed when the rig stops.

Two queues:

- ``cabin-pdf``: cups-pdf, which writes each job into :attr:`CupsRig.paper` (the "paper").
- ``cabin-sim``: the ``sim`` backend below, a printer that prints into ``sim/out/job-<id>.pdf``
  or runs out of paper or jams mid-job, as the file ``sim/mode`` says (:meth:`CupsRig.set_sim`).

cupsd runs as root (as in production), so the rig needs root: :func:`why_not` says why not.
"""

from __future__ import annotations

import grp
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

DEPLOYED_CUPSD_CONF = Path(__file__).resolve().parents[2] / "deploy" / "cups" / "cupsd.conf"
CUPS_LIB = Path("/usr/lib/cups")
CUPS_PDF_PPDS = (
    Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd"),
    Path("/usr/share/ppd/cups-pdf/CUPS-PDF_noopt.ppd"),
)
PDF_QUEUE = "cabin-pdf"
SIM_QUEUE = "cabin-sim"
SimMode = Literal["ok", "hold", "paper-out", "jam", "fail"]

# The simulated printer: a CUPS backend (run as root, mode 0700, like cups-pdf).
# "ok": prints, reporting each page; "hold": waits (a printer warming up) until the mode changes;
# "paper-out": reports media-empty-error and waits for paper (as the usb backend does), then
# prints; "jam": reports media-jam-error and exits 4 (CUPS_BACKEND_STOP: CUPS stops the queue);
# "fail": exits 1 (CUPS_BACKEND_FAILED: the queue's ErrorPolicy decides, abort-job in a cabin).
SIM_BACKEND = r"""#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct sim "Unknown" "Simulated cabin printer"'; exit 0; fi
ctl="${DEVICE_URI#sim:}"
mode() { cat "$ctl/mode" 2>/dev/null || echo ok; }
case "$(mode)" in
  jam)
    echo "STATE: +media-jam-error" >&2
    echo "ERROR: Paper jam" >&2
    exit 4
    ;;
  paper-out)
    echo "STATE: +media-empty-error" >&2
    echo "INFO: Out of paper" >&2
    while [ "$(mode)" = paper-out ]; do sleep 0.05; done
    ;;
  fail)
    echo "ERROR: The printer does not answer" >&2
    exit 1
    ;;
  hold)
    echo "STATE: -media-empty-error,media-jam-error" >&2
    while [ "$(mode)" = hold ]; do sleep 0.05; done
    ;;
esac
echo "STATE: -media-empty-error,media-jam-error" >&2
out="$ctl/out/job-$1"
if [ -n "$6" ]; then cat "$6"; else cat; fi > "$out.part"
pages=$(pdfinfo "$out.part" 2>/dev/null | sed -n 's/^Pages: *//p')
mv "$out.part" "$out.pdf"
i=1
while [ "$i" -le "${pages:-0}" ]; do echo "PAGE: $i 1" >&2; i=$((i + 1)); done
exit 0
"""


def why_not() -> str | None:
    """Why the rig cannot run on this machine, or ``None``."""
    if os.geteuid() != 0:
        return "a real cupsd with cups-pdf needs root"
    for tool in ("cupsd", "lpadmin", "lpstat", "cupsenable", "cupsdisable", "pdfinfo", "gs"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not (CUPS_LIB / "backend" / "cups-pdf").exists():
        return "cups-pdf (printer-driver-cups-pdf) is not installed"
    if not any(ppd.exists() for ppd in CUPS_PDF_PPDS):
        return "the cups-pdf PPD is not installed"
    return None


@dataclass
class CupsRig:
    base: Path
    port: int
    instance: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stderr: BinaryIO | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.base / "cups.sock"

    @property
    def spool(self) -> Path:
        return self.base / "spool"

    @property
    def paper(self) -> Path:
        """Where cups-pdf writes: ``<title>-job_<id>.pdf``."""
        return self.base / "paper"

    @property
    def sim_out(self) -> Path:
        """Where the simulated printer writes: ``job-<id>.pdf``."""
        return self.base / "sim" / "out"

    @property
    def error_log(self) -> Path:
        return self.base / "log" / "error_log"

    @property
    def cups_pdf_conf(self) -> Path:
        return Path("/etc/cups") / f"cups-pdf-{self.instance}.conf"

    # --- life ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Write the configuration, the folders and the backends (once)."""
        root, bin_dir = self.base / "root", self.base / "bin"
        for folder in (root / "ppd", self.base / "log", self.base / "cache", self.base / "state"):
            folder.mkdir(parents=True)
        # cupsd runs filters as lp: the spool is root:lp, as in /var/spool/cups.
        self.spool.mkdir(mode=0o710)
        (self.spool / "tmp").mkdir()
        for path, mode in ((self.spool, 0o710), (self.spool / "tmp", 0o1770)):
            os.chown(path, 0, _lp_gid())
            path.chmod(mode)
        # cups-pdf runs Ghostscript as the anonymous user (nobody).
        for folder in (self.paper, self.base / "cups-pdf"):
            folder.mkdir()
            folder.chmod(0o1777)
        self.sim_out.mkdir(parents=True)
        self.set_sim("ok")

        # ServerBin: the machine's filters and backends, plus the sim backend.
        (bin_dir / "backend").mkdir(parents=True)
        for entry in CUPS_LIB.iterdir():
            if entry.name != "backend":
                (bin_dir / entry.name).symlink_to(entry)
        for backend in (CUPS_LIB / "backend").iterdir():
            (bin_dir / "backend" / backend.name).symlink_to(backend)
        sim = bin_dir / "backend" / "sim"
        sim.write_text(SIM_BACKEND)
        sim.chmod(0o700)

        (root / "cups-files.conf").write_text(
            "\n".join(
                [
                    f"ServerRoot {root}",
                    f"RequestRoot {self.spool}",
                    f"TempDir {self.spool / 'tmp'}",
                    f"CacheDir {self.base / 'cache'}",
                    f"StateDir {self.base / 'state'}",
                    f"ServerBin {bin_dir}",
                    f"ErrorLog {self.error_log}",
                    f"AccessLog {self.base / 'log' / 'access_log'}",
                    f"PageLog {self.base / 'log' / 'page_log'}",
                    "LogFileGroup root",
                    "SystemGroup root",
                    "",
                ]
            )
        )
        (root / "cupsd.conf").write_text(
            rig_cupsd_conf(
                DEPLOYED_CUPSD_CONF.read_text(),
                {
                    "Listen": [str(self.socket), f"127.0.0.1:{self.port}"],
                    "LogLevel": ["debug"],
                    "PreserveJobFiles": ["Yes"],
                },
            )
        )
        self.cups_pdf_conf.write_text(
            "\n".join(
                [
                    f"Out {self.paper}",
                    f"AnonDirName {self.paper}",
                    f"Spool {self.base / 'cups-pdf'}",
                    f"GSTmp {self.base / 'cups-pdf'}",
                    f"Log {self.base / 'log'}",
                    "LogType 7",
                    "Label 2",
                    "Grp root",
                    "",
                ]
            )
        )

    def start(self) -> None:
        """Start cupsd and wait until it answers."""
        root = self.base / "root"
        self._stderr = (self.base / "log" / "stderr").open("ab")
        self.process = subprocess.Popen(
            ["cupsd", "-f", "-c", str(root / "cupsd.conf"), "-s", str(root / "cups-files.conf")],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,  # its own process group: stop() ends its children too
        )
        deadline = time.monotonic() + 60  # about 0.1 s idle; only a cupsd that cannot start
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cupsd exited: {self.log_tail()}")
            answer = subprocess.run(
                ["lpstat", "-h", str(self.socket), "-r"], capture_output=True, check=False
            )
            if answer.returncode == 0 and b"is running" in answer.stdout:
                return
            time.sleep(0.05)
        raise RuntimeError(f"cupsd did not answer: {self.log_tail()}")

    def stop(self) -> None:
        """Stop cupsd (and anything it left running)."""
        process, self.process = self.process, None
        if process is None:
            return
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # in case a test froze it
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # filters and backends of a stopped job
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def add_printers(self) -> None:
        ppd = next(ppd for ppd in CUPS_PDF_PPDS if ppd.exists())
        self.lp("lpadmin", "-p", PDF_QUEUE, "-v", f"cups-pdf:/{self.instance}", "-P", str(ppd))
        self.lp("lpadmin", "-p", SIM_QUEUE, "-v", f"sim:{self.base / 'sim'}")
        for queue in (PDF_QUEUE, SIM_QUEUE):
            self.lp("cupsenable", queue)
            self.lp("cupsaccept", queue)

    # --- driving it -----------------------------------------------------------------------------

    def lp(self, tool: str, *args: str) -> None:
        """Run a cups-client tool (lpadmin, cupsdisable, ...) against this cupsd, as root."""
        subprocess.run([tool, "-h", str(self.socket), *args], check=True, capture_output=True)

    def set_sim(self, mode: SimMode) -> None:
        mode_file = self.base / "sim" / "mode"
        temporary = mode_file.with_suffix(".part")
        temporary.write_text(f"{mode}\n")
        temporary.replace(mode_file)

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def spool_files(self, job_id: int) -> list[str]:
        """The job's control (c) and document (d) files still in the spool."""
        return sorted(
            path.name
            for path in self.spool.iterdir()
            if path.name == f"c{job_id:05d}" or path.name.startswith(f"d{job_id:05d}-")
        )

    def paper_of(self, job_id: int) -> list[Path]:
        """What cups-pdf printed for the job."""
        return sorted(self.paper.glob(f"*-job_{job_id}.pdf"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error_log)"


def rig_cupsd_conf(production: str, overrides: dict[str, list[str]]) -> str:
    """``production`` with each overridden directive's lines replaced by the given values."""
    kept = [line for line in production.splitlines() if line.split(" ", 1)[0] not in overrides]
    added = [f"{name} {value}" for name, values in overrides.items() for value in values]
    return "\n".join(["# The test rig's values", *added, "", *kept, ""])


@contextmanager
def running_cupsd() -> Iterator[CupsRig]:
    """A started cupsd with the two queues; stopped and erased afterwards."""
    base = Path(tempfile.mkdtemp(prefix="cups-rig-"))  # short: a Unix socket path lives here
    base.chmod(0o755)  # lp (filters) and nobody (cups-pdf) pass through it
    rig = CupsRig(base, _free_loopback_port(), f"cabin-rig-{os.getpid()}-{secrets.token_hex(3)}")
    try:
        rig.prepare()
        rig.start()
        rig.add_printers()
        yield rig
    finally:
        rig.stop()
        rig.cups_pdf_conf.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lp_gid() -> int:
    return grp.getgrnam("lp").gr_gid
