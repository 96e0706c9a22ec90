"""Open sessions name their browsers as people know them."""

import pytest

from state.account import device_name

UAS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Chrome 120 on Windows 10",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mobile Safari 17.1 on iOS 17.1 (iPhone)",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Firefox 128 on Linux",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/121.0.6167.101 Mobile Safari/537.36",
        "Chrome Mobile 121 on Android 14 (Pixel 8)",
    ),
    ("python-httpx/0.27.0", "python-httpx/0.27.0"),  # unknown to the rules: as sent
    ("", "unknown browser"),
]


@pytest.mark.parametrize(("agent", "expected"), UAS)
def test_a_user_agent_is_named_as_people_know_it(agent: str, expected: str) -> None:
    assert device_name(agent) == expected
