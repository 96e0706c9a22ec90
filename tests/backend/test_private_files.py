"""The object store's files are private whatever umask the process inherited."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.files import keep_private, open_private, private_dirs
from backend.storage.local import LocalObjectStore


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A permissive umask, as a process started by some service manager may inherit."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_stored_objects_and_their_folders_are_private_under_any_umask(
    tmp_path: Path, open_umask: None
) -> None:
    root = tmp_path / "objects"
    store = LocalObjectStore(root)
    for key in ("originals/ab12", "thumbnails/deep/er/x.webp", "pages/1/2.webp"):
        writer = store.writer(key)
        await writer.write(b"private words")
        await writer.commit()
    made = [root, *root.rglob("*")]
    assert {p.relative_to(tmp_path).as_posix(): _mode(p) for p in made if p.is_file()} == {
        "objects/originals/ab12": 0o600,
        "objects/thumbnails/deep/er/x.webp": 0o600,
        "objects/pages/1/2.webp": 0o600,
    }
    assert {_mode(p) for p in made if p.is_dir()} == {0o700}


def test_private_helpers(tmp_path: Path, open_umask: None) -> None:
    private_dirs(tmp_path / "a" / "b" / "c")
    assert [_mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    log = tmp_path / "a" / "old.log"
    log.write_text("from an older version\n")
    log.chmod(0o644)
    os.close(open_private(log, os.O_WRONLY | os.O_APPEND))
    assert _mode(log) == 0o600 and log.read_text() == "from an older version\n"
    keep_private()
    (tmp_path / "new.txt").write_text("x")
    assert _mode(tmp_path / "new.txt") == 0o600
