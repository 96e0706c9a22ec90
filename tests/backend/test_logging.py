"""The log a process writes (backend.logging_setup), read as an operator's collector reads
it: every line one JSON object with its time, level, logger and message, whether it came
from structlog (the access lines) or the standard library, with the request's id bound to
the context on both, and nothing under the configured level."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import logging
import structlog
from backend.logging_setup import configure_logging

configure_logging("INFO")
access = structlog.get_logger("library.access")
with structlog.contextvars.bound_contextvars(request_id="r-12345678"):
    access.info("request", method="GET", path="/api/v1/search", status=200, user_id=None)
    logging.getLogger("backend.search").warning("engine slow: %s ms", 812)
    access.debug("not written")
    logging.getLogger("backend.search").debug("not written either")
try:
    raise ValueError("bad input")
except ValueError:
    structlog.get_logger("library.access").exception("failed")
    logging.getLogger("backend.jobs").exception("failed too")
logging.getLogger("backend.jobs").info("ünïcode kept: %s", "été")
"""


def test_every_line_is_one_json_object_with_its_context() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(x["logger"], x["level"], x["msg"]) for x in lines] == [
        ("library.access", "info", "request"),
        ("backend.search", "warning", "engine slow: 812 ms"),
        ("library.access", "error", "failed"),
        ("backend.jobs", "error", "failed too"),
        ("backend.jobs", "info", "ünïcode kept: été"),
    ]
    access, slow = lines[0], lines[1]
    assert access["request_id"] == slow["request_id"] == "r-12345678"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/v1/search", 200)
    assert access["user_id"] is None
    assert "request_id" not in lines[2]  # the context ended with the request
    for line in lines:
        assert line["ts"].endswith("Z") and "T" in line["ts"]
    for failed in lines[2:4]:
        assert "ValueError: bad input" in failed["exception"]
    assert "ünïcode" in done.stderr  # not escaped
