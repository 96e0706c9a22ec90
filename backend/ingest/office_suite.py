"""LibreOffice, headless, kept running by the worker to turn office files into PDF.

Word, Excel and PowerPoint 97-2003, .xlsx, .pptx, .ods, .odp and WordPerfect need an
office suite to be read as their authors see them. Each worker process starts one
converter the first time a file needs it (as it starts the sandbox's fork server):
unoserver, run by the Python that has Debian's python3-uno, driving `soffice` from
Debian's libreoffice-*-nogui packages. The file becomes a PDF, which the sandbox then reads
like any PDF: text page by page, page images, thumbnail.

Limits, like the sandbox's:
- memory: the converter and LibreOffice run under an address-space limit
  (OFFICE_MEMORY_MB); a file that needs more ends LibreOffice, never the worker;
- time: a conversion longer than EXTRACT_WALL_SECONDS kills the converter's process group;
- one conversion at a time per worker process (LibreOffice converts one file at a time);
- a converter that died (a crash, a limit, a kill) is started again for the next file.
Before any conversion the package limits are checked (a decompression bomb in an .xlsx
never reaches LibreOffice) and a file locked by a password is said to be one.
"""

import asyncio
import contextlib
import hashlib
import importlib.metadata
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xmlrpc.client
import zipfile
from pathlib import Path

from backend.ingest.parsers import CONVERTED, ODP, ODS
from backend.ingest.parsers.base import PASSWORD_REASON, ParseError, PasswordRequired
from backend.ingest.parsers.zipguard import check_zip, read_member
from backend.settings import Settings, get_settings

log = logging.getLogger(__name__)
START_SECONDS = 90  # LibreOffice's first start on a cold disk
# The extension LibreOffice is shown (it detects the type, but a name helps it choose).
EXTENSIONS = {
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    ODS: ".ods",
    ODP: ".odp",
    "application/vnd.wordperfect": ".wpd",
}


