"""The launcher's supervision, lock and embedded servers, without starting the whole app
(tests/e2e/test_faults.py kills the parts of a running library)."""

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from backend.embedded import EmbeddedRedis
from backend.lock import DataFolderLock
from backend.supervisor import LONGEST_PAUSE, STABLE_AFTER, Part, Supervisor, exit_reason


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyPart:
    """A part whose process dies when told to, and whose start can be made to fail."""

    def __init__(self) -> None:
        self.running = True
        self.starts = 0
        self.fail_starts = 0

    def start(self) -> None:
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("socket in use")
        self.starts += 1
        self.running = True

    def part(self) -> Part:
        return Part(
            name="worker",
            start=self.start,
            alive=lambda: self.running,
            stop=lambda: None,
            why=lambda: "killed by SIGKILL",
        )


def test_a_dead_part_comes_back_after_a_pause_that_grows_while_it_keeps_dying() -> None:
    clock, said, flaky = Clock(), [], FlakyPart()
    supervisor = Supervisor([flaky.part()], say=said.append, clock=clock)
    pauses = []
    for _ in range(7):
        flaky.running = False
        supervisor.watch()
        pause = supervisor.parts[0].next_start - clock.now
        pauses.append(pause)
        clock.now += pause - 0.1
        supervisor.watch()
        assert not flaky.running  # not before its pause is over
        clock.now += 0.2
        supervisor.watch()
        assert flaky.running
    assert pauses == [1, 2, 4, 8, 16, LONGEST_PAUSE, LONGEST_PAUSE]
    assert said[0] == "The worker stopped (killed by SIGKILL); starting it again in 1 s."
    assert said[1].startswith("The worker is running again")
    # Once it has run long enough, the next death is paused as briefly as the first.
    clock.now += STABLE_AFTER + 1
    supervisor.watch()
    flaky.running = False
    supervisor.watch()
    assert supervisor.parts[0].next_start - clock.now == 1


def test_a_start_that_fails_is_tried_again_and_said() -> None:
    clock, said, flaky = Clock(), [], FlakyPart()
    flaky.fail_starts = 2
    supervisor = Supervisor([flaky.part()], say=said.append, clock=clock)
    flaky.running = False
    for _ in range(3):
        supervisor.watch()
        clock.now = supervisor.parts[0].next_start
        supervisor.watch()
    assert flaky.running and flaky.starts == 1
    assert "The worker did not start again (socket in use); next try in 2 s." in said


def test_exit_reasons_read_as_a_person_would_say_them() -> None:
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_reason(1) == "exit code 1"
    assert exit_reason(None) == "it is gone"


@pytest.fixture
def folder() -> Iterator[Path]:
    # Short: a unix socket's path must stay under about 100 characters.
    path = Path(tempfile.mkdtemp(prefix="lib-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_one_launcher_holds_the_data_folder(folder: Path) -> None:
    first = DataFolderLock(folder / "launcher.lock")
    assert first.acquire("http://localhost:3000") is None
    second = DataFolderLock(folder / "launcher.lock")
    holder = second.acquire("http://localhost:3001")
    assert holder is not None and holder.url == "http://localhost:3000" and holder.pid > 0
    first.release()
    assert second.acquire("http://localhost:3001") is None
    second.release()


def test_embedded_redis_persists_and_a_second_start_joins_without_stopping_it(
    folder: Path,
) -> None:
    server = EmbeddedRedis(folder / "redis")
    server.start()
    try:
        client = redis.Redis(unix_socket_path=str(server.socket))
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert client.config_get("save")["save"].split() == ["300", "1", "60", "1000"]
        joining = EmbeddedRedis(folder / "redis")
        joining.start()
        assert joining.was_running
        joining.stop()  # not its server: nothing happens to it
        assert client.ping() and server.running()
        client.close()
    finally:
        server.stop()
    assert not server.answers()
