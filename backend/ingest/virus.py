"""Virus scanning with clamd's INSTREAM command, over a unix or TCP socket."""

import asyncio
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from backend import breakers
from backend.errors import Unavailable
from backend.settings import get_settings

CHUNK = 1 << 16
TIMEOUT = 120


class ScannerUnavailable(Exception):
    """clamd could not be reached or answered nonsense: try again later."""


@dataclass(frozen=True)
class Verdict:
    clean: bool
    signature: str = ""


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return await asyncio.open_unix_connection(parts.path)
    if parts.scheme == "tcp":
        return await asyncio.open_connection(parts.hostname, parts.port or 3310)
    raise ValueError(f"CLAMD_URL must start with unix:// or tcp://, not {url!r}")


async def scan(url: str, path: Path) -> Verdict:
    """Stream the file to clamd; raises ScannerUnavailable when it cannot answer. Through
    the scanner's circuit (backend.breakers): while clamd is known to be down, files are
    not sent, and each waits for its retry without a connection attempt."""
    try:
        return await breakers.VIRUS_SCANNER.call(lambda: _scan(url, path), seconds=TIMEOUT)
    except Unavailable as exc:
        cause = exc.__cause__
        if cause is None:  # its circuit is open: not asked
            why = f"the virus scanner is not answering (asked again in {exc.retry_after} s)"
        elif isinstance(cause, TimeoutError):
            why = "the virus scanner did not answer in time"
        else:
            why = f"the virus scanner cannot be reached ({cause})"
        raise ScannerUnavailable(why) from exc


async def _scan(url: str, path: Path) -> Verdict:
    connect = get_settings().connect_timeout_seconds
    reader, writer = await asyncio.wait_for(_connect(url), max(connect, 3.0))
    try:
        writer.write(b"zINSTREAM\0")
        with path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                writer.write(struct.pack("!L", len(chunk)) + chunk)
                await writer.drain()
        writer.write(struct.pack("!L", 0))
        await writer.drain()
        reply = await reader.read(4096)
    finally:
        writer.close()
    answer = reply.rstrip(b"\0").decode(errors="replace").strip()
    if answer.endswith("OK"):
        return Verdict(clean=True)
    if answer.endswith("FOUND"):
        signature = answer.removeprefix("stream:").removesuffix("FOUND").strip()
        return Verdict(clean=False, signature=signature)
    # "INSTREAM size limit exceeded" and other errors: the file was not scanned.
    raise ScannerUnavailable(f"the virus scanner could not scan the file ({answer})")


async def version(url: str, seconds: float = 2.0) -> str:
    """clamd's version and signature date ("ClamAV 1.0.7/27480/..."); raises
    ScannerUnavailable within `seconds` when it does not answer."""
    try:
        reader, writer = await asyncio.wait_for(_connect(url), seconds)
    except (OSError, TimeoutError) as exc:
        raise ScannerUnavailable(f"the virus scanner cannot be reached ({exc})") from exc
    try:
        writer.write(b"zVERSION\0")
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(4096), seconds)
    except (OSError, TimeoutError) as exc:
        raise ScannerUnavailable(f"the virus scanner stopped answering ({exc})") from exc
    finally:
        writer.close()
    answer = reply.rstrip(b"\0").decode(errors="replace").strip()
    if not answer.startswith("ClamAV"):
        raise ScannerUnavailable(f"the virus scanner answered nonsense ({answer[:100]!r})")
    return answer
