"""Keeps the parts of the one-command library running: a part that dies is started again,
after a pause that grows while it keeps dying (1 s, 2 s, 4 s ... 30 s), with a line that
says which part stopped, why, and when it comes back. Only the launcher's own stop (Ctrl-C
or a signal to it) stops them all.
"""

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
# A part that has run this long without dying starts again from the first pause.
STABLE_AFTER = 60.0


def exit_reason(code: int | None) -> str:
    """How a process ended, as a person would say it."""
    if code is None:
        return "it is gone"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit code {code}"


def end_group(proc: subprocess.Popen[bytes], name: str, timeout: float = 15) -> None:
    """Stop a process started in a session of its own, and every process of its group,
    even when the leader is already gone (its children would hold its port or files)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # no process of the group is left
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s; killing it", name, wait)
            continue
        if not _group_alive(proc.pid):
            break
        time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Part:
    """One process of the library: how to start it, to tell whether it runs, to stop it."""

    name: str
    start: Callable[[], None]
    alive: Callable[[], bool]
    stop: Callable[[], None]
    # Why it is not running, once it is seen not to (an exit code, a missing server).
    why: Callable[[], str] = field(default=lambda: "it is gone")
    # What to clear away before starting it again (by default: stop what is left of it).
    clear: Callable[[], None] | None = None
    failures: int = 0
    down_since: float | None = None
    next_start: float = 0.0
    up_since: float = 0.0


@dataclass
class Supervisor:
    parts: list[Part]
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic

    def start_all(self) -> None:
        for part in self.parts:
            part.start()
            part.up_since = self.clock()

    def watch(self) -> None:
        """Look at every part once: restart the dead ones whose pause is over."""
        now = self.clock()
        for part in self.parts:
            if part.alive():
                if part.down_since is None and part.failures and now - part.up_since > STABLE_AFTER:
                    part.failures = 0
                continue
            if part.down_since is None:
                part.down_since = now
                pause = self._pause(part)
                part.next_start = now + pause
                self.say(
                    f"The {part.name} stopped ({part.why()}); starting it again in {pause:.0f} s."
                )
            if now < part.next_start:
                continue
            self._restart(part, now)

    def _pause(self, part: Part) -> float:
        return min(LONGEST_PAUSE, FIRST_PAUSE * 2**part.failures)

    def _restart(self, part: Part, now: float) -> None:
        part.failures += 1
        try:
            (part.clear or part.stop)()  # whatever is left of it (children of a dead leader)
            part.start()
        except Exception as exc:  # whatever went wrong: try again after a longer pause
            pause = self._pause(part)
            part.next_start = now + pause
            self.say(f"The {part.name} did not start again ({exc}); next try in {pause:.0f} s.")
            return
        up = self.clock()
        down = up - (part.down_since or up)
        part.down_since, part.up_since = None, up
        self.say(f"The {part.name} is running again (it was down {down:.0f} s).")

    def stop_all(self) -> None:
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception as exc:  # stop the others whatever happens
                self.say(f"Stopping the {part.name} failed: {exc}")
