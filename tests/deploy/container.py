"""A Debian 12 root that boots systemd in a container: built once, booted per test, always stopped.

The route (STACK.md, "A booted systemd container works here"):

- **build** (:func:`prepare`): ``mmdebstrap --variant=minbase`` of bookworm with systemd, dbus,
  python3 and every package of ``deploy/cabin/packages.txt`` (what ``deploy/install-cabin``
  installs), so the installer finds them there and never needs the mirror. The root is cached in
  ``~/.cache/cabin/container/<key>`` (``$CABIN_CONTAINER_CACHE`` to move it), the key a hash of
  the package list and of this harness's build steps: built once per machine (about a minute),
  shared by every checkout (CI's fresh clones too). Then, still with the network, the uv cache
  is warmed for the root's own Python (Debian's 3.11.2: ``uv.lock`` has wheels only 3.11.2 needs,
  ``async-timeout``), so the installer can build the cabin's venv offline. Needs root, the
  mirror and PyPI: ``./cabin test`` runs this step before the tests enter their network
  namespace (``python -m tests.deploy.container prepare``).
- **boot** (:class:`Container`): an overlay file system over the cached root (its upper layer in
  a temporary folder, mounted in a private mount namespace that dies with the container), then
  ``systemd-nspawn -D ROOT -b --register=no --keep-unit --console=pipe``: the checkout
  read-only at ``/opt/cabin-src``, the host's uv cache under a writable overlay at
  ``/var/cache/uv``, the checkout's uv binary at ``/usr/local/bin/uv``; ``--private-network``:
  the container has its own loopback and nothing else (no packet leaves, network namespace of
  the tests or not).
- **drive**: ``nsenter -t <the container's systemd> -a ...`` (no machinectl: the host's PID 1 is
  not systemd); files through ``/proc/<pid>/root``.
- **stop**: ``systemctl poweroff`` inside, then SIGKILL to the container's PID 1 (the kernel then
  kills the whole PID namespace) and to nspawn if it did not end in time. Every step has a
  timeout; nothing is left behind (no process, no mount, no temporary folder).

cage headless needs one more thing here: a DRM render node (see ``drm_render_node_shim.c``).
:data:`HEADLESS_ENVIRONMENT` is what a unit needs to run cage on the headless backend.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
CABIN_PACKAGES = REPO / "deploy" / "cabin" / "packages.txt"
SHIM_SOURCE = Path(__file__).with_name("drm_render_node_shim.c")
SUITE = "bookworm"

# What the container itself needs to boot and be driven, beside the cabin's own packages.
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "procps", "iproute2", "util-linux")
# The cabin's packages when deploy/cabin/packages.txt is not there (an older checkout).
FALLBACK_CABIN_PACKAGES = (
    "cage", "xwayland", "grim", "fonts-dejavu-core", "python3-venv", "ca-certificates",
    "libgl1", "libegl1", "libfontconfig1", "libfreetype6", "libxkbcommon0", "libglib2.0-0",
    "libdbus-1-3", "libwayland-client0", "libwayland-cursor0", "libwayland-egl1",
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-shape0", "libxkbcommon-x11-0", "udev", "cups", "cups-client",
)  # fmt: skip
# Bump when the build steps below change in a way the package list does not show.
BUILD_VERSION = "1"

SHIM_IN_ROOT = "/usr/local/lib/cabin-test/libdrm-render-node-shim.so"
SOURCE_IN_CONTAINER = "/opt/cabin-src"
UV_CACHE_IN_CONTAINER = "/var/cache/uv"
# The GPU a real cabin has: wlroots' software renderer, and the shim (drm_render_node_shim.c).
GPU_STANDIN_ENVIRONMENT: Mapping[str, str] = {
    "WLR_RENDERER": "pixman",
    "WLR_RENDER_DRM_DEVICE": "/dev/null",
    "LD_PRELOAD": SHIM_IN_ROOT,
}
# cage on wlroots' headless backend: no screen, no input device, no GPU.
HEADLESS_ENVIRONMENT: Mapping[str, str] = {
    "WLR_BACKENDS": "headless",
    "WLR_LIBINPUT_NO_DEVICES": "1",
    **GPU_STANDIN_ENVIRONMENT,
}

BUILD_TIMEOUT_S = 900.0
BOOT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60.0


class ContainerError(RuntimeError):
    """The container could not be built, booted, driven or stopped; the message says which."""


def say(message: str) -> None:
    print(f"[container] {message}", file=sys.stderr, flush=True)


def read_package_list(path: Path) -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def root_packages() -> list[str]:
    cabin = (
        read_package_list(CABIN_PACKAGES) if CABIN_PACKAGES.exists() else FALLBACK_CABIN_PACKAGES
    )
    return sorted({*BASE_PACKAGES, *cabin})


def root_key() -> str:
    digest = hashlib.sha256()
    digest.update(f"{SUITE}\n{BUILD_VERSION}\n".encode())
    digest.update("\n".join(root_packages()).encode())
    digest.update(SHIM_SOURCE.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    if configured := os.environ.get("CABIN_CONTAINER_CACHE"):
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cabin" / "container"


def root_path() -> Path:
    return cache_dir() / root_key()


def lock_digest() -> str:
    return hashlib.sha256((REPO / "uv.lock").read_bytes()).hexdigest()[:16]


def uv_cache_dir() -> Path:
    """Where ./cabin's uv keeps its cache: ``$UV_CACHE_DIR``, else uv's default for this user."""
    if configured := os.environ.get("UV_CACHE_DIR"):
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "uv"


def uv_binary() -> Path:
    """The uv that ./cabin bootstrapped (``$CABIN_UV`` to name another), else the one on PATH."""
    if configured := os.environ.get("CABIN_UV"):
        return Path(configured)
    bootstrapped = REPO / ".cache" / "uv-bootstrap" / "bin" / "uv"
    if bootstrapped.exists():
        return bootstrapped
    found = shutil.which("uv")
    return Path(found) if found else bootstrapped


def _warm_marker(root: Path) -> Path:
    return root.with_name(f"{root.name}.uv-warm-{lock_digest()}")


def why_not() -> str | None:
    """Why a container cannot be booted here, or None when it can."""
    if os.geteuid() != 0:
        return "the container test needs root (mount, systemd-nspawn)"
    for tool in ("systemd-nspawn", "nsenter", "unshare", "mount"):
        if shutil.which(tool) is None:
            package = "systemd-container" if tool == "systemd-nspawn" else "util-linux"
            return f"{tool} is missing (apt-get install {package})"
    if not uv_binary().exists():
        return f"{uv_binary()} is missing (./cabin install makes it)"
    root = root_path()
    if not (root / "usr" / "lib" / "systemd" / "systemd").exists():
        return (
            f"the Debian 12 root is not prepared ({root}): run `python -m tests.deploy.container "
            "prepare` as root with the Debian mirror reachable (./cabin test does, before the "
            "tests enter their network namespace)"
        )
    if not _warm_marker(root).exists():
        return (
            "the uv cache is not warmed for the root's Python and this uv.lock: run "
            "`python -m tests.deploy.container prepare` with PyPI reachable"
        )
    return None


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources), else Debian's CDN."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            words = line.split()
            if path.suffix == ".sources" and line.startswith("URIs:"):
                uris = words[1:]
            elif words[:1] == ["deb"]:
                uris = [word for word in words[1:] if "://" in word][:1]
            else:
                continue
            for uri in uris:
                if uri.rstrip("/").endswith("/debian"):
                    return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def _run_host(args: Sequence[str], timeout_s: float, **kwargs: object) -> None:
    try:
        subprocess.run(args, check=True, timeout=timeout_s, **kwargs)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired as error:
        raise ContainerError(f"{args[0]} took over {timeout_s:.0f} s") from error
    except subprocess.CalledProcessError as error:
        raise ContainerError(
            f"{' '.join(args[:2])} failed with status {error.returncode}"
        ) from error


def build_root(root: Path) -> None:
    """mmdebstrap the root into a sibling folder, add the shim, then rename it into place."""
    if shutil.which("mmdebstrap") is None:
        raise ContainerError("mmdebstrap is missing (apt-get install mmdebstrap)")
    if shutil.which("gcc") is None:
        raise ContainerError("gcc is missing (apt-get install gcc)")
    mirror = debian_mirror()
    security = mirror.rsplit("/", 1)[0] + "/debian-security"
    building = root.with_name(root.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    say(f"building the Debian 12 root {root.name} from {mirror} (once; about a minute)")
    started = time.monotonic()
    _run_host(
        [
            "mmdebstrap", "--variant=minbase", "--quiet",
            "--include=" + ",".join(root_packages()),
            SUITE, str(building),
            f"deb {mirror} {SUITE} main",
            f"deb {mirror} {SUITE}-updates main",
            f"deb {security} {SUITE}-security main",
        ],
        BUILD_TIMEOUT_S,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )  # fmt: skip
    shim = building / SHIM_IN_ROOT.lstrip("/")
    shim.parent.mkdir(parents=True, exist_ok=True)
    _run_host(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(SHIM_SOURCE), "-ldl"],
        COMMAND_TIMEOUT_S,
    )
    building.rename(root)
    say(f"root built in {time.monotonic() - started:.0f} s")


def warm_uv_cache(root: Path) -> None:
    """Fill the host's uv cache with every wheel uv.lock needs for the root's Python (networked).

    ``uv sync --frozen`` inside the root (``systemd-nspawn`` without booting, the host's network),
    into a throwaway venv: what the host's own Python never needed gets downloaded, and pycups is
    built for it. Done once per root and uv.lock.
    """
    marker = _warm_marker(root)
    if marker.exists():
        return
    uv_cache = uv_cache_dir()
    uv_cache.mkdir(parents=True, exist_ok=True)
    say("warming the uv cache for the root's Python (once per uv.lock)")
    with tempfile.TemporaryDirectory(prefix="cabin-warm-") as scratch:
        project = Path(scratch) / "project"
        project.mkdir()
        for name in ("pyproject.toml", "uv.lock"):
            shutil.copy2(REPO / name, project / name)
        # The host's trust store (SSL_CERT_FILE, else Debian's bundle), for a machine whose egress
        # re-signs TLS with a certificate authority of its own.
        tls = []
        certificates = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
        if Path(certificates).is_file():
            tls = [
                f"--bind-ro={certificates}:/etc/ssl/certs/host-bundle.pem",
                "--setenv=SSL_CERT_FILE=/etc/ssl/certs/host-bundle.pem",
            ]
        proxies = [
            f"--setenv={name}={os.environ[name]}"
            for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy")
            if name in os.environ
        ]
        _run_host(
            [
                "systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--console=pipe",
                "-D", str(root), "--volatile=overlay", *tls, *proxies,
                f"--bind={uv_cache}:{UV_CACHE_IN_CONTAINER}",
                f"--bind-ro={uv_binary()}:/usr/local/bin/uv",
                f"--bind={project}:/opt/project",
                "--chdir=/opt/project",
                "--setenv=UV_CACHE_DIR=" + UV_CACHE_IN_CONTAINER,
                "--setenv=UV_PYTHON_DOWNLOADS=never",
                "--setenv=UV_LINK_MODE=copy",
                "/usr/local/bin/uv", "sync", "--frozen", "--quiet", "--no-install-project",
                "--all-groups", "--python", "/usr/bin/python3",
            ],
            BUILD_TIMEOUT_S,
        )  # fmt: skip
    for stale in root.parent.glob(f"{root.name}.uv-warm-*"):
        stale.unlink()
    marker.touch()


KEEP_UNUSED_ROOTS_S = 3 * 24 * 3600  # another checkout's root (another package list) is kept


@contextmanager
def _cache_lock() -> Iterator[None]:
    """One prepare at a time on this machine (checkouts and CI share the cache)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_unused_roots(keep: Path) -> None:
    for old in cache_dir().iterdir():
        if old.name.startswith((keep.name, ".")):
            continue
        if time.time() - old.stat().st_mtime > KEEP_UNUSED_ROOTS_S:
            say(f"removing {old.name}, unused for {KEEP_UNUSED_ROOTS_S // 86400} days")
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


def prepare() -> Path:
    """The cached root for this package list, built and warmed if it is not yet (network, root)."""
    if os.geteuid() != 0:
        raise ContainerError("preparing the container root needs root")
    root = root_path()
    with _cache_lock():
        if not (root / "usr" / "lib" / "systemd" / "systemd").exists():
            build_root(root)
        warm_uv_cache(root)
        _remove_unused_roots(root)
    return root


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


def _is_container_init(pid: int) -> bool:
    """systemd, in a PID namespace other than ours (nspawn's helpers run systemd-nspawn's code)."""
    try:
        theirs = os.readlink(f"/proc/{pid}/ns/pid")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return theirs != os.readlink("/proc/self/ns/pid") and comm == "systemd"


class Container:
    """One booted container over the cached root; a context manager that always stops it.

    ``with Container.boot() as box: box.run(["systemctl", "is-active", "cabin.service"])``
    """

    def __init__(self, root: Path, scratch: Path, nspawn: subprocess.Popen[bytes], log: Path):
        self.root = root
        self.scratch = scratch
        self.log_path = log
        self._nspawn = nspawn
        self.pid = 0

    @classmethod
    def boot(
        cls, *, timeout_s: float = BOOT_TIMEOUT_S, extra_args: Sequence[str] = ()
    ) -> Container:
        reason = why_not()
        if reason is not None:
            raise ContainerError(reason)
        root = root_path()
        os.utime(root)  # in use: kept by _remove_unused_roots
        scratch = Path(tempfile.mkdtemp(prefix="cabin-container-"))
        for name in ("upper", "work", "merged", "uv-upper", "uv-work"):
            (scratch / name).mkdir()
        log = scratch / "console.log"
        nspawn_args = [
            "systemd-nspawn", "--quiet", "-D", str(scratch / "merged"), "-b",
            "--register=no", "--keep-unit", "--console=pipe", "--private-network",
            f"--bind-ro={REPO}:{SOURCE_IN_CONTAINER}",
            f"--overlay={uv_cache_dir()}:{scratch / 'uv-upper'}:{UV_CACHE_IN_CONTAINER}",
            f"--bind-ro={uv_binary()}:/usr/local/bin/uv",
            *extra_args,
        ]  # fmt: skip
        # The overlay is mounted in a mount namespace of its own: it goes when the container does.
        script = (
            'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" && shift 4 '
            '&& exec "$@"'
        )
        with log.open("wb") as console:
            nspawn = subprocess.Popen(
                [
                    "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                    str(root), str(scratch / "upper"), str(scratch / "work"),
                    str(scratch / "merged"), *nspawn_args,
                ],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        box = cls(root, scratch, nspawn, log)
        try:
            box._wait_booted(timeout_s)
        except BaseException:
            box.close()
            raise
        return box

    def _wait_booted(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.pid:
            if self._nspawn.poll() is not None:
                raise ContainerError(f"systemd-nspawn exited early:\n{self.console_tail()}")
            if time.monotonic() > deadline:
                raise ContainerError(
                    f"no container after {timeout_s:.0f} s:\n{self.console_tail()}"
                )
            # unshare execs sh, which execs systemd-nspawn; its child is the container's PID 1.
            for child in _children(self._nspawn.pid):
                if _is_container_init(child):
                    self.pid = child
            time.sleep(0.05)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ContainerError(
                    f"systemd did not finish booting in {timeout_s:.0f} s:\n{self.console_tail()}"
                )
            state = self.run(
                ["systemctl", "is-system-running", "--wait"], check=False, timeout_s=remaining
            ).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.1)

    def console_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    def run(
        self,
        args: Sequence[str],
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = COMMAND_TIMEOUT_S,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container (as ``user`` through runuser), its output as text."""
        command = list(args)
        if env:
            command = ["env", *(f"{key}={value}" for key, value in env.items()), *command]
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        try:
            result = subprocess.run(
                ["nsenter", "-t", str(self.pid), "-a", *command],
                check=False, capture_output=True, text=True, timeout=timeout_s,
                input=input, stdin=None if input is not None else subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired as error:
            raise ContainerError(f"{' '.join(args)} took over {timeout_s:.0f} s") from error
        if check and result.returncode != 0:
            raise ContainerError(
                f"{' '.join(args)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def path(self, inside: str) -> Path:
        """The host's view of a path inside the running container."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def systemctl(
        self, *args: str, check: bool = True, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> str:
        return self.run(["systemctl", *args], check=check, timeout_s=timeout_s).stdout.strip()

    def main_pid(self, unit: str) -> int:
        return int(self.systemctl("show", "-P", "MainPID", unit) or 0)

    def journal(self, unit: str, lines: int = 200) -> str:
        return self.run(
            ["journalctl", "--no-pager", "-o", "short-monotonic", "-n", str(lines), "-u", unit],
            check=False,
        ).stdout

    def close(self) -> None:
        """Power the container off; kill what is left; remove the scratch folder. Idempotent."""
        try:
            if self._nspawn.poll() is None and self.pid:
                subprocess.run(
                    ["nsenter", "-t", str(self.pid), "-a", "systemctl", "--no-block", "poweroff"],
                    capture_output=True, timeout=10, check=False,
                )  # fmt: skip
                try:
                    self._nspawn.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    say(f"the container did not power off in {STOP_TIMEOUT_S:.0f} s: killed")
            if self._nspawn.poll() is None:
                if self.pid:
                    # The PID namespace's init: its death kills every process of the container.
                    with _suppress_gone():
                        os.kill(self.pid, signal.SIGKILL)
                with _suppress_gone():
                    os.killpg(self._nspawn.pid, signal.SIGKILL)
                self._nspawn.wait(timeout=STOP_TIMEOUT_S)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> Container:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> bool:
        return kind is not None and issubclass(kind, ProcessLookupError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.container", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="build and cache the root, warm the uv cache (network)")
    commands.add_parser("status", help="say whether a container can boot here, and the root")
    run = commands.add_parser("run", help="boot, run one command inside, print it, stop")
    run.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    try:
        if options.command == "prepare":
            print(prepare())
        elif options.command == "status":
            reason = why_not()
            print(f"root: {root_path()}\n{reason or 'ready'}")
            return 1 if reason else 0
        else:
            started = time.monotonic()
            with Container.boot() as box:
                say(f"booted in {time.monotonic() - started:.2f} s (PID 1 is {box.pid} here)")
                result = box.run(options.args or ["systemctl", "--failed"], check=False)
                sys.stdout.write(result.stdout + result.stderr)
            say(f"stopped; {time.monotonic() - started:.2f} s in all")
            return result.returncode
    except ContainerError as error:
        say(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
