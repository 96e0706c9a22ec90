"""Imported first by the sandbox's fork server (and only there): its children do not
import the main module of the process that asked for them.

multiprocessing has each child import its parent's `__main__` again, for functions
defined there. A sandbox child runs backend.ingest.sandbox._child_main and nothing of
`__main__`, so that import was pure cost, and a large one: a benchmark script's imports
ran again in every child (3x slower reading), and a web process started as
`python -m app.serve` would have had each child import Reflex. The fork server serves
sandbox children only, so this changes nothing else.
"""

import multiprocessing.spawn as spawn


def _nothing(_: str) -> None:
    return None


spawn._fixup_main_from_name = _nothing  # type: ignore[attr-defined]
spawn._fixup_main_from_path = _nothing  # type: ignore[attr-defined]
