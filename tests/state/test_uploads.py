"""Per-file shares of the browser's bytes-sent figure for a multi-file upload, and sizes
refused before anything is sent."""

import pytest

from backend.settings import get_settings
from state.upload_progress import expected_files, mark_received, share_progress, too_large


def test_each_file_fills_in_the_order_it_is_sent() -> None:
    rows = expected_files([{"name": "a.pdf", "size": 1000}, {"name": "b.pdf", "size": 3000}])
    assert [r["percent"] for r in rows] == [0, 0]
    total = 4000 + 2 * 200  # the multipart headers, shared out evenly
    half_of_a = share_progress(rows, 600, total)
    assert [r["percent"] for r in half_of_a] == [50, 0]
    into_b = share_progress(rows, 1200 + 1600, total)
    assert [r["percent"] for r in into_b] == [100, 50]
    assert into_b[0]["label"].startswith("sent")
    assert into_b[1]["label"] == "1.6 KB of 2.9 KB"
    done = share_progress(rows, total, total)
    assert [r["percent"] for r in done] == [100, 100]


def test_a_stored_file_stays_received_while_the_rest_is_sent() -> None:
    rows = expected_files([{"name": "a.pdf", "size": 10}, {"name": "b.pdf", "size": 10}])
    rows = mark_received(rows, 0, "a.pdf", 10)
    rows = share_progress(rows, 0, 20)
    assert rows[0]["done"] and rows[0]["percent"] == 100
    assert rows[0]["label"].startswith("received")
    assert not rows[1]["done"] and rows[1]["percent"] == 0


def test_odd_input_from_the_browser_is_read_sensibly() -> None:
    rows = expected_files([{"name": "", "size": None}, {"size": -5}])
    assert [(r["name"], r["size"]) for r in rows] == [("file", 0), ("file", 0)]
    assert [r["percent"] for r in share_progress(rows, 0, 0)] == [100, 100]
    assert share_progress([], 10, 10) == []
    # A file the browser never named still gets a row once it is stored.
    assert mark_received([], 0, "x.txt", 3)[0]["name"] == "x.txt"


def test_what_is_too_large_is_said_before_it_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "max_upload_bytes", 1000)
    monkeypatch.setattr(settings, "max_request_bytes", 2500)
    assert too_large(expected_files([{"name": "a.pdf", "size": 900}])) == ""
    assert too_large(expected_files([{"name": "a.pdf", "size": 1001}])) == (
        "a.pdf: larger than the limit of 1000 bytes for one file."
    )
    three = [{"name": f"{n}.pdf", "size": 900} for n in "abc"]
    assert too_large(expected_files(three)) == (
        "These files come to more than 2.4 KB together; drop fewer at a time."
    )
