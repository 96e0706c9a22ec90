"""Whatever the app writes is readable by its own user only.

The data folder holds private collections' originals, their thumbnails and page images,
the database, Redis's dump and the logs (with e-mail addresses and, without SMTP, whole
messages). Every entry point (launcher, command line, worker, web process) sets a umask
that takes group and other permissions off whatever it creates, including what
libraries create for it (the search index, Redis's files); the object store also sets
its own modes, so its files stay private under an umask inherited from elsewhere.
"""

import os
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def keep_private() -> None:
    """From now on, files and folders this process (and its children) creates are private."""
    os.umask(PRIVATE_UMASK)


def private_dirs(path: Path) -> None:
    """Make `path` and any missing parents, each readable by this user only.

    (`Path.mkdir(mode=…, parents=True)` gives the mode to the last folder only.)"""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)  # 0700 less the umask: 0700 for any sane umask
        except FileExistsError:  # made meanwhile by another writer
            pass


def open_private(path: Path, flags: int) -> int:
    """`os.open` for a new file or one to append to, mode 0600 whatever the umask."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode otherwise
    except OSError:
        os.close(fd)
        raise
    return fd