class ConversionFailed(ParseError):
    """The office suite could not turn the file into PDF; the message says why.
    `retryable`: the suite, not the file, failed (turned off, missing, too slow on a busy
    machine, died), so sending the file again may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def check(path: Path, mime: str, settings: Settings) -> None:
    """Before LibreOffice sees the file: package limits, and a password said as such.

    Raises ParseError (too large unpacked, damaged) or PasswordRequired."""
    if zipfile.is_zipfile(path):
        with check_zip(
            path, max_unpacked=settings.zip_max_unpacked_bytes, max_files=settings.zip_max_files
        ) as archive:
            if "META-INF/manifest.xml" in archive.namelist():
                manifest = read_member(archive, "META-INF/manifest.xml", 1 << 20)
                if b"encryption-data" in manifest:
                    raise PasswordRequired(PASSWORD_REASON.format(what=_what(mime)))
        return
    import msoffcrypto

    try:
        with path.open("rb") as fh:
            encrypted = msoffcrypto.OfficeFile(fh).is_encrypted()
    except Exception:  # not a format it knows (WordPerfect), or damaged: LibreOffice says
        encrypted = False
    if encrypted:
        raise PasswordRequired(PASSWORD_REASON.format(what=_what(mime)))


def _what(mime: str) -> str:
    return CONVERTED.get(mime, "document").split(" (")[0]


class OfficeSuite:
    """One unoserver + LibreOffice per worker process, started when first needed."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._profile: Path | None = None
        self._lock = asyncio.Lock()
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    async def convert(self, path: Path, mime: str, outdir: Path) -> Path:
        """The file as PDF in `outdir`; ConversionFailed with a reason a librarian reads."""
        settings = get_settings()
        if not settings.office_enabled:
            raise ConversionFailed(
                f"This {_what(mime)} needs LibreOffice to be read, which is turned off on "
                "this library (OFFICE_ENABLED).",
                retryable=True,
            )
        await asyncio.to_thread(check, path, mime, settings)
        source = outdir / f"office-source{EXTENSIONS.get(mime, '')}"
        target = outdir / "office-converted.pdf"
        await asyncio.to_thread(_link, path, source)
        async with self._lock_here():
            await self._start_if_needed(settings)
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(self._call, source, target),
                    settings.extract_wall_seconds,
                )
            except TimeoutError:
                self.stop()
                raise ConversionFailed(
                    f"Converting the file with LibreOffice took longer than "
                    f"{settings.extract_wall_seconds} s; it was stopped.",
                    retryable=True,
                ) from None
            except xmlrpc.client.Fault as exc:
                if await asyncio.to_thread(self._died_now):
                    self.stop()
                    raise ConversionFailed(_died(settings), retryable=True) from exc
                raise ConversionFailed(
                    f"LibreOffice could not open this {_what(mime)}: it is damaged, or not "
                    "what its name says."
                ) from exc
            except (OSError, xmlrpc.client.ProtocolError) as exc:  # the converter went away
                self.stop()
                raise ConversionFailed(_died(settings), retryable=True) from exc
            finally:
                with contextlib.suppress(FileNotFoundError):
                    source.unlink()
        if not target.exists() or target.stat().st_size == 0:
            raise ConversionFailed(f"LibreOffice made no PDF of this {_what(mime)}.")
        return target

    def _call(self, source: Path, target: Path) -> None:
        from unoserver.client import UnoClient

        client = UnoClient("127.0.0.1", str(self._port), host_location="local")
        client.convert(
            inpath=str(source), outpath=str(target), convert_to="pdf", update_index=False
        )

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _lock_here(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock_loop is not loop:  # a lock belongs to one event loop
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _start_if_needed(self, settings: Settings) -> None:
        if self._alive():
            return
        self.stop()
        python = settings.office_python
        if not shutil.which(python):
            raise ConversionFailed(
                f"LibreOffice cannot be started: {python} is missing.", retryable=True
            )
        if not shutil.which("soffice"):
            raise ConversionFailed(
                "LibreOffice is not installed on this server (Debian's libreoffice-*-nogui).",
                retryable=True,
            )
        self._profile = Path(tempfile.mkdtemp(prefix="library-office-"))
        shim = self._profile / "python"
        _link_unoserver(shim)
        self._port, uno_port = _free_port(), _free_port()
        memory = settings.office_memory_mb << 20
        command = [
            python,
            str(Path(__file__).with_name("office_server.py")),
            "--interface",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--uno-port",
            str(uno_port),
            "--user-installation",
            str(self._profile / "profile"),
            # A backstop: the worker stops a conversion at extract_wall_seconds itself.
            "--conversion-timeout",
            str(settings.extract_wall_seconds + 30),
            "--quiet",
        ]

        def limits() -> None:  # in the child, before exec: it and LibreOffice inherit them
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.nice(5)
            # If the worker dies, the driver is told (SIGTERM) and ends LibreOffice with it.
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

        env = {**os.environ, "PYTHONPATH": str(shim), "HOME": str(self._profile)}
        env.pop("PYTHONHOME", None)
        # Started from the event loop's thread: the death signal follows the thread that
        # started it, and this one lives as long as the worker.
        self._proc = subprocess.Popen(  # noqa: S603, ASYNC220 - a fixed command; see above
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=limits,  # noqa: PLW1509 - nothing else runs in the child before exec
        )
        if not await asyncio.to_thread(self._wait_ready):
            self.stop()
            raise ConversionFailed(
                "LibreOffice could not be started on this server; the file was not converted."
            )
        log.info("LibreOffice converter started (pid %s)", self._proc.pid)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_SECONDS
        proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self._port}", allow_none=True)
        while time.monotonic() < deadline and self._alive():
            try:
                proxy.info()
                return True
            except OSError:
                time.sleep(0.5)
        return False

    def _died_now(self) -> bool:
        """After an error from the converter: did LibreOffice die under it? (Its driver
        answers the call, then exits, within a moment.)"""
        for _ in range(20):
            if not self._alive():
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """End the converter and LibreOffice (its whole process group) and their profile."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None
        if self._profile is not None:
            with contextlib.suppress(FileNotFoundError):
                ipc_pipe(self._profile / "profile").unlink()
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None


def ipc_pipe(user_installation: Path) -> Path:
    """The socket LibreOffice makes in /tmp for the profile at `user_installation` (its
    single-instance pipe, named after the MD5 of the profile's URL in UTF-16, each byte in
    hexadecimal without its leading zero), which it leaves behind when killed: removed
    with the profile."""
    url = user_installation.as_uri().encode("utf-16-le")
    digest = "".join(f"{b:x}" for b in hashlib.md5(url, usedforsecurity=False).digest())
    folder = "/tmp" if os.access("/tmp", os.W_OK) else "/var/tmp"  # (LibreOffice's choice)
    return Path(folder) / f"OSL_PIPE_{os.getuid()}_SingleOfficeIPC_{digest}"


def _link(path: Path, source: Path) -> None:
    """The file under the name LibreOffice is shown (a link: nothing is copied)."""
    with contextlib.suppress(FileNotFoundError):
        source.unlink()
    os.symlink(path.resolve(), source)


def _died(settings: Settings) -> str:
    return (
        "LibreOffice stopped while converting the file: it needed more memory than the "
        f"{settings.office_memory_mb} MB allowed, or the file crashed it."
    )


_PR_SET_PDEATHSIG = 1


def _prctl(option: int, value: int) -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _link_unoserver(folder: Path) -> None:
    """A folder holding only unoserver (and its metadata, which it reads at import), for
    the other Python: this environment's packages are not for it."""
    dist = importlib.metadata.distribution("unoserver")
    folder.mkdir(parents=True, exist_ok=True)
    package = Path(str(dist.locate_file("unoserver")))
    info = Path(str(dist.locate_file(f"unoserver-{dist.version}.dist-info")))
    for source in (package, info):
        (folder / source.name).symlink_to(source)


_SUITE = OfficeSuite()


def get_suite() -> OfficeSuite:
    return _SUITE
