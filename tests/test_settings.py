import pytest
from pydantic import ValidationError

from backend.settings import DEV_SECRET, Settings


def test_default_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEV_SECRET)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key="short")


def test_a_real_secret_is_accepted_in_production() -> None:
    assert Settings(environment="production", secret_key="k" * 40).secret_key == "k" * 40


def test_the_app_listens_on_this_machine_only_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("TRUSTED_PROXY_HOPS", raising=False)
    assert Settings().host == "127.0.0.1"
    assert Settings().trusted_proxy_hops == 0  # X-Forwarded-For is anyone's to write
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert Settings().host == "0.0.0.0"


def test_autocomplete_needs_several_people_within_a_window() -> None:
    settings = Settings()
    assert settings.completion_min_searchers == 5
    assert settings.completion_window_days == 30
    with pytest.raises(ValidationError):
        Settings(completion_min_searchers=1)  # one person could plant anything


def test_an_upload_request_carries_several_files_unless_told_otherwise() -> None:
    default = Settings(max_upload_bytes=100 << 20)
    assert default.upload_request_cap == 4 * (100 << 20) + (1 << 20)
    assert Settings(max_request_bytes=5 << 20).upload_request_cap == 5 << 20
    assert Settings().max_other_request_bytes == 2 << 20
