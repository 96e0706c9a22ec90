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


def test_an_upload_request_carries_several_files_unless_told_otherwise() -> None:
    default = Settings(max_upload_bytes=100 << 20)
    assert default.upload_request_cap == 4 * (100 << 20) + (1 << 20)
    assert Settings(max_request_bytes=5 << 20).upload_request_cap == 5 << 20
    assert Settings().max_other_request_bytes == 2 << 20
