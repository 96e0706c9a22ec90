"""The data folder belongs to one launcher at a time.

The running launcher holds an exclusive lock on `DATA_DIR/launcher.lock` (released by the
system when it exits, however it exits) and writes there which process it is and where
the library answers, so a second launcher can say so instead of starting anything.
"""

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from backend.files import open_private


@dataclass(frozen=True)
class Holder:
    pid: int
    url: str


class DataFolderLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, url: str) -> Holder | None:
        """Take the lock; if another launcher holds it, leave everything as it is and return
        who holds it."""
        fd = open_private(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            return holder or Holder(pid=0, url="an unknown address")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "url": url}).encode(), 0)
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing it drops the lock
            self._fd = None


def _read(fd: int) -> Holder | None:
    try:
        found = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return Holder(pid=int(found["pid"]), url=str(found["url"]))
    except (ValueError, KeyError, TypeError):
        return None
